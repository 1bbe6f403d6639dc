//! The record step: the one moment a real run changes what is recorded. The downloaded media
//! (still at their temporary names), `SHA256SUMS`, the manifest and the channel are put in
//! place together, as one transaction: a journal naming every file it will replace, and the
//! identity (device, inode, size, and for a small file its SHA-256) of each, is written and
//! flushed first; each file that exists is kept beside itself as a hard link; before each
//! rename the journal records the identity of the file about to be put there. On any failure
//! the step puts back exactly the targets that still hold what it put there, and removes every
//! link it made; a run killed in the middle (SIGKILL, power loss) leaves its journal, and the
//! next real run, holding the release lock (so no run it could mistake for alive exists), does
//! the same from the journal, leaving and naming any target that changed since (a `git pull`,
//! an edit in place). Journals and temporary files carry a random per-run token, not a PID.
//! Removing the journal is the commit.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::host::fsutil::{self, Identity, PendingFile, pending_with, write_atomic};
use crate::image::channel::Channel;
use crate::image::manifest::{Manifest, Schema, known};
use crate::image::plan::Plan;
use crate::project;

/// Marks a journal file in `ee/appliance/dist`: `.record-<token>.journal`.
const JOURNAL_PREFIX: &str = ".record-";
const JOURNAL_SUFFIX: &str = ".journal";
/// The most a journal may hold: a few entries of a few hundred bytes each. A journal is input
/// like any file of the tree (a clone checks out whatever was committed), read with this cap.
const JOURNAL_CAP: u64 = 64 * 1024;

/// Checks the manifest against the schema and the consistency rules, then puts the media,
/// `SHA256SUMS`, the manifest and the channel in place (and, given `intent`, its text as
/// `release.yaml`), or nothing. Without `force` the manifest must not exist, whatever another
/// process did meanwhile.
pub fn record(
    plan: &Plan,
    schema: &Schema,
    manifest: &Manifest,
    media: Vec<PendingFile>,
    force: bool,
    intent: Option<&IntentEdit>,
) -> anyhow::Result<()> {
    if let Some(edit) = intent {
        edit.still_unchanged(&plan.root)?;
    }
    let value = serde_json::to_value(manifest)?;
    let mut problems = schema.problems(&value);
    problems.extend(manifest.consistency_problems(&plan.release.version));
    if !problems.is_empty() {
        bail!(
            "refusing to write a manifest that fails {}: {} (this is a bug in xtask)",
            project::RELEASE_SCHEMA,
            problems.join("; ")
        );
    }
    if !force && plan.path(&plan.outputs.manifest_path).exists() {
        bail!(
            "writing {}: release {} was recorded by another run meanwhile; it is kept as it is",
            plan.outputs.manifest_path,
            plan.release.version
        );
    }
    let mut targets: Vec<String> = media
        .iter()
        .map(|file| {
            project::relative(&plan.root, file.destination()).expect("media live in the tree")
        })
        .collect();
    targets.extend([
        plan.outputs.sums_path.clone(),
        plan.outputs.manifest_path.clone(),
        plan.outputs.channel_path.clone(),
    ]);
    if intent.is_some() {
        targets.push(project::INTENT.to_string());
    }
    let mut transaction = Transaction::begin(&plan.root, targets)?;
    match place_all(plan, manifest, media, force, intent, &mut transaction) {
        Ok(()) => {
            transaction.commit();
            Ok(())
        }
        Err(error) => Err(match transaction.roll_back() {
            Ok(()) => error.context(format!(
                "{} was taken back, and the media, SHA256SUMS and channel are as they were; nothing is recorded",
                plan.outputs.manifest_path
            )),
            Err(undo) => error.context(format!(
                "and the record step could not be taken back ({undo:#}): restore {} and {} from git and remove {}",
                plan.outputs.manifest_path,
                plan.outputs.channel_path,
                project::DIST_DIR
            )),
        }),
    }
}

