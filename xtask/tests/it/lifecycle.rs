//! The repository lives on: in a scratch git copy of this checkout, the steps a release
//! engineer takes over the appliance's life (the first release recorded, the next version
//! prepared, a Talos minor moved with the guide's edits, a channel rolled back), each followed
//! by the checks every pull request runs there. A test that reads the committed tree's values
//! instead of its own fixture, or a tidy check that holds for one state of the tree only, fails
//! here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

/// The minor the lifecycle moves to, and the Kubernetes version it pins there.
const NEXT_TALOS: &str = "v1.13.9";
const NEXT_KUBERNETES: &str = "v1.36.2";

#[test]
#[ignore = "runs the whole suite in a scratch copy of the repository after each step (minutes, \
            a cold build first); .ci/run runs it on its own"]
fn the_suite_validate_and_the_dry_run_stay_green_over_a_release_lifecycle() {
    let repo = Scratch::copy_of_this_checkout();
    let factory = Factory::start(Behaviour {
        versions: vec![TALOS.into(), NEXT_TALOS.into()],
        ..Behaviour::default()
    });

    // 1. The first release, cut from the committed intent and committed as the release
    // workflow's pull request commits it.
    repo.xtask(&["image", "--factory-url", &factory.url(), "--allow-unsigned"]);
    repo.commit("release 0.1.0");
    repo.stays_green("the first release recorded", Suite::Whole);

    // 2. The next version prepared: step 1 of "Cut a release".
    repo.edit(
        "ee/appliance/release.yaml",
        "releaseVersion: 0.1.0 ",
        "releaseVersion: 0.2.0 ",
    );
    repo.commit("prepare 0.2.0");
    repo.stays_green("the next version prepared", Suite::Whole);

    // 3. The minor moved with the guide's edits, then cut on beta.
    repo.move_talos_minor(NEXT_TALOS, NEXT_KUBERNETES);
    repo.commit("Talos v1.13");
    repo.stays_green("the Talos minor moved", Suite::Whole);
    repo.xtask(&["image", "--factory-url", &factory.url(), "--allow-unsigned"]);
    repo.commit("release 0.2.0");

    // 4. Beta rolled back to the first release: on purpose, and across the minor its nodes
    // cannot go back over (Kubernetes would be lowered).
    repo.xtask(&[
        "channel",
        "beta",
        "0.1.0",
        "--allow-channel-rollback",
        "--allow-upgrade-gap",
    ]);
    repo.commit("roll beta back to 0.1.0");
    repo.stays_green("beta rolled back", Suite::Tidy);
}

/// How much of the suite a step runs: the whole of it, or the tidy tests only (the ones that
/// read the committed tree; the rest built their own before and did not change).
#[derive(Clone, Copy, PartialEq)]
enum Suite {
    Whole,
    Tidy,
}

/// A copy of this checkout (tracked files and untracked ones git does not ignore, as they are
/// in the work tree) in a git repository of its own, with a cargo target folder that lasts
/// between runs so only the first builds cold.
struct Scratch {
    /// The copy's root (a `Tree` for its git helpers; removed on drop).
    tree: Tree,
    target: PathBuf,
}

