//! The release manifest, `ee/appliance/releases/<releaseVersion>.json`: the record of one
//! release's artifact pair: its types, loading, the JSON Schema and the consistency rules the
//! schema cannot express. Assembled from a plan and resolved facts in `release/assemble.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::image::build::{Build, Image};
use crate::image::digest::{Digest, Sha256Hex};
use crate::image::talos::{self, Architecture, BootMedium, FactoryUrl};
use crate::image::version::{KubernetesVersion, ReleaseVersion, TalosVersion};
use crate::json_schema;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub release_version: ReleaseVersion,
    pub generated_at: String,
    pub channel: String,
    pub talos: Talos,
    pub kubernetes: Kubernetes,
    pub os: Os,
    pub app: App,
    /// The release the channel pointed at when this one was cut, and how its nodes get here;
    /// absent for a channel's first release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_from: Option<crate::image::upgrade::UpgradeFrom>,
    /// Present exactly when the release produced the air-gap bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub air_gap: Option<AirGap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The air-gap bundle: an OCI image layout as a tar, and the images in it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AirGap {
    pub path: String,
    /// Of the tar as packed; unknown (null) before it is (a dry run, a check without
    /// `--hashes`).
    pub sha256: Option<Sha256Hex>,
    pub size: Option<u64>,
    /// The installer first, then the cluster's images, then `airGap.extraImages`.
    pub images: Vec<BundledImage>,
}

/// A recorded fact for a message: its value, or "unknown" where a manifest lacks it.
pub fn known<T: AsRef<str>>(fact: &Option<T>) -> &str {
    fact.as_ref().map_or("unknown", AsRef::as_ref)
}

impl AirGap {
    /// The installer's entry: a manifest records it first (the consistency rules hold it so).
    pub fn installer(&self) -> Option<&BundledImage> {
        self.images.first()
    }

