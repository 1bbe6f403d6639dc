//! `cargo xtask image` against an in-process Image Factory on loopback: the happy path and
//! every failure the design names, each leaving nothing behind.

use std::process::Output;

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const ISO: &str = "ee/appliance/dist/0.1.0/metal-amd64.iso";
const BETA: &str = "ee/appliance/releases/channels/beta.json";

#[test]
fn a_release_records_the_served_bytes_and_moves_the_channel() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert_eq!(manifest["os"]["iso"]["sha256"], factory.iso_sha256());
    assert_eq!(manifest["os"]["iso"]["size"], factory.iso.len());
    assert_eq!(manifest["os"]["iso"]["localPath"], ISO);
    assert_eq!(
        manifest["os"]["iso"]["url"],
        format!(
            "{}/image/{APPLIANCE_ID}/{TALOS}/metal-amd64.iso",
            factory.url()
        )
    );
    assert_eq!(
        manifest["os"]["installer"]["image"],
        format!(
            "127.0.0.1:{}/metal-installer/{APPLIANCE_ID}:{TALOS}",
            factory.port
        )
    );
    assert_eq!(manifest["os"]["installer"]["digest"], INSTALLER_DIGEST);
    assert_eq!(manifest["talos"]["schematicId"], APPLIANCE_ID);
    assert_eq!(manifest["talos"]["factoryUrl"], factory.url());
    assert_eq!(
        manifest["talos"]["extensions"][0]["name"],
        "siderolabs/iscsi-tools"
    );
    assert_eq!(
        manifest["generatedAt"], "2026-01-01T00:00:00Z",
        "SOURCE_DATE_EPOCH is honoured"
    );
    assert_eq!(
        std::fs::read(tree.path(ISO)).unwrap(),
        *factory.iso,
        "the ISO on disk is the served one"
    );

    let beta: serde_json::Value = tree.json(BETA);
    assert_eq!(beta["releaseVersion"], "0.1.0");

    let validate = tree.xtask(&["validate"]);
    assert!(
        validate.status.success(),
        "validate after a release: {}",
        stderr(&validate)
    );
    assert!(
        !tree.files().iter().any(|f| f.contains(".partial")),
        "temporary files remain"
    );
}

#[test]
fn the_same_inputs_give_the_same_manifest_bytes() {
    let factory = Factory::start(Behaviour::default());
    let (a, b) = (Tree::copy(), Tree::copy());
    assert!(a.image(&factory, &[]).status.success());
    assert!(b.image(&factory, &[]).status.success());
    assert_eq!(a.read(MANIFEST), b.read(MANIFEST));
}

#[test]
fn a_recorded_release_is_not_overwritten_without_force() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    assert!(tree.image(&factory, &[]).status.success());
    let recorded = tree.read(MANIFEST);
    let again = fails_cleanly(&tree, &factory, &[]);
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(tree.read(MANIFEST), recorded);
    assert!(tree.image(&factory, &["--force"]).status.success());
}

#[test]
fn a_missing_schematic_fails_before_any_request() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    std::fs::remove_file(tree.path("ee/appliance/schematics/metal-amd64.yaml")).unwrap();
    let output = fails_cleanly(&tree, &factory, &[]);
    assert!(
        stderr(&output).contains("schematics/metal-amd64.yaml does not exist"),
        "{}",
        stderr(&output)
    );
    assert!(factory.requests.lock().unwrap().is_empty());
}

#[test]
fn an_answer_without_an_id_fails() {
    let behaviour = Behaviour {
        register_answer: Some(r#"{"schematic":"x"}"#.into()),
        ..Behaviour::default()
    };
    let factory = Factory::start(behaviour);
    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &[]);
    assert!(
        stderr(&output).contains("without an `id`"),
        "{}",
        stderr(&output)
    );
    assert!(!factory.saw("GET /image/"));
}

