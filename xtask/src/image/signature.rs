//! Installer signatures: the trust policy committed in `release.yaml`, finding the signatures
//! the factory's registry holds for an installer digest D, and verifying them before D is
//! recorded. Two forms:
//! - keyless (factory.talos.dev): Sigstore bundles (DSSE around an in-toto statement whose
//!   subject is D, Fulcio certificate, Rekor entry and/or RFC 3161 timestamp), found as OCI
//!   referrers of D or under the fallback tag `sha256-<hex>`, verified by `sigstore-verify`
//!   against the embedded public-good root, the policy's identity and issuer;
//! - publicKey (self-hosted factories): cosign's legacy `sha256-<hex>.sig` manifest whose
//!   simple-signing payload names D, signed with the pinned ECDSA P-256 key.

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use serde::Deserialize;

use crate::host::http::Client;
use crate::image::build::InstallerRef;
use crate::image::digest::Digest;
use crate::image::manifest::Signature;
use crate::image::registry;
use crate::image::trust::{PinnedRoot, Policy, PublicKey};

/// The OCI `artifactType` (and layer media type) of a Sigstore bundle.
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The referrer annotation naming the predicate type of the statement a bundle carries.
const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// cosign's signing predicate: the only bundles that are signatures (Enterprise factories list
/// SLSA provenance bundles with the same artifactType next to them).
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// At most this many bundles are tried for one digest, so a registry cannot make a run verify
/// without end.
const MAX_BUNDLES: usize = 16;
/// The layer media type of cosign's legacy simple-signing payload.
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 DER signature over the payload.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The outcome of looking for and verifying D's signatures.
#[derive(Debug)]
pub enum Outcome {
    /// One signature verified under the policy: what the manifest records.
    Verified(Signature),
    /// No signature of the policy's kind exists for D; where it was looked for.
    Unsigned(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// A signature found for D, not yet verified.
struct Candidate {
    /// `sha256:` digest of the manifest that carries it (a bundle manifest or the `.sig` one).
    manifest: String,
    /// Where it was found, for messages.
    found: String,
    /// The manifest's bytes when finding it fetched them already (the `.sig` tag).
    bytes: Option<Vec<u8>>,
}

/// Finds the signatures of the installer at `digest` in its registry and verifies each against
/// `policy` until one passes. A signature of the policy's kind that does not verify is an
/// error, never "unsigned". Says nothing itself: the resolve stage decides what an outcome means.
pub fn verify(
    client: &Client,
    installer: &InstallerRef,
    policy: &Policy,
    digest: &Digest,
) -> anyhow::Result<Outcome> {
    let (registry_base, repository) = (installer.registry.as_str(), installer.repository.as_str());
    let hex_part = digest.hex();
    let digest = digest.as_str();
    let registry = Registry {
        client,
        base: registry_base,
        repository,
    };
    // Where a signature was looked for, and what was passed over there.
    let (candidates, looked) = match policy {
        Policy::Keyless { .. } => registry.bundles(digest, hex_part)?,
        Policy::PublicKey { .. } => registry.legacy_signature(hex_part)?,
    };
    if candidates.is_empty() {
        return Ok(Outcome::Unsigned(looked));
    }
    let mut failures = Vec::new();
    for candidate in &candidates {
        let checked = match policy {
            Policy::Keyless {
                issuer,
                identity,
                trusted_root,
            } => registry
                .bundle_of(&candidate.manifest)
                .and_then(|bundle| {
                    let root = Root::of(trusted_root.as_ref());
                    verify_bundle(&bundle, hex_part, issuer, identity, root)
                })
                .map(|()| Signature::Keyless {
                    issuer: issuer.clone(),
                    identity: identity.clone(),
                    signature: candidate.manifest.clone(),
                }),
            Policy::PublicKey { key, .. } => registry
                .legacy_payloads(candidate)
                .and_then(|payloads| verify_legacy(&payloads, digest, key))
                .map(|()| Signature::PublicKey {
                    public_key_sha256: key.sha256.clone(),
                    signature: candidate.manifest.clone(),
                }),
        };
        match checked {
            Ok(signature) => return Ok(Outcome::Verified(signature)),
            Err(e) => failures.push(format!(
                "{} ({}): {e:#}",
                candidate.manifest, candidate.found
            )),
        }
    }
    let passed_over = match looked.as_str() {
        "" => String::new(),
        notes => format!(" ({notes})"),
    };
    bail!(
        "{repository}@{digest}: {} signature(s) found, none verifies under the {} policy: {}{passed_over}",
        candidates.len(),
        policy.describe(),
        failures.join("; ")
    )
}

/// The Sigstore trusted root a bundle is checked against, and its name for messages.
#[derive(Clone, Copy)]
pub struct Root<'a> {
    pub name: &'a str,
    pub json: &'a str,
}

impl<'a> Root<'a> {
    /// The pinned root of the policy, else the public-good root embedded in `sigstore-verify`.
    pub fn of(pinned: Option<&'a PinnedRoot>) -> Root<'a> {
        match pinned {
            Some(root) => Root {
                name: &root.path,
                json: &root.json,
            },
            None => Root {
                name: "the trusted root embedded in sigstore-verify",
                json: sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT,
            },
        }
    }
}

/// The DSSE payload type of an in-toto statement.
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// Verifies a Sigstore bundle as cosign's signature of the image `digest_hex` (SHA-256 hex):
/// its DSSE envelope must carry an in-toto statement whose predicate type is cosign's sign
/// predicate and whose subject names that digest (the referrer's annotation only chose which
/// bundles to fetch: it is not signed); then the signature over the envelope must come from a
/// certificate for `identity` from `issuer`, chained to `root`, with a transparency log entry
/// or timestamp. A bundle logged where `root` knows no log fails with the log's name and both
/// remedies.
pub fn verify_bundle(
    bundle_json: &[u8],
    digest_hex: &str,
    issuer: &str,
    identity: &str,
    root: Root,
) -> anyhow::Result<()> {
    check_statement(bundle_json, digest_hex)?;
    verify_signed(bundle_json, digest_hex, issuer, identity, root)
}

/// What the statement inside a bundle's DSSE envelope says, against what a signature of the
/// image `digest_hex` must say; the error names the first part that does not hold.
fn check_statement(bundle_json: &[u8], digest_hex: &str) -> anyhow::Result<()> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bundle {
        dsse_envelope: Option<Envelope>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Envelope {
        payload: String,
        payload_type: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Statement {
        #[serde(default)]
        predicate_type: String,
        #[serde(default)]
        subject: Vec<Subject>,
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: std::collections::BTreeMap<String, String>,
    }
    let bundle: Bundle = serde_json::from_slice(bundle_json).context("not a Sigstore bundle")?;
    let Some(envelope) = bundle.dsse_envelope else {
        bail!(
            "the bundle carries no DSSE envelope (a message signature), so it states nothing about an image"
        );
    };
    if envelope.payload_type != IN_TOTO {
        bail!(
            "the bundle's DSSE payload type is {:?}, not an in-toto statement ({IN_TOTO})",
            envelope.payload_type
        );
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope.payload.trim())
        .context("the bundle's DSSE payload is not base64")?;
    let statement: Statement = serde_json::from_slice(&payload)
        .context("the bundle's DSSE payload is not an in-toto statement")?;
    if statement.predicate_type != SIGN_PREDICATE {
        bail!(
            "the bundle's statement has predicate type {:?}, not cosign's signature ({SIGN_PREDICATE}): it attests something else about the image, it does not sign it",
            statement.predicate_type
        );
    }
    let named: Vec<&str> = (statement.subject.iter())
        .filter_map(|s| s.digest.get("sha256").map(String::as_str))
        .collect();
    if !named.contains(&digest_hex) {
        bail!(
            "the bundle's statement signs {}, not sha256:{digest_hex}: it is another image's signature",
            if named.is_empty() {
                "no sha256 subject".to_string()
            } else {
                named
                    .iter()
                    .map(|hex| format!("sha256:{hex}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(())
}

/// The signature of a bundle: its certificate's identity and issuer, its chain to `root`, its
/// log entry or timestamp, and the statement's subject, as `sigstore-verify` checks them.
fn verify_signed(
    bundle_json: &[u8],
    digest_hex: &str,
    issuer: &str,
    identity: &str,
    root: Root,
) -> anyhow::Result<()> {
    use sigstore_verify::trust_root::TrustedRoot;
    crate::image::sigstore_ring::install();
    let text = std::str::from_utf8(bundle_json).context("the bundle is not UTF-8 JSON")?;
    let bundle =
        sigstore_verify::types::Bundle::from_json(text).context("not a Sigstore bundle")?;
    let trusted = TrustedRoot::from_json(root.json)
        .with_context(|| format!("loading the Sigstore trusted root ({})", root.name))?;
    let subject = sigstore_verify::types::Sha256Hash::from_hex(digest_hex)
        .context("the installer digest is not SHA-256 hex")?;
    let policy = sigstore_verify::VerificationPolicy::new(identity, issuer);
    sigstore_verify::verify(subject, &bundle, &policy, &trusted).map_err(|e| {
        match unknown_logs(text, root.json) {
            Some(logs) => anyhow!(
                "the bundle was logged in {logs}, which {} does not know (Sigstore opened a log newer than it): update sigstore-verify (`cargo update -p sigstore-verify`) for a newer embedded root, or pin a current one as installerSignature.keyless.trustedRoot (docs/reference.md, \"Trusted root\"); the verifier said: {e}",
                root.name
            ),
            None => anyhow!("{e}"),
        }
    })?;
    Ok(())
}

/// The transparency logs a bundle names when none of them is in the trusted root: each by
/// its checkpoint origin (the log's host name) and key ID. `None` when one is known, or the
/// bundle names none.
fn unknown_logs(bundle_json: &str, root_json: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Log {
        log_id: LogId,
        #[serde(default)]
        inclusion_proof: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct LogId {
        key_id: String,
    }
    let bundle: serde_json::Value = serde_json::from_str(bundle_json).ok()?;
    let entries: Vec<Log> =
        serde_json::from_value(bundle["verificationMaterial"]["tlogEntries"].clone()).ok()?;
    let root: serde_json::Value = serde_json::from_str(root_json).ok()?;
    let known: Vec<Log> = serde_json::from_value(root["tlogs"].clone()).ok()?;
    let known = |id: &str| known.iter().any(|k| k.log_id.key_id == id);
    if entries.is_empty() || entries.iter().any(|e| known(&e.log_id.key_id)) {
        return None;
    }
    let named: Vec<String> = entries
        .iter()
        .map(|entry| {
            let origin = entry
                .inclusion_proof
                .as_ref()
                .and_then(|proof| proof["checkpoint"]["envelope"].as_str())
                .and_then(|envelope| envelope.lines().next())
                .filter(|line| !line.trim().is_empty());
            match origin {
                Some(origin) => format!("{origin} (log ID {})", entry.log_id.key_id),
                None => format!("the log with ID {}", entry.log_id.key_id),
            }
        })
        .collect();
    Some(named.join(", "))
}

/// A legacy `.sig` layer: the payload bytes and the signature annotation.
pub struct Payload {
    pub bytes: Vec<u8>,
    pub signature_base64: String,
}

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Accepts when one payload names `digest` and its signature verifies with `key`. The
/// payload's `docker-reference` names the factory's internal repository, so it is not checked.
pub fn verify_legacy(payloads: &[Payload], digest: &str, key: &PublicKey) -> anyhow::Result<()> {
    let mut reasons = Vec::new();
    for payload in payloads {
        let checked = (|| -> anyhow::Result<()> {
            let signature = base64::engine::general_purpose::STANDARD
                .decode(payload.signature_base64.trim())
                .context("the signature annotation is not base64")?;
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                key.point(),
            )
            .verify(&payload.bytes, &signature)
            .map_err(|_| anyhow!("the signature does not verify with the pinned key"))?;
            let parsed: SimpleSigning = serde_json::from_slice(&payload.bytes)
                .context("the payload is not cosign's simple-signing JSON")?;
            if parsed.critical.kind != "cosign container image signature" {
                bail!("the payload's type is {:?}", parsed.critical.kind);
            }
            let named = parsed.critical.image.docker_manifest_digest;
            if named != digest {
                bail!("the signed payload names {named}, not {digest}");
            }
            Ok(())
        })();
        match checked {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!("{e:#}")),
        }
    }
    if reasons.is_empty() {
        bail!("the .sig manifest has no {SIMPLE_SIGNING} layer");
    }
    bail!("{}", reasons.join("; "))
}

/// The installer's repository in one registry.
struct Registry<'a> {
    client: &'a Client,
    base: &'a str,
    repository: &'a str,
}

impl Registry<'_> {
    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }

    /// Bundle manifests that refer to D: the referrers API first (factories from v1.5.0), then
    /// the fallback tag `sha256-<hex>` (an index listing them by artifactType). Only bundles
    /// whose referrer names cosign's sign predicate (or no predicate) count, at most
    /// [`MAX_BUNDLES`]; a fallback tag that resolves to D itself is refused, not searched.
    fn bundles(&self, digest: &str, hex_part: &str) -> anyhow::Result<(Vec<Candidate>, String)> {
        let places = [
            (
                self.url(&format!("referrers/{digest}")),
                "referrers of the digest",
            ),
            (
                self.url(&format!("manifests/sha256-{hex_part}")),
                "the sha256-<hex> fallback tag",
            ),
        ];
        let mut notes = Vec::new();
        for (url, found) in &places {
            let Some(bytes) = registry::get(self.client, url, registry::INDEX_TYPES)? else {
                notes.push(format!("nothing at {url}"));
                continue;
            };
            if Digest::of(&bytes) == *digest {
                notes.push(format!(
                    "{url} resolved to {digest} itself (the registry maps digest-shaped tags to digests): not a list of signatures, so not searched"
                ));
                continue;
            }
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .with_context(|| format!("GET {url}: not an OCI image index"))?;
            let bundles = index
                .manifests
                .iter()
                .filter(|d| d.artifact_type.as_deref() == Some(BUNDLE_TYPE));
            let (signatures, others): (Vec<&Descriptor>, Vec<&Descriptor>) =
                bundles.partition(|d| {
                    d.annotations
                        .get(PREDICATE_ANNOTATION)
                        .is_none_or(|p| p == SIGN_PREDICATE)
                });
            if !others.is_empty() {
                let mut types: Vec<&str> = others
                    .iter()
                    .filter_map(|d| d.annotations.get(PREDICATE_ANNOTATION))
                    .map(String::as_str)
                    .collect();
                types.sort_unstable();
                types.dedup();
                notes.push(format!(
                    "{} bundle(s) at {url} with predicate type {} skipped: not signatures ({SIGN_PREDICATE})",
                    others.len(),
                    types.join(", ")
                ));
            }
            if signatures.len() > MAX_BUNDLES {
                notes.push(format!(
                    "{} signature bundles at {url}: the first {MAX_BUNDLES} are tried",
                    signatures.len()
                ));
            }
            let candidates: Vec<Candidate> = signatures
                .iter()
                .take(MAX_BUNDLES)
                .map(|d| Candidate {
                    manifest: d.digest.clone(),
                    found: found.to_string(),
                    bytes: None,
                })
                .collect();
            if !candidates.is_empty() {
                return Ok((candidates, notes.join("; ")));
            }
        }
        Ok((
            Vec::new(),
            format!(
                "no Sigstore signature bundle for {digest}: {}",
                notes.join("; ")
            ),
        ))
    }

    /// The legacy `sha256-<hex>.sig` manifest, if there is one.
    fn legacy_signature(&self, hex_part: &str) -> anyhow::Result<(Vec<Candidate>, String)> {
        let url = self.url(&format!("manifests/sha256-{hex_part}.sig"));
        match registry::get(self.client, &url, registry::MANIFEST_TYPES)? {
            Some(bytes) => Ok((
                vec![Candidate {
                    manifest: Digest::of(&bytes).to_string(),
                    found: "the legacy .sig tag".into(),
                    bytes: Some(bytes),
                }],
                String::new(),
            )),
            None => Ok((Vec::new(), format!("no {url}"))),
        }
    }

    /// A manifest by digest, checked against it.
    fn manifest(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let url = self.url(&format!("manifests/{digest}"));
        let bytes = registry::get(self.client, &url, registry::MANIFEST_TYPES)?
            .with_context(|| format!("GET {url}: 404"))?;
        check_digest(&bytes, digest, &url)?;
        Ok(bytes)
    }

    /// A blob by digest, checked against it.
    fn blob(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let url = self.url(&format!("blobs/{digest}"));
        let bytes =
            registry::get(self.client, &url, "*/*")?.with_context(|| format!("GET {url}: 404"))?;
        check_digest(&bytes, digest, &url)?;
        Ok(bytes)
    }

    /// The bundle a bundle manifest carries.
    fn bundle_of(&self, manifest_digest: &str) -> anyhow::Result<Vec<u8>> {
        let manifest: ImageManifest = serde_json::from_slice(&self.manifest(manifest_digest)?)
            .context("the bundle's manifest is not an OCI image manifest")?;
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == BUNDLE_TYPE)
            .with_context(|| format!("the manifest has no {BUNDLE_TYPE} layer"))?;
        self.blob(&layer.digest)
    }

    /// The simple-signing payloads (and their signatures) of a `.sig` manifest.
    fn legacy_payloads(&self, candidate: &Candidate) -> anyhow::Result<Vec<Payload>> {
        let bytes = match &candidate.bytes {
            Some(bytes) => bytes.clone(),
            None => self.manifest(&candidate.manifest)?,
        };
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .context("the .sig manifest is not an OCI image manifest")?;
        manifest
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING)
            .map(|layer| {
                Ok(Payload {
                    bytes: self.blob(&layer.digest)?,
                    signature_base64: layer
                        .annotations
                        .get(SIGNATURE_ANNOTATION)
                        .cloned()
                        .with_context(|| {
                            format!("layer {} has no {SIGNATURE_ANNOTATION}", layer.digest)
                        })?,
                })
            })
            .collect()
    }
}

/// Content fetched by digest must have that digest, whoever served it.
fn check_digest(bytes: &[u8], digest: &str, url: &str) -> anyhow::Result<()> {
    let actual = Digest::of(bytes);
    if actual != *digest {
        bail!("GET {url}: the content's digest is {actual}, not the {digest} asked for");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real Sigstore bundles, vendored from the sigstore-rust repository's test data
    // (sigstore-verify/test_data/bundles, Apache-2.0); see xtask/tests/data/sigstore/SOURCE.md.
    const REKOR_V2_BUNDLE: &str =
        include_str!("../../tests/data/sigstore/conda-attestation-rekor2.sigstore.json");
    const REKOR_V1_BUNDLE: &str =
        include_str!("../../tests/data/sigstore/conda-attestation.sigstore.json");
    const STAGING_ROOT: &str = include_str!("../../tests/data/sigstore/staging-trusted-root.json");
    /// The statement subject of both: the conda package they attest.
    const SUBJECT: &str = "54303491a8418fbed24344b513546182c29b43bf282ceb433af65e2299f9271f";

    /// Real cosign keyless signatures (tests/data/sigstore/SOURCE.md): each bundle signs its
    /// manifest, by albert.kostusev@siderolabs.com through Google, logged in Rekor v1.
    const CATALOG_BUNDLE: &str =
        include_str!("../../tests/data/sigstore/image-factory-extensions-catalog.sigstore.json");
    const CATALOG_MANIFEST: &[u8] =
        include_bytes!("../../tests/data/sigstore/image-factory-extensions-catalog.manifest.json");
    const EXTENSION_MANIFEST: &[u8] =
        include_bytes!("../../tests/data/sigstore/image-factory-my-extension.manifest.json");
    const SIGNER: (&str, &str) = (
        "https://accounts.google.com",
        "albert.kostusev@siderolabs.com",
    );

    fn sha256(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        crate::util::hex(&sha2::Sha256::digest(bytes))
    }

    #[test]
    fn a_real_cosign_signature_verifies_for_its_image_and_signer_only() {
        let (issuer, identity) = SIGNER;
        let image = sha256(CATALOG_MANIFEST);
        let bundle = CATALOG_BUNDLE.as_bytes();
        verify_bundle(bundle, &image, issuer, identity, Root::of(None)).unwrap();
        let other = verify_bundle(
            bundle,
            &sha256(EXTENSION_MANIFEST),
            issuer,
            identity,
            Root::of(None),
        )
        .unwrap_err()
        .to_string();
        assert!(
            other.contains(&format!("signs sha256:{image}, not sha256:")),
            "{other}"
        );
        for (issuer, identity) in [
            (issuer, "someone.else@siderolabs.com"),
            ("https://token.actions.githubusercontent.com", identity),
        ] {
            assert!(verify_bundle(bundle, &image, issuer, identity, Root::of(None)).is_err());
        }
    }

    /// `bundle` with its DSSE statement (or payload type) changed by `edit`.
    fn restated(
        bundle: &str,
        edit: impl FnOnce(&mut serde_json::Value, &mut serde_json::Value),
    ) -> Vec<u8> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bundle: serde_json::Value = serde_json::from_str(bundle).unwrap();
        let payload = engine
            .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let mut statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        edit(&mut bundle, &mut statement);
        bundle["dsseEnvelope"]["payload"] = engine
            .encode(serde_json::to_vec(&statement).unwrap())
            .into();
        serde_json::to_vec(&bundle).unwrap()
    }

    #[test]
    fn the_statement_decides_what_a_bundle_signs_and_the_error_says_which_part_failed() {
        let image = sha256(CATALOG_MANIFEST);
        let cases: [(Vec<u8>, &str); 4] = [
            (
                restated(CATALOG_BUNDLE, |_, s| {
                    s["predicateType"] = "https://slsa.dev/provenance/v1".into()
                }),
                "predicate type \"https://slsa.dev/provenance/v1\", not cosign's signature",
            ),
            (
                restated(CATALOG_BUNDLE, |b, _| {
                    b["dsseEnvelope"]["payloadType"] = "application/json".into()
                }),
                "DSSE payload type is \"application/json\", not an in-toto statement",
            ),
            (
                restated(CATALOG_BUNDLE, |_, s| {
                    s["subject"][0]["digest"]["sha256"] = "0".repeat(64).into()
                }),
                "signs sha256:0000",
            ),
            (
                {
                    let mut b: serde_json::Value = serde_json::from_str(CATALOG_BUNDLE).unwrap();
                    b.as_object_mut().unwrap().remove("dsseEnvelope");
                    serde_json::to_vec(&b).unwrap()
                },
                "carries no DSSE envelope",
            ),
        ];
        for (bundle, expected) in cases {
            let error = check_statement(&bundle, &image).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected:?} in {error}");
        }
        // The real statement, and the conda attestation that is not a signature.
        check_statement(CATALOG_BUNDLE.as_bytes(), &image).unwrap();
        let attestation = check_statement(REKOR_V1_BUNDLE.as_bytes(), SUBJECT)
            .unwrap_err()
            .to_string();
        assert!(
            attestation.contains("not cosign's signature"),
            "{attestation}"
        );
    }

