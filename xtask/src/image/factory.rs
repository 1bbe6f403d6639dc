//! The Image Factory's API: the catalogue preflight (is the Talos version listed, does every
//! extension exist for it), schematic registration, whose answer must agree with the ID
//! `--dry-run` promised, and reading a registered schematic back.

use anyhow::{Context, bail};
use serde::Deserialize;
use sha2::Digest;

use crate::host::http::{self, Client};
use crate::image::build::Build;
use crate::image::digest::{Sha256Hex, is_sha256_hex};
use crate::image::manifest::Extension;
use crate::image::plan::SchematicPlan;
use crate::image::talos::FactoryUrl;
use crate::image::version::TalosVersion;
use crate::util::{closest, one_line};

/// What the preflight learned: the factory's Talos versions, and the catalogue's entry for each
/// extension of the schematic.
pub struct Preflight {
    pub versions: Vec<String>,
    pub extensions: Vec<Extension>,
}

pub struct Factory<'c> {
    client: &'c Client,
    base: String,
}

#[derive(Deserialize)]
struct Registered {
    id: Option<serde_json::Value>,
    schematic: Option<String>,
}

#[derive(Deserialize)]
struct CatalogueExtension {
    name: String,
    #[serde(rename = "ref", default)]
    reference: String,
    #[serde(default)]
    digest: String,
}

#[derive(Deserialize)]
struct CatalogueOverlay {
    name: String,
    #[serde(default)]
    image: String,
}

impl<'c> Factory<'c> {
    pub fn new(client: &'c Client, factory: &FactoryUrl) -> Factory<'c> {
        Factory {
            client,
            base: factory.base.clone(),
        }
    }

    /// Checks what the factory would only refuse minutes into a build: the Talos version is
    /// listed and every extension (and the overlay) exists for it. Returns the version list and
    /// the catalogue's entry for each extension, in the schematic's order, for the manifest.
    pub fn preflight(&self, build: &Build, schematic: &SchematicPlan) -> anyhow::Result<Preflight> {
        let version = build.talos_version.to_string();
        let versions: Vec<String> = self.get_json("/versions", "the factory's Talos versions")?;
        if !versions.contains(&version) {
            let same_line: Vec<&String> = versions
                .iter()
                .filter(|v| {
                    TalosVersion::parse(v)
                        .is_ok_and(|v| v.minor_line() == build.talos_version.minor_line())
                })
                .collect();
            let nearest: Vec<&str> = same_line.iter().rev().take(5).map(|v| v.as_str()).collect();
            bail!(
                "Talos {version} is not listed by {}/versions{}; set talos.version in release.yaml or pass --talos-version",
                self.base,
                if nearest.is_empty() {
                    String::new()
                } else {
                    format!(" (newest of that line: {})", nearest.join(", "))
                }
            );
        }

        let wanted = &schematic.parsed.customization.official_extensions;
        let mut extensions = Vec::new();
        if !wanted.is_empty() {
            let path = format!("/version/{version}/extensions/official");
            let catalogue: Vec<CatalogueExtension> = self.get_json(
                &path,
                &format!("the official extensions for Talos {version}"),
            )?;
            let names: Vec<&str> = catalogue.iter().map(|e| e.name.as_str()).collect();
            let mut missing = Vec::new();
            for name in wanted {
                match catalogue.iter().find(|e| &e.name == name) {
                    Some(e) => extensions.push(recordable(e, &self.base, &path)?),
                    None => missing.push(match closest(name, &names) {
                        Some(close) => format!("{name} (did you mean {close}?)"),
                        None => name.clone(),
                    }),
                }
            }
            if !missing.is_empty() {
                bail!(
                    "{}: extension(s) not in the factory's catalogue for Talos {version}: {}; fix systemExtensions.officialExtensions",
                    schematic.path,
                    missing.join(", ")
                );
            }
        }

        let overlay = &schematic.parsed.overlay;
        if !overlay.name.is_empty() || !overlay.image.is_empty() {
            let path = format!("/version/{version}/overlays/official");
            let catalogue: Vec<CatalogueOverlay> =
                self.get_json(&path, &format!("the official overlays for Talos {version}"))?;
            if !catalogue
                .iter()
                .any(|o| o.name == overlay.name && o.image == overlay.image)
            {
                let names: Vec<&str> = catalogue.iter().map(|o| o.name.as_str()).collect();
                bail!(
                    "{}: overlay {} ({}) is not in the factory's catalogue for Talos {version}{}",
                    schematic.path,
                    overlay.name,
                    overlay.image,
                    closest(&overlay.name, &names)
                        .map(|c| format!(" (did you mean {c}?)"))
                        .unwrap_or_default()
                );
            }
        }
        Ok(Preflight {
            versions,
            extensions,
        })
    }

    /// With SecureBoot, the certificate that signs the boot chain, asked for before anything
    /// is registered or built: a factory without SecureBoot keys answers 404 and could not
    /// build the media. Returns the SHA-256 of its DER bytes (its fingerprint).
    pub fn secure_boot_certificate(&self, build: &Build) -> anyhow::Result<Option<Sha256Hex>> {
        let Some(url) = &build.certificate_url else {
            return Ok(None);
        };
        let what = "the factory's SecureBoot signing certificate";
        let pem = self.client.with_retries(&format!("fetching {what}"), || {
            let response = self
                .client
                .get(url)
                .call()
                .map_err(|e| http::transport_failure("GET", url, e))?;
            match response.status().as_u16() {
                200 => http::read_capped(response, url, http::CERTIFICATE),
                404 => Err(http::Failure::Permanent(anyhow::anyhow!(
                    "{} has no SecureBoot keys (GET {url}: 404), so it cannot build -secureboot media; \
                     set os.secureBoot: false in {} (or pass --secure-boot false), or use a factory with SecureBoot keys",
                    self.base,
                    crate::project::INTENT
                ))),
                _ => Err(http::status_failure("GET", url, response)),
            }
        })?;
        let certificate = ureq::tls::parse_pem(&pem)
            .find_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .with_context(|| {
                format!(
                    "GET {url}: no PEM CERTIFICATE in the answer: {}",
                    excerpt_of(&pem)
                )
            })?;
        Ok(Some(Sha256Hex::of(certificate.der())))
    }

    /// Registers the schematic and checks the factory's ID (and canonical form, where it
    /// sends one) against ours: a release must not silently change what `--dry-run` showed.
    pub fn register(&self, schematic: &SchematicPlan) -> anyhow::Result<String> {
        let url = format!("{}/schematics", self.base);
        let what = format!("registering schematic {}", schematic.path);
        let body = self.client.with_retries(&what, || {
            let response = self
                .client
                .direct_post(&url)
                .header("Content-Type", "application/yaml")
                .send(schematic.text.as_bytes())
                .map_err(|e| http::transport_failure("POST", &url, e))?;
            if !response.status().is_success() {
                return Err(http::status_failure("POST", &url, response));
            }
            http::read_capped(response, &url, http::FACTORY_ANSWER)
        })?;
        let answer: Registered = serde_json::from_slice(&body).with_context(|| {
            format!(
                "{what}: POST {url} did not answer JSON: {}",
                excerpt_of(&body)
            )
        })?;
        let id = match answer.id {
            Some(serde_json::Value::String(id)) => id,
            Some(other) => bail!(
                "{what}: the factory's `id` is not a string: {}",
                excerpt_of(other.to_string().as_bytes())
            ),
            None => bail!(
                "{what}: the factory answered without an `id`: {}",
                excerpt_of(&body)
            ),
        };
        if !is_sha256_hex(&id) {
            bail!(
                "{what}: the factory's ID {:?} is not 64 lowercase hex characters; refusing to use it in URLs or paths",
                excerpt_of(id.as_bytes())
            );
        }
        if id != schematic.id {
            bail!(
                "{what}: the factory assigned ID {id}, but the offline ID (shown by --dry-run) is {}.\n\
                 The factory's canonical form of this schematic and ours disagree, so the release stops here rather than change the ID --dry-run promised. \
                 Please report it with the schematic attached.",
                schematic.id
            );
        }
        if let Some(theirs) = answer.schematic
            && theirs != schematic.canonical
        {
            bail!(
                "{what}: the factory's canonical YAML differs from ours although the IDs match:\n--- factory\n{theirs}--- ours\n{}",
                schematic.canonical
            );
        }
        Ok(id)
    }

    /// Whether the factory has schematic `id` stored.
    pub fn has_schematic(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self.stored_schematic(id)?.is_some())
    }

