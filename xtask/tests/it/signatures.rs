//! Installer signatures against the loopback factory: a real cosign keyless signature (from
//! siderolabs/image-factory's test data, public-good Sigstore, `tests/data/sigstore/SOURCE.md`)
//! of a real image manifest, whose digest the factory gives as the installer's, served as a
//! cosign v3 referrer or under the fallback tag, through the factory's redirect to its backing
//! registry. The legacy static-key format meets a real registry in `real_registry.rs`.

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const INTENT: &str = "ee/appliance/release.yaml";
/// A real cosign signature: DSSE in-toto statement with cosign's sign predicate, Rekor v1,
/// Sigstore public-good.
const BUNDLE: &str =
    include_str!("../data/sigstore/image-factory-extensions-catalog.sigstore.json");
/// The manifest it signs: its digest is the statement's subject, used as the installer digest.
const SUBJECT: &str = "sha256:35b6021450b858574e182bbee95d6b9c8ab95f3623fdcc38e62997f763af631e";
/// The real signature of another image.
const OTHER_BUNDLE: &str =
    include_str!("../data/sigstore/image-factory-my-extension.sigstore.json");
const ISSUER: &str = "https://accounts.google.com";
const IDENTITY: &str = "albert.kostusev@siderolabs.com";

/// A tree whose keyless policy names `identity` (and the bundle's issuer).
fn tree_with_policy(identity: &str) -> Tree {
    let tree = Tree::copy();
    let committed = tree.read(INTENT);
    let intent = committed
        .replace("https://accounts.google.com", ISSUER)
        .replace(
            "image-factory-signing@talos-production.iam.gserviceaccount.com",
            identity,
        );
    assert_ne!(
        intent, committed,
        "the committed intent has a keyless policy"
    );
    tree.write(INTENT, &intent);
    tree
}

fn serving(listing: Listing, digest: &str) -> Factory {
    Factory::start(Behaviour {
        installer_digest: digest.into(),
        bundle: Some((listing, BUNDLE.as_bytes().to_vec())),
        ..Behaviour::default()
    })
}

fn recorded_signature(tree: &Tree) -> serde_json::Value {
    let manifest: serde_json::Value = tree.json(MANIFEST);
    manifest["os"]["installer"]["signature"].clone()
}

