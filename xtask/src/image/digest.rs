//! SHA-256 values: content digests as OCI registries write them (`sha256:` and 64 lowercase hex
//! digits), and the bare hex the manifest records for media, bundles, certificates and dirty
//! inputs. Parsed once at the edge (a registry's answer, a manifest, a pinned reference) or
//! computed, then passed around as a type that cannot hold anything else. Serialised as the
//! same string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::util::hex;

const PREFIX: &str = "sha256:";

/// `sha256:<64 lowercase hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// `text` when it is a sha256 digest, else `None`.
    pub fn parse(text: &str) -> Option<Digest> {
        let hex_part = text.strip_prefix(PREFIX)?;
        is_sha256_hex(hex_part).then(|| Digest(text.to_string()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::finish(Sha256::new_with_prefix(bytes))
    }

    /// The digest of what `hasher` was fed.
    pub fn finish(hasher: Sha256) -> Digest {
        Digest(format!("{PREFIX}{}", hex(&hasher.finalize())))
    }

    /// The 64 hex digits, as cosign's `sha256-<hex>` tags and blob paths use them.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a digest: sha256: and 64 lowercase hex digits"
            ))
        })
    }
}

/// A SHA-256 as 64 lowercase hex digits: of a medium, a bundle, a certificate, a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// `text` when it is 64 lowercase hex digits, else `None`.
    pub fn parse(text: &str) -> Option<Sha256Hex> {
        is_sha256_hex(text).then(|| Sha256Hex(text.to_string()))
    }

    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256Hex {
        Sha256Hex::finish(Sha256::new_with_prefix(bytes))
    }

    /// The SHA-256 of what `hasher` was fed.
    pub fn finish(hasher: Sha256) -> Sha256Hex {
        Sha256Hex(hex(&hasher.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sha256Hex, D::Error> {
        let text = String::deserialize(deserializer)?;
        Sha256Hex::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a SHA-256: 64 lowercase hex digits"
            ))
        })
    }
}

/// A digest that may be unknown, for a message: the digest, or "unknown".
pub fn or_unknown(digest: &Option<Digest>) -> &str {
    digest.as_ref().map_or("unknown", Digest::as_str)
}

/// True for exactly 64 lowercase hex characters: the only form of an ID or SHA-256 that is
/// ever put into a URL, a path or a manifest.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sha256_digest_parses_and_it_reads_back_as_written() {
        let good = format!("sha256:{}", "0a".repeat(32));
        let digest = Digest::parse(&good).unwrap();
        assert_eq!(digest.to_string(), good);
        assert_eq!(digest.hex(), "0a".repeat(32));
        assert_eq!(
            serde_json::to_value(&digest).unwrap(),
            serde_json::json!(good)
        );
        assert_eq!(
            serde_json::from_value::<Digest>(serde_json::json!(good)).unwrap(),
            digest
        );
        for bad in [
            "0a".repeat(32),
            format!("sha512:{}", "0a".repeat(32)),
            format!("sha256:{}", "0A".repeat(32)),
            format!("sha256:{}", "0a".repeat(31)),
            "sha256:".to_string(),
            String::new(),
        ] {
            assert_eq!(Digest::parse(&bad), None, "{bad}");
            assert!(serde_json::from_value::<Digest>(serde_json::json!(bad)).is_err());
        }
        // sha256sum's answer for "abc".
        assert_eq!(
            Digest::of(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
