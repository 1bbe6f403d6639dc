//! Where a release says it came from. A run in a git checkout records the commit it was cut
//! from (`source.commit`); that claim holds only when the release's inputs — the schematic,
//! `release.yaml`, and the signature policy's key or trusted root — are that commit's files.
//! One that differs or is untracked stops the run before any request, naming each;
//! `--allow-dirty` records the release anyway, with `source.dirty` and the SHA-256 of each
//! input that differed. Files that are no input do not count. Outside git there is no source.

use std::path::Path;

use anyhow::bail;

use crate::manifest::{DirtyInput, Source};
use crate::plan::Plan;
use crate::project;
use crate::trust::Policy;

/// The source a run records for `plan`: `None` outside a git checkout.
pub fn source(plan: &Plan, allow_dirty: bool) -> anyhow::Result<Option<Source>> {
    let Some(commit) = head(&plan.root) else {
        return Ok(None);
    };
    let mut differing = Vec::new();
    for input in inputs(plan) {
        let now = project::read_input_bytes(&plan.root, &input, project::INPUT_CAP)?;
        let state = match committed(&plan.root, &commit, &input) {
            None => Some("untracked"),
            Some(bytes) if bytes != now => Some("changed"),
            Some(_) => None,
        };
        if let Some(state) = state {
            differing.push((input, state, {
                use sha2::Digest as _;
                crate::util::hex(&sha2::Sha256::digest(&now))
            }));
        }
    }
    if differing.is_empty() {
        return Ok(Some(Source {
            commit,
            dirty: false,
            inputs: Vec::new(),
        }));
    }
    if !allow_dirty {
        let listed: Vec<String> = (differing.iter())
            .map(|(path, state, _)| format!("{path} ({state})"))
            .collect();
        bail!(
            "the release would record source.commit {commit}, but its inputs are not that commit's: {}; commit them first, so the record can be reproduced from git, or pass --allow-dirty to record it as cut from a dirty tree (source.dirty, with each differing input's SHA-256)",
            listed.join(", ")
        );
    }
    Ok(Some(Source {
        commit,
        dirty: true,
        inputs: differing
            .into_iter()
            .map(|(path, _, sha256)| DirtyInput { path, sha256 })
            .collect(),
    }))
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

/// `HEAD`'s commit, when `root` is in a git checkout with one.
fn head(root: &Path) -> Option<String> {
    let shell = xshell::Shell::new().ok()?;
    shell.change_dir(root);
    let commit = xshell::cmd!(shell, "git rev-parse --verify HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    (commit.len() >= 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())).then_some(commit)
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
