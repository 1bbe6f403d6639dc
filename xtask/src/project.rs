//! Where things live in the repository. Every path the tool records is relative to the
//! project root, which is found from the xtask crate's own location, never from the cwd.

use std::path::{Path, PathBuf};

/// The release intent: the pinned inputs a release is cut from.
pub const INTENT: &str = "ee/appliance/release.yaml";
pub const SCHEMATICS_DIR: &str = "ee/appliance/schematics";
pub const RELEASE_SCHEMA: &str = "ee/appliance/schemas/release.schema.json";
pub const CHANNEL_SCHEMA: &str = "ee/appliance/schemas/channel.schema.json";
pub const RELEASES_DIR: &str = "ee/appliance/releases";
pub const CHANNELS_DIR: &str = "ee/appliance/releases/channels";
/// Downloaded boot media; ignored by git.
pub const DIST_DIR: &str = "ee/appliance/dist";

/// The repository root, from `CARGO_MANIFEST_DIR` (the `xtask/` folder), or the
/// `XTASK_PROJECT_ROOT` override tests use to work on a scratch copy of the tree.
pub fn root() -> PathBuf {
    if let Some(root) = crate::test_hooks::project_root() {
        return root;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(1)
        .expect("xtask lives one level below the project root")
        .to_path_buf()
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
