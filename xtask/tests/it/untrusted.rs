//! Input the tool does not trust: links and special files where the tree's inputs should be,
//! a hostile record, and a malformed `SOURCE_DATE_EPOCH`. Each is refused before any request,
//! naming the file (or variable) and why, with nothing outside the tree read or written.

use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const SCHEMATICS: &str = "ee/appliance/schematics";
const INTENT: &str = "ee/appliance/release.yaml";

/// A file outside the tree with a line that must never be printed.
fn secret() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("xtask-secret-{}", std::process::id()));
    std::fs::write(&path, "customization: {}\n# SECRET-LINE-42\n").unwrap();
    path
}

#[test]
fn a_schematic_linked_out_of_the_tree_is_never_read_or_sent() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let outside = secret();
    symlink(&outside, tree.path(&format!("{SCHEMATICS}/x.yaml"))).unwrap();
    tree.set_intent(&[("talos.schematic", "ee/appliance/schematics/x.yaml")]);
    let before = tree.contents();
    for args in [
        vec!["validate"],
        vec!["image", "--dry-run"],
        vec!["image", "--allow-unsigned", "--factory-url", &factory.url()],
    ] {
        let output = tree.xtask(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(
                "ee/appliance/schematics/x.yaml is a link that leads out of the repository"
            ),
            "{args:?}: {err}"
        );
        assert!(!err.contains("SECRET"), "{args:?} printed the file: {err}");
    }
    assert!(
        factory.requests.lock().unwrap().is_empty(),
        "the schematic went to the factory"
    );
    assert_unchanged(&tree, &before);
    std::fs::remove_file(outside).unwrap();
}

#[test]
fn a_link_inside_the_tree_is_followed() {
    let tree = Tree::copy();
    symlink(
        "metal-amd64.yaml",
        tree.path(&format!("{SCHEMATICS}/link.yaml")),
    )
    .unwrap();
    tree.set_intent(&[("talos.schematic", "ee/appliance/schematics/link.yaml")]);
    let output = tree.xtask(&["image", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(APPLIANCE_ID),
        "{}",
        stdout(&output)
    );
}

#[test]
fn release_yaml_as_a_device_or_a_fifo_is_refused_at_once() {
    let tree = Tree::copy();
    std::fs::remove_file(tree.path(INTENT)).unwrap();
    symlink("/dev/zero", tree.path(INTENT)).unwrap();
    let refused = |expected: &str| {
        for args in [&["validate"][..], &["image", "--dry-run"]] {
            let started = Instant::now();
            let output = tree.xtask(args);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains(expected), "{args:?}: {err}");
            assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
        }
    };
    // /dev/zero is outside the tree: refused for that before it is looked at.
    refused("ee/appliance/release.yaml is a link that leads out of the repository");
    std::fs::remove_file(tree.path(INTENT)).unwrap();
    let made = Command::new("mkfifo")
        .arg(tree.path(INTENT))
        .status()
        .unwrap();
    assert!(made.success());
    refused("ee/appliance/release.yaml is a FIFO, not a regular file");
}

#[test]
fn a_record_whose_source_commit_is_an_option_is_refused_before_git_sees_it() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let file = "ee/appliance/releases/0.1.0.json";
    let written = std::env::temp_dir().join(format!("xtask-git-output-{}", std::process::id()));
    let mut manifest: serde_json::Value = tree.json(file);
    manifest["source"] = serde_json::json!({"commit": format!("--output={}", written.display())});
    tree.write(file, &format!("{manifest:#}\n"));
    // A factory that lost the schematic sends the check to the record's commit.
    factory.forget_schematics();
    for args in [
        vec![
            "image",
            "--check",
            "--release-version",
            "0.1.0",
            "--factory-url",
            &factory.url(),
        ],
        vec!["release-notes", "--release-version", "0.1.0"],
    ] {
        let output = tree.xtask(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("0.1.0.json is not a valid record") && err.contains("/source/commit"),
            "{args:?}: {err}"
        );
    }
    assert!(!written.exists(), "git wrote {}", written.display());
}

