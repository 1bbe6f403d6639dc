//! One release at a time per tree: a real run holds an exclusive advisory lock on
//! `ee/appliance/dist/.release.lock` (git-ignored) from before it looks for a recorded
//! release until its channel has moved. The file holds the holder's PID for the message a
//! second run prints. The kernel drops the lock when the holder exits, however it exits, so a
//! stale file never blocks anyone.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};

use crate::host::interrupt::Provisional;
use crate::project;

pub const LOCK_FILE: &str = "ee/appliance/dist/.release.lock";

/// Held while a release runs; released (and the file removed) when dropped or on a signal.
pub struct ReleaseLock {
    // Dropped before `file`: the path is removed while the lock is still held, so a process
    // that opened the old file finds it unlinked and tries again (see `acquire`).
    _path: Provisional,
    _file: File,
}

/// Takes the lock or fails at once, naming the holder.
pub fn acquire(root: &Path) -> anyhow::Result<ReleaseLock> {
    let path = root.join(LOCK_FILE);
    // The tree's git-ignored folder, not a run's: it stays (a run's folders are below it).
    let folder = root.join(project::DIST_DIR);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("creating folder {}", project::DIST_DIR))?;
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the release lock {LOCK_FILE}"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder
                    .trim()
                    .parse::<u32>()
                    .map(|pid| format!("process {pid}"))
                    .unwrap_or_else(|_| "another process (PID not yet written)".into());
                bail!(
                    "another release is running in this tree: {LOCK_FILE} is locked by {holder}. \
                     Wait for it to finish (or stop it) and run again; the lock is released when that process ends, \
                     and a second run must not record over the first"
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {LOCK_FILE}"));
            }
        }
        // The previous holder removes the file as it lets go; if we locked a file that is no
        // longer at the path, lock the one that is.
        let ours = crate::host::os::file_id(&file);
        let current = File::open(&path).and_then(|f| crate::host::os::file_id(&f));
        if matches!((ours, current), (Ok(a), Ok(b)) if a == b) {
            let registered = Provisional::new(&path)
                .with_context(|| format!("registering {LOCK_FILE} for clean-up"))?;
            file.set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .with_context(|| format!("writing the PID into {LOCK_FILE}"))?;
            return Ok(ReleaseLock {
                _path: registered,
                _file: file,
            });
        }
    }
}
