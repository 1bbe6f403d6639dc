//! The trust policy for installer signatures, as committed in `release.yaml`: keyless
//! (issuer and identity of a Sigstore certificate) or a pinned ECDSA P-256 public key, read and
//! checked here. Data only: finding and verifying signatures is `signature.rs`.

use std::path::Path;

use anyhow::{Context, anyhow, bail};

use crate::project;

/// DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point: SEQUENCE { SEQUENCE
/// { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// What a release requires of the installer's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    Keyless {
        issuer: String,
        identity: String,
        /// A pinned Sigstore trusted root; the one embedded in `sigstore-verify` when `None`.
        trusted_root: Option<PinnedRoot>,
    },
    PublicKey {
        path: String,
        key: PublicKey,
    },
}

/// A Sigstore `trusted_root.json` committed in the repository, checked to parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedRoot {
    /// Repository-relative path, as `release.yaml` names it.
    pub path: String,
    pub json: String,
}

/// A pinned ECDSA P-256 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// SHA-256 of `spki`, lowercase hex: what the manifest records.
    pub sha256: crate::image::digest::Sha256Hex,
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
        let sha256 = crate::image::digest::Sha256Hex::of(&spki);
        Ok(PublicKey { spki, sha256 })
    }

    /// The uncompressed point ring verifies with.
    pub fn point(&self) -> &[u8] {
        &self.spki[P256_SPKI_PREFIX.len()..]
    }
}

impl Policy {
    /// For people: "keyless (issuer …, identity …)" or "publicKey ee/appliance/keys/… (sha256 …)".
    pub fn describe(&self) -> String {
        match self {
            Policy::Keyless {
                issuer,
                identity,
                trusted_root,
            } => {
                let root = match trusted_root {
                    Some(root) => format!(", trusted root {}", root.path),
                    None => String::new(),
                };
                format!("keyless (issuer {issuer}, identity {identity}{root})")
            }
            Policy::PublicKey { path, key } => {
                format!("publicKey {path} (SHA-256 of the key {})", key.sha256)
            }
        }
    }
}

/// The policy with its files read and checked: the key (present, inside the repository, a PEM
/// ECDSA P-256 public key) or the pinned trusted root (present, inside, a Sigstore trusted root).
pub fn load_policy(
    root: &Path,
    intent: crate::image::intent::InstallerSignatureIntent,
) -> anyhow::Result<Policy> {
    let field = format!("installerSignature in {}", project::INTENT);
    if let Some(keyless) = intent.keyless {
        let trusted_root = match keyless.trusted_root {
            Some(path) => {
                let what = format!("{field}: keyless.trustedRoot");
                let (path, bytes) = repository_file(
                    root,
                    &what,
                    &path,
                    "ee/appliance/keys/trusted_root.json",
                    "commit a Sigstore trusted_root.json there (see docs/reference.md, \"Trusted root\")",
                )?;
                let json = String::from_utf8(bytes)
                    .map_err(|_| anyhow!("{what}: {path} is not UTF-8 JSON"))?;
                sigstore_verify::trust_root::TrustedRoot::from_json(&json).map_err(|e| {
                    anyhow!("{what}: {path} is not a Sigstore trusted root ({e}); it is the trusted_root.json that `cosign trusted-root create` or Sigstore's TUF repository gives")
                })?;
                Some(PinnedRoot { path, json })
            }
            None => None,
        };
        return Ok(Policy::Keyless {
            issuer: keyless.issuer,
            identity: keyless.identity,
            trusted_root,
        });
    }
    let path = intent.public_key.expect("checked by Intent::check");
    let (path, pem) = repository_file(
        root,
        &format!("{field}: publicKey"),
        &path,
        "ee/appliance/keys/factory.pub",
        "commit the factory's key there (its /oci/cosign/signing-key.pub)",
    )?;
    let key = PublicKey::from_pem(&pem, &path).with_context(|| field.clone())?;
    Ok(Policy::PublicKey { path, key })
}

/// Bytes a policy refers to: at most this much (a trusted root is a few KiB; a key less).
const POLICY_FILE_CAP: u64 = 1024 * 1024;

/// Reads a file the policy names, which must be inside the repository and at most
/// [`POLICY_FILE_CAP`] bytes.
fn repository_file(
    root: &Path,
    what: &str,
    path: &str,
    example: &str,
    remedy: &str,
) -> anyhow::Result<(String, Vec<u8>)> {
    let inside = project::relative(root, &root.join(path)).filter(|p| p == path);
    let Some(path) = inside else {
        bail!("{what} {path:?} must be a path inside the repository, e.g. {example}");
    };
    let bytes = project::read_input_bytes(root, &path, POLICY_FILE_CAP)
        .with_context(|| format!("{what} {path} cannot be read; {remedy}"))?;
    Ok((path, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

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