    #[test]
    fn a_rekor_v2_dsse_bundle_with_a_timestamp_verifies_for_its_true_identity_only() {
        let (issuer, identity) = ("https://github.com/login/oauth", "jku@goto.fi");
        let root = Root {
            name: "staging-trusted-root.json",
            json: STAGING_ROOT,
        };
        verify_signed(REKOR_V2_BUNDLE.as_bytes(), SUBJECT, issuer, identity, root).unwrap();
        let wrong_identity = verify_signed(
            REKOR_V2_BUNDLE.as_bytes(),
            SUBJECT,
            issuer,
            "x@goto.fi",
            root,
        );
        assert!(wrong_identity.is_err());
        let wrong_issuer = verify_signed(
            REKOR_V2_BUNDLE.as_bytes(),
            SUBJECT,
            "https://accounts.google.com",
            identity,
            root,
        );
        assert!(wrong_issuer.is_err());
        let other_subject = verify_signed(
            REKOR_V2_BUNDLE.as_bytes(),
            &"0".repeat(64),
            issuer,
            identity,
            root,
        );
        assert!(other_subject.is_err());
        // The production root does not trust the staging CA.
        assert!(
            verify_signed(
                REKOR_V2_BUNDLE.as_bytes(),
                SUBJECT,
                issuer,
                identity,
                Root::of(None)
            )
            .is_err()
        );
    }

