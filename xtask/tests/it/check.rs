//! `cargo xtask image --check` against the in-process factory, in git trees (so releases record
//! `source.commit`): the check takes its inputs from the record, so the next release prepared in
//! `release.yaml` is listed as unreleased with exit 0, and exit 3 comes exactly when the factory
//! gives other facts for the record (installer digest, media sizes or bytes, extension digests).
//! A check never writes a file, and without --hashes never downloads a medium.

use std::process::Output;

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const CUT: &str = "ee/appliance/releases/1.0.0.json";
const SCHEMATIC: &str = "ee/appliance/schematics/metal-amd64.yaml";

/// Runs `image --check`, asserting that it wrote nothing and requested no ISO bytes.
fn check(tree: &Tree, factory: &Factory, extra: &[&str]) -> Output {
    let before = tree.contents();
    factory.requests.lock().unwrap().clear();
    let output = tree.image(factory, &[&["--check"], extra].concat());
    assert_eq!(tree.contents(), before, "--check changed the tree");
    assert!(!factory.saw("GET /image/"), "--check downloaded the ISO");
    output
}

/// A git tree with release 1.0.0 cut on `stable` from a committed intent, the record committed.
fn cut(factory: &Factory) -> Tree {
    let tree = Tree::copy_in_git();
    tree.set_intent(&[
        ("releaseVersion", "1.0.0"),
        ("app.version", "1.0.0"),
        ("channel", "stable"),
        ("os.bootMedia", "[iso, disk-image]"),
    ]);
    tree.commit("prepare 1.0.0");
    let output = tree.image(factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = tree.json(CUT);
    assert_eq!(manifest["source"]["commit"].as_str().unwrap().len(), 40);
    tree.commit("record 1.0.0");
    tree
}

/// `--check --json`; the report of the one release checked (a bare check lists the channels
/// and a report per release: here exactly one).
fn json_check(tree: &Tree, factory: &Factory, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = check(tree, factory, &[&["--json"], extra].concat());
    let json: serde_json::Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&output), stderr(&output)));
    let report = match json.get("releases") {
        Some(releases) => {
            assert_eq!(releases.as_array().unwrap().len(), 1, "{json}");
            assert_eq!(json["matches"], releases[0]["matches"], "{json}");
            releases[0].clone()
        }
        None => json,
    };
    (output.status.code(), report)
}

fn paths(report: &serde_json::Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d.get("path")
                .or(d.get("field"))
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_recorded_release_checks_clean() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("release 1.0.0 (ee/appliance/releases/1.0.0.json): the factory still gives what was recorded"),
        "{text}"
    );
    assert!(!text.contains("unreleased changes"), "{text}");
    assert!(text.contains("run the check with --hashes"), "{text}");
}

#[test]
fn the_next_release_prepared_in_the_intent_is_unreleased_not_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    tree.set_intent(&[("releaseVersion", "1.1.0"), ("app.version", "1.1.0")]);
    tree.commit("prepare 1.1.0");
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("release.yaml prepares 1.1.0: releaseVersion 1.0.0 → 1.1.0")
            && text.contains("app.version 1.0.0 → 1.1.0"),
        "{text}"
    );
    let (code, report) = json_check(&tree, &factory, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(report["matches"], true);
    assert_eq!(
        paths(&report, "unreleased"),
        ["releaseVersion", "app.version"]
    );
}

#[test]
fn a_changed_schematic_is_unreleased_naming_both_ids() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    let schematic = tree.read(SCHEMATIC).replace(
        "      - siderolabs/util-linux-tools\n",
        "      - siderolabs/util-linux-tools\n      - siderolabs/qemu-guest-agent\n",
    );
    assert_ne!(
        schematic,
        tree.read(SCHEMATIC),
        "the schematic's list changed"
    );
    tree.write(SCHEMATIC, &schematic);
    tree.commit("add qemu-guest-agent");
    let new_id = stdout(&tree.xtask(&["image", "--dry-run", "--json"]));
    let new_id: serde_json::Value = serde_json::from_str(&new_id).unwrap();
    let new_id = new_id["talos"]["schematicId"].as_str().unwrap().to_string();
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "schematic changed: {SCHEMATIC} has ID {new_id}, the release has {APPLIANCE_ID} (not released)"
        )),
        "{text}"
    );
    // The record's schematic was asked for, never the new one.
    assert!(factory.saw(&format!("HEAD /image/{APPLIANCE_ID}/")));
    assert!(!factory.saw(&format!("HEAD /image/{new_id}/")));
}

