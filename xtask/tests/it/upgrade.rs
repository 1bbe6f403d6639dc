//! The upgrade path from the release a channel points at: recorded with its steps, refused
//! before any request when nodes cannot get there, recorded as skipped with
//! `--allow-upgrade-gap`, and told in the release notes.

use crate::support::*;

/// A factory that also serves Talos v1.10.7, v1.13.9 and v1.14.0, and a tree with release
/// 0.1.0 (Talos v1.12.11, Kubernetes v1.35.4, unless `extra` says otherwise) recorded on
/// `beta`.
fn recorded_with(extra: &[&str]) -> (Factory, Tree) {
    let mut behaviour = Behaviour::default();
    behaviour.versions.extend(
        ["v1.10.7", "v1.13.9", "v1.14.0"]
            .iter()
            .map(|v| v.to_string()),
    );
    let factory = Factory::start(behaviour);
    let tree = Tree::recorded(&factory, extra);
    (factory, tree)
}

fn recorded() -> (Factory, Tree) {
    recorded_with(&[])
}

fn manifest(tree: &Tree, version: &str) -> serde_json::Value {
    tree.json(&format!("ee/appliance/releases/{version}.json"))
}

#[test]
fn a_release_on_the_next_minor_records_its_steps_and_the_notes_say_them() {
    let (factory, tree) = recorded();
    assert!(manifest(&tree, "0.1.0").get("upgradeFrom").is_none());
    let next = [
        "--release-version",
        "0.2.0",
        "--talos-version",
        "v1.13.9",
        "--kubernetes-version",
        "v1.36.3",
    ];
    let dry_run = tree.xtask(&[&["image", "--dry-run"][..], &next[..]].concat());
    assert!(dry_run.status.success(), "{}", stderr(&dry_run));
    assert!(
        stdout(&dry_run).contains(
            "upgrade from     0.1.0 (Talos v1.12.11, Kubernetes v1.35.4): Talos to v1.13.9, then Kubernetes to v1.36.3"
        ),
        "{}",
        stdout(&dry_run)
    );
    let output = tree.image(&factory, &next);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        manifest(&tree, "0.2.0")["upgradeFrom"],
        serde_json::json!({
            "releaseVersion": "0.1.0",
            "talos": "v1.12.11",
            "kubernetes": "v1.35.4",
            "steps": [
                {"upgrade": "talos", "to": "v1.13.9"},
                {"upgrade": "kubernetes", "to": "v1.36.3"}
            ]
        })
    );
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    let notes = tree.xtask(&["release-notes", "--release-version", "0.2.0"]);
    assert!(notes.status.success(), "{}", stderr(&notes));
    let port = format!("127.0.0.1:{}", factory.port);
    assert_golden(
        "notes-upgrade.md",
        &stdout(&notes).replace(&port, "127.0.0.1:PORT"),
    );
}

#[test]
fn a_release_its_channel_cannot_reach_is_refused_before_any_request() {
    let (factory, tree) = recorded();
    let refused = |args: &[&str], expected: &str| {
        let before = (tree.contents(), factory.requests.lock().unwrap().len());
        let output = tree.image(
            &factory,
            &[&["--release-version", "0.2.0"][..], args].concat(),
        );
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let error = stderr(&output);
        assert!(error.contains(expected), "{args:?}: {error}");
        assert!(
            error.contains("cannot reach release 0.2.0") && error.contains("--allow-upgrade-gap"),
            "{error}"
        );
        let after = (tree.contents(), factory.requests.lock().unwrap().len());
        assert!(
            before == after,
            "{args:?}: a refused release wrote or asked something"
        );
    };
    // Kubernetes v1.35 → v1.37 skips a minor.
    refused(
        &[
            "--talos-version",
            "v1.14.0",
            "--kubernetes-version",
            "v1.37.1",
        ],
        "cut a release with Kubernetes v1.36.x first",
    );
    // Kubernetes never goes down.
    refused(
        &["--kubernetes-version", "v1.34.1"],
        "Kubernetes cannot go down",
    );
}

#[test]
fn a_talos_host_too_old_for_the_new_minor_is_refused_with_the_minor_between() {
    let (factory, tree) = recorded_with(&[
        "--talos-version",
        "v1.10.7",
        "--kubernetes-version",
        "v1.33.1",
    ]);
    let before = tree.contents();
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.2.0",
            "--talos-version",
            "v1.13.9",
            "--kubernetes-version",
            "v1.34.1",
        ],
    );
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{error}");
    assert!(
        error.contains("Talos v1.13 upgrades only from 1.11.0 or later, and the nodes run v1.10.7; cut a release on Talos v1.12 first"),
        "{error}"
    );
    assert_eq!(tree.contents(), before);
}

#[test]
fn allow_upgrade_gap_records_the_skip_and_why() {
    let (factory, tree) = recorded();
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.2.0",
            "--talos-version",
            "v1.14.0",
            "--kubernetes-version",
            "v1.37.1",
            "--allow-upgrade-gap",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let upgrade = &manifest(&tree, "0.2.0")["upgradeFrom"];
    assert_eq!(upgrade["releaseVersion"], "0.1.0");
    assert!(upgrade.get("steps").is_none(), "{upgrade}");
    let why = upgrade["skipped"].as_str().unwrap();
    assert!(
        why.starts_with("--allow-upgrade-gap: ") && why.contains("one minor at a time"),
        "{why}"
    );
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    let notes = tree.xtask(&["release-notes", "--release-version", "0.2.0"]);
    assert!(
        stdout(&notes).contains("recorded without a supported upgrade path"),
        "{}",
        stdout(&notes)
    );
}
