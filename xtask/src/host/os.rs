//! What differs between the operating systems the tool runs on (Linux, macOS, Windows), each a
//! function with a real implementation on each side, so the rest of the code is the same
//! everywhere: a file's identity, free space, opening a new file or an input without following
//! a link, a private folder, and flushing a folder.
//!
//! On Windows a folder cannot be opened to be flushed ("Access denied"): NTFS journals its
//! metadata, so a rename is as durable as the file's own flush, and `sync_folder` does nothing.

use std::fs::File;
use std::io;
use std::path::Path;

/// The device (volume) and the file's number on it: what a rename keeps and a new file does
/// not have. `file` is open on the file itself.
pub fn file_id(file: &File) -> io::Result<(u64, u64)> {
    imp::file_id(file)
}

/// Bytes available to an unprivileged writer on the filesystem holding `folder`.
pub fn available_space(folder: &Path) -> io::Result<u64> {
    imp::available_space(folder)
}

/// A new file at `path`, readable and writable, never an existing one and never through a
/// link planted at that name (unix: `O_EXCL | O_NOFOLLOW`, mode 0644; Windows: `CREATE_NEW`,
/// which fails on any existing name, a link included).
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut options = File::options();
    options.read(true).write(true).create_new(true);
    imp::no_follow(&mut options);
    imp::file_mode(&mut options);
    options.open(path)
}

/// An input file opened for reading at its real path, not following a link again and never
/// blocking on a FIFO.
pub fn open_input(path: &Path) -> io::Result<File> {
    let mut options = File::options();
    options.read(true);
    imp::input_flags(&mut options);
    options.open(path)
}

/// Makes the folder `path`, readable by its owner only where the system has modes.
pub fn create_private_folder(path: &Path) -> io::Result<()> {
    imp::private_folder(path)
}

/// Flushes the folder `folder`, so that a rename into it survives a power loss; nothing on
/// Windows (see the module's comment).
pub fn sync_folder(folder: &Path) -> io::Result<()> {
    imp::sync_folder(folder)
}

/// What an entry that is not a regular file is, for a message: "a FIFO", "a device", …
pub fn kind_of(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a link"
    } else {
        imp::special_kind(kind)
    }
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _};
    use std::path::Path;

    pub fn file_id(file: &File) -> io::Result<(u64, u64)> {
        let metadata = file.metadata()?;
        Ok((metadata.dev(), metadata.ino()))
    }

    pub fn available_space(folder: &Path) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt as _;
        let path = std::ffi::CString::new(folder.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs before it is read.
        if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: statvfs returned 0, so it filled `stats`.
        let stats = unsafe { stats.assume_init() };
        // The field types differ between platforms (u32 on macOS, u64 on Linux).
        #[allow(clippy::unnecessary_cast)]
        Ok(stats.f_bavail as u64 * stats.f_frsize as u64)
    }

    pub fn no_follow(options: &mut OpenOptions) {
        options.custom_flags(libc::O_NOFOLLOW);
    }

    pub fn input_flags(options: &mut OpenOptions) {
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }

    pub fn file_mode(options: &mut OpenOptions) {
        options.mode(0o644);
    }

    pub fn private_folder(path: &Path) -> io::Result<()> {
        std::fs::DirBuilder::new().mode(0o700).create(path)
    }

    pub fn sync_folder(folder: &Path) -> io::Result<()> {
        File::open(folder)?.sync_all()
    }

    pub fn special_kind(kind: std::fs::FileType) -> &'static str {
        if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a file"
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::windows::ffi::OsStrExt as _;
    use std::os::windows::io::AsRawHandle as _;
    use std::path::Path;

    use windows_sys::Win32::Storage::FileSystem::{
        BY_HANDLE_FILE_INFORMATION, GetDiskFreeSpaceExW, GetFileInformationByHandle,
    };

    pub fn file_id(file: &File) -> io::Result<(u64, u64)> {
        // SAFETY: the handle is the open file's, and `info` is written before it is read.
        let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
        if unsafe { GetFileInformationByHandle(file.as_raw_handle() as _, &mut info) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
        Ok((u64::from(info.dwVolumeSerialNumber), index))
    }

    pub fn available_space(folder: &Path) -> io::Result<u64> {
        let wide: Vec<u16> = folder.as_os_str().encode_wide().chain([0]).collect();
        let mut available = 0u64;
        // SAFETY: `wide` is NUL-terminated; the other counts may be null.
        let ok = unsafe {
            GetDiskFreeSpaceExW(
                wide.as_ptr(),
                &mut available,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(available)
    }

    /// `CREATE_NEW` (from `create_new`) already fails on any existing name, a link included.
    pub fn no_follow(_: &mut OpenOptions) {}

    /// The real path was resolved before it is opened, and Windows has no FIFOs on the file
    /// system to block on.
    pub fn input_flags(_: &mut OpenOptions) {}

    /// Files inherit the folder's access control list.
    pub fn file_mode(_: &mut OpenOptions) {}

    /// The folder inherits the access control list of the user's temporary folder, which is
    /// the user's own.
    pub fn private_folder(path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    pub fn sync_folder(_: &Path) -> io::Result<()> {
        Ok(())
    }

    pub fn special_kind(_: std::fs::FileType) -> &'static str {
        "not a file"
    }
}