#[test]
fn an_id_that_is_not_64_hex_is_refused() {
    for id in [
        "../../etc",
        "613E1592B2DA41AE5E265E8789429F22E121AAB91CB4DEB6BC3C0B6262961245",
        "abc",
    ] {
        let answer = format!(r#"{{"id":"{id}"}}"#);
        let factory = Factory::start(Behaviour {
            register_answer: Some(answer),
            ..Behaviour::default()
        });
        let tree = Tree::copy();
        let output = fails_cleanly(&tree, &factory, &[]);
        assert!(
            stderr(&output).contains("not 64 lowercase hex"),
            "{id}: {}",
            stderr(&output)
        );
        assert!(!factory.saw("GET /image/"));
    }
}

#[test]
fn an_id_other_than_the_offline_one_stops_the_release() {
    let other = "0".repeat(64);
    let factory = Factory::start(Behaviour {
        register_answer: Some(format!(r#"{{"id":"{other}"}}"#)),
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &[]);
    let err = stderr(&output);
    assert!(
        err.contains(&other) && err.contains(APPLIANCE_ID),
        "both IDs are shown: {err}"
    );
}

#[test]
fn iso_download_failures_leave_nothing() {
    for (fault, expected) in [
        (Fault::NOT_FOUND, "404"),
        (Fault::Cut, "gave up after 4 attempts"),
        (Fault::Html, "not an ISO image"),
        (Fault::Stall, "stalled"),
    ] {
        let factory = Factory::start(Behaviour::default().with(ISO_GETS, fault.clone()));
        let tree = Tree::copy();
        let output = fails_cleanly(
            &tree,
            &factory,
            &[
                "--retries",
                if matches!(fault, Fault::Stall) {
                    "1"
                } else {
                    "4"
                },
            ],
        );
        assert!(
            stderr(&output).contains(expected),
            "{fault:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_404_is_not_retried_but_a_500_is() {
    let factory = Factory::start(Behaviour::default().with(ISO_GETS, Fault::NOT_FOUND));
    let tree = Tree::copy();
    assert!(!tree.image(&factory, &[]).status.success());
    let isos = factory
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("GET /image/"))
        .count();
    assert_eq!(isos, 1, "4xx must not be retried");

    let factory =
        Factory::start(Behaviour::default().with_first(2, ISO_GETS, Fault::Status(500, None)));
    let tree = Tree::copy();
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("attempt 1 of 4 failed"),
        "{}",
        stderr(&output)
    );
    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert_eq!(
        manifest["os"]["iso"]["sha256"],
        factory.iso_sha256(),
        "the hash restarts on retry"
    );
}

#[test]
fn registry_answers_direct_and_with_a_bearer_challenge() {
    for mode in [RegistryMode::Direct, RegistryMode::Bearer] {
        let factory = Factory::start(Behaviour {
            registry: mode.clone(),
            ..Behaviour::default()
        });
        let tree = Tree::copy();
        let output = tree.image(&factory, &[]);
        assert!(output.status.success(), "{mode:?}: {}", stderr(&output));
        let manifest: serde_json::Value = tree.json(MANIFEST);
        assert_eq!(
            manifest["os"]["installer"]["digest"], INSTALLER_DIGEST,
            "{mode:?}"
        );
    }
}

#[test]
fn an_unresolvable_digest_is_recorded_as_absent_with_a_warning() {
    let factory = Factory::start(Behaviour::default().with(INSTALLER_HEADS, Fault::NOT_FOUND));
    let tree = Tree::copy();
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: installer digest"),
        "{}",
        stderr(&output)
    );
    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert!(manifest["os"]["installer"].get("digest").is_none());

    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &["--require-digest"]);
    assert!(
        stderr(&output).contains("(--require-digest)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_installer_reference_that_cannot_be_derived_fails_in_the_plan() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let before = tree.contents();
    // A flag value that does not parse is a wrong command line: exit 2, as clap's own.
    let output = tree.image(&factory, &["--talos-version", "latest"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("invalid Talos version \"latest\""),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&tree, &before);
    assert!(factory.requests.lock().unwrap().is_empty());
}

#[test]
fn an_unknown_extension_fails_before_the_iso_is_requested() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    tree.write(
        "ee/appliance/schematics/metal-amd64.yaml",
        "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tool]\n",
    );
    let output = fails_cleanly(&tree, &factory, &[]);
    assert!(
        stderr(&output).contains("did you mean siderolabs/iscsi-tools"),
        "{}",
        stderr(&output)
    );
    assert!(!factory.saw("GET /image/") && !factory.saw("POST /schematics"));
}

#[test]
fn an_overlay_is_checked_against_the_catalogue_before_anything_is_built() {
    let factory = Factory::start(Behaviour::default());
    let schematic = "ee/appliance/schematics/metal-amd64.yaml";
    let tree = Tree::copy();
    let committed = tree.read(schematic);
    tree.write(
        schematic,
        &format!("{committed}overlay:\n  name: rpi_generc\n  image: siderolabs/sbc-raspberrypi\n"),
    );
    let output = fails_cleanly(&tree, &factory, &[]);
    let err = stderr(&output);
    assert!(
        err.contains(&format!("{schematic}: overlay rpi_generc (siderolabs/sbc-raspberrypi) is not in the factory's catalogue for Talos {TALOS} (did you mean rpi_generic?)")),
        "{err}"
    );
    assert!(!factory.saw("POST /schematics") && !factory.saw("GET /image/"));

    tree.write(
        schematic,
        &format!("{committed}overlay:\n  name: rpi_generic\n  image: siderolabs/sbc-raspberrypi\n"),
    );
    // Listed: the preflight passes and the run goes on to register it (where this loopback
    // factory, which assigns the committed schematic's ID, stops it).
    let output = tree.image(&factory, &[]);
    assert!(
        !stderr(&output).contains("not in the factory's catalogue"),
        "{}",
        stderr(&output)
    );
    assert!(factory.saw("POST /schematics"));
}

#[test]
fn an_unlisted_talos_version_names_the_closest() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(&factory, &["--talos-version", "v1.12.99"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("v1.12.11, v1.12.10"),
        "{}",
        stderr(&output)
    );
    assert!(!factory.saw("GET /image/"));
}

#[test]
fn dry_run_is_offline_and_writes_nothing() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let before = tree.files();
    let output = tree.xtask(&["image", "--dry-run", "--factory-url", &factory.url()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "{}/image/{APPLIANCE_ID}/{TALOS}/metal-amd64.iso",
            factory.url()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "127.0.0.1:{}/metal-installer/{APPLIANCE_ID}:{TALOS}",
            factory.port
        )),
        "{text}"
    );
    assert!(
        factory.requests.lock().unwrap().is_empty(),
        "dry-run made a request"
    );
    assert_eq!(tree.files(), before);

    let json = tree.xtask(&[
        "image",
        "--dry-run",
        "--json",
        "--release-version",
        "2.0.0-rc.1",
    ]);
    let planned: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(planned["releaseVersion"], "2.0.0-rc.1");
    assert_eq!(planned["os"]["iso"]["sha256"], serde_json::Value::Null);
    assert_eq!(
        planned["os"]["iso"]["localPath"],
        "ee/appliance/dist/2.0.0-rc.1/metal-amd64.iso"
    );
}

#[test]
fn bad_flags_fail_with_the_fix() {
    let tree = Tree::copy();
    // A value that does not parse is a wrong command line (2); one that parses but the tree
    // or the catalogue refuses is a failed run (1).
    for (args, code, expected) in [
        (
            vec!["image", "--dry-run", "--release-version", "v1.0"],
            2,
            "SemVer without a leading v",
        ),
        (
            vec!["image", "--dry-run", "--kubernetes-version", "1.35.4"],
            2,
            "expected v + SemVer",
        ),
        (
            vec!["image", "--dry-run", "--channel", "nightly"],
            1,
            "channels: beta, stable",
        ),
        (
            vec!["image", "--dry-run", "--kubernetes-version", "v1.29.0"],
            1,
            "1.30.x through 1.35.x",
        ),
        (
            vec!["image", "--dry-run", "--factory-url", "factory.talos.dev"],
            1,
            "http(s)://host",
        ),
    ] {
        let output = tree.xtask(&args);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_fails_naming_it() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    tree.write("no-cert.pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEABKWw/7RnnGIxAeBcuo8bPvOByjOJjjJG/fKRm20+5Aw=\n-----END PUBLIC KEY-----\n");
    tree.write(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    tree.write("huge.pem", &"x".repeat(4 * 1024 * 1024 + 1));
    for (file, expected) in [
        ("missing.pem", "reading --ca-file"),
        ("huge.pem", "larger than 4194304 bytes"),
        ("no-cert.pem", "no CERTIFICATE block in it"),
        ("garbage.pem", "not valid PEM"),
    ] {
        let path = tree.path(file);
        let before = tree.contents();
        let output = tree.image(&factory, &["--ca-file", path.to_str().unwrap()]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{file}: {err}");
        assert!(
            err.contains(expected) && err.contains(file),
            "{file}: {err}"
        );
        assert_unchanged(&tree, &before);
    }
    assert!(!factory.saw("POST /schematics"), "nothing was sent");
}

#[test]
fn a_channel_that_cannot_move_takes_the_manifest_back() {
    let tree = Tree::copy();
    // Between the last network step and the recording, the channel file becomes a folder,
    // which no rename can replace.
    let channel = tree.path(BETA);
    let factory =
        Factory::start(Behaviour::default().with(REGISTRY_REQUESTS, becomes_a_folder(channel)));
    let before = tree.files();
    let output = tree.image(&factory, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("moving channel") && err.contains("was taken back"),
        "{err}"
    );
    let after: Vec<String> = tree
        .files()
        .into_iter()
        .filter(|f| !f.starts_with(&format!("{BETA}/")))
        .collect();
    let expected: Vec<String> = before.into_iter().filter(|f| f != BETA).collect();
    assert_eq!(after, expected, "no manifest, ISO or partial file is left");
}

/// What a release records and says, byte for byte: golden files written by the tool (the
/// factory's port shown as PORT), so a change in shape shows here. The manifests, SHA256SUMS
/// and channels date from before the pipeline became concurrent; the dry-run, check and notes
/// outputs from before the facts table.
#[test]
fn a_recorded_release_matches_the_golden_files() {
    for (name, extra) in [
        ("plain", vec!["--boot-media", "iso,disk-image"]),
        (
            "sb",
            vec!["--boot-media", "iso,disk-image", "--secure-boot", "true"],
        ),
    ] {
        let factory = Factory::start(Behaviour::default());
        let tree = Tree::copy();
        // The port only where it is one: as digits it could also stand inside a digest.
        let port = format!("127.0.0.1:{}", factory.port);
        let shown = |output: &Output| stdout(output).replace(&port, "127.0.0.1:PORT");
        let dry_run = tree.xtask(
            &[
                &["image", "--dry-run", "--factory-url", &factory.url()],
                &extra[..],
            ]
            .concat(),
        );
        assert!(dry_run.status.success(), "{name}: {}", stderr(&dry_run));
        assert_golden(&format!("dry-run-{name}.txt"), &shown(&dry_run));
        let dry_run = tree.xtask(
            &[
                &[
                    "image",
                    "--dry-run",
                    "--json",
                    "--factory-url",
                    &factory.url(),
                ],
                &extra[..],
            ]
            .concat(),
        );
        assert_golden(&format!("dry-run-{name}.json"), &shown(&dry_run));

        let output = tree.image(&factory, &extra);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let manifest = tree
            .read("ee/appliance/releases/0.1.0.json")
            .replace(&port, "127.0.0.1:PORT");
        assert_golden(&format!("manifest-{name}.json"), &manifest);
        assert_golden(
            &format!("SHA256SUMS-{name}"),
            &tree.read("ee/appliance/dist/0.1.0/SHA256SUMS"),
        );
        assert_golden(
            &format!("channel-{name}.json"),
            &tree.read("ee/appliance/releases/channels/beta.json"),
        );
        let notes = tree.xtask(&["release-notes"]);
        assert_golden(&format!("notes-{name}.md"), &shown(&notes));
        for (suffix, flags) in [
            ("txt", vec!["--check", "--hashes"]),
            ("json", vec!["--check", "--hashes", "--json"]),
            ("bare.json", vec!["--check", "--json"]),
        ] {
            let check = tree.image(&factory, &flags);
            assert_eq!(check.status.code(), Some(0), "{name}: {}", stderr(&check));
            assert_golden(&format!("check-{name}.{suffix}"), &shown(&check));
        }
    }
}
