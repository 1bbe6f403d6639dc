//! What a cancelled run leaves behind: nothing. A real run registers every file that must not
//! outlive it (a partial download, a downloaded medium no manifest names yet, the release
//! lock); on SIGINT, SIGTERM or SIGHUP (on Windows: Ctrl+C as SIGINT, Ctrl+Break, closing the
//! console, logging off or shutting down as SIGTERM) a handler thread removes them and exits
//! with 128 + the signal number at once, even while the main thread is blocked on the network. The record
//! step is a critical section: a signal that arrives during it waits for it to finish, so a
//! manifest is never left without its channel move (the step itself rolls back on failure).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;

/// The signals a run stops on, by their unix numbers (the exit code is 128 + the number).
const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Files to remove if the run is interrupted, in registration order.
static PROVISIONAL: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// Set, under the registry's lock, once the run's clean-up has begun: from then on nothing
/// new is made or put in place, and the lock itself is never held across anything that can
/// fail or block (a guard kept past a panic would hang every worker's clean-up for good).
static CLOSED: AtomicBool = AtomicBool::new(false);
/// Held while the record step runs; holds what it recorded once it has.
static RECORDING: Mutex<Option<String>> = Mutex::new(None);

/// Starts the handler thread. Called once, by a real run only: `--dry-run`, `--check` and
/// `validate` write nothing, so the default (die at once) is right for them.
#[cfg(unix)]
pub fn install() -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the SIGINT/SIGTERM/SIGHUP handler")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            stop(signal);
        }
    });
    Ok(())
}

/// Starts the handler thread: Windows calls the console's control handler on a thread of its
/// own, which hands the event to ours and waits (the process ends when the handler returns,
/// for a closed console), so the clean-up runs as on unix.
#[cfg(windows)]
pub fn install() -> anyhow::Result<()> {
    use windows_sys::Win32::System::Console::{CTRL_C_EVENT, SetConsoleCtrlHandler};
    static EVENTS: std::sync::OnceLock<Mutex<std::sync::mpsc::Sender<i32>>> =
        std::sync::OnceLock::new();
    unsafe extern "system" fn handler(event: u32) -> windows_sys::core::BOOL {
        let signal = if event == CTRL_C_EVENT {
            SIGINT
        } else {
            SIGTERM
        };
        if let Some(events) = EVENTS.get() {
            let _ = events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(signal);
        }
        // The handler thread exits the process; until then, Windows must not end it.
        loop {
            std::thread::park();
        }
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    if EVENTS.set(Mutex::new(sender)).is_err() {
        return Ok(()); // installed already
    }
    // SAFETY: `handler` is a plain function that stays for the process's life.
    if unsafe { SetConsoleCtrlHandler(Some(handler), 1) } == 0 {
        return Err(std::io::Error::last_os_error())
            .context("installing the console control handler");
    }
    std::thread::spawn(move || {
        if let Ok(signal) = receiver.recv() {
            stop(signal);
        }
    });
    Ok(())
}

fn stop(signal: i32) -> ! {
    // Wait for a record step under way; it finishes (or rolls back) on its own.
    let recorded = RECORDING.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let removed = remove_all();
    let name = match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    };
    let outcome = match recorded {
        Some(what) => format!("the record step had finished first: {what}"),
        None => "nothing was recorded; the channel is unchanged".to_string(),
    };
    let cleaned = if removed.is_empty() {
        String::new()
    } else {
        format!(" (removed {})", removed.join(", "))
    };
    // Never `eprintln!`: it panics when stderr's reader is gone, and the exit below must come.
    crate::util::say!("\ninterrupted by {name}: {outcome}{cleaned}");
    std::process::exit(128 + signal)
}

/// Removes every provisional file still registered and closes the registry, so no thread of
/// this run can create or rename a file into place any more (they get an error instead). For
/// the end of a failed run whose workers may still be blocked on the network, and for a signal.
pub fn abandon() {
    remove_all();
}

fn remove_all() -> Vec<String> {
    let mut provisional = lock();
    CLOSED.store(true, Ordering::SeqCst);
    let mut removed = Vec::new();
    for (_, path) in provisional.drain(..).rev() {
        if remove(&path).is_ok() {
            removed.push(path.display().to_string());
        }
    }
    removed
}

/// The error a worker gets for making or placing a file once the run is ending.
fn closed() -> std::io::Error {
    std::io::Error::other(
        "the run is ending (stopped or failed): nothing more is made or put in place",
    )
}

/// Runs the record step with signals deferred until it returns. `summary` is what a signal
/// arriving right after a successful step reports as recorded.
pub fn record_step(summary: &str, step: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut recorded = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    step()?;
    *recorded = Some(summary.to_string());
    Ok(())
}

/// A file that must not outlive a failed or interrupted run: removed when dropped or on a
/// signal, unless `keep` is called. A folder the run made is registered the same way, and is
/// removed only once it is empty.
#[derive(Debug)]
pub struct Provisional {
    id: u64,
    path: PathBuf,
    kept: bool,
}

impl Provisional {
    /// Registers a file that already exists, or that someone else creates.
    pub fn new(path: &Path) -> std::io::Result<Provisional> {
        Provisional::create(path, |_| Ok(())).map(|(provisional, ())| provisional)
    }

    /// Makes `folder` (and its missing parents) registered as it is made, so it goes again,
    /// once empty, on a failure or a signal; `None` when it existed already.
    pub fn folder(folder: &Path) -> anyhow::Result<Option<Provisional>> {
        if folder.is_dir() {
            return Ok(None);
        }
        let (provisional, ()) = Provisional::create(folder, |path| std::fs::create_dir_all(path))
            .with_context(|| format!("creating folder {}", folder.display()))?;
        Ok(Some(provisional))
    }

    /// Registers `path` and runs `create` (which makes the file) while holding the registry,
    /// so that a failed run's clean-up never misses a file made at the same moment.
    pub fn create<T>(
        path: &Path,
        create: impl FnOnce(&Path) -> std::io::Result<T>,
    ) -> std::io::Result<(Provisional, T)> {
        let mut registry = lock();
        if CLOSED.load(Ordering::SeqCst) {
            return Err(closed());
        }
        let made = create(path)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        registry.push((id, path.to_path_buf()));
        let provisional = Provisional {
            id,
            path: path.to_path_buf(),
            kept: false,
        };
        Ok((provisional, made))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `place` (a rename or link that puts this file at `destination`) so that a signal
    /// sees either the file here or the one there, never neither registered.
    pub fn move_to(
        mut self,
        destination: &Path,
        place: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
    ) -> std::io::Result<Provisional> {
        let mut registry = lock();
        if CLOSED.load(Ordering::SeqCst) {
            return Err(closed());
        }
        place(&self.path, destination)?;
        if let Some(entry) = registry.iter_mut().find(|(id, _)| *id == self.id) {
            entry.1 = destination.to_path_buf();
        }
        drop(registry);
        self.path = destination.to_path_buf();
        Ok(self)
    }

    /// The file stays: it is part of what the run recorded.
    pub fn keep(mut self) {
        lock().retain(|(id, _)| *id != self.id);
        self.kept = true;
    }
}

impl Drop for Provisional {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut registry = lock();
        registry.retain(|(id, _)| *id != self.id);
        let _ = remove(&self.path);
    }
}

/// Removes a provisional file, or a provisional folder once it is empty (its files, registered
/// after it, go first).
fn remove(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path))
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(u64, PathBuf)>> {
    PROVISIONAL.lock().unwrap_or_else(|e| e.into_inner())
}