    #[test]
    fn a_bundle_from_a_log_the_root_does_not_know_names_the_log_and_both_remedies() {
        let (issuer, identity) = ("https://github.com/login/oauth", "jku@goto.fi");
        // The staging root as it was before log2025-alpha3 opened: the bundle's log removed.
        let mut older: serde_json::Value = serde_json::from_str(STAGING_ROOT).unwrap();
        older["tlogs"]
            .as_array_mut()
            .unwrap()
            .retain(|log| !log["baseUrl"].as_str().unwrap().contains("log2025-alpha3"));
        let older = serde_json::to_string(&older).unwrap();
        let root = Root {
            name: "ee/appliance/keys/trusted_root.json",
            json: &older,
        };
        let err = verify_signed(REKOR_V2_BUNDLE.as_bytes(), SUBJECT, issuer, identity, root)
            .unwrap_err()
            .to_string();
        for part in [
            "log2025-alpha3.rekor.sigstage.dev",
            "09OnDKEw7/hpZiYVPoTRzRbglHk0sylsUovegnRUlJY=",
            "ee/appliance/keys/trusted_root.json does not know",
            "cargo update -p sigstore-verify",
            "installerSignature.keyless.trustedRoot",
        ] {
            assert!(err.contains(part), "{part:?} missing from: {err}");
        }
        // A bundle whose log is known fails for its own reason, without the log story.
        let known = Root {
            name: "staging",
            json: STAGING_ROOT,
        };
        let err = verify_signed(REKOR_V2_BUNDLE.as_bytes(), SUBJECT, issuer, "x@y", known)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("does not know"), "{err}");
    }

    #[test]
    fn a_production_rekor_v1_bundle_verifies_against_the_embedded_root() {
        let issuer = "https://token.actions.githubusercontent.com";
        let identity = "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
        verify_signed(
            REKOR_V1_BUNDLE.as_bytes(),
            SUBJECT,
            issuer,
            identity,
            Root::of(None),
        )
        .unwrap();
        let mut tampered: serde_json::Value = serde_json::from_str(REKOR_V1_BUNDLE).unwrap();
        let signature = tampered["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .unwrap()
            .to_string();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .unwrap();
        bytes[10] ^= 1;
        tampered["dsseEnvelope"]["signatures"][0]["sig"] =
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into();
        let tampered = serde_json::to_vec(&tampered).unwrap();
        assert!(verify_signed(&tampered, SUBJECT, issuer, identity, Root::of(None)).is_err());
    }
}