/// The renames of the record step, in the order a reader should meet them: media, sums,
/// manifest, channel, intent. Each file's identity goes into the journal before its rename.
fn place_all(
    plan: &Plan,
    manifest: &Manifest,
    media: Vec<PendingFile>,
    force: bool,
    intent: Option<&IntentEdit>,
    transaction: &mut Transaction,
) -> anyhow::Result<()> {
    for file in media {
        let shown = project::relative(&plan.root, file.destination()).unwrap_or_default();
        transaction.placing(&shown, file.identity()?)?;
        file.persist()
            .with_context(|| format!("putting {shown} in place"))?
            .keep();
    }
    crate::test_hooks::pause_in_record_step();
    // The channel as it is now, under the lock: the move is dated after the one it replaces.
    let previous = Channel::read(&plan.root, &plan.release.channel)
        .with_context(|| format!("moving channel {}", plan.outputs.channel_path))?;
    let channel = crate::image::channel_move::moved(
        &previous,
        &plan.release.version,
        plan.upgrade_from.clone(),
        &manifest.generated_at,
    );
    let mut files = vec![
        (plan.outputs.sums_path.clone(), sums(manifest), "writing"),
        (
            plan.outputs.manifest_path.clone(),
            manifest.to_json(),
            "writing",
        ),
        (
            plan.outputs.channel_path.clone(),
            channel.to_json(),
            "moving channel",
        ),
    ];
    if let Some(edit) = intent {
        // Once more, as close to the rename as it gets: an edit made during the run is never
        // renamed over.
        edit.still_unchanged(&plan.root)?;
        files.push((project::INTENT.to_string(), edit.text.clone(), "writing"));
    }
    for (target, content, what) in files {
        let pending = pending_with(&plan.path(&target), content.as_bytes())
            .with_context(|| format!("{what} {target}"))?;
        transaction.placing(&target, pending.identity()?)?;
        // A manifest is never replaced without --force, even one another process wrote a
        // moment ago: a hard link does not replace.
        let placed = if target == plan.outputs.manifest_path && !force {
            pending.persist_new()
        } else {
            pending.persist()
        };
        placed.with_context(|| format!("{what} {target}"))?.keep();
    }
    Ok(())
}

/// `--update-intent`'s edit of release.yaml: the edited text, and the file it was made from
/// (the one the plan read), which must still be there at the record step.
pub struct IntentEdit {
    pub seen: Identity,
    pub text: String,
}

impl IntentEdit {
    /// Refuses, naming the file, when release.yaml is no longer the file the plan read: an
    /// edit made while the media downloaded would otherwise be lost without a word.
    pub(super) fn still_unchanged(&self, root: &Path) -> anyhow::Result<()> {
        if Identity::of(&root.join(project::INTENT)).as_ref() != Some(&self.seen) {
            bail!(
                "{} changed during the run (edited, replaced or removed since the plan read it): it is kept as it is, and --update-intent does not write over it; nothing is recorded. Run again to record the release with the intent as it is now",
                project::INTENT
            );
        }
        Ok(())
    }
}

/// `SHA256SUMS` beside the media, as `sha256sum -c` reads it: `<hex>  <file>` per medium and
/// for the air-gap bundle, sorted by file name.
pub fn sums(manifest: &Manifest) -> String {
    let mut entries: Vec<(&str, &str)> = manifest
        .os
        .media()
        .into_iter()
        .map(|(_, medium)| {
            let file = project::file_name(&medium.local_path);
            (file, known(&medium.sha256))
        })
        .collect();
    if let Some(air_gap) = &manifest.air_gap {
        let file = project::file_name(&air_gap.path);
        entries.push((file, known(&air_gap.sha256)));
    }
    entries.sort();
    entries
        .iter()
        .map(|(file, sha256)| format!("{sha256}  {file}\n"))
        .collect()
}

/// What a real run cleans up first, holding the lock: record steps of killed runs are rolled
/// back, then partial files whose writer is gone are removed. Says what it did.
pub fn sweep(root: &Path) {
    for message in recover(root) {
        crate::util::say!("{message}");
    }
    // Every folder the record step writes into: the media and the records (below them), and
    // release.yaml's own folder (`--update-intent`), whose subfolders are no output.
    let folders = [
        (project::DIST_DIR, true),
        (project::RELEASES_DIR, true),
        (project::APPLIANCE_DIR, false),
    ];
    for (dir, below) in folders {
        for (path, token) in fsutil::sweep_partials(&root.join(dir), below) {
            let shown =
                project::relative(root, &path).unwrap_or_else(|| path.display().to_string());
            crate::util::say!(
                "removed {shown}, a partial file left by an interrupted run (run {token}; this run holds the release lock, so that one is gone)"
            );
        }
    }
}

/// One file the record step replaces or creates, and what it found and put there.
#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Repository-relative.
    target: String,
    /// Where the file as it was is kept (a hard link), when there was one.
    backup: Option<String>,
    /// The file that was there when the step began.
    #[serde(default)]
    replaced: Option<Identity>,
    /// The file this run puts there, written down before its rename.
    #[serde(default)]
    placed: Option<Identity>,
}

struct Transaction {
    root: PathBuf,
    journal: PathBuf,
    entries: Vec<Entry>,
}

