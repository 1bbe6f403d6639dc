//! Writing files so that a failed, interrupted or killed run leaves nothing behind and a
//! finished one survives a power loss: content goes to a temporary file beside the destination
//! (`.<name>.partial-<token>`, a random token per run), is flushed, renamed (or linked) into
//! place, and the folder is flushed too. Partial files of runs that were killed are swept by
//! the next real run, which holds the release lock: no other writer can be alive then.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::host::interrupt::Provisional;

/// Marks a temporary file; the writer's run token follows it.
pub const PARTIAL_MARK: &str = ".partial-";

/// This run's random token (16 hex digits), naming its temporary files and journal: a PID is
/// reused (every container's first process is PID 1), a token is not.
pub fn run_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        use ring::rand::SecureRandom as _;
        let mut bytes = [0u8; 8];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source for a run token");
        crate::util::hex(&bytes)
    })
}

/// What a file is: its device and inode (which a rename keeps), its size, and for a small file
/// its SHA-256 (a file edited in place keeps its inode), so a later run can tell whether a path
/// still holds the file a run put there.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<crate::image::digest::Sha256Hex>,
}

/// Files up to this size are also identified by their content.
const HASHED_UP_TO: u64 = 1024 * 1024;

impl Identity {
    /// The regular file at `path` itself (a link, a folder or anything else is none), or `None`.
    pub fn of(path: &Path) -> Option<Identity> {
        let metadata = std::fs::symlink_metadata(path).ok()?;
        if !metadata.file_type().is_file() {
            return None;
        }
        // One open for the number and the content: both are of the same file.
        let file = crate::host::os::open_input(path).ok()?;
        let (device, inode) = crate::host::os::file_id(&file).ok()?;
        let sha256 = (metadata.len() <= HASHED_UP_TO)
            .then(|| sha256_of(file).ok().map(|(hex, _)| hex))
            .flatten();
        Some(Identity {
            device,
            inode,
            size: metadata.len(),
            sha256,
        })
    }
}

/// A private folder for files that live outside the tree for the length of a run (the media
/// `--check --hashes` downloads only to hash them): a fresh random name under the system's
/// temporary folder, made private (mode 0700 on unix) and never an existing one, removed once
/// empty when dropped or on a signal (its files, registered after it, go first).
pub fn private_folder(purpose: &str) -> anyhow::Result<Provisional> {
    let path = std::env::temp_dir().join(format!("xtask-{purpose}-{}", run_token()));
    let (folder, ()) = Provisional::create(&path, crate::host::os::create_private_folder)
        .with_context(|| format!("creating the private folder {}", path.display()))?;
    Ok(folder)
}

/// A file being written next to its destination; removed on drop (or on a signal) unless
/// persisted.
#[derive(Debug)]
pub struct PendingFile {
    temp: Provisional,
    file: File,
    destination: PathBuf,
}

