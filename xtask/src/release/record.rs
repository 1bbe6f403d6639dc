//! The record step: the one moment a real run changes what is recorded. The downloaded media
//! (still at their temporary names), `SHA256SUMS`, the manifest and the channel are put in
//! place together, as one transaction: a journal naming every file it will replace is written
//! and flushed first, each file that exists is kept beside itself as a hard link, then the
//! renames happen. On any failure the step puts every file back as it was; a run killed in
//! the middle (SIGKILL, power loss) leaves its journal, and the next real run, holding the
//! release lock, rolls it back before it sweeps partial files. Removing the journal is the
//! commit.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::fsutil::{self, PendingFile, write_atomic, write_new};
use crate::manifest::{Manifest, Schema, known};
use crate::plan::Plan;
use crate::project;

/// Marks a journal file in `ee/appliance/dist`: `.record-<pid>.journal`.
const JOURNAL_PREFIX: &str = ".record-";
const JOURNAL_SUFFIX: &str = ".journal";

/// Checks the manifest against the schema and the consistency rules, then puts the media,
/// `SHA256SUMS`, the manifest and the channel in place (and, given `intent`, that text as
/// `release.yaml`), or nothing. Without `force` the manifest must not exist, whatever another
/// process did meanwhile.
pub fn record(
    plan: &Plan,
    schema: &Schema,
    manifest: &Manifest,
    media: Vec<PendingFile>,
    force: bool,
    intent: Option<&str>,
) -> anyhow::Result<()> {
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
/// manifest, channel, intent.
fn place_all(
    plan: &Plan,
    manifest: &Manifest,
    media: Vec<PendingFile>,
    force: bool,
    intent: Option<&str>,
    transaction: &mut Transaction,
) -> anyhow::Result<()> {
    for file in media {
        let shown = project::relative(&plan.root, file.destination()).unwrap_or_default();
        transaction.placing(&shown);
        file.persist()
            .with_context(|| format!("putting {shown} in place"))?
            .keep();
    }
    crate::test_hooks::pause_in_record_step();
    transaction.placing(&plan.outputs.sums_path);
    write_atomic(
        &plan.path(&plan.outputs.sums_path),
        sums(manifest).as_bytes(),
    )
    .with_context(|| format!("writing {}", plan.outputs.sums_path))?;
    transaction.placing(&plan.outputs.manifest_path);
    let bytes = manifest.to_json();
    let manifest_file = plan.path(&plan.outputs.manifest_path);
    if force {
        write_atomic(&manifest_file, bytes.as_bytes())
    } else {
        write_new(&manifest_file, bytes.as_bytes()).map(|file| file.keep())
    }
    .with_context(|| format!("writing {}", plan.outputs.manifest_path))?;
    let channel = Channel {
        channel: plan.release.channel.clone(),
        release_version: Some(plan.release.version.clone()),
        updated_at: Some(manifest.generated_at.clone()),
    };
    transaction.placing(&plan.outputs.channel_path);
    write_atomic(
        &plan.path(&plan.outputs.channel_path),
        channel.to_json().as_bytes(),
    )
    .with_context(|| format!("moving channel {}", plan.outputs.channel_path))?;
    if let Some(text) = intent {
        transaction.placing(project::INTENT);
        write_atomic(&plan.path(project::INTENT), text.as_bytes())
            .with_context(|| format!("writing {}", project::INTENT))?;
    }
    Ok(())
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
        eprintln!("{message}");
    }
    for dir in [project::DIST_DIR, project::RELEASES_DIR] {
        for (path, pid) in fsutil::sweep_partials(&root.join(dir)) {
            let shown =
                project::relative(root, &path).unwrap_or_else(|| path.display().to_string());
            eprintln!(
                "removed {shown}, a partial file left by an interrupted run (PID {pid} is no longer running)"
            );
        }
    }
}

/// One file the record step replaces or creates.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// Repository-relative.
    target: String,
    /// Where the file as it was is kept (a hard link), when there was one.
    backup: Option<String>,
}

struct Transaction {
    root: PathBuf,
    journal: PathBuf,
    entries: Vec<Entry>,
    /// Targets this run has started to put in place (only those are removed on roll-back).
    placed: Vec<String>,
}

