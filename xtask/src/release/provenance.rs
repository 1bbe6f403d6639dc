//! Where a release says it came from. A run in a git checkout records the commit it was cut
//! from (`source.commit`); that claim holds only when the release's inputs — the schematic,
//! `release.yaml`, and the signature policy's key or trusted root — are that commit's files.
//! One that differs or is untracked stops the run before any request, naming each;
//! `--allow-dirty` records the release anyway, with `source.dirty` and the SHA-256 of each
//! input that differed. Files that are no input do not count. Git itself is asked (its view
//! of the work tree, so line-ending conversion and committed links are clean). Outside git
//! there is no source; in a checkout where git cannot answer, the run stops with git's words,
//! or with `--allow-dirty` records the source as unknown, with every input's SHA-256.

use std::path::Path;

use anyhow::bail;

use crate::image::manifest::{DirtyInput, Source};
use crate::image::plan::Plan;
use crate::image::trust::Policy;
use crate::project;

/// The source a run records for `plan`: `None` outside a git checkout.
pub fn source(plan: &Plan, allow_dirty: bool) -> anyhow::Result<Option<Source>> {
    if !in_git_checkout(&plan.root) {
        return Ok(None);
    }
    let inputs = inputs(plan);
    let hashed = |path: &String| -> anyhow::Result<DirtyInput> {
        let now = project::read_input_bytes(&plan.root, path, project::INPUT_CAP)?;
        Ok(DirtyInput {
            path: path.clone(),
            sha256: crate::image::digest::Sha256Hex::of(&now),
        })
    };
    let (commit, differing) = match ask_git(&plan.root, &inputs) {
        Ok(answer) => answer,
        Err(why) if allow_dirty => {
            // Every input, hashed: nothing else says what the release was cut from.
            let inputs = inputs.iter().map(hashed).collect::<anyhow::Result<_>>()?;
            return Ok(Some(Source {
                commit: None,
                unknown: Some(why),
                dirty: true,
                inputs,
            }));
        }
        Err(why) => bail!(
            "the release would record the commit it was cut from, but git cannot say which: {why}. Fix git (e.g. `git config --global --add safe.directory <path>` for a checkout owned by another user, or a first commit), or pass --allow-dirty to record the source as unknown, with each input's SHA-256"
        ),
    };
    if differing.is_empty() {
        return Ok(Some(Source {
            commit: Some(commit),
            unknown: None,
            dirty: false,
            inputs: Vec::new(),
        }));
    }
    if !allow_dirty {
        let listed: Vec<String> = (differing.iter())
            .map(|(path, state)| format!("{path} ({state})"))
            .collect();
        bail!(
            "the release would record source.commit {commit}, but its inputs are not that commit's: {}; commit them first, so the record can be reproduced from git, or pass --allow-dirty to record it as cut from a dirty tree (source.dirty, with each differing input's SHA-256)",
            listed.join(", ")
        );
    }
    let inputs = (differing.iter())
        .map(|(path, _)| hashed(path))
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(Source {
        commit: Some(commit),
        unknown: None,
        dirty: true,
        inputs,
    }))
}

/// An input that is not HEAD's, and how: "untracked" or "changed".
type Differing = (String, &'static str);

/// Whether `root` is in a git work tree: a `.git` (folder, or file of a worktree) in it or a
/// folder above. Only there is git asked; where it then fails, that is said, never skipped.
fn in_git_checkout(root: &Path) -> bool {
    root.ancestors().any(|folder| folder.join(".git").exists())
}

/// HEAD's commit and, through git's own view (so `core.autocrlf`, filters and committed links
/// compare as git does), each input that is untracked or differs from it; or git's message
/// when it cannot answer (no git, no commit, a checkout it calls dubious).
fn ask_git(root: &Path, inputs: &[String]) -> Result<(String, Vec<Differing>), String> {
    let shell = xshell::Shell::new().map_err(|e| e.to_string())?;
    shell.change_dir(root);
    let run = |command: xshell::Cmd| -> Result<String, String> {
        let output = command
            .quiet()
            .ignore_status()
            .output()
            .map_err(|e| format!("running git: {e}"))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let first = said
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        Err(format!("git says: {}", first.trim()))
    };
    let commit = run(xshell::cmd!(shell, "git rev-parse --verify HEAD"))?;
    if !(commit.len() >= 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(format!("git gave {commit:?} for HEAD"));
    }
    let tracked = run(xshell::cmd!(shell, "git ls-files -- {inputs...}"))?;
    let tracked: Vec<&str> = tracked.lines().collect();
    let changed = run(xshell::cmd!(
        shell,
        "git diff --name-only HEAD -- {inputs...}"
    ))?;
    let changed: Vec<&str> = changed.lines().collect();
    let differing = inputs
        .iter()
        .filter_map(|input| {
            let state = if !tracked.contains(&input.as_str()) {
                "untracked"
            } else if changed.contains(&input.as_str()) {
                "changed"
            } else {
                return None;
            };
            Some((input.clone(), state))
        })
        .collect();
    Ok((commit, differing))
}

/// The files of the tree a release is cut from, repository-relative.
fn inputs(plan: &Plan) -> Vec<String> {
    let mut inputs = vec![project::INTENT.to_string(), plan.schematic.path.clone()];
    match &plan.trust {
        Some(Policy::Keyless {
            trusted_root: Some(root),
            ..
        }) => inputs.push(root.path.clone()),
        Some(Policy::PublicKey { path, .. }) => inputs.push(path.clone()),
        _ => {}
    }
    inputs
}

/// The bytes of `path` at `commit`, exactly, or `None` when the commit has no such file (or
/// git cannot say: a shallow clone).
pub(super) fn committed(root: &Path, commit: &str, path: &str) -> Option<Vec<u8>> {
    let shell = xshell::Shell::new().ok()?;
    shell.change_dir(root);
    let spec = format!("{commit}:{path}");
    xshell::cmd!(shell, "git show --end-of-options {spec}")
        .quiet()
        .ignore_stderr()
        .output()
        .ok()
        .map(|output| output.stdout)
}