impl PendingFile {
    /// A new temporary file beside `destination`, whose folder exists: a run makes the folders
    /// it writes into as `Provisional` ones first (`Provisional::folder`, `private_folder`), so
    /// a failed run removes them, and a worker never makes one again behind the clean-up.
    pub fn create(destination: &Path) -> anyhow::Result<PendingFile> {
        let parent = destination
            .parent()
            .context("destination has no parent folder")?;
        let name = destination
            .file_name()
            .context("destination has no file name")?;
        let temp = parent.join(format!(
            ".{}{PARTIAL_MARK}{}",
            name.to_string_lossy(),
            run_token()
        ));
        // Readable too: the air-gap bundle reads its blobs back to pack them. A new file only
        // (O_EXCL), never through a link (O_NOFOLLOW): a name planted in a shared folder is
        // refused, not written through.
        let (temp, file) = Provisional::create(&temp, crate::host::os::create_new)
            .with_context(|| format!("creating {}", temp.display()))?;
        Ok(PendingFile {
            temp,
            file,
            destination: destination.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// The file as it is now; a rename into place keeps its device and inode.
    pub fn identity(&self) -> anyhow::Result<Identity> {
        Identity::of(self.temp.path())
            .with_context(|| format!("reading {}", self.temp.path().display()))
    }

    /// Flushes the content to disk, so the rename in the record step is quick.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("flushing {}", self.temp.path().display()))
    }

    /// The final name this file is renamed to.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Starts over: an empty file at position 0.
    pub fn truncate(&mut self) -> anyhow::Result<()> {
        use std::io::Seek;
        self.file
            .set_len(0)
            .and_then(|()| self.file.rewind())
            .with_context(|| format!("truncating {}", self.temp.path().display()))
    }

    /// Flushes to disk and renames into place, replacing what is there. The destination
    /// stays provisional: dropped, or on a signal, it is removed.
    pub fn persist(self) -> anyhow::Result<Provisional> {
        self.place(|temp, destination| std::fs::rename(temp, destination))
    }

    /// Like `persist`, but fails if the destination exists, even if another process created
    /// it a moment ago: a hard link does not replace.
    pub fn persist_new(self) -> anyhow::Result<Provisional> {
        self.place(|temp, destination| {
            std::fs::hard_link(temp, destination)?;
            std::fs::remove_file(temp)
        })
    }

    fn place(
        self,
        how: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
    ) -> anyhow::Result<Provisional> {
        let PendingFile {
            temp,
            file,
            destination,
        } = self;
        file.sync_all()
            .with_context(|| format!("flushing {}", temp.path().display()))?;
        drop(file);
        let shown = temp.path().display().to_string();
        let replacing = destination.exists();
        let placed = temp
            .move_to(&destination, how)
            .with_context(|| format!("moving {shown} into place as {}", destination.display()))?;
        if let Err(error) = sync_parent(&destination) {
            // The rename happened: a file that replaced another stays (removing it would leave
            // neither), for the caller to restore; a new one goes as `placed` drops.
            if replacing {
                placed.keep();
            }
            return Err(error);
        }
        Ok(placed)
    }
}

/// Flushes the folder holding `path`, so that a rename into it survives a power loss (a
/// no-op on Windows: `host::os::sync_folder`).
pub fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let parent = path.parent().context("a file has a parent folder")?;
    crate::host::os::sync_folder(parent)
        .with_context(|| format!("flushing folder {}", parent.display()))
}

/// Writes `content` to `destination` atomically, replacing what is there.
pub fn write_atomic(destination: &Path, content: &[u8]) -> anyhow::Result<()> {
    write_replacing(destination, content)?.keep();
    Ok(())
}

/// Writes `content` to `destination` atomically, replacing what is there; the file stays
/// provisional until the caller keeps it.
pub fn write_replacing(destination: &Path, content: &[u8]) -> anyhow::Result<Provisional> {
    pending_with(destination, content)?.persist()
}

/// `content` in a temporary file beside `destination`, not yet in place.
pub fn pending_with(destination: &Path, content: &[u8]) -> anyhow::Result<PendingFile> {
    let mut pending = PendingFile::create(destination)?;
    pending
        .file()
        .write_all(content)
        .with_context(|| format!("writing {}", destination.display()))?;
    Ok(pending)
}

/// The SHA-256 (lowercase hex) and size of a file, read in large pieces.
pub fn sha256_file(path: &Path) -> std::io::Result<(crate::image::digest::Sha256Hex, u64)> {
    sha256_of(File::open(path)?)
}

/// The SHA-256 and size of what `file` holds from where it stands.
fn sha256_of(mut file: File) -> std::io::Result<(crate::image::digest::Sha256Hex, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((crate::image::digest::Sha256Hex::finish(hasher), size))
}

/// Bytes available to an unprivileged writer on the filesystem holding `folder`.
pub fn available_space(folder: &Path) -> anyhow::Result<u64> {
    crate::host::os::available_space(folder)
        .with_context(|| format!("asking the free space of {}", folder.display()))
}

/// Removes the partial files in `folder` (and `below` it) that another run left (a run killed by SIGKILL
/// or a power loss cannot clean up after itself). Only for a run that holds the release lock:
/// every other writer of these folders holds it too, so none of them is alive. Returns what it
/// removed, each with the token of the run that left it.
pub fn sweep_partials(folder: &Path, below: bool) -> Vec<(PathBuf, String)> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return removed;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() && below => removed.extend(sweep_partials(&path, below)),
            Ok(t) if t.is_file() => {
                let name = entry.file_name().to_string_lossy().into_owned();
                let writer = name
                    .rsplit_once(PARTIAL_MARK)
                    .filter(|_| name.starts_with('.'))
                    .map(|(_, token)| token.to_string());
                if let Some(token) = writer
                    && token != run_token()
                    && std::fs::remove_file(&path).is_ok()
                {
                    removed.push((path, token));
                }
            }
            _ => {}
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_new_refuses_an_existing_destination_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("fsutil-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("a.json");
        let write_new = |content: &[u8]| pending_with(&target, content)?.persist_new();
        write_new(b"first").unwrap().keep();
        let err = write_new(b"second").unwrap_err();
        // By its kind: the words are the system's ("File exists", "os error 183" on Windows).
        let exists = err.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists)
        });
        assert!(exists, "{err:#}");
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "temp left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sweeping_keeps_this_runs_partials_and_other_files() {
        let dir = std::env::temp_dir().join(format!("fsutil-sweep-{}", run_token()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("0.1.0")).unwrap();
        let dead = dir.join("0.1.0/.metal-amd64.iso.partial-0123456789abcdef");
        let own = dir.join(format!(".a.json.partial-{}", run_token()));
        let other = dir.join("0.1.0/metal-amd64.iso");
        for path in [&dead, &own, &other] {
            std::fs::write(path, b"x").unwrap();
        }
        assert_eq!(
            sweep_partials(&dir, true),
            vec![(dead.clone(), "0123456789abcdef".to_string())]
        );
        assert!(!dead.exists() && own.exists() && other.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_run_token_is_random_hex_and_the_same_all_run() {
        let token = run_token();
        assert_eq!(token.len(), 16);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(run_token(), token);
    }
}
