//! Writing files so that a failed run leaves nothing behind: content goes to a temporary file
//! beside the destination and is renamed into place only when complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A file being written next to its destination; removed on drop unless persisted.
pub struct PendingFile {
    temp: PathBuf,
    file: Option<File>,
    destination: PathBuf,
}

impl PendingFile {
    pub fn create(destination: &Path) -> anyhow::Result<PendingFile> {
        let parent = destination
            .parent()
            .context("destination has no parent folder")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating folder {}", parent.display()))?;
        let name = destination
            .file_name()
            .context("destination has no file name")?;
        let temp = parent.join(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
        Ok(PendingFile {
            temp,
            file: Some(file),
            destination: destination.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file is open until persisted")
    }

    /// Flushes to disk and renames into place.
    pub fn persist(mut self) -> anyhow::Result<()> {
        let file = self.file.take().expect("persisted once");
        file.sync_all()
            .with_context(|| format!("flushing {}", self.temp.display()))?;
        drop(file);
        std::fs::rename(&self.temp, &self.destination).with_context(|| {
            format!(
                "moving {} into place as {}",
                self.temp.display(),
                self.destination.display()
            )
        })?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `content` to `destination` atomically.
pub fn write_atomic(destination: &Path, content: &[u8]) -> anyhow::Result<()> {
    let mut pending = PendingFile::create(destination)?;
    pending
        .file()
        .write_all(content)
        .with_context(|| format!("writing {}", destination.display()))?;
    pending.persist()
}
