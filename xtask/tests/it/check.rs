//! `cargo xtask image --check` against the in-process factory: a recorded release checks
//! clean; a changed schematic, a changed pin and a moved installer digest are each reported
//! field by field with exit code 3; and a check never downloads the ISO nor writes a file.

use std::process::Output;

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const INTENT: &str = "ee/appliance/release.yaml";
const SCHEMATIC: &str = "ee/appliance/schematics/metal-amd64.yaml";

/// A scratch tree with release 0.1.0 recorded against `factory`.
fn recorded(factory: &Factory) -> Tree {
    let tree = Tree::copy();
    let output = tree.image(factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    tree
}

/// Runs `image --check`, asserting that it wrote nothing and requested no ISO bytes.
fn check(tree: &Tree, factory: &Factory, extra: &[&str]) -> Output {
    let before = tree.contents();
    factory.requests.lock().unwrap().clear();
    let output = tree.image(factory, &[&["--check"], extra].concat());
    assert_eq!(tree.contents(), before, "--check changed the tree");
    assert!(!factory.saw("GET /image/"), "--check downloaded the ISO");
    output
}

/// The table row for `path`, split into its cells.
fn row(output: &Output, path: &str) -> Vec<String> {
    let text = stdout(output);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(path))
        .unwrap_or_else(|| panic!("no row for {path} in:\n{text}"));
    line.split_whitespace().map(str::to_string).collect()
}

fn vector_id(name: &str) -> String {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("xtask/tests/data/schematic-ids.json")).unwrap(),
    )
    .unwrap();
    vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name:?}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_recorded_release_checks_clean() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("matches ee/appliance/releases/0.1.0.json"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("/os/iso/sha256"),
        "says what it skips"
    );
    for request in [
        "GET /versions",
        "GET /version/v1.12.11/extensions/official",
        "POST /schematics",
        "HEAD /image/",
        "HEAD /v2/metal-installer/",
    ] {
        assert!(factory.saw(request), "--check did not {request}");
    }
}

#[test]
fn a_changed_schematic_is_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    tree.write(
        SCHEMATIC,
        "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agent\n",
    );
    let new_id = vector_id("ext qemu-guest-agent");
    factory.behaviour.lock().unwrap().register_answer = Some(format!(r#"{{"id":"{new_id}"}}"#));

    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        row(&output, "/talos/schematicId"),
        ["/talos/schematicId", APPLIANCE_ID, &new_id]
    );
    for path in [
        "/talos/extensions/0/name",
        "/os/iso/url",
        "/os/installer/image",
    ] {
        let cells = row(&output, path);
        assert_ne!(cells[1], cells[2], "{path}");
    }
    assert_eq!(
        row(&output, "/talos/extensions/1/name"),
        [
            "/talos/extensions/1/name",
            "siderolabs/util-linux-tools",
            "(absent)"
        ]
    );
    assert!(
        stderr(&output).contains("has drifted"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_changed_pin_is_drift_in_that_field_only() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    let intent = tree
        .read(INTENT)
        .replace("version: v1.35.4", "version: v1.35.2");
    tree.write(INTENT, &intent);

    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        row(&output, "/kubernetes/version"),
        ["/kubernetes/version", "v1.35.4", "v1.35.2"]
    );
    assert!(
        stdout(&output).contains("in 1 field(s)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_moved_installer_digest_is_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    let moved = format!("sha256:{}", "5".repeat(64));
    factory.behaviour.lock().unwrap().installer_digest = moved.clone();

    let output = check(&tree, &factory, &["--json"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["matches"], false);
    assert_eq!(
        report["differences"],
        serde_json::json!([{
            "path": "/os/installer/digest",
            "recorded": INSTALLER_DIGEST,
            "now": moved,
        }])
    );
}

#[test]
fn fields_an_older_manifest_lacks_are_not_recorded_not_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    let mut manifest: serde_json::Value = serde_json::from_str(&tree.read(MANIFEST)).unwrap();
    manifest["os"]["iso"]
        .as_object_mut()
        .unwrap()
        .remove("size");
    manifest["talos"]
        .as_object_mut()
        .unwrap()
        .remove("extensions");
    tree.write(MANIFEST, &serde_json::to_string_pretty(&manifest).unwrap());

    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.starts_with("not recorded"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("/talos/extensions") && line.contains("/os/iso/size"),
        "{line}"
    );
}

#[test]
fn an_unresolvable_recorded_digest_fails_the_check() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    factory.behaviour.lock().unwrap().registry = RegistryMode::Missing;
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot tell whether it moved"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bad_catalogue_entry_fails_the_check_before_comparing() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    let schematic = tree.read(SCHEMATIC).replace("iscsi-tools", "iscsi-tool");
    tree.write(SCHEMATIC, &schematic);
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("did you mean siderolabs/iscsi-tools"),
        "{}",
        stderr(&output)
    );
    assert!(!factory.saw("POST /schematics") && !factory.saw("HEAD /image/"));
}

#[test]
fn an_unrecorded_release_cannot_be_checked() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = check(&tree, &factory, &["--release-version", "9.9.9"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("release 9.9.9 is not recorded"),
        "{}",
        stderr(&output)
    );
    assert!(factory.requests.lock().unwrap().is_empty());
}

#[test]
fn check_does_not_combine_with_dry_run_or_force() {
    let tree = Tree::copy();
    for other in ["--dry-run", "--force"] {
        let output = tree.xtask(&["image", "--check", other]);
        assert_eq!(output.status.code(), Some(2), "{other}");
    }
}

#[test]
fn a_bare_check_follows_the_channel_past_a_bumped_release_version() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded(&factory);
    let intent = tree
        .read(INTENT)
        .replace("releaseVersion: 0.1.0", "releaseVersion: 0.2.0");
    tree.write(INTENT, &intent);
    let output = check(&tree, &factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(MANIFEST),
        "the channel's release was compared: {}",
        stdout(&output)
    );
    // Naming the bumped release explicitly still finds nothing recorded.
    let named = check(&tree, &factory, &["--release-version", "0.2.0"]);
    assert_eq!(named.status.code(), Some(1));
    assert!(stderr(&named).contains("release 0.2.0 is not recorded"));
}

#[test]
fn a_bare_check_on_a_channel_that_points_at_nothing_fails_saying_so() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = check(&tree, &factory, &["--channel", "stable"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("channel stable points at no release yet"),
        "{}",
        stderr(&output)
    );
    assert!(factory.requests.lock().unwrap().is_empty());
}
