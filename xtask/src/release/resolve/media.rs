//! The boot media: a `HEAD` on each, which starts (or joins) its build and, for a check, is
//! the answer; then, for a real run, the room for all of them and their downloads. The mode
//! (downloads or sizes) is taken apart once, in `Stage::start`: the workers of each report
//! events of their own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::host::fsutil;
use crate::host::http::{Client, Failure};
use crate::host::progress::Line;
use crate::image::build::PlannedMedium;
use crate::image::download::{self, Downloaded};
use crate::image::plan::Plan;
use crate::image::talos::BootMedium;
use crate::util::mib;

use std::sync::Arc;

use super::registration::Registration;
use super::{Downloads, Event as Reported, Media, ResolvedMedium, Run};

/// What a medium's worker reports.
pub(super) enum Event {
    /// A check: the size the medium's `HEAD` announced.
    Sized(BootMedium, anyhow::Result<u64>),
    /// A real run: the medium is built, with the size its `HEAD` announced (`None`: not known;
    /// the download asks again).
    Warmed(BootMedium, Option<u64>),
    Downloaded(BootMedium, anyhow::Result<Downloaded>),
}

/// The media's part of the stage: each medium's progress line and, for a real run, where the
/// downloads go and the sizes announced so far.
pub(super) struct Stage {
    lines: BTreeMap<BootMedium, Arc<Line>>,
    downloads: Option<Downloads>,
    announced: BTreeMap<BootMedium, Option<u64>>,
}

impl Stage {
    /// A `HEAD` on each medium, which builds it, each on a worker of its own.
    pub(super) fn start(run: &mut Run, media: Media) -> Stage {
        let mut lines = BTreeMap::new();
        for medium in &run.plan.build.media {
            let line = Arc::new(run.progress.line(&medium.file));
            lines.insert(medium.medium, line.clone());
            let shared = run.shared.clone();
            let (medium, media) = (medium.clone(), media.clone());
            run.workers.spawn(move || {
                let (client, registration) = (&shared.client, &shared.registration);
                Reported::Media(match media {
                    Media::Sizes => {
                        Event::Sized(medium.medium, size(client, registration, &medium, &line))
                    }
                    Media::Download(_) => {
                        Event::Warmed(medium.medium, warm(client, registration, &medium, &line))
                    }
                })
            });
        }
        let downloads = match media {
            Media::Download(downloads) => Some(downloads),
            Media::Sizes => None,
        };
        Stage {
            lines,
            downloads,
            announced: BTreeMap::new(),
        }
    }

    /// Where a real run's downloads go; `None` for a check.
    pub(super) fn downloads(&self) -> Option<&Downloads> {
        self.downloads.as_ref()
    }

    /// A medium's report: a check's size is the answer; once every medium of a real run is
    /// built and they fit on the disk, every download starts at once; a download is recorded.
    pub(super) fn absorb(&mut self, event: Event, run: &mut Run) -> anyhow::Result<()> {
        match event {
            Event::Sized(kind, size) => {
                let size = size?;
                let medium = ResolvedMedium { sha256: None, size };
                run.resolved.media.insert(kind, medium);
                self.lines[&kind].finish(&format!("built, {} ({size} bytes)", mib(size)));
            }
            Event::Warmed(kind, size) => {
                self.announced.insert(kind, size);
                if let Some(downloads) = &self.downloads
                    && self.announced.len() == run.plan.build.media.len()
                {
                    ensure_room_for_all(run.plan, &downloads.folder, &self.announced)?;
                    self.start_downloads(run, downloads);
                }
            }
            Event::Downloaded(kind, downloaded) => {
                let announced = self.announced.get(&kind).copied().flatten();
                absorb_download(run, kind, announced, downloaded?);
            }
        }
        Ok(())
    }

    /// Every medium's download, at once.
    fn start_downloads(&self, run: &mut Run, downloads: &Downloads) {
        for medium in &run.plan.build.media {
            let shared = run.shared.clone();
            let (medium, line) = (medium.clone(), self.lines[&medium.medium].clone());
            let destination = downloads.folder.join(&medium.file);
            let pace = downloads.pace;
            run.workers.spawn(move || {
                let (client, registration) = (&shared.client, &shared.registration);
                let result = fetch(client, registration, &medium, destination, pace, &line);
                Reported::Media(Event::Downloaded(medium.medium, result))
            });
        }
    }
}

/// A downloaded medium into what the stage resolved. The bytes hashed are what is recorded;
/// a `HEAD` that announced another size is said, or the nightly check (which asks the
/// `HEAD`) would report drift unexplained.
fn absorb_download(
    run: &mut Run,
    kind: BootMedium,
    announced: Option<u64>,
    downloaded: Downloaded,
) {
    if let Some(announced) = announced
        && announced != downloaded.size
    {
        let file = (run.plan.build.media.iter())
            .find(|m| m.medium == kind)
            .map_or(kind.kind().label, |m| m.file.as_str());
        run.progress.println(&format!(
            "warning: {file}: the factory's HEAD announced {announced} bytes, its GET sent {} bytes; the {} bytes downloaded and hashed are recorded, and `image --check` compares sizes with what HEAD says, so expect it to report {file} until the factory agrees with itself",
            downloaded.size,
            downloaded.size
        ));
    }
    let medium = ResolvedMedium {
        sha256: Some(downloaded.sha256),
        size: downloaded.size,
    };
    run.resolved.media.insert(kind, medium);
    run.resolved.files.push(downloaded.file);
}

/// A check's answer: the size a medium's `HEAD` announces, with the usual retries (the
/// `HEAD` starts or joins the build).
fn size(
    client: &Client,
    registration: &Registration,
    medium: &PlannedMedium,
    line: &Line,
) -> anyhow::Result<u64> {
    let what = building(medium, line);
    registration.repairing(&what, || {
        client.with_retries_noted(&what, line, || download::head_size(client, &medium.url))
    })
}

/// A real run's `HEAD`: it only starts (or joins) the build, so a timeout or a passing failure
/// is said and let go (`None`): the download waits for the build.
fn warm(
    client: &Client,
    registration: &Registration,
    medium: &PlannedMedium,
    line: &Line,
) -> Option<u64> {
    let what = building(medium, line);
    // Any failure is the download's to report: it asks again, with retries.
    let once = || match download::head_size(client, &medium.url) {
        Ok(size) => Ok(size),
        Err(Failure::Permanent(e) | Failure::Transient(e) | Failure::RetryAfter(e, _)) => Err(e),
    };
    match registration.repairing(&what, once) {
        Ok(size) => Some(size),
        Err(e) => {
            line.note(&format!(
                "{what}: {e:#}; the download asks again and waits for the build"
            ));
            None
        }
    }
}

/// Says on `line` that the medium is being built; what its `HEAD` asks, for messages.
fn building(medium: &PlannedMedium, line: &Line) -> String {
    let url = &medium.url;
    line.status(&format!(
        "building… (the factory answers once the image is built; this can take minutes): HEAD {url}"
    ));
    format!("asking the size of {url}")
}

/// Downloads one medium beside its final name.
fn fetch(
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
fn ensure_room_for_all(
    plan: &Plan,
    folder: &std::path::Path,
    announced: &BTreeMap<BootMedium, Option<u64>>,
) -> anyhow::Result<()> {
    let needed: u64 = announced.values().flatten().sum();
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
