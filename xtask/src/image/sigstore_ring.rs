//! The cryptography behind `sigstore-verify`, from `ring` (which rustls already compiles) and
//! `sha2`, instead of its default `aws-lc-rs` (a C build that costs a cold build about 20 s).
//! Verification only: signing and key generation stay unsupported, as nothing here signs.
//!
//! ring verifies a signature over a message but not over a digest computed elsewhere, so
//! `verify_prehashed` fails closed. sigstore-verify uses it only to check a hashedrekord message
//! signature against an artifact given as a digest; the factory's installer signatures are DSSE
//! envelopes, whose signature is over the envelope's own bytes (`verify_raw`).

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use sha2::Digest;
use sigstore_verify::crypto::provider::{CryptoProvider, HashContext};
use sigstore_verify::crypto::{Error, Result, SigningScheme};
use sigstore_verify::types::HashAlgorithm;

#[derive(Debug)]
pub struct RingProvider;

static PROVIDER: RingProvider = RingProvider;

/// Makes ring the process's provider; the first call wins, later ones change nothing.
pub fn install() {
    let _ = sigstore_verify::crypto::install_default_provider(&PROVIDER);
}

fn algorithm(scheme: SigningScheme) -> Result<&'static dyn VerificationAlgorithm> {
    Ok(match scheme {
        SigningScheme::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SigningScheme::EcdsaP256Sha384 => &signature::ECDSA_P256_SHA384_ASN1,
        SigningScheme::EcdsaP384Sha256 => &signature::ECDSA_P384_SHA256_ASN1,
        SigningScheme::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        SigningScheme::Ed25519 => &signature::ED25519,
        SigningScheme::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        SigningScheme::RsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        SigningScheme::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        SigningScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SigningScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        SigningScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        // ML-DSA, and whatever later versions add.
        _ => {
            return Err(Error::UnsupportedAlgorithm(format!(
                "{} is not available with ring",
                scheme.name()
            )));
        }
    })
}

/// A running SHA-2 hash.
struct Hashing<D: Digest + Send>(D);

impl<D: Digest + Send> HashContext for Hashing<D> {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

impl CryptoProvider for RingProvider {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        match algorithm {
            HashAlgorithm::Sha2256 => Ok(Box::new(Hashing(sha2::Sha256::new()))),
            HashAlgorithm::Sha2384 => Ok(Box::new(Hashing(sha2::Sha384::new()))),
            HashAlgorithm::Sha2512 => Ok(Box::new(Hashing(sha2::Sha512::new()))),
            other => Err(Error::UnsupportedAlgorithm(format!(
                "cannot compute {other} digests"
            ))),
        }
    }

    fn verify_raw(
        &self,
        scheme: SigningScheme,
        spki_pubkey_bytes: &[u8],
        data: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        UnparsedPublicKey::new(algorithm(scheme)?, spki_pubkey_bytes)
            .verify(data, signature)
            .map_err(|_| Error::Verification(format!("{} signature invalid", scheme.name())))
    }

    fn verify_prehashed(
        &self,
        scheme: SigningScheme,
        _spki_pubkey_bytes: &[u8],
        _digest: &[u8],
        _signature: &[u8],
    ) -> Result<()> {
        Err(Error::UnsupportedAlgorithm(format!(
            "{} over a precomputed digest is not available with ring",
            scheme.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_answers() {
        let mut h = PROVIDER.hash(HashAlgorithm::Sha2256).unwrap();
        h.update(b"abc");
        assert_eq!(
            crate::util::hex(&h.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut h = PROVIDER.hash(HashAlgorithm::Sha2384).unwrap();
        h.update(b"abc");
        assert!(crate::util::hex(&h.finalize()).starts_with("cb00753f45a35e8bb5a03d699ac65007"));
    }

    #[test]
    fn a_p256_signature_verifies_and_a_flipped_one_does_not() {
        use ring::rand::SystemRandom;
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut sig = key.sign(&rng, b"payload").unwrap().as_ref().to_vec();
        let public = key.public_key().as_ref();
        let scheme = SigningScheme::EcdsaP256Sha256;
        assert!(
            PROVIDER
                .verify_raw(scheme, public, b"payload", &sig)
                .is_ok()
        );
        assert!(
            PROVIDER
                .verify_raw(scheme, public, b"payloae", &sig)
                .is_err()
        );
        let last = sig.len() - 1;
        sig[last] ^= 1;
        assert!(
            PROVIDER
                .verify_raw(scheme, public, b"payload", &sig)
                .is_err()
        );
        assert!(
            PROVIDER
                .verify_prehashed(scheme, public, &[0; 32], &sig)
                .is_err()
        );
    }
}
