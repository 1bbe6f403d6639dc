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
use sha2::Digest;

use crate::http::Client;
use crate::manifest::Signature;
use crate::registry;
use crate::schematic::hex;

/// The OCI `artifactType` (and layer media type) of a Sigstore bundle.
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The layer media type of cosign's legacy simple-signing payload.
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 DER signature over the payload.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point: SEQUENCE { SEQUENCE
/// { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// What a release requires of the installer's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    Keyless { issuer: String, identity: String },
    PublicKey { path: String, key: PublicKey },
}

/// A pinned ECDSA P-256 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// SHA-256 of `spki`, lowercase hex: what the manifest records.
    pub sha256: String,
}

impl PublicKey {
    /// A PEM "PUBLIC KEY" that must be ECDSA P-256 (what cosign and the factory use).
    pub fn from_pem(pem: &[u8], display: &str) -> anyhow::Result<PublicKey> {
        use rustls_pki_types::SubjectPublicKeyInfoDer;
        use rustls_pki_types::pem::PemObject;
        let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|e| anyhow!("{display}: not a PEM \"PUBLIC KEY\" ({e})"))?;
        let spki = spki.as_ref().to_vec();
        if spki.len() != P256_SPKI_PREFIX.len() + 65 || !spki.starts_with(&P256_SPKI_PREFIX) {
            bail!(
                "{display}: the public key is not ECDSA P-256 (prime256v1, uncompressed), which is what cosign and self-hosted factories sign with"
            );
        }
        let sha256 = hex(&sha2::Sha256::digest(&spki));
        Ok(PublicKey { spki, sha256 })
    }

    /// The uncompressed point ring verifies with.
    fn point(&self) -> &[u8] {
        &self.spki[P256_SPKI_PREFIX.len()..]
    }
}

impl Policy {
    /// For people: "keyless (issuer …, identity …)" or "publicKey ee/appliance/keys/… (sha256 …)".
    pub fn describe(&self) -> String {
        match self {
            Policy::Keyless { issuer, identity } => {
                format!("keyless (issuer {issuer}, identity {identity})")
            }
            Policy::PublicKey { path, key } => {
                format!("publicKey {path} (SHA-256 of the key {})", key.sha256)
            }
        }
    }
}

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

/// The signature a release records for the plan's installer digest, decided in one place for a
/// release and for `--check`: verified under the plan's policy, or `None` with a warning when
/// nothing can be verified and `required` is false. A signature that does not verify is always
/// an error.
pub fn for_release(
    client: &Client,
    plan: &crate::plan::Plan,
    digest: Option<&str>,
    required: bool,
) -> anyhow::Result<Option<Signature>> {
    let installer = &plan.installer_image;
    let not_verified = |why: String| -> anyhow::Result<Option<Signature>> {
        if required {
            bail!("the signature of {installer} is not verified: {why} (--require-signature)");
        }
        eprintln!(
            "warning: the signature of {installer} is not verified: {why}; the manifest records no signature"
        );
        Ok(None)
    };
    let Some(policy) = &plan.signature_policy else {
        return not_verified(format!(
            "{} has no installerSignature policy",
            crate::project::INTENT
        ));
    };
    let Some(digest) = digest else {
        return not_verified("its digest was not resolved".into());
    };
    let outcome = verify_installer(
        client,
        &plan.factory.base,
        &plan.installer_repository,
        digest,
        policy,
    )
    .with_context(|| {
        format!(
            "verifying the signature of {installer}@{digest} under the {} policy of {}",
            policy.describe(),
            crate::project::INTENT
        )
    })?;
    match outcome {
        Outcome::Verified(signature) => {
            eprintln!(
                "verified the signature of {installer}@{digest} under the {} policy",
                policy.describe()
            );
            Ok(Some(signature))
        }
        Outcome::Unsigned(looked) => not_verified(format!("no signature found ({looked})")),
    }
}

/// Finds the signatures of `<repository>@<digest>` in the registry at `registry_base` and
/// verifies each against `policy` until one passes. A signature of the policy's kind that does
/// not verify is an error, never "unsigned".
pub fn verify_installer(
    client: &Client,
    registry_base: &str,
    repository: &str,
    digest: &str,
    policy: &Policy,
) -> anyhow::Result<Outcome> {
    let hex_part = digest
        .strip_prefix("sha256:")
        .context("an installer digest is sha256:<hex>")?;
    let registry = Registry {
        client,
        base: registry_base,
        repository,
    };
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
            Policy::Keyless { issuer, identity } => registry
                .bundle_of(&candidate.manifest)
                .and_then(|bundle| verify_bundle(&bundle, hex_part, issuer, identity, None))
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
    bail!(
        "{repository}@{digest}: {} signature(s) found, none verifies under the {} policy: {}",
        candidates.len(),
        policy.describe(),
        failures.join("; ")
    )
}

