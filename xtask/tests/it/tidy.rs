//! Keeps the repository honest, as rust-analyzer's tidy tests do: the committed tree
//! validates, the test vectors match the shared ones, and the docs name only flags that exist.



use std::process::Command;

use crate::support::*;

#[test]
fn the_committed_tree_validates() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo xtask validate fails on the committed tree:\n{}",
        stderr(&output)
    );
}

#[test]
fn vendored_vectors_match_the_shared_ones() {
    // CI lays shared/ beside the clone; where it is absent the copy stands alone.
    let shared = repo_root().join("../shared/vectors/schematic-ids.json");
    if let Ok(shared) = std::fs::read_to_string(shared) {
        let copy = std::fs::read_to_string(repo_root().join("xtask/tests/data/schematic-ids.json"))
            .unwrap();
        assert_eq!(
            copy, shared,
            "xtask/tests/data/schematic-ids.json is stale: copy ../shared/vectors/schematic-ids.json"
        );
    }
}

#[test]
fn docs_name_only_flags_that_exist() {
    let help: String = ["image", "validate", "release-notes"]
        .iter()
        .map(|task| {
            stdout(
                &Command::new(env!("CARGO_BIN_EXE_xtask"))
                    .args([task, "--help"])
                    .output()
                    .unwrap(),
            )
        })
        .collect();
    for doc in ["README.md", "docs/appliance-images.md"] {
        let text = std::fs::read_to_string(repo_root().join(doc)).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || "`()[],|".contains(c)) {
            let flag = word
                .split('=')
                .next()
                .unwrap()
                .trim_end_matches(['.', ':', ';']);
            if flag.starts_with("--")
                && flag[2..].starts_with(|c: char| c.is_ascii_lowercase())
                && flag[2..]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-')
            {
                let known = help.contains(&format!("{flag} "))
                    || help.contains(&format!("{flag}\n"))
                    // Other tools' flags the docs show: cargo's, pre-commit's, cosign's.
                    || [
                        "--help",
                        "--workspace",
                        "--all-targets",
                        "--all",
                        "--all-files",
                        "--certificate-identity",
                        "--certificate-oidc-issuer",
                        "--key",
                    ]
                    .contains(&flag);
                assert!(
                    known,
                    "{doc} names {flag}, which `cargo xtask image|validate|release-notes --help` does not know"
                );
            }
        }
    }
}

#[test]
fn workflow_actions_are_pinned_to_a_commit_with_its_version() {
    let dir = repo_root().join(".github/workflows");
    let mut uses = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (number, line) in text.lines().enumerate() {
            let Some(reference) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            else {
                continue;
            };
            uses += 1;
            let (action, rest) = reference.split_once('@').unwrap_or((reference, ""));
            let (sha, comment) = rest.split_once(" # v").unwrap_or((rest, ""));
            assert!(
                !action.is_empty()
                    && sha.len() == 40
                    && sha
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                    && !comment.is_empty(),
                ".github/workflows/{name}:{}: `{reference}` is not pinned as `owner/action@<40-hex commit> # vX.Y.Z`",
                number + 1
            );
        }
    }
    assert!(uses > 0, "no `uses:` found in .github/workflows");
}
