//! Where things live in the repository. Every path the tool records is relative to the
//! project root, which is found at run time from the current directory (see `root`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The release intent: the pinned inputs a release is cut from.
/// The appliance tree; release.yaml's folder.
pub const APPLIANCE_DIR: &str = "ee/appliance";
pub const INTENT: &str = "ee/appliance/release.yaml";
pub const SCHEMATICS_DIR: &str = "ee/appliance/schematics";
pub const RELEASE_SCHEMA: &str = "ee/appliance/schemas/release.schema.json";
pub const CHANNEL_SCHEMA: &str = "ee/appliance/schemas/channel.schema.json";
pub const RELEASES_DIR: &str = "ee/appliance/releases";
pub const CHANNELS_DIR: &str = "ee/appliance/releases/channels";
/// Downloaded boot media; ignored by git.
pub const DIST_DIR: &str = "ee/appliance/dist";

/// The tree a run works on, and how it was found.
#[derive(Debug)]
pub struct Root {
    pub path: PathBuf,
    /// The absolute root, and where it came from: said once on stderr by the tasks that act on
    /// the tree's release state, since every path they print is relative to it.
    pub note: String,
}

/// The repository root: the nearest folder at or above the current directory that holds both a
/// `Cargo.toml` and `ee/appliance` (the tree you stand in), or the `XTASK_PROJECT_ROOT` override
/// tests use to work on a scratch copy. Never the folder this binary was compiled in: two
/// checkouts sharing one target folder share one binary, and cargo does not rebuild it when
/// only the checkout differs.
pub fn root() -> anyhow::Result<Root> {
    if let Some(path) = crate::test_hooks::project_root() {
        let note = format!("tree: {} (XTASK_PROJECT_ROOT)", path.display());
        return Ok(Root { path, note });
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    find_root(&cwd, Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn find_root(cwd: &Path, manifest_dir: &Path) -> anyhow::Result<Root> {
    let Some(path) = cwd
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("ee/appliance").is_dir())
    else {
        bail!(
            "{} is not inside an appliance checkout (no folder above it holds Cargo.toml and ee/appliance); run cargo xtask from within the repository",
            cwd.display()
        );
    };
    let built_in = manifest_dir.parent().unwrap_or(manifest_dir);
    let note = if same_folder(path, built_in) {
        format!("tree: {}", path.display())
    } else {
        format!(
            "tree: {} (the one you stand in; this binary was built in {}, which is not used)",
            path.display(),
            built_in.display()
        )
    };
    Ok(Root {
        path: path.to_path_buf(),
        note,
    })
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

pub fn manifest_path(release_version: &str) -> String {
    format!("{RELEASES_DIR}/{release_version}.json")
}

pub fn channel_path(channel: &str) -> String {
    format!("{CHANNELS_DIR}/{channel}.json")
}

/// The folder of a release's boot media and `SHA256SUMS`.
pub fn release_dist_dir(release_version: &str) -> String {
    format!("{DIST_DIR}/{release_version}")
}

/// Where a release's boot medium is saved: the factory's own file name.
pub fn medium_path(release_version: &str, file: &str) -> String {
    format!("{}/{file}", release_dist_dir(release_version))
}

/// The `sha256sum -c` file beside a release's media.
pub fn sums_path(release_version: &str) -> String {
    format!("{DIST_DIR}/{release_version}/SHA256SUMS")
}

/// The last part of a recorded (repository-relative, `/`-separated) path: a medium's or the
/// bundle's file name, as `SHA256SUMS` and messages name it.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The `<stem>` of each `<stem>.json` in the tree's folder `dir` (hidden files left out),
/// unsorted: the recorded releases, the channels.
pub fn json_stems(root: &Path, dir: &str) -> Vec<String> {
    std::fs::read_dir(root.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            (!stem.starts_with('.')).then(|| stem.to_string())
        })
        .collect()
}

/// The most an input file of the tree (release.yaml, a schematic, a manifest, a channel, a
/// schema) may hold: far beyond any real one (a 30 MB schematic of a million kernel arguments
/// still plans), and a bound on what a hostile one can make the tool read.
pub const INPUT_CAP: u64 = 256 * 1024 * 1024;

/// Reads the input `relative` of the tree at `root` as text, at most `cap` bytes: a link is
/// followed only while it stays inside the repository (its real path is checked), and the file
/// must be a regular file (a FIFO, a device or a folder is refused, never opened for reading).
/// Errors name the file and why.
pub fn read_input(root: &Path, relative: &str, cap: u64) -> anyhow::Result<String> {
    let bytes = read_input_bytes(root, relative, cap)?;
    String::from_utf8(bytes).with_context(|| format!("{relative} is not UTF-8 text"))
}

/// `read_input`, as bytes.
pub fn read_input_bytes(root: &Path, relative: &str, cap: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let path = root.join(relative);
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("{relative} does not exist"));
        }
        Err(e) => return Err(e).with_context(|| format!("reading {relative}")),
    };
    let real_root = root
        .canonicalize()
        .with_context(|| format!("resolving the repository {}", root.display()))?;
    if !real.starts_with(&real_root) {
        bail!(
            "{relative} is a link that leads out of the repository (to {}); refusing to read it: inputs are files of the repository",
            real.display()
        );
    }
    // The real path, not followed again, and never blocking on a FIFO.
    let file = crate::host::os::open_input(&real).with_context(|| format!("reading {relative}"))?;
    let kind = file
        .metadata()
        .with_context(|| format!("reading {relative}"))?
        .file_type();
    if !kind.is_file() {
        let what = crate::host::os::kind_of(kind);
        bail!("{relative} is {what}, not a regular file; refusing to read it");
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {relative}"))?;
    if bytes.len() as u64 > cap {
        bail!("{relative} is larger than {cap} bytes; refusing to read more of it");
    }
    Ok(bytes)
}

/// A repository-relative path as the tool records it: forward slashes, no `.`/`..`.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let absolute = normalize(&absolute);
    let relative = absolute.strip_prefix(normalize(root)).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Removes `.` and resolves `..` lexically (the files may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_checkout_around_the_current_directory() {
        let scratch = std::env::temp_dir().join(format!("xtask-root-{}", std::process::id()));
        let (a, b) = (scratch.join("a"), scratch.join("b"));
        for tree in [&a, &b] {
            std::fs::create_dir_all(tree.join("ee/appliance/schematics")).unwrap();
            std::fs::create_dir_all(tree.join("xtask")).unwrap();
            std::fs::write(tree.join("Cargo.toml"), "").unwrap();
        }
        // Standing deep in checkout a, with a binary built in checkout b.
        let found = find_root(&a.join("ee/appliance/schematics"), &b.join("xtask")).unwrap();
        assert_eq!(found.path, a);
        assert!(found.note.contains(&format!("tree: {}", a.display())));
        assert!(found.note.contains(&format!("built in {}", b.display())));
        let found = find_root(&b, &b.join("xtask")).unwrap();
        assert_eq!(found.note, format!("tree: {}", b.display()));
        // Outside any checkout: refused, naming the folder.
        let error = find_root(&scratch, &b.join("xtask"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is not inside an appliance checkout"),
            "{error}"
        );
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