#[test]
fn a_keyless_bundle_listed_as_a_referrer_is_verified_and_recorded() {
    let factory = serving(Listing::Referrers, SUBJECT);
    let tree = tree_with_policy(IDENTITY);
    let output = tree.image(&factory, &["--require-signature"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        recorded_signature(&tree),
        serde_json::json!({
            "policy": "keyless",
            "issuer": ISSUER,
            "identity": IDENTITY,
            "signature": bundle_manifest_digest(BUNDLE.as_bytes()),
        })
    );
    assert!(factory.saw(&format!(
        "GET /v2/metal-installer/{APPLIANCE_ID}/referrers/{SUBJECT}"
    )));
    assert!(
        factory.saw("GET /backing/v2/"),
        "fetched through the redirect"
    );
    assert!(tree.xtask(&["validate"]).status.success());
}

#[test]
fn a_keyless_bundle_under_the_fallback_tag_is_found_too() {
    let factory = serving(Listing::FallbackTag, SUBJECT);
    let tree = tree_with_policy(IDENTITY);
    let output = tree.image(&factory, &["--require-signature"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(recorded_signature(&tree)["policy"], "keyless");
    let hex = SUBJECT.trim_start_matches("sha256:");
    assert!(factory.saw(&format!(
        "GET /v2/metal-installer/{APPLIANCE_ID}/manifests/sha256-{hex}"
    )));
}

#[test]
fn a_provenance_bundle_is_never_counted_as_the_signature_nor_hides_it() {
    // Alone, a bundle that would verify (right subject, identity and issuer) but is listed as
    // SLSA provenance is not a signature: the pinned policy fails the release.
    let provenance = (PROVENANCE_PREDICATE, BUNDLE.as_bytes().to_vec());
    let factory = Factory::start(Behaviour {
        installer_digest: SUBJECT.into(),
        other_bundles: vec![provenance],
        ..Behaviour::default()
    });
    let tree = tree_with_policy(IDENTITY);
    let output = fails_cleanly(&tree, &factory, &["--require-signature"]);
    let err = stderr(&output);
    assert!(
        err.contains("predicate type https://slsa.dev/provenance/v1 skipped")
            && err.contains("no signature found"),
        "{err}"
    );

    // Listed first, next to the signature, it is passed over and the signature is counted.
    let decoy = REKOR_V2_BUNDLE.as_bytes().to_vec();
    let factory = Factory::start(Behaviour {
        installer_digest: SUBJECT.into(),
        other_bundles: vec![(PROVENANCE_PREDICATE, decoy.clone())],
        bundle: Some((Listing::Referrers, BUNDLE.as_bytes().to_vec())),
        ..Behaviour::default()
    });
    let tree = tree_with_policy(IDENTITY);
    let output = tree.image(&factory, &["--require-signature"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        recorded_signature(&tree)["signature"],
        bundle_manifest_digest(BUNDLE.as_bytes())
    );
    assert!(
        !factory.saw(&referrer_digest(&decoy, PROVENANCE_PREDICATE)),
        "the provenance bundle's manifest was never fetched"
    );
}

#[test]
fn a_fallback_tag_that_resolves_to_the_installer_itself_is_refused_not_searched() {
    // The registry answers `sha256-<hex of D>` with D's own manifest, which here lists the
    // bundle: searching it would find a signature for some other subject and fail verifying.
    let mut behaviour = Behaviour {
        bundle: Some((Listing::FallbackTag, BUNDLE.as_bytes().to_vec())),
        ..Behaviour::default()
    };
    behaviour.installer_digest = listing_digest(&behaviour);
    let factory = Factory::start(behaviour);
    let tree = tree_with_policy(IDENTITY);
    let output = fails_cleanly(&tree, &factory, &["--require-signature"]);
    let err = stderr(&output);
    assert!(
        err.contains(" itself (the registry maps digest-shaped tags to digests)")
            && err.contains("not searched"),
        "{err}"
    );
    assert!(!err.contains("none verifies"), "{err}");
}

#[test]
fn at_most_sixteen_bundles_are_tried() {
    // Sixteen listed signatures that are not bundles, then the real one: it is not reached.
    let junk = (0..16)
        .map(|i| (SIGN_PREDICATE, format!("{{\"junk\": {i}}}").into_bytes()))
        .collect();
    let factory = Factory::start(Behaviour {
        installer_digest: SUBJECT.into(),
        other_bundles: junk,
        bundle: Some((Listing::Referrers, BUNDLE.as_bytes().to_vec())),
        ..Behaviour::default()
    });
    let tree = tree_with_policy(IDENTITY);
    let output = fails_cleanly(&tree, &factory, &["--require-signature"]);
    let err = stderr(&output);
    assert!(
        err.contains("16 signature(s) found") && err.contains("the first 16 are tried"),
        "{err}"
    );
    assert!(!factory.saw(&bundle_manifest_digest(BUNDLE.as_bytes())));
}

#[test]
fn a_registry_token_goes_only_to_the_origin_whose_challenge_asked_for_it() {
    // The factory's /v2/ wants a Bearer token for every request and redirects bundle objects
    // to another origin (localhost instead of 127.0.0.1), which must never see the token.
    let factory = serving(Listing::Referrers, SUBJECT);
    {
        let mut behaviour = factory.behaviour.lock().unwrap();
        behaviour.registry = RegistryMode::Bearer;
        behaviour.backing_origin = Some(format!("http://localhost:{}", factory.port));
    }
    let tree = tree_with_policy(IDENTITY);
    let output = tree.image(&factory, &["--require-signature"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(recorded_signature(&tree)["policy"], "keyless");
    let seen = factory.seen();
    let referrers = format!("GET /v2/metal-installer/{APPLIANCE_ID}/referrers/{SUBJECT}");
    let authorized = |line: &str| {
        seen.iter()
            .filter(|s| s.line == line)
            .map(|s| s.headers.contains_key("authorization"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        authorized(&referrers),
        [false, true],
        "asked without, challenged, asked again with the token"
    );
    assert!(factory.saw("GET /token?service=registry&scope=repository%3Ametal-installer%3Apull"));
    let backing: Vec<_> = seen
        .iter()
        .filter(|s| s.line.starts_with("GET /backing/"))
        .collect();
    assert!(!backing.is_empty(), "the bundle came through the redirect");
    assert!(
        backing.iter().all(|s| {
            s.headers
                .get("host")
                .is_some_and(|h| h.starts_with("localhost"))
                && !s.headers.contains_key("authorization")
        }),
        "the other origin never saw the token"
    );
}

#[test]
fn a_bundle_for_another_digest_or_identity_fails_and_records_nothing() {
    // The registry lists the real signature of another image for this installer digest.
    let factory = Factory::start(Behaviour {
        installer_digest: SUBJECT.into(),
        bundle: Some((Listing::Referrers, OTHER_BUNDLE.as_bytes().to_vec())),
        ..Behaviour::default()
    });
    let tree = tree_with_policy(IDENTITY);
    let output = fails_cleanly(&tree, &factory, &[]);
    let err = stderr(&output);
    assert!(
        err.contains("none verifies under the keyless (issuer")
            && err.contains(
                "signs sha256:dd89b46bbdbaf327dbce29901c7ec8e4927b9db04a9774ed5b7cb34931150274, not"
            )
            && err.contains("it is another image's signature"),
        "{err}"
    );

    // The right bundle, a policy naming another identity or another issuer.
    let factory = serving(Listing::Referrers, SUBJECT);
    for (issuer, identity) in [
        (
            ISSUER,
            "releasemgr-svc@talos-production.iam.gserviceaccount.com",
        ),
        ("https://token.actions.githubusercontent.com", IDENTITY),
    ] {
        let tree = Tree::copy();
        tree.set_signature_policy(&format!(
            "installerSignature:\n  keyless:\n    issuer: {issuer}\n    identity: {identity}\n"
        ));
        let output = fails_cleanly(&tree, &factory, &[]);
        let err = stderr(&output);
        assert!(
            err.contains("none verifies") && err.contains(issuer) && err.contains(identity),
            "the policy is named: {err}"
        );
    }
}

#[test]
fn a_pinned_policy_binds_without_a_flag_and_allow_unsigned_is_the_way_out() {
    // The committed keyless policy; the factory serves no signature.
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let before = tree.contents();
    let output = tree.image_bound(&factory, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no signature found")
            && err.contains("pins the keyless")
            && err.contains("--allow-unsigned"),
        "{err}"
    );
    assert_unchanged(&tree, &before);

    // No digest to verify binds the same way.
    let missing = Factory::start(Behaviour::default().with(INSTALLER_HEADS, Fault::NOT_FOUND));
    let output = tree.image_bound(&missing, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("its digest was not resolved"));
    assert_unchanged(&tree, &before);

    // --allow-unsigned records the digest without a signature, and says so loudly.
    let output = tree.image_bound(&factory, &["--allow-unsigned"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("WITHOUT A VERIFIED SIGNATURE (--allow-unsigned)"),
        "{}",
        stderr(&output)
    );
    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert_eq!(manifest["os"]["installer"]["digest"], INSTALLER_DIGEST);
    assert!(recorded_signature(&tree).is_null());

    // The two flags contradict each other.
    let both = tree.image_bound(&factory, &["--allow-unsigned", "--require-signature"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn without_a_policy_an_unsigned_installer_warns_unless_a_signature_is_required() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    tree.set_signature_policy("");
    let output = tree.image_bound(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("has no installerSignature policy"),
        "{}",
        stderr(&output)
    );
    let strict = Tree::copy();
    strict.set_signature_policy("");
    let before = strict.contents();
    let output = strict.image_bound(&factory, &["--require-signature"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("(--require-signature)"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&strict, &before);
}

#[test]
fn check_verifies_again_and_fails_when_the_signature_no_longer_verifies() {
    let factory = serving(Listing::Referrers, SUBJECT);
    let tree = tree_with_policy(IDENTITY);
    assert!(tree.image(&factory, &[]).status.success());
    let check = tree.image(&factory, &["--check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stderr(&check).contains("verified the signature"));

    // The registry now serves a bundle whose DSSE signature was altered.
    let mut tampered: serde_json::Value = serde_json::from_str(BUNDLE).unwrap();
    let sig = tampered["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if sig.starts_with('M') {
        sig.replacen('M', "N", 1)
    } else {
        sig.replacen(&sig[..1], "M", 1)
    };
    tampered["dsseEnvelope"]["signatures"][0]["sig"] = flipped.into();
    factory.behaviour.lock().unwrap().bundle =
        Some((Listing::Referrers, serde_json::to_vec(&tampered).unwrap()));
    let check = tree.image(&factory, &["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(
        stderr(&check).contains("none verifies"),
        "{}",
        stderr(&check)
    );

    // The signature vanished: a recorded signature is required, so the check fails too.
    factory.behaviour.lock().unwrap().bundle = None;
    let check = tree.image(&factory, &["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(
        stderr(&check).contains("no signature found")
            && stderr(&check).contains("cannot tell whether the installer is still the signed one"),
        "{}",
        stderr(&check)
    );
}

#[test]
fn validate_refuses_a_malformed_policy_or_key() {
    let cases = [
        (
            "installerSignature:\n  keyless:\n    issuer: https://accounts.google.com\n    identity: x@y\n  publicKey: k.pub\n",
            "exactly one of",
        ),
        (
            "installerSignature:\n  keyless:\n    issuer: accounts.google.com\n    identity: x@y\n",
            "an OIDC issuer URL",
        ),
        (
            "installerSignature:\n  keyless:\n    issuer: https://accounts.google.com\n    identiy: x@y\n",
            "identiy",
        ),
        (
            "installerSignature:\n  publicKey: ee/appliance/keys/missing.pub\n",
            "ee/appliance/keys/missing.pub cannot be read",
        ),
        (
            "installerSignature:\n  publicKey: ee/appliance/keys/ed25519.pub\n",
            "not ECDSA P-256",
        ),
        (
            "installerSignature:\n  publicKey: ../outside.pub\n",
            "inside the repository",
        ),
    ];
    for (policy, expected) in cases {
        let tree = Tree::copy();
        tree.write(
            "ee/appliance/keys/ed25519.pub",
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEABKWw/7RnnGIxAeBcuo8bPvOByjOJjjJG/fKRm20+5Aw=\n-----END PUBLIC KEY-----\n",
        );
        tree.set_signature_policy(policy);
        let output = tree.xtask(&["validate"]);
        assert_eq!(output.status.code(), Some(1), "{policy}");
        assert!(
            stderr(&output).contains(expected) && stderr(&output).contains(INTENT),
            "{policy}: {}",
            stderr(&output)
        );
    }
}

/// The public-good trusted root embedded in sigstore-verify 0.15.1, as a file to pin.
const PRODUCTION_ROOT: &str = include_str!("../data/sigstore/production-trusted-root.json");
/// A real Rekor v2 bundle from Sigstore staging (an attestation, not a signature).
const REKOR_V2_BUNDLE: &str =
    include_str!("../data/sigstore/conda-attestation-rekor2.sigstore.json");

#[test]
fn a_log_the_pinned_root_does_not_know_is_named_and_a_current_root_resolves_it() {
    let factory = serving(Listing::Referrers, SUBJECT);
    let keyless = format!(
        "installerSignature:\n  keyless:\n    issuer: {ISSUER}\n    identity: {IDENTITY}\n    trustedRoot: ee/appliance/keys/trusted_root.json\n"
    );
    // A root from before rekor.sigstore.dev (v1) was opened: its logs removed.
    let mut older: serde_json::Value = serde_json::from_str(PRODUCTION_ROOT).unwrap();
    older["tlogs"].as_array_mut().unwrap().retain(|log| {
        !log["baseUrl"]
            .as_str()
            .unwrap()
            .contains("rekor.sigstore.dev")
    });
    let tree = Tree::copy();
    tree.write(
        "ee/appliance/keys/trusted_root.json",
        &serde_json::to_string(&older).unwrap(),
    );
    tree.set_signature_policy(&keyless);
    let output = fails_cleanly(&tree, &factory, &["--require-signature"]);
    let err = stderr(&output);
    for part in [
        "rekor.sigstore.dev",
        "ee/appliance/keys/trusted_root.json does not know",
        "cargo update -p sigstore-verify",
        "installerSignature.keyless.trustedRoot",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    tree.write("ee/appliance/keys/trusted_root.json", PRODUCTION_ROOT);
    assert!(tree.xtask(&["validate"]).status.success());
    let output = tree.image(&factory, &["--require-signature"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(recorded_signature(&tree)["identity"], IDENTITY);
}

#[test]
fn validate_refuses_a_pinned_trusted_root_that_is_missing_outside_or_not_one() {
    let keyless = "installerSignature:\n  keyless:\n    issuer: https://accounts.google.com\n    identity: x@y\n    trustedRoot: ";
    for (path, expected) in [
        ("ee/appliance/keys/missing.json", "cannot be read"),
        ("../trusted_root.json", "inside the repository"),
        (
            "ee/appliance/keys/not-a-root.json",
            "not a Sigstore trusted root",
        ),
    ] {
        let tree = Tree::copy();
        tree.write("ee/appliance/keys/not-a-root.json", "{\"mediaType\": 1}");
        tree.set_signature_policy(&format!("{keyless}{path}\n"));
        let output = tree.xtask(&["validate"]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{path}: {err}");
        assert!(
            err.contains(expected) && err.contains("keyless.trustedRoot") && err.contains(INTENT),
            "{path}: {err}"
        );
    }
}

#[test]
fn dry_run_says_what_the_signature_must_verify_under() {
    let tree = Tree::copy();
    let output = tree.xtask(&["image", "--dry-run"]);
    assert!(stdout(&output).contains(
        "must verify under keyless (issuer https://accounts.google.com, identity image-factory-signing@talos-production.iam.gserviceaccount.com)"
    ));
    tree.set_signature_policy("");
    let output = tree.xtask(&["image", "--dry-run"]);
    assert!(
        stdout(&output)
            .contains("not verified (no installerSignature in ee/appliance/release.yaml)"),
        "{}",
        stdout(&output)
    );
}