#[test]
fn a_restarted_factory_gets_the_schematic_back_from_git() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    // Also the committed schematic moved on: the record's comes from the recorded commit.
    let schematic = tree.read(SCHEMATIC).replace("iscsi-tools", "iscsi-tool");
    tree.write(SCHEMATIC, &schematic);
    tree.commit("a typo, not released");
    factory.forget_schematics();
    let posts = factory.posts();
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the factory no longer has schematic")
            && stderr(&output).contains("to register it again"),
        "{}",
        stderr(&output)
    );
    assert_eq!(factory.posts(), posts + 1, "registered again");
    assert!(
        stdout(&output).contains("schematic changed"),
        "{}",
        stdout(&output)
    );

    // With the factory's copy back, the check takes that one and needs no git.
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("no longer has"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn each_fact_the_factory_moved_is_drift_with_its_meaning() {
    let moved = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    for (name, change, path, meaning) in [
        (
            "installer digest",
            Box::new(|b: &mut Behaviour| b.installer_digest = moved.into())
                as Box<dyn Fn(&mut Behaviour)>,
            "/os/installer/digest",
            "the factory rebuilt the installer: digest",
        ),
        (
            "disk image size",
            Box::new(|b: &mut Behaviour| b.disk_image_size += 1),
            "/os/diskImage/size",
            "metal-amd64.raw.zst is now",
        ),
        (
            "extension digest",
            Box::new(|b: &mut Behaviour| b.extension_digest_salt = "rebuilt".into()),
            "/talos/extensions/0/digest",
            "extension siderolabs/iscsi-tools: the catalogue's image moved",
        ),
    ] {
        let factory = Factory::start(Behaviour::default());
        let tree = cut(&factory);
        change(&mut factory.behaviour.lock().unwrap());
        let output = check(&tree, &factory, &[]);
        assert_eq!(output.status.code(), Some(3), "{name}: {}", stderr(&output));
        assert!(
            stdout(&output).contains(meaning),
            "{name}: {}",
            stdout(&output)
        );
        assert!(stderr(&output).contains("the factory moved under release 1.0.0"));
        let (code, report) = json_check(&tree, &factory, &[]);
        assert_eq!(code, Some(3));
        let moved_paths = paths(&report, "differences");
        assert!(
            moved_paths.contains(&path.to_string()),
            "{name}: {moved_paths:?}"
        );
        if path == "/talos/extensions/0/digest" {
            // Both extensions' images moved.
            assert_eq!(moved_paths.len(), 2, "{moved_paths:?}");
        } else {
            assert_eq!(moved_paths, [path], "{name}");
        }
    }
}

#[test]
fn other_bytes_at_the_same_size_need_hashes() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    factory.behaviour.lock().unwrap().iso_flip_byte = true;
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let before = tree.contents();
    let output = tree.image(&factory, &["--check", "--hashes"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stdout(&output);
    let flipped = sha256_hex(&factory.served("metal-amd64.iso").unwrap());
    assert!(
        text.contains("metal-amd64.iso now has other bytes at the same size")
            && text.contains(&flipped),
        "{text}"
    );
    assert!(!text.contains("metal-amd64.raw.zst now has"), "{text}");
    assert_eq!(tree.contents(), before, "--hashes keeps nothing");
    assert_eq!(
        factory.iso_requests().len(),
        2,
        "the release's and the check's"
    );
    let scratch = std::env::temp_dir();
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("xtask-check-"))
        .collect();
    assert!(left.is_empty(), "temporary folder left: {left:?}");
}

#[test]
fn a_ref_only_change_and_a_newer_patch_are_notices() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    {
        let mut b = factory.behaviour.lock().unwrap();
        b.extension_ref_host = "cache-registry.image-factory.svc".into();
        b.versions.push("v1.12.12".into());
        b.versions.push("v1.13.2".into());
    }
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("catalogue metadata changed, not the image")
            && text.contains("cache-registry.image-factory.svc/siderolabs/iscsi-tools"),
        "{text}"
    );
    assert!(
        text.contains("newer Talos v1.12 patches than the pinned v1.12.11: v1.12.12")
            && text.contains("newer Talos minors are listed too")
            && text.contains("v1.13.2"),
        "{text}"
    );
    let (_, report) = json_check(&tree, &factory, &[]);
    assert_eq!(
        report["newerVersions"]["patches"],
        serde_json::json!(["v1.12.12"])
    );
    assert_eq!(
        report["newerVersions"]["minors"],
        serde_json::json!(["v1.13.2"])
    );

    // A real run says both too, and records the catalogue's refs as they are.
    let output = tree.image(&factory, &["--release-version", "1.0.1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("newer Talos v1.12 patches"), "{err}");
    assert!(
        err.contains("not a public registry") && err.contains("cache-registry.image-factory.svc"),
        "{err}"
    );
}

#[test]
fn a_moved_installer_digest_is_named_in_json() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let moved = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    factory.behaviour.lock().unwrap().installer_digest = moved.into();
    let (code, report) = json_check(&tree, &factory, &[]);
    assert_eq!(code, Some(3));
    assert_eq!(report["differences"][0]["recorded"], INSTALLER_DIGEST);
    assert_eq!(report["differences"][0]["now"], moved);
}