impl Transaction {
    /// Writes the journal, then keeps every existing target as a hard link beside itself.
    fn begin(root: &Path, targets: Vec<String>) -> anyhow::Result<Transaction> {
        let pid = std::process::id();
        let entries: Vec<Entry> = targets
            .into_iter()
            .map(|target| {
                let backup = root.join(&target).is_file().then(|| {
                    let (folder, name) = target.rsplit_once('/').unwrap_or(("", &target));
                    // The `.partial-<pid>` mark lets the sweep remove one a commit left.
                    format!("{folder}/.{name}.previous{}{pid}", fsutil::PARTIAL_MARK)
                });
                Entry { target, backup }
            })
            .collect();
        let journal = root
            .join(project::DIST_DIR)
            .join(format!("{JOURNAL_PREFIX}{pid}{JOURNAL_SUFFIX}"));
        let text = serde_json::to_string_pretty(&entries).expect("entries serialise");
        write_atomic(&journal, text.as_bytes()).context("writing the record step's journal")?;
        let transaction = Transaction {
            root: root.to_path_buf(),
            journal,
            entries,
            placed: Vec::new(),
        };
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

    fn placing(&mut self, target: &str) {
        self.placed.push(target.to_string());
    }

    /// Every target back as it was: the kept file renamed over it, or removed if this run
    /// created it. The journal goes last.
    fn roll_back(&self) -> anyhow::Result<()> {
        undo(&self.root, &self.entries, |target| {
            self.placed.iter().any(|p| p == target)
        })?;
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

/// Restores `entries`: a kept file is renamed back over its target; a target without one is
/// removed where `created(target)` says this run made it.
fn undo(root: &Path, entries: &[Entry], created: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for entry in entries.iter().rev() {
        let target = root.join(&entry.target);
        let restored = match &entry.backup {
            Some(backup) if root.join(backup).exists() => {
                std::fs::rename(root.join(backup), &target).map_err(anyhow::Error::from)
            }
            // Linked before any rename: without its copy, the target was never replaced.
            Some(_) => Ok(()),
            // Absent (never placed) is fine, and so is a folder someone put there: only a file
            // this run created is taken away.
            None if created(&entry.target) => match std::fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound && target.is_file() => {
                    Err(e.into())
                }
                _ => Ok(()),
            },
            None => Ok(()),
        };
        if let Err(e) = restored.and_then(|()| fsutil::sync_parent(&target)) {
            failures.push(format!("{}: {e:#}", entry.target));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}

fn remove_journal(journal: &Path) -> anyhow::Result<()> {
    std::fs::remove_file(journal)
        .and_then(|()| fsutil::sync_parent(journal).map_err(std::io::Error::other))
        .with_context(|| format!("removing {}", journal.display()))
}

/// Rolls back the record steps of runs that died inside them; one message per journal.
fn recover(root: &Path) -> Vec<String> {
    let dist = root.join(project::DIST_DIR);
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(&dist).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(JOURNAL_PREFIX)
            .and_then(|rest| rest.strip_suffix(JOURNAL_SUFFIX))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if fsutil::is_running(pid) {
            continue;
        }
        let shown = format!("{}/{name}", project::DIST_DIR);
        let entries: Vec<Entry> = match std::fs::read(entry.path())
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?))
        {
            Ok(entries) => entries,
            Err(e) => {
                messages.push(format!(
                    "warning: {shown} (left by PID {pid}, no longer running) cannot be read ({e:#}); check {} and {} against git, then remove it",
                    project::RELEASES_DIR,
                    project::CHANNELS_DIR
                ));
                continue;
            }
        };
        // Which targets the dead run had created is not known; one without a kept copy did
        // not exist when its record step began, so it goes.
        messages.push(match undo(root, &entries, |_| true).and_then(|()| remove_journal(&entry.path())) {
            Ok(()) => format!(
                "rolled back the record step of PID {pid}, which was killed inside it: {} are as they were",
                entries
                    .iter()
                    .map(|e| e.target.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!(
                "warning: the record step PID {pid} left in {shown} could not be rolled back ({e:#}); restore the files it names by hand"
            ),
        });
    }
    messages
}
