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
    let installer = &manifest(&tree, "0.1.0")["os"]["installer"];
    assert_eq!(
        manifest(&tree, "0.2.0")["upgradeFrom"],
        serde_json::json!({
            "releaseVersion": "0.1.0",
            "talos": "v1.12.11",
            "kubernetes": "v1.35.4",
            "steps": [
                {"upgrade": "talos", "to": "v1.13.9"},
                {"upgrade": "kubernetes", "to": "v1.36.3"}
            ],
            "installer": {"image": installer["image"], "digest": installer["digest"]}
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

#[test]
fn a_promotion_nodes_cannot_reach_is_refused_as_a_release_would_be() {
    let (_factory, tree) = stable_behind_beta("v1.33.5");
    let before = tree.contents();
    let output = tree.xtask(&["channel", "stable", "1.2.0"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nodes on release 1.0.0 (Talos v1.12.11, Kubernetes v1.33.5; channel stable offers it) cannot reach release 1.2.0")
            && err.contains("--allow-upgrade-gap"),
        "{err}"
    );
    assert_eq!(tree.contents(), before, "nothing moved");

    let output = tree.xtask(&["channel", "stable", "1.2.0", "--allow-upgrade-gap"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stable = tree.json("ee/appliance/releases/channels/stable.json");
    assert_eq!(stable["upgradeFrom"]["releaseVersion"], "1.0.0");
    assert!(
        stable["upgradeFrom"]["skipped"]
            .as_str()
            .unwrap()
            .starts_with("--allow-upgrade-gap: "),
        "{stable}"
    );
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
}

#[test]
fn promoted_notes_start_from_what_the_channel_offered_not_from_betas_previous_release() {
    let (_factory, tree) = stable_behind_beta("v1.34.1");
    let output = tree.xtask(&["channel", "stable", "1.2.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stable = tree.json("ee/appliance/releases/channels/stable.json");
    let installer = &manifest(&tree, "1.0.0")["os"]["installer"];
    assert_eq!(
        stable["upgradeFrom"],
        serde_json::json!({
            "releaseVersion": "1.0.0",
            "talos": "v1.12.11",
            "kubernetes": "v1.34.1",
            "steps": [{"upgrade": "kubernetes", "to": "v1.35.4"}],
            "installer": {"image": installer["image"], "digest": installer["digest"]}
        })
    );
    let notes = stdout(&tree.xtask(&["release-notes", "--channel", "stable"]));
    assert!(
        notes.contains("## Upgrading from 1.0.0") && !notes.contains("Upgrading from 1.1.0"),
        "{notes}"
    );
    // Beta's notes for the same release start from beta's previous release, as recorded.
    let notes = stdout(&tree.xtask(&["release-notes", "--channel", "beta"]));
    assert!(notes.contains("## Upgrading from 1.1.0"), "{notes}");
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
}

#[test]
fn a_forced_recut_from_new_versions_works_its_upgrade_path_out_again() {
    let (factory, tree) = recorded();
    let output = tree.image(&factory, &["--release-version", "0.2.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let recut = |extra: &[&str]| {
        tree.image(
            &factory,
            &[
                &[
                    "--release-version",
                    "0.2.0",
                    "--force",
                    "--allow-changed-inputs",
                    "--talos-version",
                    "v1.13.9",
                    "--kubernetes-version",
                    "v1.36.3",
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let output = recut(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        manifest(&tree, "0.2.0")["upgradeFrom"]["steps"],
        serde_json::json!([
            {"upgrade": "talos", "to": "v1.13.9"},
            {"upgrade": "kubernetes", "to": "v1.36.3"}
        ])
    );
    // A gap from the release it started from is refused before any request, as for a new
    // release, and allowed by the same flag.
    let gap = |extra: &[&str]| {
        let force = [
            "--release-version",
            "0.2.0",
            "--force",
            "--allow-changed-inputs",
        ];
        let versions = [
            "--talos-version",
            "v1.14.0",
            "--kubernetes-version",
            "v1.37.1",
        ];
        tree.image(&factory, &[&force[..], &versions, extra].concat())
    };
    let output = gap(&[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach release 0.2.0"), "{err}");
    let output = gap(&["--allow-upgrade-gap"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(manifest(&tree, "0.2.0")["upgradeFrom"]["skipped"].is_string());
}

#[test]
fn a_channel_move_is_never_dated_before_the_move_it_replaces() {
    let (factory, tree) = recorded();
    let beta = "ee/appliance/releases/channels/beta.json";
    assert_eq!(tree.json(beta)["updatedAt"], "2026-01-01T00:00:00Z");
    let args = tree.image_args(&factory, &["--release-version", "0.2.0"]);
    let output = tree
        .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        manifest(&tree, "0.2.0")["generatedAt"],
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(tree.json(beta)["updatedAt"], "2026-01-01T00:00:00Z");
    let output = tree
        .command(&["channel", "beta", "0.1.0", "--allow-channel-rollback"])
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let updated = tree.json(beta)["updatedAt"].as_str().unwrap().to_string();
    assert!(updated.as_str() > "2026-01-01T00:00:00Z", "{updated}");
}

#[test]
fn a_channel_move_to_another_boot_mode_is_a_reinstall_on_purpose() {
    let (factory, tree) = recorded();
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.2.0",
            "--channel",
            "stable",
            "--secure-boot",
            "true",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let before = tree.contents();
    let output = tree.xtask(&["channel", "beta", "0.2.0"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot upgrade to release 0.2.0: plain (not SecureBoot) → SecureBoot")
            && err.contains("--allow-reinstall"),
        "{err}"
    );
    assert_eq!(tree.contents(), before);
    let output = tree.xtask(&["channel", "beta", "0.2.0", "--allow-reinstall"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let beta = tree.json("ee/appliance/releases/channels/beta.json");
    assert_eq!(
        beta["upgradeFrom"]["reinstall"],
        "--allow-reinstall: plain (not SecureBoot) → SecureBoot"
    );
    let notes = stdout(&tree.xtask(&["release-notes", "--channel", "beta"]));
    assert!(notes.contains("## Reinstall from 0.1.0"), "{notes}");
}

#[test]
fn validate_holds_a_channel_files_upgrade_path_to_the_records_and_the_catalogue() {
    let (_factory, tree) = stable_behind_beta("v1.34.1");
    let output = tree.xtask(&["channel", "stable", "1.2.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stable = "ee/appliance/releases/channels/stable.json";
    let moved = tree.json(stable);
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut channel = moved.clone();
        edit(&mut channel);
        tree.write(stable, &serde_json::to_string_pretty(&channel).unwrap());
        let output = tree.xtask(&["validate"]);
        assert_eq!(output.status.code(), Some(1), "{channel}");
        stderr(&output)
    };
    let err = edited(&|c| c["upgradeFrom"]["steps"] = serde_json::json!([]));
    assert!(
        err.contains("/upgradeFrom/steps: the catalogue's rules give [Kubernetes to v1.35.4]"),
        "{err}"
    );
    let err = edited(&|c| c["upgradeFrom"]["kubernetes"] = serde_json::json!("v1.33.5"));
    assert!(
        err.contains("/upgradeFrom: release 1.0.0 records Talos v1.12.11 and Kubernetes v1.34.1, the channel says v1.12.11 and v1.33.5"),
        "{err}"
    );
    let err = edited(&|c| c["upgradeFrom"]["releaseVersion"] = serde_json::json!("0.9.0"));
    assert!(
        err.contains("/upgradeFrom/releaseVersion: 0.9.0 is not a recorded release"),
        "{err}"
    );
    tree.write(stable, &serde_json::to_string_pretty(&moved).unwrap());
    let output = tree.xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
}
