//! The boot media: a `HEAD` on each, which starts (or joins) its build and, for a check, is
//! the answer; then, for a real run, the room for all of them and their downloads.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::host::fsutil;
use crate::host::http::{Client, Failure};
use crate::host::progress::Line;
use crate::image::build::PlannedMedium;
use crate::image::download::{self, Downloaded};
use crate::image::plan::Plan;
use crate::image::talos::BootMedium;
use crate::util::mib;

use super::Media;
use super::registration::Registration;

/// Asks for a medium's build with `HEAD`. For a real run that only starts (or joins) the build,
/// so a timeout or a passing failure is said and let go: the download waits for the build. For
/// a check, the size it announces is the answer, with the usual retries.
pub(super) fn warm(
    client: &Client,
    registration: &Registration,
    medium: &PlannedMedium,
    media: &Media,
    line: &Line,
) -> anyhow::Result<Option<u64>> {
    let url = &medium.url;
    line.status(&format!(
        "building… (the factory answers once the image is built; this can take minutes): HEAD {url}"
    ));
    let what = format!("asking the size of {url}");
    match media {
        Media::Sizes => registration
            .repairing(&what, || {
                client.with_retries_noted(&what, line, || download::head_size(client, url))
            })
            .map(Some),
        // Any failure is the download's to report: it asks again, with retries.
        Media::Download(_) => {
            let once = || match download::head_size(client, url) {
                Ok(size) => Ok(size),
                Err(Failure::Permanent(e) | Failure::Transient(e) | Failure::RetryAfter(e, _)) => {
                    Err(e)
                }
            };
            match registration.repairing(&what, once) {
                Ok(size) => Ok(Some(size)),
                Err(e) => {
                    line.note(&format!(
                        "{what}: {e:#}; the download asks again and waits for the build"
                    ));
                    Ok(None)
                }
            }
        }
    }
}

/// Downloads one medium beside its final name.
pub(super) fn fetch(
    client: &Client,
    registration: &Registration,
    medium: &PlannedMedium,
    destination: PathBuf,
    (stall, min_rate): (Duration, u64),
    line: &Line,
) -> anyhow::Result<Downloaded> {
    let target = download::Target {
        url: &medium.url,
        destination: &destination,
        display: &medium.path,
        magic: medium.medium.kind().magic,
        stall,
        min_rate,
    };
    registration.repairing(&format!("downloading {}", medium.url), || {
        download::download(client, &target, line)
    })
}

/// Before the first byte: the media together must fit in `folder` (the downloads check again,
/// each for its own rest, when their bodies start).
pub(super) fn ensure_room_for_all(
    plan: &Plan,
    folder: &std::path::Path,
    announced: &BTreeMap<BootMedium, Option<u64>>,
) -> anyhow::Result<()> {
    let needed: u64 = announced.values().flatten().sum();
    crate::host::interrupt::create_dir_all(folder)
        .with_context(|| format!("creating folder {}", folder.display()))?;
    let available = fsutil::available_space(folder)?;
    if needed > available {
        let shown = crate::project::relative(&plan.root, folder)
            .unwrap_or_else(|| folder.display().to_string());
        let files: Vec<&str> = plan.build.media.iter().map(|m| m.file.as_str()).collect();
        bail!(
            "not enough disk space for {}: needs {} in {shown}, {} available; free space or point {shown} at a larger disk",
            files.join(" and "),
            mib(needed),
            mib(available)
        );
    }
    Ok(())
}
