//! `cargo xtask validate` on the committed tree and on broken copies of it: each kind of
//! breakage fails, naming the file.

use crate::support::*;

fn assert_invalid(tree: &Tree, file: &str, expected: &str) {
    let output = tree.xtask(&["validate"]);
    let err = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "validate should fail for {file}: {err}"
    );
    assert!(
        err.contains(file) && err.contains(expected),
        "expected {file} and {expected:?} in: {err}"
    );
}

const SCHEMATIC: &str = "ee/appliance/schematics/metal-amd64.yaml";

/// A well-formed manifest for the committed schematic, as a release would write it.
fn manifest(release: &str) -> serde_json::Value {
    serde_json::json!({
        "releaseVersion": release,
        "generatedAt": "2026-01-01T00:00:00Z",
        "channel": "beta",
        "talos": {"version": TALOS, "schematicId": APPLIANCE_ID, "schematicPath": SCHEMATIC, "factoryUrl": "https://factory.talos.dev"},
        "kubernetes": {"version": "v1.35.4"},
        "os": {
            "platform": "metal", "architecture": "amd64",
            "iso": {
                "url": format!("https://factory.talos.dev/image/{APPLIANCE_ID}/{TALOS}/metal-amd64.iso"),
                "localPath": format!("ee/appliance/dist/{release}/metal-amd64.iso"),
                "sha256": "a".repeat(64),
                "size": 104857600
            },
            "installer": {"image": format!("factory.talos.dev/metal-installer/{APPLIANCE_ID}:{TALOS}"), "digest": INSTALLER_DIGEST}
        },
        "app": {"version": "1.0.0", "valuesProfile": "appliance"}
    })
}

fn with_manifest(value: &serde_json::Value, release: &str) -> Tree {
    let tree = Tree::copy();
    tree.write(
        &format!("ee/appliance/releases/{release}.json"),
        &serde_json::to_string_pretty(value).unwrap(),
    );
    tree
}

#[test]
fn the_fixture_tree_is_valid() {
    let output = Tree::copy().xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_well_formed_manifest_passes_without_its_iso_and_channels_may_point_at_it() {
    let tree = with_manifest(&manifest("1.0.0"), "1.0.0");
    tree.write(
        "ee/appliance/releases/channels/stable.json",
        r#"{"channel": "stable", "releaseVersion": "1.0.0"}"#,
    );
    tree.write(
        "ee/appliance/releases/channels/beta.json",
        r#"{"channel": "beta", "releaseVersion": "1.0.0"}"#,
    );
    let output = tree.xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn schematic_problems_name_file_line_and_field() {
    for (content, expected) in [
        (
            "customization:\n  extraKernelArgz: [a]\n",
            ":2:3: customization.extraKernelArgz: unknown field",
        ),
        (
            "customization: {}\ncustomization: {}\n",
            ":2:1: duplicate key",
        ),
        (
            "customization:\n  bootloader: auto\n",
            "customization.bootloader",
        ),
        (
            "customization:\n  meta: [{key: 300, value: x}]\n",
            "customization.meta[0].key",
        ),
        ("customization: [\n", "invalid YAML"),
    ] {
        let tree = Tree::copy();
        tree.write(SCHEMATIC, content);
        assert_invalid(&tree, SCHEMATIC, expected);
    }
}

#[test]
fn a_malformed_version_in_the_intent_fails() {
    let tree = Tree::copy();
    tree.set_intent(&[("talos.version", "'1.12'")]);
    assert_invalid(&tree, "ee/appliance/release.yaml", "invalid Talos version");
}

#[test]
fn manifest_problems_name_file_and_pointer() {
    let mut bad_sha = manifest("1.0.0");
    bad_sha["os"]["iso"]["sha256"] = "not-a-hash".into();
    assert_invalid(
        &with_manifest(&bad_sha, "1.0.0"),
        "releases/1.0.0.json",
        "/os/iso/sha256",
    );

    let mut missing = manifest("1.0.0");
    missing["talos"]
        .as_object_mut()
        .unwrap()
        .remove("schematicId");
    assert_invalid(
        &with_manifest(&missing, "1.0.0"),
        "releases/1.0.0.json",
        "schematicId",
    );

    let mut other_id = manifest("1.0.0");
    other_id["os"]["iso"]["url"] = format!(
        "https://factory.talos.dev/image/{}/{TALOS}/metal-amd64.iso",
        "b".repeat(64)
    )
    .into();
    assert_invalid(
        &with_manifest(&other_id, "1.0.0"),
        "releases/1.0.0.json",
        "/os/iso/url",
    );

    let mut other_version = manifest("1.0.0");
    other_version["os"]["installer"]["image"] =
        format!("factory.talos.dev/metal-installer/{APPLIANCE_ID}:v1.12.10").into();
    assert_invalid(
        &with_manifest(&other_version, "1.0.0"),
        "releases/1.0.0.json",
        "/os/installer/image",
    );

    assert_invalid(
        &with_manifest(&manifest("1.0.0"), "1.0.1"),
        "releases/1.0.1.json",
        "file name says release 1.0.1",
    );
}

#[test]
fn a_channel_pointing_at_a_missing_release_fails() {
    let tree = Tree::copy();
    tree.write(
        "ee/appliance/releases/channels/stable.json",
        r#"{"channel": "stable", "releaseVersion": "9.9.9"}"#,
    );
    assert_invalid(&tree, "channels/stable.json", "9.9.9");
}

#[test]
fn a_changed_schematic_warns_naming_the_release_a_channel_offers_and_no_other() {
    let tree = with_manifest(&manifest("1.0.0"), "1.0.0");
    tree.write(
        SCHEMATIC,
        "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tools]\n",
    );
    // Offered by no channel: history, no warning.
    let output = tree.xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    tree.write(
        "ee/appliance/releases/channels/stable.json",
        r#"{"channel": "stable", "releaseVersion": "1.0.0"}"#,
    );
    let output = tree.xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "warning: ee/appliance/releases/1.0.0.json: release 1.0.0 was cut from schematic"
        ),
        "{}",
        stderr(&output)
    );
}