    /// The schematic the factory stores as `id`: `GET /schematics/<id>` answers its canonical
    /// YAML, whose SHA-256 must be the ID, or 404 (`None`).
    pub fn stored_schematic(&self, id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let url = format!("{}/schematics/{id}", self.base);
        let body = self
            .client
            .with_retries(&format!("reading schematic {id} back"), || {
                let response = self
                    .client
                    .get(&url)
                    .call()
                    .map_err(|e| http::transport_failure("GET", &url, e))?;
                match response.status().as_u16() {
                    404 => Ok(None),
                    200 => http::read_capped(response, &url, http::FACTORY_ANSWER).map(Some),
                    _ => Err(http::status_failure("GET", &url, response)),
                }
            })?;
        let Some(body) = body else {
            return Ok(None);
        };
        let stored = crate::util::hex(&sha2::Sha256::digest(&body));
        if stored != id {
            bail!(
                "GET {url}: the schematic the factory stored hashes to {stored}, not to its ID {id}; \
                 the factory's answer is inconsistent, so the release stops rather than build from it: {}",
                excerpt_of(&body)
            );
        }
        Ok(Some(body))
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let body = self.client.with_retries(&format!("fetching {what}"), || {
            let response = self
                .client
                .get(&url)
                .header("Accept", "application/json")
                .call()
                .map_err(|e| http::transport_failure("GET", &url, e))?;
            if !response.status().is_success() {
                return Err(http::status_failure("GET", &url, response));
            }
            http::read_capped(response, &url, http::FACTORY_ANSWER)
        })?;
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "GET {url}: not the JSON expected for {what}: {}",
                excerpt_of(&body)
            )
        })
    }
}

fn excerpt_of(bytes: &[u8]) -> String {
    one_line(bytes, 200)
}

/// A catalogue entry as the manifest records it, once its strings are what they claim to be:
/// the ref an image reference, the digest `sha256:<64 hex>`. The factory's answer is not
/// trusted to be text a release record and its notes can carry as they are.
fn recordable(entry: &CatalogueExtension, factory: &str, path: &str) -> anyhow::Result<Extension> {
    let shown = |text: &str| crate::util::one_line(text.as_bytes(), 120);
    crate::image::image_ref::ImageRef::parse(&entry.reference).with_context(|| {
        format!(
            "{factory}{path}: the catalogue gives extension {} the ref {:?}, which is not an image reference; refusing to record it",
            entry.name,
            shown(&entry.reference)
        )
    })?;
    let digest = crate::image::digest::Digest::parse(&entry.digest).with_context(|| {
        format!(
            "{factory}{path}: the catalogue gives extension {} the digest {:?}, which is not sha256:<64 hex>; refusing to record it",
            entry.name,
            shown(&entry.digest)
        )
    })?;
    Ok(Extension {
        name: entry.name.clone(),
        reference: entry.reference.clone(),
        digest,
    })
}