    /// The other images (the cluster's, then `airGap.extraImages`), each with its index in
    /// `/airGap/images`.
    pub fn others(&self) -> impl Iterator<Item = (usize, &BundledImage)> {
        self.images.iter().enumerate().skip(1)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BundledImage {
    /// `host/repository:tag`, the entry's `org.opencontainers.image.ref.name`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What the tag resolved to: the index (or a one-platform image's manifest). Unknown
    /// (null) only where the tag was not resolved: a dry run's plan.
    pub digest: Option<Digest>,
    /// The manifest for `os.architecture`, which the bundle holds with its blobs. Unknown
    /// (null) where it was not fetched: a dry run, a check without `--hashes`.
    pub platform_digest: Option<Digest>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Talos {
    pub version: TalosVersion,
    pub schematic_id: String,
    pub schematic_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<Extension>>,
}

/// One official extension as the factory's catalogue listed it for this Talos version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub digest: Digest,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Kubernetes {
    pub version: KubernetesVersion,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Os {
    pub platform: String,
    pub architecture: Architecture,
    /// Absent in manifests written before SecureBoot media existed: `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<bool>,
    /// Each medium under its field of the `MEDIA` table (`iso`, `diskImage`): the ISO always,
    /// the others exactly when asked for.
    #[serde(flatten)]
    pub media: Media,
    pub installer: Installer,
    /// The certificate that signs the SecureBoot boot chain, present exactly with SecureBoot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_boot_certificate: Option<Certificate>,
}

impl Os {
    pub fn is_secure_boot(&self) -> bool {
        self.secure_boot == Some(true)
    }

    /// Every medium recorded, in the table's order (the ISO first).
    pub fn media(&self) -> Vec<(BootMedium, &Medium)> {
        self.media.0.iter().map(|(kind, m)| (*kind, m)).collect()
    }
}

/// The media of a manifest by kind, written under `os` by the `MEDIA` table: each kind's
/// `field`, in the table's order. A new medium is a row there (and an entry in the schema,
/// which a test demands), not a field here.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Media(pub BTreeMap<BootMedium, Medium>);

impl Media {
    pub fn get(&self, kind: BootMedium) -> Option<&Medium> {
        self.0.get(&kind)
    }
}

impl Serialize for Media {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for kind in talos::MEDIA {
            if let Some(medium) = self.0.get(&kind.medium) {
                map.serialize_entry(kind.field, medium)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Media {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Media, D::Error> {
        let fields = BTreeMap::<String, Medium>::deserialize(deserializer)?;
        let mut media = BTreeMap::new();
        for (field, medium) in fields {
            let Some(kind) = talos::MEDIA.iter().find(|k| k.field == field) else {
                let known: Vec<&str> = talos::MEDIA.iter().map(|k| k.field).collect();
                return Err(serde::de::Error::custom(format!(
                    "unknown field `{field}` under os (a medium is one of {})",
                    known.join(", ")
                )));
            };
            media.insert(kind.medium, medium);
        }
        Ok(Media(media))
    }
}

/// One boot medium as downloaded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Medium {
    /// The factory's address (stable), never a CDN redirect target.
    pub url: String,
    pub local_path: String,
    /// Of the bytes as received; unknown (null) before they are (a dry run, a check without
    /// `--hashes`).
    pub sha256: Option<Sha256Hex>,
    /// Absent in manifests written before sizes were recorded; unknown (null) in a dry run.
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    pub url: String,
    /// SHA-256 of the certificate's DER bytes, lowercase hex: its fingerprint; unknown (null)
    /// in a dry run.
    pub sha256: Option<Sha256Hex>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Installer {
    pub image: String,
    /// Present only when the registry answered with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The signature that verified the digest under the policy, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

/// How the installer digest's signature was verified: under which policy, and which signature
/// (the `sha256:` digest of the bundle's manifest, or of the legacy `.sig` manifest).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "policy", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Signature {
    #[serde(rename = "keyless")]
    Keyless {
        issuer: String,
        identity: String,
        signature: String,
    },
    #[serde(rename = "publicKey")]
    PublicKey {
        public_key_sha256: Sha256Hex,
        signature: String,
    },
}

impl Signature {
    /// The name this signature of `image`@`digest` goes by in the air-gap bundle (and so at a
    /// site that loads it): cosign's `sha256-<hex>.sig` tag for a legacy signature, the same
    /// with `.sigstore` for a Sigstore bundle (which a registry with the referrers API finds
    /// by its subject, whatever the tag).
    pub fn bundle_name(&self, image: &str, digest: &crate::image::digest::Digest) -> String {
        let base = image.rsplit_once(':').map_or(image, |(name, _)| name);
        let suffix = match self {
            Signature::PublicKey { .. } => "sig",
            Signature::Keyless { .. } => "sigstore",
        };
        format!("{base}:sha256-{}.{suffix}", digest.hex())
    }

    /// The digest of the manifest that carries the signature, in the installer's repository.
    pub fn manifest(&self) -> &str {
        match self {
            Signature::Keyless { signature, .. } | Signature::PublicKey { signature, .. } => {
                signature
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub version: String,
    pub values_profile: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// The commit the release was cut from; `None` only when git could not say (`unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Why git could not say which commit (`--allow-dirty` in a checkout where git failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The release's inputs were not all `commit`'s (`--allow-dirty`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dirty: bool,
    /// Each input that differed from `commit`, with the SHA-256 of what the release used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<DirtyInput>,
}

/// "the recorded releases are 0.1.0, 0.2.0", or that there is none, for a message.
pub fn recorded_releases(root: &Path) -> String {
    let mut versions: Vec<ReleaseVersion> =
        crate::project::json_stems(root, crate::project::RELEASES_DIR)
            .iter()
            .filter_map(|stem| stem.parse().ok())
            .collect();
    versions.sort();
    if versions.is_empty() {
        "no release is recorded yet".to_string()
    } else {
        let names: Vec<&str> = versions.iter().map(|v| v.as_str()).collect();
        format!("the recorded releases are {}", names.join(", "))
    }
}

impl Source {
    /// The commit, in words: `commit <hex>`, or why it is unknown.
    pub fn describe(&self) -> String {
        match (&self.commit, &self.unknown) {
            (Some(commit), _) => format!("commit {commit}"),
            (None, Some(why)) => format!("an unknown commit ({why})"),
            (None, None) => "an unknown commit".to_string(),
        }
    }
}

/// An input of a dirty release: repository-relative path, SHA-256 (hex) of its bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DirtyInput {
    pub path: String,
    pub sha256: Sha256Hex,
}

impl Manifest {
    /// The recorded manifest of `release_version`; an error naming the file if it is absent.
    pub fn load_recorded(root: &Path, release_version: &str) -> anyhow::Result<Manifest> {
        let path = crate::project::manifest_path(release_version);
        if std::fs::symlink_metadata(root.join(&path)).is_err() {
            anyhow::bail!(
                "release {release_version} is not recorded: {path} does not exist ({})",
                recorded_releases(root)
            );
        }
        let text = crate::project::read_input(root, &path, crate::project::INPUT_CAP)?;
        // Checked before anything acts on it: a record is input like any other.
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{path} is not JSON (`cargo xtask validate` says more)"))?;
        let schema = Schema::load(root, crate::project::RELEASE_SCHEMA)?;
        let mut problems = schema.problems(&value);
        if problems.is_empty() {
            let manifest: Manifest = serde_json::from_value(value).with_context(|| {
                format!("{path} is not a valid manifest (`cargo xtask validate` says more)")
            })?;
            problems.extend(manifest.consistency_problems(release_version));
            if problems.is_empty() {
                return Ok(manifest);
            }
        }
        anyhow::bail!(
            "{path} is not a valid record, so it is not used: {} (`cargo xtask validate` says more)",
            problems.join("; ")
        )
    }

    /// Pretty JSON with a final newline, as committed.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        text.push('\n');
        text
    }

    /// Rules the schema cannot express: every medium's URL and local path, the installer and
    /// the SecureBoot certificate carry this manifest's own factory, schematic ID, Talos
    /// version, platform and architecture, and are all SecureBoot variants or all plain, as
    /// `os.secureBoot` says; the file is named after the release. `file_stem` is the
    /// manifest's file name without `.json`.
    pub fn consistency_problems(&self, file_stem: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if *file_stem != *self.release_version {
            problems.push(format!(
                "file name says release {file_stem} but releaseVersion is {}",
                self.release_version
            ));
        }
        let version = &self.talos.version;
        // The factory comes from the ISO's URL; every address is checked against it.
        let iso_url = (self.os.media.get(BootMedium::Iso)).map_or("", |m| m.url.as_str());
        let factory = match iso_url
            .split_once("/image/")
            .map(|(base, _)| FactoryUrl::parse(base))
        {
            Some(Ok(factory)) => factory,
            Some(Err(e)) => {
                problems.push(format!("/os/iso/url: {e:#}"));
                return problems;
            }
            None => {
                problems.push(format!(
                    "/os/iso/url: {iso_url} is not <factory>/image/<schematic ID>/<Talos version>/<file>"
                ));
                return problems;
            }
        };
        problems.extend(self.build_problems(factory, version));
        if let Some(air_gap) = &self.air_gap {
            problems.extend(self.air_gap_problems(air_gap));
        }
        if let Some(upgrade) = &self.upgrade_from {
            problems.extend(self.upgrade_problems(upgrade));
        }
        problems.extend(self.source_problems());
        problems
    }

    /// The names this record's own inputs give (`Build::new`, the plan's derivation, with the
    /// factory of its ISO and the catalogue's installer naming for its Talos version) against
    /// the names it records; `talos.factoryUrl` and the Kubernetes version against the same.
    fn build_problems(&self, factory: FactoryUrl, version: &TalosVersion) -> Vec<String> {
        let image = match self.image() {
            Ok(image) => image,
            Err(e) => return vec![format!("/talos/version: {e:#}")],
        };
        let os = &self.os;
        let kinds: Vec<BootMedium> = os.media().iter().map(|(kind, _)| *kind).collect();
        let id = &self.talos.schematic_id;
        let build = Build::new(image, factory, &kinds, id, &self.release_version);
        let pairing = self.pairing();
        let mut problems = Vec::new();
        for (planned, (medium, recorded)) in build.media.iter().zip(os.media()) {
            let field = medium.kind().field;
            if recorded.url != planned.url {
                problems.push(format!(
                    "/os/{field}/url: expected {} (this manifest's factory, schematic ID, Talos version, platform and architecture; {pairing}), found {}",
                    planned.url, recorded.url
                ));
            }
            if recorded.local_path != planned.path {
                problems.push(format!(
                    "/os/{field}/localPath: expected {} (the factory's file name; {pairing}), found {}",
                    planned.path, recorded.local_path
                ));
            }
        }
        if os.installer.image != build.installer.image {
            problems.push(format!(
                "/os/installer/image: expected {} (same factory, schematic ID and Talos version as the ISO; {pairing}), found {}",
                build.installer.image, os.installer.image
            ));
        }
        match (&os.secure_boot_certificate, &build.certificate_url) {
            (Some(certificate), Some(expected)) if certificate.url != *expected => {
                problems.push(format!(
                    "/os/secureBootCertificate/url: expected {expected}, found {}",
                    certificate.url
                ));
            }
            (None, Some(_)) => problems.push(
                "/os/secureBootCertificate: missing; a SecureBoot release records the certificate that signs its boot chain".into(),
            ),
            (Some(_), None) => problems.push(
                "/os/secureBootCertificate: present, but os.secureBoot is not true".into(),
            ),
            _ => {}
        }
        if let Some(recorded) = &self.talos.factory_url
            && FactoryUrl::parse(recorded).ok().map(|f| f.base) != Some(build.factory.base.clone())
        {
            problems.push(format!(
                "/talos/factoryUrl: {recorded} is not the factory of /os/iso/url ({})",
                build.factory.base
            ));
        }
        if let Err(e) = (crate::image::catalog::catalog().minor(version))
            .and_then(|minor| minor.check_kubernetes(&self.kubernetes.version))
        {
            problems.push(format!("/kubernetes/version: {e:#}"));
        }
        problems
    }

    /// The Talos image this record was built as: its versions and boot, with the installer
    /// naming the catalogue gives its Talos version.
    pub fn image(&self) -> anyhow::Result<Image> {
        let naming = crate::image::catalog::catalog().factory_rules(&self.talos.version)?;
        Ok(Image {
            talos_version: self.talos.version.clone(),
            naming: naming.installer,
            kubernetes_version: self.kubernetes.version.clone(),
            platform: self.os.platform.clone(),
            architecture: self.os.architecture,
            secure_boot: self.os.is_secure_boot(),
        })
    }

    /// Why every medium and the installer must (or must not) be the -secureboot variant.
    fn pairing(&self) -> &'static str {
        if self.os.is_secure_boot() {
            "os.secureBoot is true, so every medium and the installer must be the -secureboot variant"
        } else {
            "os.secureBoot is false, so no medium or installer may be a -secureboot variant"
        }
    }

    /// `source`: dirty with the inputs that differed, or clean with none; a commit, or why it
    /// is unknown.
    fn source_problems(&self) -> Vec<String> {
        let Some(source) = &self.source else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        if source.dirty == source.inputs.is_empty() {
            problems.push(
                "/source: dirty and inputs go together: a dirty record lists the inputs that differed, a clean one none".into(),
            );
        }
        if source.commit.is_some() == source.unknown.is_some()
            || (source.unknown.is_some() && !source.dirty)
        {
            problems.push(
                "/source: a record names its commit, or says why it is unknown (then dirty, with every input)".into(),
            );
        }
        problems
    }

    /// Recorded steps are the ones the catalogue's rules give between the two releases'
    /// versions; a release never upgrades from itself. For the manifest's own `upgradeFrom`,
    /// and for a channel file's, which says how the channel's nodes reach this release.
    pub fn upgrade_problems(&self, upgrade: &crate::image::upgrade::UpgradeFrom) -> Vec<String> {
        if upgrade.release_version == self.release_version {
            return vec![format!(
                "/upgradeFrom/releaseVersion: {} is this release itself",
                upgrade.release_version
            )];
        }
        let Some(recorded) = &upgrade.steps else {
            return Vec::new();
        };
        let path = crate::image::upgrade::path(
            crate::image::catalog::catalog(),
            crate::image::upgrade::Versions {
                talos: &upgrade.talos,
                kubernetes: &upgrade.kubernetes,
            },
            crate::image::upgrade::Versions {
                talos: &self.talos.version,
                kubernetes: &self.kubernetes.version,
            },
        );
        match path {
            Ok(steps) if steps == *recorded => Vec::new(),
            Ok(steps) => vec![format!(
                "/upgradeFrom/steps: the catalogue's rules give [{}] from Talos {} and Kubernetes {}, the manifest records [{}]",
                steps
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                upgrade.talos,
                upgrade.kubernetes,
                recorded
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            Err(gap) => vec![format!(
                "/upgradeFrom/steps: recorded, but the catalogue's rules give no path: {gap:#}"
            )],
        }
    }

    /// The bundle sits beside the media under this release's architecture, starts with this
    /// release's installer at its recorded digest, and names each image once.
    fn air_gap_problems(&self, air_gap: &AirGap) -> Vec<String> {
        let mut problems = Vec::new();
        let file = format!("airgap-{}.oci.tar", self.os.architecture);
        let expected = crate::project::medium_path(&self.release_version, &file);
        if air_gap.path != expected {
            problems.push(format!(
                "/airGap/path: expected {expected} (this release's folder and architecture), found {}",
                air_gap.path
            ));
        }
        match air_gap.installer() {
            Some(first) if first.reference == self.os.installer.image => {
                if self.os.installer.digest != first.digest {
                    let shown = |d: &Option<Digest>| {
                        d.as_ref().map_or("absent".to_string(), Digest::to_string)
                    };
                    problems.push(format!(
                        "/airGap/images/0/digest: {} is not /os/installer/digest ({})",
                        shown(&first.digest),
                        shown(&self.os.installer.digest)
                    ));
                }
            }
            _ => problems.push(format!(
                "/airGap/images/0: must be the installer, {}",
                self.os.installer.image
            )),
        }
        for (i, image) in air_gap.images.iter().enumerate() {
            if air_gap.images[..i]
                .iter()
                .any(|other| other.reference == image.reference)
            {
                problems.push(format!(
                    "/airGap/images/{i}/ref: {} is listed twice",
                    image.reference
                ));
            }
        }
        problems
    }
}

/// A compiled JSON Schema with format checks on (`json_schema`).
pub struct Schema {
    validator: json_schema::Validator,
}

impl Schema {
    /// The schema file `display` of the tree at `root`.
    pub fn load(root: &Path, display: &str) -> anyhow::Result<Schema> {
        let text = crate::project::read_input(root, display, crate::project::INPUT_CAP)?;
        let schema: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{display} is not JSON"))?;
        let validator = json_schema::Validator::compile(&schema).map_err(|problems| {
            let problems: Vec<String> = problems
                .iter()
                .map(|p| format!("{display}: {}: {}", pointer_or_root(&p.pointer), p.message))
                .collect();
            anyhow::anyhow!(
                "{display} is not a schema xtask can check:\n{}",
                problems.join("\n")
            )
        })?;
        Ok(Schema { validator })
    }

    /// Every violation as `<JSON pointer>: <message>`.
    pub fn problems(&self, instance: &serde_json::Value) -> Vec<String> {
        self.validator
            .problems(instance)
            .into_iter()
            .map(|p| format!("{}: {}", pointer_or_root(&p.pointer), p.message))
            .collect()
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's media under `os` (the properties built on `$defs/medium`) are exactly the
    /// `MEDIA` table's fields: a new row needs its schema entry, and the reverse.
    #[test]
    fn the_schema_names_every_medium_of_the_table_and_no_other() {
        let schema: serde_json::Value = serde_json::from_str(include_str!(
            "../../../ee/appliance/schemas/release.schema.json"
        ))
        .unwrap();
        let os = schema["properties"]["os"]["properties"]
            .as_object()
            .unwrap();
        let in_schema: Vec<&str> = os
            .iter()
            .filter(|(_, node)| node.to_string().contains("#/$defs/medium"))
            .map(|(field, _)| field.as_str())
            .collect();
        let in_table: Vec<&str> = talos::MEDIA.iter().map(|k| k.field).collect();
        assert_eq!(in_schema, in_table);
        let required = schema["properties"]["os"]["required"].as_array().unwrap();
        assert!(
            required.contains(&serde_json::json!("iso")),
            "the ISO is always recorded"
        );
    }

    #[test]
    fn media_are_written_by_the_table_and_an_unknown_one_is_refused() {
        let medium = |name: &str| Medium {
            url: format!("u/{name}"),
            local_path: format!("p/{name}"),
            sha256: Some(crate::image::digest::Sha256Hex::of(b"a")),
            size: Some(1),
        };
        let media = Media(BTreeMap::from([
            (BootMedium::DiskImage, medium("raw.zst")),
            (BootMedium::Iso, medium("iso")),
        ]));
        let json = serde_json::to_string(&media).unwrap();
        assert!(
            json.starts_with(r#"{"iso":"#) && json.contains(r#","diskImage":"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Media>(&json).unwrap(), media);
        let error = serde_json::from_str::<Media>(
            r#"{"floppy": {"url": "u", "localPath": "p", "sha256": null}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `floppy` under os"), "{error}");
    }
}
