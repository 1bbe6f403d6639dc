//! The installer digest resolved from a REAL registry: the CNCF distribution registry that
//! `.ci/run` starts (see `.ci/real-registry`), once open and once behind `auth: token` with a
//! token server, each holding an OCI image index pushed with curl under the committed
//! schematic's installer tag. A release runs against the loopback factory, whose `/v2/`
//! forwards to the real registry, and must record the sha256 of the pushed index bytes.
//!
//! Without the registries these tests say so and pass on a workstation, but fail under
//! `CI=true`: CI must not go green without having run them.

mod support;

use support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";

/// `(registry URL, digest of the pushed index)`, from the variables `.ci/real-registry` exports.
fn real_registry(variable: &str) -> Option<(String, String)> {
    let found = std::env::var(variable)
        .ok()
        .zip(std::env::var("XTASK_REAL_REGISTRY_DIGEST").ok());
    if found.is_none() {
        let message = format!(
            "{variable} or XTASK_REAL_REGISTRY_DIGEST is not set: run the tests through .ci/run, which starts a real registry"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipped: {message}");
    }
    found
}

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
fn the_digest_of_a_pushed_index_comes_from_a_real_registry() {
    let Some((registry, digest)) = real_registry("XTASK_REAL_REGISTRY") else {
        return;
    };
    assert_eq!(recorded_digest(&registry), digest);
}

#[test]
fn a_real_registry_behind_token_auth_is_answered_with_an_anonymous_token() {
    let Some((registry, digest)) = real_registry("XTASK_REAL_TOKEN_REGISTRY") else {
        return;
    };
    assert_eq!(recorded_digest(&registry), digest);
}
