//! What a release says it came from: the commit it records holds its inputs, or the run stops
//! before any request; `--allow-dirty` records the difference, and the tools that read a
//! record say it.

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";

fn source(tree: &Tree) -> serde_json::Value {
    tree.json(MANIFEST)["source"].clone()
}

#[test]
fn a_committed_tree_records_its_commit_whatever_else_changed() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy_in_git();
    // A file that is no input of the release, edited and untracked.
    tree.write("ee/appliance/NOTES.md", "not an input\n");
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let source = source(&tree);
    assert_eq!(source["commit"].as_str().unwrap().len(), 40, "{source}");
    assert!(
        source.get("dirty").is_none() && source.get("inputs").is_none(),
        "{source}"
    );
}

#[test]
fn an_input_that_differs_from_the_commit_stops_the_run_before_any_request() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy_in_git();
    let schematic = "ee/appliance/schematics/metal-amd64.yaml";
    tree.write(
        schematic,
        &tree.read(schematic).replace(
            "iscsi-tools",
            "iscsi-tools\n      - siderolabs/util-linux-tools",
        ),
    );
    tree.set_intent(&[("os.bootMedia", "[iso, disk-image]")]);
    tree.write("ee/appliance/keys/extra.pub", "untracked, no input\n");
    let before = tree.contents();
    let output = tree.image(&factory, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("its inputs are not that commit's: ee/appliance/release.yaml (changed), ee/appliance/schematics/metal-amd64.yaml (changed)")
            && err.contains("--allow-dirty"),
        "{err}"
    );
    assert!(!err.contains("extra.pub"), "{err}");
    assert!(
        factory.requests.lock().unwrap().is_empty(),
        "a request went out"
    );
    assert_unchanged(&tree, &before);
}

#[test]
fn allow_dirty_records_the_difference_and_every_reader_says_it() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy_in_git();
    // The schematic's bytes decide its ID, which the loopback factory knows one of: the
    // dirty input here is release.yaml.
    tree.set_intent(&[("app.version", "0.1.1")]);
    let intent = "ee/appliance/release.yaml";
    let edited = tree.read(intent);
    let output = tree.image(&factory, &["--allow-dirty"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let source = source(&tree);
    assert_eq!(source["dirty"], true);
    assert_eq!(
        source["inputs"],
        serde_json::json!([{"path": intent, "sha256": sha256_hex(edited.as_bytes())}])
    );

    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    assert!(
        stderr(&validate).contains("release 0.1.0 was cut from a dirty tree (--allow-dirty): ee/appliance/release.yaml differed from commit"),
        "{}",
        stderr(&validate)
    );
    let notes = tree.xtask(&["release-notes", "--release-version", "0.1.0"]);
    assert!(
        stdout(&notes).contains("**cut from a tree whose inputs differ from that commit**"),
        "{}",
        stdout(&notes)
    );
    // A factory that lost the schematic cannot be helped from git for this record.
    factory.forget_schematics();
    let check = tree.image(&factory, &["--check", "--release-version", "0.1.0"]);
    let err = stderr(&check);
    assert_eq!(check.status.code(), Some(1), "{err}");
    assert!(
        err.contains("was cut from a dirty tree")
            && err.contains("git cannot give the schematic it used"),
        "{err}"
    );
}

#[test]
fn a_clean_checkout_is_clean_through_gits_eyes_with_autocrlf_and_a_committed_link() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    // The schematic as a committed link to a file beside it.
    let schematic = "ee/appliance/schematics/metal-amd64.yaml";
    std::fs::rename(
        tree.path(schematic),
        tree.path("ee/appliance/schematics/base.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("base.yaml", tree.path(schematic)).unwrap();
    tree.git(&["init", "-q"]);
    tree.git(&["config", "core.autocrlf", "true"]);
    tree.commit("the appliance tree");
    // Checked out as Git for Windows does by default: CRLF in the work tree, LF committed.
    let intent = "ee/appliance/release.yaml";
    tree.write(intent, &tree.read(intent).replace('\n', "\r\n"));
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let source = source(&tree);
    assert_eq!(source["commit"].as_str().unwrap().len(), 40, "{source}");
    assert!(source.get("dirty").is_none(), "{source}");
}

#[test]
fn where_git_cannot_answer_the_run_stops_with_its_words_or_records_the_source_unknown() {
    let factory = Factory::start(Behaviour::default());
    // A repository with no commit yet.
    let tree = Tree::copy();
    tree.git(&["init", "-q"]);
    let before = tree.contents();
    let output = tree.image(&factory, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("git cannot say which: git says: ") && err.contains("--allow-dirty"),
        "{err}"
    );
    assert!(
        factory.requests.lock().unwrap().is_empty(),
        "a request went out"
    );
    assert_unchanged(&tree, &before);

    // No git at all, in a checkout: the same, with the reason.
    let no_git = tree
        .command(
            &tree
                .image_args(&factory, &[])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = stderr(&no_git);
    assert_eq!(no_git.status.code(), Some(1), "{err}");
    assert!(err.contains("git cannot say which: running git"), "{err}");

    let output = tree.image(&factory, &["--allow-dirty"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let source = source(&tree);
    assert!(source.get("commit").is_none(), "{source}");
    assert!(
        source["unknown"]
            .as_str()
            .unwrap()
            .starts_with("git says: "),
        "{source}"
    );
    assert_eq!(source["dirty"], true);
    let inputs: Vec<&str> = source["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        [
            "ee/appliance/release.yaml",
            "ee/appliance/schematics/metal-amd64.yaml"
        ]
    );
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    let notes = stdout(&tree.xtask(&["release-notes", "--release-version", "0.1.0"]));
    assert!(
        notes.contains("- commit: unknown, git could not say"),
        "{notes}"
    );
}