#[test]
fn facts_an_older_manifest_lacks_are_not_recorded_not_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let mut manifest: serde_json::Value = tree.json(MANIFEST);
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
    let tree = Tree::recorded(&factory, &[]);
    factory.put(INSTALLER_HEADS, Fault::NOT_FOUND, None);
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot tell whether it moved"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_recorded_extension_gone_from_the_catalogue_fails_the_check_before_building() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    factory
        .behaviour
        .lock()
        .unwrap()
        .extensions
        .retain(|e| e != "siderolabs/iscsi-tools");
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not in the factory's catalogue")
            && stderr(&output).contains("siderolabs/iscsi-tools"),
        "{}",
        stderr(&output)
    );
    assert!(!factory.saw("HEAD /image/"));
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
    let tree = Tree::recorded(&factory, &[]);
    tree.set_intent(&[("releaseVersion", "0.2.0")]);
    let output = check(&tree, &factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(MANIFEST)
            && stdout(&output).contains("release.yaml prepares 0.2.0"),
        "the channel's release was compared: {}",
        stdout(&output)
    );
    // Naming the bumped release explicitly still finds nothing recorded.
    let named = check(&tree, &factory, &["--release-version", "0.2.0"]);
    assert_eq!(named.status.code(), Some(1));
    assert!(stderr(&named).contains("release 0.2.0 is not recorded"));
}

#[test]
fn an_empty_channel_is_a_notice_and_the_committed_tree_checks_green() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    // The committed tree: both channels point at no release yet.
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            "notice: channel beta points at no release yet (ee/appliance/releases/channels/beta.json): nothing to check; ee/appliance/release.yaml prepares its first release, 0.1.0"
        ) && text.contains("notice: channel stable points at no release yet"),
        "{text}"
    );
    // Said once each, by the notice.
    assert_eq!(
        text.matches("points at no release yet").count(),
        2,
        "{text}"
    );
    let output = check(&tree, &factory, &["--channel", "stable", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["matches"], true);
    assert_eq!(json["channels"][0]["channel"], "stable");
    assert_eq!(json["channels"][0]["result"], "empty");
    assert_eq!(json["releases"], serde_json::json!([]));
    assert!(factory.requests.lock().unwrap().is_empty());
}

/// Records `version` on `channel` against `factory` in `tree`.
fn record_on(tree: &Tree, factory: &Factory, version: &str, channel: &str) {
    let output = tree.image(
        factory,
        &["--release-version", version, "--channel", channel],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_bare_check_checks_every_channel_and_names_the_one_that_drifted() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    record_on(&tree, &factory, "0.1.0", "beta");
    // The factory's installer moves; 0.2.0 on stable records the new digest.
    let moved = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    factory.behaviour.lock().unwrap().installer_digest = moved.into();
    record_on(&tree, &factory, "0.2.0", "stable");
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let (text, err) = (stdout(&output), stderr(&output));
    assert!(
        text.contains("channel beta: release 0.1.0")
            && text.contains("channel stable: release 0.2.0")
            && text.contains("release 0.2.0 (ee/appliance/releases/0.2.0.json): the factory still gives what was recorded")
            && text.contains("release 0.1.0 (ee/appliance/releases/0.1.0.json): the factory moved under the record"),
        "{text}"
    );
    assert!(
        err.contains("the factory moved under release 0.1.0 (ee/appliance/releases/0.1.0.json)")
            && !err.contains("release 0.2.0"),
        "{err}"
    );
    let output = check(&tree, &factory, &["--json"]);
    assert_eq!(output.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["matches"], false);
    let results: Vec<(&str, &str)> = json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap(),
                c["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(results, [("beta", "drift"), ("stable", "matches")]);
}

#[test]
fn two_channels_on_one_release_check_it_once() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    record_on(&tree, &factory, "0.1.0", "beta");
    tree.write(
        "ee/appliance/releases/channels/stable.json",
        &tree
            .read("ee/appliance/releases/channels/beta.json")
            .replace("\"beta\"", "\"stable\""),
    );
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(
        text.matches("the factory still gives what was recorded")
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("channel stable: release 0.1.0"), "{text}");
    // One size asked for the one medium: the release was checked once.
    let heads = factory
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.starts_with("HEAD /image/") && line.contains("metal-amd64.iso"))
        .count();
    assert_eq!(heads, 1);
}