#[test]
fn a_malformed_source_date_epoch_stops_the_run_before_its_first_request() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let before = tree.contents();
    for epoch in [
        "-1",
        "253402300800",
        " 1767225600",
        "",
        "1e9",
        "99999999999999999999",
    ] {
        let args = tree.image_args(&factory, &[]);
        let output = tree
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{epoch:?}: {err}");
        assert!(
            err.contains("SOURCE_DATE_EPOCH") && err.contains("reproducible-builds.org"),
            "{epoch:?}: {err}"
        );
    }
    assert!(factory.requests.lock().unwrap().is_empty());
    assert_unchanged(&tree, &before);
    // The last second a manifest can say is accepted.
    let output = tree
        .command(&["image", "--dry-run", "--json"])
        .env("SOURCE_DATE_EPOCH", "253402207200")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn check_hashes_downloads_into_a_private_folder_that_goes_on_a_signal() {
    use std::os::unix::fs::PermissionsExt;
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let temp = std::env::temp_dir().join(format!("xtask-tmpdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).unwrap();
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&temp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let check = || {
        let mut command = tree.command(&[
            "image",
            "--check",
            "--hashes",
            "--release-version",
            "0.1.0",
            "--factory-url",
            &factory.url(),
        ]);
        command.env("TMPDIR", &temp);
        command
    };
    let output = check().output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        entries(),
        Vec::<std::path::PathBuf>::new(),
        "left in TMPDIR"
    );

    // While it downloads: one folder of its own, 0700, with a name no one could plant.
    factory.put(MEDIA_GETS, Fault::Slow(Duration::from_millis(100)), None);
    let child = check()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the private folder", || !entries().is_empty());
    let folders = entries();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let name = folders[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let token = name.strip_prefix("xtask-check-0.1.0-").unwrap_or_default();
    assert!(
        token.len() == 16 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    let mode = std::fs::metadata(&folders[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{name}");
    signal(&child, "TERM");
    let (code, err, _) = finish(child);
    assert_eq!(code, Some(128 + 15), "{err}");
    assert_eq!(
        entries(),
        Vec::<std::path::PathBuf>::new(),
        "left after SIGTERM: {err}"
    );
    std::fs::remove_dir_all(&temp).unwrap();
}

#[test]
fn a_hostile_catalogue_ref_is_refused_before_anything_is_registered() {
    let factory = Factory::start(Behaviour {
        extension_ref_host: "ghcr.io\n## Click [here](https://evil.example)\n<!--".into(),
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &[]);
    let err = stderr(&output);
    assert!(
        err.contains("the catalogue gives extension siderolabs/iscsi-tools the ref")
            && err.contains("which is not an image reference; refusing to record it"),
        "{err}"
    );
    assert_eq!(factory.posts(), 0, "registered: {err}");
}

#[test]
fn a_release_version_too_long_for_a_file_name_is_refused_while_planning() {
    let tree = Tree::copy();
    let long = format!("1.0.0-{}", "a".repeat(200));
    // One rule wherever a release version enters.
    for args in [
        vec!["image", "--dry-run", "--release-version", &long],
        vec!["fetch", "--release-version", &long],
        vec!["channel", "beta", &long],
        vec!["release-notes", "--release-version", &long],
    ] {
        let output = tree.xtask(&args);
        // Parsed with the command line (clap's value parser): a wrong command line.
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains("206 characters long; at most 128"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    tree.set_intent(&[("releaseVersion", &long)]);
    let output = tree.xtask(&["validate"]);
    assert!(
        stderr(&output).contains("206 characters long; at most 128"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_head_that_disagrees_with_its_get_is_said_and_the_bytes_hashed_are_recorded() {
    let factory = Factory::start(Behaviour::default().with("HEAD /image/*", Fault::LongerHead(7)));
    let tree = Tree::copy();
    let output = tree.image(&factory, &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    let served = factory.served("metal-amd64.iso").unwrap().len();
    assert!(
        err.contains(&format!(
            "metal-amd64.iso: the factory's HEAD announced {} bytes, its GET sent {served} bytes",
            served + 7
        )),
        "{err}"
    );
    let manifest: serde_json::Value = tree.json("ee/appliance/releases/0.1.0.json");
    assert_eq!(manifest["os"]["iso"]["size"], served);
}

#[test]
fn a_mirror_no_image_comes_from_is_warned_about_by_name() {
    let tree = Tree::copy();
    let output = tree.xtask(&[
        "image",
        "--dry-run",
        "--air-gap",
        "--registry-mirror",
        "registry.k8s.oi=https://mirror.example",
    ]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("registry mirror registry.k8s.oi: no image of the air-gap bundle comes from registry.k8s.oi, so it does nothing")
            && err.contains("registry.k8s.io"),
        "{err}"
    );
    let output = tree.xtask(&[
        "image",
        "--dry-run",
        "--registry-mirror",
        "registry.k8s.io=https://mirror.example",
    ]);
    assert!(
        stderr(&output)
            .contains("--registry-mirror registry.k8s.io=https://mirror.example does nothing"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_reports_what_interrupted_runs_left() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let output = tree.xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    tree.write("ee/appliance/dist/.record-0123456789abcdef.journal", "[]");
    tree.write(
        "ee/appliance/dist/0.1.0/.metal-amd64.iso.partial-0123456789abcdef",
        "x",
    );
    tree.write("ee/appliance/dist/9.9.9/metal-amd64.iso", "x");
    tree.write(
        "ee/appliance/releases/channels/.beta.json.previous.partial-0123456789abcdef",
        "x",
    );
    let output = tree.xtask(&["validate"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    for expected in [
        "invalid: ee/appliance/releases/channels/.beta.json.previous.partial-0123456789abcdef: a temporary file an interrupted run left in a committed folder",
        "warning: ee/appliance/dist/.record-0123456789abcdef.journal: the journal of a run killed inside its record step",
        "warning: ee/appliance/dist/0.1.0/.metal-amd64.iso.partial-0123456789abcdef: a temporary file an interrupted run left",
        "warning: ee/appliance/dist/9.9.9/metal-amd64.iso: a file no manifest names",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
}

const JOURNAL: &str = "ee/appliance/dist/.record-0123456789abcdef.journal";

/// A journal as a hostile commit would hold one: an entry whose kept copy (`backup`) or
/// target is a file outside the tree. Recovery would delete the copy it thinks it made.
fn hostile_journal(target: &str, backup: &str) -> String {
    serde_json::json!([{ "target": target, "backup": backup }]).to_string()
}

#[test]
fn a_journal_naming_files_outside_the_tree_is_refused_and_nothing_is_touched() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let victim = std::env::temp_dir().join(format!("xtask-victim-{}", std::process::id()));
    std::fs::write(&victim, "keep me\n").unwrap();
    let depth = tree.path("ee/appliance/dist").components().count();
    let climbing = format!(
        "{}{}",
        "../".repeat(depth),
        victim.display().to_string().trim_start_matches('/')
    );
    let absolute = victim.display().to_string();
    for (target, backup) in [
        ("ee/appliance/releases/none.json", climbing.as_str()),
        ("ee/appliance/releases/none.json", absolute.as_str()),
        (
            absolute.as_str(),
            "ee/appliance/releases/.none.json.previous.partial-0123456789abcdef",
        ),
        (
            "ee/appliance/schemas/release.schema.json",
            "ee/appliance/schemas/.release.schema.json.previous.partial-0123456789abcdef",
        ),
    ] {
        tree.write(JOURNAL, &hostile_journal(target, backup));
        let output = tree.xtask(&["validate"]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{target} {backup}: {err}");
        assert!(
            err.contains("a record step's journal that no run will use"),
            "{err}"
        );
        let output = tree.xtask(&["channel", "beta", "0.1.0"]);
        let err = stderr(&output);
        assert!(output.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "warning: {JOURNAL}, left by a killed run, is not used"
            )) && err.contains("refusing the whole journal"),
            "{target} {backup}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
        assert!(
            tree.path("ee/appliance/schemas/release.schema.json")
                .exists()
        );
    }
    std::fs::remove_file(&victim).unwrap();
}

#[test]
fn a_journal_that_is_a_fifo_or_a_link_to_a_device_is_refused_at_once() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let refused = |expected: &str| {
        let started = Instant::now();
        let mut child = tree.command(&["channel", "beta", "0.1.0"]);
        let output = child.output().unwrap();
        let err = stderr(&output);
        assert!(output.status.success(), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    };
    symlink("/dev/zero", tree.path(JOURNAL)).unwrap();
    refused(&format!(
        "{JOURNAL} is a link that leads out of the repository"
    ));
    std::fs::remove_file(tree.path(JOURNAL)).unwrap();
    let made = Command::new("mkfifo")
        .arg(tree.path(JOURNAL))
        .status()
        .unwrap();
    assert!(made.success());
    refused(&format!("{JOURNAL} is a FIFO, not a regular file"));
}

#[test]
fn a_partial_release_yaml_a_killed_run_left_is_reported_and_swept() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let partial = "ee/appliance/.release.yaml.partial-0123456789abcdef";
    tree.write(partial, "releaseVersion: 9.9.9\n");
    let output = tree.xtask(&["validate"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{partial}: a temporary file an interrupted run left in a committed folder"
        )),
        "{err}"
    );
    let output = tree.xtask(&["channel", "beta", "0.1.0"]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains(&format!("removed {partial}")), "{err}");
    assert!(!tree.path(partial).exists());
}