/// Verifies a Sigstore bundle whose DSSE statement must have `digest_hex` as a SHA-256
/// subject, signed by a certificate for `identity` from `issuer`, chained to `trusted_root`
/// (the embedded public-good root when `None`), with a transparency log entry or timestamp.
pub fn verify_bundle(
    bundle_json: &[u8],
    digest_hex: &str,
    issuer: &str,
    identity: &str,
    trusted_root: Option<&str>,
) -> anyhow::Result<()> {
    use sigstore_verify::trust_root::{SIGSTORE_PRODUCTION_TRUSTED_ROOT, TrustedRoot};
    crate::sigstore_ring::install();
    let text = std::str::from_utf8(bundle_json).context("the bundle is not UTF-8 JSON")?;
    let bundle =
        sigstore_verify::types::Bundle::from_json(text).context("not a Sigstore bundle")?;
    let root = TrustedRoot::from_json(trusted_root.unwrap_or(SIGSTORE_PRODUCTION_TRUSTED_ROOT))
        .context("loading the Sigstore trusted root")?;
    let subject = sigstore_verify::types::Sha256Hash::from_hex(digest_hex)
        .context("the installer digest is not SHA-256 hex")?;
    let policy = sigstore_verify::VerificationPolicy::new(identity, issuer);
    sigstore_verify::verify(subject, &bundle, &policy, &root).map_err(|e| anyhow!("{e}"))?;
    Ok(())
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
    /// the fallback tag `sha256-<hex>` (an index listing them by artifactType).
    fn bundles(&self, digest: &str, hex_part: &str) -> anyhow::Result<(Vec<Candidate>, String)> {
        let places = [
            (self.url(&format!("referrers/{digest}")), "referrers of D"),
            (
                self.url(&format!("manifests/sha256-{hex_part}")),
                "the sha256-<hex> fallback tag",
            ),
        ];
        for (url, found) in &places {
            let Some(bytes) = registry::get(self.client, url, registry::INDEX_TYPES)? else {
                continue;
            };
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .with_context(|| format!("GET {url}: not an OCI image index"))?;
            let candidates: Vec<Candidate> = index
                .manifests
                .iter()
                .filter(|d| d.artifact_type.as_deref() == Some(BUNDLE_TYPE))
                .map(|d| Candidate {
                    manifest: d.digest.clone(),
                    found: found.to_string(),
                    bytes: None,
                })
                .collect();
            if !candidates.is_empty() {
                return Ok((candidates, String::new()));
            }
        }
        Ok((
            Vec::new(),
            format!(
                "no Sigstore bundle among {} or {}",
                places[0].0, places[1].0
            ),
        ))
    }

    /// The legacy `sha256-<hex>.sig` manifest, if there is one.
    fn legacy_signature(&self, hex_part: &str) -> anyhow::Result<(Vec<Candidate>, String)> {
        let url = self.url(&format!("manifests/sha256-{hex_part}.sig"));
        match registry::get(self.client, &url, registry::MANIFEST_TYPES)? {
            Some(bytes) => Ok((
                vec![Candidate {
                    manifest: oci_digest(&bytes),
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

/// The OCI digest of content: `sha256:<hex>`.
fn oci_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

/// Content fetched by digest must have that digest, whoever served it.
fn check_digest(bytes: &[u8], digest: &str, url: &str) -> anyhow::Result<()> {
    let actual = oci_digest(bytes);
    if actual != digest {
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
        include_str!("../tests/data/sigstore/conda-attestation-rekor2.sigstore.json");
    const REKOR_V1_BUNDLE: &str =
        include_str!("../tests/data/sigstore/conda-attestation.sigstore.json");
    const STAGING_ROOT: &str = include_str!("../tests/data/sigstore/staging-trusted-root.json");
    /// The statement subject of both: the conda package they attest.
    const SUBJECT: &str = "54303491a8418fbed24344b513546182c29b43bf282ceb433af65e2299f9271f";

    #[test]
    fn a_rekor_v2_dsse_bundle_with_a_timestamp_verifies_for_its_true_identity_only() {
        let (issuer, identity) = ("https://github.com/login/oauth", "jku@goto.fi");
        let root = Some(STAGING_ROOT);
        verify_bundle(REKOR_V2_BUNDLE.as_bytes(), SUBJECT, issuer, identity, root).unwrap();
        let wrong_identity = verify_bundle(
            REKOR_V2_BUNDLE.as_bytes(),
            SUBJECT,
            issuer,
            "x@goto.fi",
            root,
        );
        assert!(wrong_identity.is_err());
        let wrong_issuer = verify_bundle(
            REKOR_V2_BUNDLE.as_bytes(),
            SUBJECT,
            "https://accounts.google.com",
            identity,
            root,
        );
        assert!(wrong_issuer.is_err());
        let other_subject = verify_bundle(
            REKOR_V2_BUNDLE.as_bytes(),
            &"0".repeat(64),
            issuer,
            identity,
            root,
        );
        assert!(other_subject.is_err());
        // The production root does not trust the staging CA.
        assert!(
            verify_bundle(REKOR_V2_BUNDLE.as_bytes(), SUBJECT, issuer, identity, None).is_err()
        );
    }

    #[test]
    fn a_production_rekor_v1_bundle_verifies_against_the_embedded_root() {
        let issuer = "https://token.actions.githubusercontent.com";
        let identity = "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
        verify_bundle(REKOR_V1_BUNDLE.as_bytes(), SUBJECT, issuer, identity, None).unwrap();
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
        assert!(verify_bundle(&tampered, SUBJECT, issuer, identity, None).is_err());
    }

    #[test]
    fn public_keys_must_be_p256_pem() {
        let p256 = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEm3Ha7ol0hShQ21/1dhiMR4VQAU61\n9eIBQKzHyW0B2yN3E0Lei//APrQu1YsR9mrcDOh5fIEjFvuAv1A5ZBIqaw==\n-----END PUBLIC KEY-----\n";
        let key = PublicKey::from_pem(p256.as_bytes(), "k.pub").unwrap();
        assert_eq!(key.point().len(), 65);
        assert_eq!(key.point()[0], 0x04);
        let ed25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEABKWw/7RnnGIxAeBcuo8bPvOByjOJjjJG/fKRm20+5Aw=\n-----END PUBLIC KEY-----\n";
        let err = PublicKey::from_pem(ed25519.as_bytes(), "k.pub").unwrap_err();
        assert!(err.to_string().contains("not ECDSA P-256"), "{err}");
        assert!(PublicKey::from_pem(b"hello", "k.pub").is_err());
    }
}
