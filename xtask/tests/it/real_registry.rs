//! The installer digest resolved from a REAL registry: the CNCF distribution registry that
//! `.ci/run` starts (see `.ci/real-registry`), once open and once behind `auth: token` with a
//! token server, each holding an OCI image index pushed with curl under the committed
//! schematic's installer tag. A release runs against the loopback factory, whose `/v2/`
//! forwards to the real registry, and must record the sha256 of the pushed index bytes.
//!
//! They need those registries, so they are ignored by a plain `cargo test` (and counted as
//! ignored, never as passed); `.ci/run` starts the registries and runs them with
//! `--include-ignored`. Run without the registries, they fail saying what is missing.

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";

/// `(registry URL, digest of the pushed index)`, from the variables `.ci/real-registry` exports.
fn real_registry(variable: &str) -> (String, String) {
    let found = std::env::var(variable)
        .ok()
        .zip(std::env::var("XTASK_REAL_REGISTRY_DIGEST").ok());
    found.unwrap_or_else(|| panic!("{variable} or XTASK_REAL_REGISTRY_DIGEST is not set: {NEEDS}"))
}

/// Why these tests are ignored, and how to run them.
const NEEDS: &str = "needs the real registries: `source .ci/real-registry && real_registry_start`, then `cargo test --workspace -- --include-ignored` (.ci/run does both)";

/// Releases against a factory fronting `registry` and returns the recorded installer digest.
fn recorded_digest(registry: &str) -> serde_json::Value {
    let factory = Factory::start(Behaviour {
        registry: RegistryMode::Proxy(registry.to_string()),
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let output = tree.image(&factory, &["--require-digest"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(factory.saw("HEAD /v2/metal-installer/"));
    let manifest: serde_json::Value = serde_json::from_str(&tree.read(MANIFEST)).unwrap();
    manifest["os"]["installer"]["digest"].clone()
}

#[test]
#[ignore = "needs the real registries of .ci/real-registry; .ci/run starts them and runs these"]
fn the_digest_of_a_pushed_index_comes_from_a_real_registry() {
    let (registry, digest) = real_registry("XTASK_REAL_REGISTRY");
    assert_eq!(recorded_digest(&registry), digest);
}

#[test]
#[ignore = "needs the real registries of .ci/real-registry; .ci/run starts them and runs these"]
fn a_real_registry_behind_token_auth_is_answered_with_an_anonymous_token() {
    let (registry, digest) = real_registry("XTASK_REAL_TOKEN_REGISTRY");
    assert_eq!(recorded_digest(&registry), digest);
}

/// The legacy static-key signatures `.ci/real-registry` made with openssl: the key it signed
/// with, that key's sha256 as openssl computed it, the good `.sig` manifest's digest, another
/// key, and the index digest.
struct Signed {
    registry: String,
    key: String,
    key_sha256: String,
    sig_manifest: String,
    other_key: String,
}

fn signed() -> Signed {
    let (registry, _) = real_registry("XTASK_REAL_REGISTRY");
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    Signed {
        registry,
        key: std::fs::read_to_string(var("XTASK_REAL_SIGNING_KEY")).unwrap(),
        key_sha256: var("XTASK_REAL_SIGNING_KEY_SHA256"),
        sig_manifest: var("XTASK_REAL_SIG_MANIFEST_DIGEST"),
        other_key: std::fs::read_to_string(var("XTASK_REAL_OTHER_KEY")).unwrap(),
    }
}

/// A tree pinning `key`, a factory whose registry is the real one's `sig-<case>/` copy.
fn pinned(signed: &Signed, key: &str, case: &str) -> (Tree, Factory) {
    let tree = Tree::copy();
    tree.write("ee/appliance/keys/factory.pub", key);
    tree.set_signature_policy("installerSignature:\n  publicKey: ee/appliance/keys/factory.pub\n");
    let factory = Factory::start(Behaviour {
        registry: RegistryMode::Proxy(signed.registry.clone()),
        proxy_prefix: format!("sig-{case}/"),
        ..Behaviour::default()
    });
    (tree, factory)
}

#[test]
#[ignore = "needs the real registries of .ci/real-registry; .ci/run starts them and runs these"]
fn a_legacy_static_key_signature_from_a_real_registry_is_verified_and_recorded() {
    let signed = signed();
    let (tree, factory) = pinned(&signed, &signed.key, "good");
    let output = tree.image(&factory, &["--require-digest", "--require-signature"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = serde_json::from_str(&tree.read(MANIFEST)).unwrap();
    assert_eq!(
        manifest["os"]["installer"]["signature"],
        serde_json::json!({
            "policy": "publicKey",
            "publicKeySha256": signed.key_sha256,
            "signature": signed.sig_manifest,
        })
    );
    assert!(
        factory.saw("GET /v2/metal-installer/"),
        "{:?}",
        factory.requests
    );
    assert!(tree.xtask(&["validate"]).status.success());
}

#[test]
#[ignore = "needs the real registries of .ci/real-registry; .ci/run starts them and runs these"]
fn a_wrong_key_a_payload_for_another_digest_or_other_signed_bytes_fail_with_nothing_left() {
    let signed = signed();
    for (key, case, expected) in [
        (
            &signed.other_key,
            "good",
            "does not verify with the pinned key",
        ),
        (
            &signed.key,
            "other-digest",
            "the signed payload names sha256:",
        ),
        (
            &signed.key,
            "other-bytes",
            "does not verify with the pinned key",
        ),
    ] {
        let (tree, factory) = pinned(&signed, key, case);
        let output = fails_cleanly(&tree, &factory, &[]);
        let err = stderr(&output);
        assert!(
            err.contains(expected) && err.contains("publicKey ee/appliance/keys/factory.pub"),
            "{case}: {err}"
        );
    }
}

#[test]
#[ignore = "needs the real registries of .ci/real-registry; .ci/run starts them and runs these"]
fn an_unsigned_installer_in_a_real_registry_warns_or_fails_when_required() {
    let signed = signed();
    let (tree, factory) = pinned(&signed, &signed.key, "unsigned");
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no signature found"),
        "{}",
        stderr(&output)
    );
    let manifest: serde_json::Value = serde_json::from_str(&tree.read(MANIFEST)).unwrap();
    assert!(manifest["os"]["installer"].get("signature").is_none());

    // The pinned policy binds without --allow-unsigned (which `tree.image` passed above).
    let (strict, factory) = pinned(&signed, &signed.key, "unsigned");
    let output = fails_cleanly(&strict, &factory, &["--require-signature"]);
    assert!(
        stderr(&output).contains("pins the publicKey"),
        "{}",
        stderr(&output)
    );
}