impl Scratch {
    fn copy_of_this_checkout() -> Scratch {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let root = tmp.join(format!("lifecycle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let listing = Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(repo_root())
            .output()
            .expect("run git ls-files");
        assert!(
            listing.status.success(),
            "git ls-files: {}",
            stderr(&listing)
        );
        for file in listing.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
            let file = std::str::from_utf8(file).expect("a UTF-8 path");
            let from = repo_root().join(file);
            if !from.exists() {
                continue; // deleted in the work tree, not yet in the index
            }
            let to = root.join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let tree = Tree { root };
        tree.git(&["init", "-q"]);
        tree.commit("the repository as checked out");
        Scratch {
            tree,
            target: tmp.join("lifecycle-target"),
        }
    }

    fn commit(&self, message: &str) {
        self.tree.commit(message);
    }

    /// `cargo <args>` in the copy, as a contributor runs it there: its own sources, its own
    /// tree, nothing of this process's test environment.
    fn cargo(&self, args: &[&str]) -> Output {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
        command
            .args(args)
            .current_dir(&self.tree.root)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("NO_PROXY", "127.0.0.1");
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("XTASK_")
                || name == "TALOS_FACTORY_URL"
                || name == "SOURCE_DATE_EPOCH"
                || name.starts_with("RUST_TEST")
            {
                command.env_remove(&*name);
            }
        }
        command.output().expect("run cargo")
    }

    /// `cargo xtask <args>` in the copy, which must succeed.
    fn xtask(&self, args: &[&str]) -> Output {
        let mut full = vec!["xtask"];
        full.extend(args);
        let output = self.cargo(&full);
        assert!(
            output.status.success(),
            "cargo xtask {}:\n{}",
            args.join(" "),
            stderr(&output)
        );
        output
    }

    /// The checks of a pull request, in the copy: the tests (all of them, or the tidy ones),
    /// `cargo xtask validate` and `cargo xtask image --dry-run`.
    fn stays_green(&self, step: &str, suite: Suite) {
        let mut test = vec!["test", "--workspace", "--offline"];
        if suite == Suite::Tidy {
            test.extend(["--test", "it", "--", "tidy::"]);
        }
        for args in [
            test,
            vec!["xtask", "validate"],
            vec!["xtask", "image", "--dry-run"],
        ] {
            let output = self.cargo(&args);
            assert!(
                output.status.success(),
                "after {step}, `cargo {}` fails in {}:\n{}\n{}",
                args.join(" "),
                self.tree.root.display(),
                stdout(&output),
                stderr(&output)
            );
        }
    }

    /// Replaces the one occurrence of `from` in `file` by `to`.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.tree.root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches(from).count(),
            1,
            "{file} should hold {from:?} once"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// The edits of docs/operator-guide.md's "Moving to a new Talos minor", step 3: the pins
    /// and the comment beside Kubernetes in release.yaml, Renovate's bound and its description,
    /// and README's Talos line, each from the catalogue's row for the new minor.
    fn move_talos_minor(&self, talos: &str, kubernetes: &str) {
        let (old_minor, old_low, old_high) = self.kubernetes_range(&self.pinned_talos());
        let (minor, low, high) = self.kubernetes_range(talos);
        let intent = "ee/appliance/release.yaml";
        let text = std::fs::read_to_string(self.tree.root.join(intent)).unwrap();
        let line = |key: &str| {
            let after = text.split(&format!("\n{key}:\n")).nth(1).unwrap();
            after.lines().next().unwrap().to_string()
        };
        let (talos_line, kubernetes_line) = (line("talos"), line("kubernetes"));
        self.edit(intent, &talos_line, &format!("  version: {talos}"));
        self.edit(
            intent,
            &kubernetes_line,
            &format!(
                "  version: {kubernetes}             # Talos {minor} supports Kubernetes {low}.x through {high}.x"
            ),
        );
        let (_, high_minor) = high.split_once('.').unwrap();
        let next: u32 = high_minor.parse::<u32>().unwrap() + 1;
        let (old_major, old_high_minor) = old_high.split_once('.').unwrap();
        let old_next: u32 = old_high_minor.parse::<u32>().unwrap() + 1;
        self.edit(
            "renovate.json",
            &format!("\"allowedVersions\": \"<{old_major}.{old_next}.0\""),
            &format!(
                "\"allowedVersions\": \"<{}.{next}.0\"",
                high.split('.').next().unwrap()
            ),
        );
        self.edit(
            "renovate.json",
            &format!("(Talos {old_minor}: {old_low}.x to {old_high}.x,"),
            &format!("(Talos {minor}: {low}.x to {high}.x,"),
        );
        self.edit(
            "README.md",
            &format!("runs on Talos Linux {old_minor}."),
            &format!("runs on Talos Linux {minor}."),
        );
    }

    fn pinned_talos(&self) -> String {
        let text =
            std::fs::read_to_string(self.tree.root.join("ee/appliance/release.yaml")).unwrap();
        let after = text.split("\ntalos:\n").nth(1).unwrap();
        let line = after.lines().next().unwrap();
        line.trim().strip_prefix("version: ").unwrap().to_string()
    }

    /// The catalogue's minor of `talos` and its Kubernetes range as `1.30` and `1.35`.
    fn kubernetes_range(&self, talos: &str) -> (String, String, String) {
        let catalog: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.tree.root.join("xtask/data/talos.json")).unwrap(),
        )
        .unwrap();
        let minor = talos.split('.').take(2).collect::<Vec<_>>().join(".");
        let row = catalog["minors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["minor"] == minor.as_str())
            .unwrap_or_else(|| panic!("no catalogue row for {minor}"));
        let at = |key: &str| {
            let text = row["kubernetes"][key].as_str().unwrap();
            text.split('.').take(2).collect::<Vec<_>>().join(".")
        };
        (minor, at("minimum"), at("maximum"))
    }
}