impl Transaction {
    /// Writes the journal, then keeps every existing target as a hard link beside itself.
    fn begin(root: &Path, targets: Vec<String>) -> anyhow::Result<Transaction> {
        let token = fsutil::run_token();
        let entries: Vec<Entry> = targets
            .into_iter()
            .map(|target| {
                let path = root.join(&target);
                let replaced = Identity::of(&path);
                let backup = replaced.as_ref().map(|_| backup_path(&target, token));
                Entry {
                    target,
                    backup,
                    replaced,
                    placed: None,
                }
            })
            .collect();
        let journal = root
            .join(project::DIST_DIR)
            .join(format!("{JOURNAL_PREFIX}{token}{JOURNAL_SUFFIX}"));
        let mut transaction = Transaction {
            root: root.to_path_buf(),
            journal,
            entries,
        };
        transaction.write_journal()?;
        for entry in &transaction.entries {
            if let Some(backup) = &entry.backup {
                let (from, to) = (root.join(&entry.target), root.join(backup));
                let _ = std::fs::remove_file(&to);
                let linked = std::fs::hard_link(&from, &to)
                    .with_context(|| format!("keeping {} as it was", entry.target))
                    .and_then(|()| fsutil::sync_parent(&to));
                if let Err(error) = linked {
                    let _ = transaction.roll_back();
                    return Err(error);
                }
            }
        }
        Ok(transaction)
    }

    fn write_journal(&mut self) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(&self.entries).expect("entries serialise");
        write_atomic(&self.journal, text.as_bytes()).context("writing the record step's journal")
    }

    /// Writes down that `identity` is about to be renamed to `target`.
    fn placing(&mut self, target: &str, identity: Identity) -> anyhow::Result<()> {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.target == target) {
            entry.placed = Some(identity);
        }
        self.write_journal()
    }

    /// Every target that still holds what this run put there back as it was; every link it
    /// made removed. The journal goes last.
    fn roll_back(&self) -> anyhow::Result<()> {
        let (_, result) = undo(&self.root, &self.entries);
        result?;
        remove_journal(&self.journal)
    }

    /// The new files stay; the kept ones go.
    fn commit(self) {
        // Removing the journal is the commit: from here on no roll-back can happen.
        if remove_journal(&self.journal).is_err() {
            return;
        }
        for backup in self.entries.iter().filter_map(|e| e.backup.as_ref()) {
            let _ = std::fs::remove_file(self.root.join(backup));
        }
    }
}

/// Puts back each target of `entries` that still holds the file the run put there (the kept
/// file renamed over it, or the target removed when there was none), and removes every kept
/// link. A target that holds anything else is left as it is and named in the first list.
fn undo(root: &Path, entries: &[Entry]) -> (Vec<String>, anyhow::Result<()>) {
    let (mut left, mut failures) = (Vec::new(), Vec::new());
    for entry in entries.iter().rev() {
        let target = root.join(&entry.target);
        let now = Identity::of(&target);
        let backup = entry.backup.as_ref().map(|b| root.join(b));
        let kept = backup.as_ref().and_then(|b| Identity::of(b));
        let ours = entry.placed.is_some() && now == entry.placed;
        let restored = if ours {
            match (&backup, &entry.replaced) {
                (Some(backup), Some(replaced)) if kept.as_ref() == Some(replaced) => {
                    std::fs::rename(backup, &target).map_err(anyhow::Error::from)
                }
                (_, Some(_)) => Err(anyhow::anyhow!(
                    "the copy of it as it was ({}) is gone",
                    entry.backup.as_deref().unwrap_or("none")
                )),
                (_, None) => std::fs::remove_file(&target).map_err(anyhow::Error::from),
            }
        } else {
            if now.is_some() && now != entry.replaced && entry.placed.is_some() {
                left.push(entry.target.clone());
            }
            // A kept link is only a second name for the file as it was: never renamed over a
            // target this run does not own (a rename onto its own inode would do nothing).
            match &backup {
                Some(backup) if kept.is_some() => {
                    std::fs::remove_file(backup).map_err(anyhow::Error::from)
                }
                _ => Ok(()),
            }
        };
        if let Err(e) = restored.and_then(|()| fsutil::sync_parent(&target)) {
            failures.push(format!("{}: {e:#}", entry.target));
        }
    }
    let result = if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}", failures.join("; ")))
    };
    (left, result)
}

fn remove_journal(journal: &Path) -> anyhow::Result<()> {
    std::fs::remove_file(journal)
        .and_then(|()| fsutil::sync_parent(journal).map_err(std::io::Error::other))
        .with_context(|| format!("removing {}", journal.display()))
}