#[test]
fn a_release_that_cannot_be_checked_fails_the_run_and_the_others_are_still_checked() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    record_on(&tree, &factory, "0.1.0", "beta");
    record_on(&tree, &factory, "0.2.0", "stable");
    std::fs::remove_file(tree.path(MANIFEST)).unwrap();
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("release 0.2.0 (ee/appliance/releases/0.2.0.json): the factory still gives what was recorded")
            && stdout(&output).contains("release 0.1.0 (ee/appliance/releases/0.1.0.json): the check could not run"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("the check could not run, so there is no verdict on: release 0.1.0 (ee/appliance/releases/0.1.0.json): release 0.1.0 is not recorded"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_intent_that_turns_the_air_gap_on_is_unreleased_not_ignored() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    tree.set_intent(&[("os.airGap", "true")]);
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            "unreleased changes in the committed intent (not drift):\n  os.airGap false → true\n"
        ),
        "{text}"
    );
}

/// Every kind of drift at once, text and JSON, byte for byte (the factory's port shown as
/// PORT): the installer rebuilt, a disk image of another size, the extensions' images moved,
/// and an ISO with other bytes at the same size (seen with --hashes).
#[test]
fn drift_of_every_kind_at_once_matches_its_golden() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(&factory, &["--boot-media", "iso,disk-image"]);
    assert!(output.status.success(), "{}", stderr(&output));
    {
        let mut b = factory.behaviour.lock().unwrap();
        b.installer_digest =
            "sha256:1111111111111111111111111111111111111111111111111111111111111111".into();
        b.disk_image_size += 1;
        b.extension_digest_salt = "rebuilt".into();
        b.iso_flip_byte = true;
    }
    let port = format!("127.0.0.1:{}", factory.port);
    for (name, flags) in [
        (
            "check-drift.txt",
            vec!["--check", "--hashes", "--release-version", "0.1.0"],
        ),
        (
            "check-drift.json",
            vec![
                "--check",
                "--hashes",
                "--json",
                "--release-version",
                "0.1.0",
            ],
        ),
    ] {
        let output = tree.image(&factory, &flags);
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        assert_golden(name, &stdout(&output).replace(&port, "127.0.0.1:PORT"));
    }
}

/// The runbook "Exit 3 while the fix soaks on beta": stable's release drifted, the fix is cut on
/// beta. Each nightly exits 3 naming stable's release only (beta's fix matches), until the fix
/// is promoted onto stable; then it is green.
#[test]
fn while_the_fix_soaks_on_beta_the_nightly_names_stable_only_until_it_is_promoted() {
    let factory = Factory::start(Behaviour::default());
    let tree = cut(&factory);
    let moved = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    factory.behaviour.lock().unwrap().installer_digest = moved.into();
    tree.set_intent(&[
        ("releaseVersion", "1.0.1"),
        ("app.version", "1.0.1"),
        ("channel", "beta"),
    ]);
    tree.commit("prepare the fix, 1.0.1, on beta");
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    tree.commit("record 1.0.1");

    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("channel stable: release 1.0.0\n")
            && text.contains("channel beta: release 1.0.1\n")
            && text.contains(&format!(
                "release 1.0.0 ({CUT}): the factory moved under the record in 1 of"
            ))
            && text.contains(
                "release 1.0.1 (ee/appliance/releases/1.0.1.json): the factory still gives what was recorded"
            ),
        "{text}"
    );
    assert!(
        stderr(&output).contains("release 1.0.0") && !stderr(&output).contains("release 1.0.1"),
        "{}",
        stderr(&output)
    );

    let promoted = tree.xtask(&["channel", "stable", "1.0.1"]);
    assert!(promoted.status.success(), "{}", stderr(&promoted));
    let output = check(&tree, &factory, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
