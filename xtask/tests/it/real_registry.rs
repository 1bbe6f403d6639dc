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
    let manifest: serde_json::Value = tree.json(MANIFEST);
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
    let manifest: serde_json::Value = tree.json(MANIFEST);
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
    let manifest: serde_json::Value = tree.json(MANIFEST);
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

/// `(ref, index digest, amd64 manifest digest)` of each cluster image `.ci/real-registry`
/// pushed, digests as sha256sum computed them.
fn pushed_images() -> Vec<(String, String, String)> {
    let listed = std::env::var("XTASK_REAL_IMAGES")
        .unwrap_or_else(|_| panic!("XTASK_REAL_IMAGES is not set: {NEEDS}"));
    listed
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "{line}");
            (fields[0].into(), fields[1].into(), fields[2].into())
        })
        .collect()
}

/// Runs a program other than xtask and returns its stdout, failing the test on a non-zero exit.
fn run(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} ({NEEDS})"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
#[ignore = "needs the real registries of .ci/real-registry; .ci/run starts them and runs these"]
fn an_air_gap_bundle_from_real_registries_loads_into_a_site_registry_with_skopeo() {
    let signed = signed();
    let site = std::env::var("XTASK_REAL_SITE_REGISTRY")
        .unwrap_or_else(|_| panic!("XTASK_REAL_SITE_REGISTRY is not set: {NEEDS}"));
    let (_, installer_digest) = real_registry("XTASK_REAL_REGISTRY");
    let (tree, factory) = pinned(&signed, &signed.key, "good");
    let k8s = format!("registry.k8s.io={}", signed.registry);
    let ghcr = format!("ghcr.io={}", signed.registry);
    let output = tree.image(
        &factory,
        &[
            "--require-digest",
            "--require-signature",
            "--air-gap",
            "--registry-mirror",
            &k8s,
            "--registry-mirror",
            &ghcr,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = tree.json(MANIFEST);
    let air_gap = &manifest["airGap"];
    let path = air_gap["path"].as_str().unwrap();
    assert_eq!(path, "ee/appliance/dist/0.1.0/airgap-amd64.oci.tar");
    let bundle = tree.path(path);
    let bundle = bundle.to_str().unwrap();

    // Recorded as sha256sum sees the file, and covered by SHA256SUMS.
    let summed = run("sha256sum", &[bundle]);
    assert_eq!(
        air_gap["sha256"].as_str(),
        summed.split_whitespace().next(),
        "{air_gap}"
    );
    assert!(
        tree.read("ee/appliance/dist/0.1.0/SHA256SUMS")
            .contains("airgap-amd64.oci.tar")
    );

    // The installer first, at the digest of the pushed index, then every pushed image.
    let images = air_gap["images"].as_array().unwrap();
    let installer = manifest["os"]["installer"]["image"].as_str().unwrap();
    assert_eq!(images[0]["ref"], installer);
    assert_eq!(images[0]["digest"], installer_digest.as_str());
    let pushed = pushed_images();
    assert_eq!(pushed.len(), 9, "{pushed:?}");
    for (reference, digest, platform) in &pushed {
        let recorded = images
            .iter()
            .find(|i| i["ref"] == reference.as_str())
            .unwrap_or_else(|| panic!("{reference} is not recorded: {air_gap}"));
        assert_eq!(recorded["digest"], digest.as_str(), "{reference}");
        assert_eq!(recorded["platformDigest"], platform.as_str(), "{reference}");
    }
    let validated = tree.xtask(&["validate", "--artifacts"]);
    assert!(validated.status.success(), "{}", stderr(&validated));

    // skopeo, an independent consumer, loads each image into the site's registry, where it
    // has the recorded platform digest.
    let site_host = site.trim_start_matches("http://");
    for image in images {
        let reference = image["ref"].as_str().unwrap();
        let loaded = load(bundle, reference, site_host);
        assert_eq!(
            loaded,
            image["platformDigest"].as_str().unwrap(),
            "{reference}"
        );
    }
    let notes = stdout(&tree.xtask(&["release-notes"]));
    let platform_digest = images[0]["platformDigest"].as_str().unwrap();
    the_page_loads_the_site(&notes, site_host, platform_digest, &installer_digest);
    // The installer's signature is in the bundle too, under cosign's tag for it.
    let signature = format!(
        "{}:sha256-{}.sig",
        installer.rsplit_once(':').unwrap().0,
        installer_digest.trim_start_matches("sha256:")
    );
    assert_eq!(load(bundle, &signature, site_host), signed.sig_manifest);
    the_pages_lines_load_the_signature(&tree, &notes, site_host, &signature, &signed.sig_manifest);
}

/// The reference the release notes give an air-gapped site resolves in its registry after the
/// load, at the installer's platform digest; the index digest does not.
fn the_page_loads_the_site(
    notes: &str,
    site_host: &str,
    platform_digest: &str,
    installer_digest: &str,
) {
    let given = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: $SITE/"))
        .unwrap_or_else(|| panic!("no install reference for the site: {notes}"));
    let at_site = format!("docker://{site_host}/{given}");
    let resolved = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &at_site,
        ],
    );
    assert_eq!(resolved.trim(), platform_digest);
    let by_index = format!(
        "docker://{site_host}/{}@{installer_digest}",
        given.split_once('@').unwrap().0
    );
    let index_lookup = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &by_index])
        .output()
        .unwrap();
    assert!(
        !index_lookup.status.success(),
        "the index digest resolves at the site after all: {by_index}"
    );
}

/// The page's own lines load the signature too: into a fresh repository path of the site's
/// registry, run as printed (with $SITE set, and TLS off for this registry).
fn the_pages_lines_load_the_signature(
    tree: &Tree,
    notes: &str,
    site_host: &str,
    signature: &str,
    signature_manifest: &str,
) {
    let block = notes
        .split("```sh\nskopeo copy")
        .nth(1)
        .map(|rest| format!("skopeo copy{}", rest.split("```").next().unwrap()))
        .unwrap_or_else(|| panic!("no skopeo block: {notes}"));
    assert!(
        block.contains(".sig docker://$SITE/"),
        "the signature is not loaded: {block}"
    );
    let page_site = format!("{site_host}/by-the-page");
    for line in block.lines() {
        let line = line.replace("skopeo copy", "skopeo copy --quiet --dest-tls-verify=false");
        let ran = std::process::Command::new("sh")
            .args(["-c", &line])
            .env("SITE", &page_site)
            .current_dir(tree.path("ee/appliance/dist/0.1.0"))
            .output()
            .unwrap();
        assert!(ran.status.success(), "`{line}`: {}", stderr(&ran));
    }
    let (_, signature_path) = signature.split_once('/').unwrap();
    let at_site = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{page_site}/{signature_path}"),
        ],
    );
    assert_eq!(
        sha256_hex(at_site.as_bytes()),
        signature_manifest.trim_start_matches("sha256:")
    );
}

/// `skopeo copy`s `reference` out of the bundle into the registry at `site_host`, under the
/// same path, and returns the digest `skopeo inspect` finds there.
fn load(bundle: &str, reference: &str, site_host: &str) -> String {
    let (_, path) = reference.split_once('/').unwrap();
    let destination = format!("docker://{site_host}/{path}");
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--preserve-digests",
            &format!("oci-archive:{bundle}:{reference}"),
            &destination,
        ],
    );
    let inspected = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &destination,
        ],
    );
    inspected.trim().to_string()
}