/// The folders the record step writes into, each the parent of a target: the release's media
/// folder (`dist/<releaseVersion>`, one level below `dist/`), the manifests, the channels,
/// and release.yaml's.
fn is_record_folder(folder: &str) -> bool {
    let release_media = folder
        .strip_prefix(project::DIST_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(is_plain_name);
    release_media
        || [
            project::RELEASES_DIR,
            project::CHANNELS_DIR,
            project::APPLIANCE_DIR,
        ]
        .contains(&folder)
}

/// One path segment as the tool names files: no separator, no `.`/`..`, no hidden name.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

/// Where the record step keeps `target` as it was: its own `.previous.partial-<token>`
/// sibling (the mark lets the sweep remove one a commit left).
fn backup_path(target: &str, token: &str) -> String {
    let (folder, name) = target.rsplit_once('/').unwrap_or(("", target));
    format!("{folder}/.{name}.previous{}{token}", fsutil::PARTIAL_MARK)
}

/// The run token a journal's file name carries, when it is one this tool writes.
fn journal_token(name: &str) -> Option<&str> {
    let token = name
        .strip_prefix(JOURNAL_PREFIX)?
        .strip_suffix(JOURNAL_SUFFIX)?;
    (token.len() == 16 && token.bytes().all(|b| b.is_ascii_hexdigit())).then_some(token)
}

/// The entries of the journal `relative` (a file of `dist/`), read as untrusted input: a
/// regular file of the tree, at most `JOURNAL_CAP` bytes, and every entry one the record step
/// could have written: a target in a folder it writes, kept (if at all) as that target's own
/// `.previous.partial-<token>` sibling with the journal's token. Anything else is refused and
/// named, so a crafted or committed journal never makes a run touch another file.
pub fn read_journal(root: &Path, relative: &str) -> anyhow::Result<Vec<Entry>> {
    let name = project::file_name(relative);
    let Some(token) = journal_token(name) else {
        bail!(
            "{name} is not named as a journal of this tool ({JOURNAL_PREFIX}<16 hex digits>{JOURNAL_SUFFIX})"
        );
    };
    let text = project::read_input(root, relative, JOURNAL_CAP)?;
    let entries: Vec<Entry> =
        serde_json::from_str(&text).with_context(|| format!("{relative} is not a journal"))?;
    for entry in &entries {
        let target = &entry.target;
        let folder = target.rsplit_once('/').map(|(folder, _)| folder);
        let name_ok = target
            .rsplit_once('/')
            .is_some_and(|(_, name)| is_plain_name(name));
        if !(name_ok && folder.is_some_and(is_record_folder)) {
            bail!(
                "{relative}: target {target:?} is not a file the record step writes (the media folder of a release, {}, {} or {}); refusing the whole journal",
                project::RELEASES_DIR,
                project::CHANNELS_DIR,
                project::INTENT
            );
        }
        if let Some(backup) = &entry.backup
            && *backup != backup_path(target, token)
        {
            bail!(
                "{relative}: backup {backup:?} of {target} is not that file's own copy ({}); refusing the whole journal",
                backup_path(target, token)
            );
        }
    }
    Ok(entries)
}

/// Rolls back the record steps of runs that died inside them; one message per journal. Only
/// for a run holding the release lock: every other journal's run is gone.
fn recover(root: &Path) -> Vec<String> {
    let dist = root.join(project::DIST_DIR);
    let own = format!("{JOURNAL_PREFIX}{}{JOURNAL_SUFFIX}", fsutil::run_token());
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(&dist).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(JOURNAL_PREFIX) || !name.ends_with(JOURNAL_SUFFIX) || name == own {
            continue;
        }
        let shown = format!("{}/{name}", project::DIST_DIR);
        let entries = match read_journal(root, &shown) {
            Ok(entries) => entries,
            Err(e) => {
                messages.push(format!(
                    "warning: {shown}, left by a killed run, is not used ({e:#}); nothing it names was touched. Check {} and {} against git, then remove it",
                    project::RELEASES_DIR,
                    project::CHANNELS_DIR
                ));
                continue;
            }
        };
        let (left, result) = undo(root, &entries);
        let left_note = if left.is_empty() {
            String::new()
        } else {
            format!(
                "; left as they are, since they are no longer the files that run put there: {}",
                left.join(", ")
            )
        };
        messages.push(match result.and_then(|()| remove_journal(&entry.path())) {
            Ok(()) => format!(
                "rolled back the record step of a run killed inside it ({shown}): what it had put in place of {} is taken back{left_note}",
                entries
                    .iter()
                    .map(|e| e.target.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!(
                "warning: the record step a killed run left in {shown} could not be rolled back ({e:#}){left_note}; restore the files it names by hand"
            ),
        });
    }
    messages
}
