//! The one pipeline behind `image` and `image --check`: the plan and the factory in, the facts
//! a manifest records out. Preflight, SecureBoot certificate and registration (read back) come
//! first, one after the other; then every build the release needs is asked for at the same
//! moment, because the factory builds each asset on its first request and answers nothing
//! until it is built: a `HEAD` on each medium, and the installer's digest (whose `HEAD` builds
//! it) followed by its signature, each on a thread of its own over the blocking client. A real
//! run then downloads every medium concurrently, to temporary files the record step renames;
//! a check keeps the sizes the `HEAD`s announced. The first failure ends the stage at once.
//!
//! Each artifact kind has its module (`registration`, `media`, `installer`, `air_gap`), each
//! piece of work is one `Workers::spawn`, and the mode (download or sizes) is taken apart once,
//! before the loop that takes the workers' reports as they come. `installer` is the one place
//! where an outcome becomes a warning or an error ("warn, or fail under `--require-*`").

mod air_gap;
mod installer;
mod media;
mod registration;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::bail;

use crate::cli::Requirements;
use crate::host::fsutil::PendingFile;
use crate::host::http::Client;
use crate::host::progress::{Line, Progress};
use crate::image::bundle::{self, Store};
use crate::image::digest::Digest;
use crate::image::download::Downloaded;
use crate::image::factory::Factory;
use crate::image::manifest::{AirGap, Extension, Signature};
use crate::image::plan::Plan;
use crate::image::talos::BootMedium;
use crate::util::mib;

use air_gap::BundlePart;
use registration::Registration;

/// What the stage does with the media.
#[derive(Clone, Debug)]
pub enum Media {
    /// Download them (a real run, `fetch`, `--check --hashes`).
    Download(Downloads),
    /// Only their sizes, from the `HEAD` that builds them (`--check`).
    Sizes,
}

/// Where the downloads go (a real run: the release's folder in `ee/appliance/dist`; `--check
/// --hashes`: a temporary one), and how slow a transfer may be: an attempt that receives less
/// than `pace.1` bytes per second over `pace.0` is given up.
#[derive(Clone, Debug)]
pub struct Downloads {
    folder: PathBuf,
    pace: (Duration, u64),
}

impl Media {
    /// Downloads into `folder`, paced as `--stall-timeout` and `--min-rate` say.
    pub fn download(network: &crate::cli::Network, folder: PathBuf) -> Media {
        Media::Download(Downloads {
            folder,
            pace: (Duration::from_secs(network.stall_timeout), network.min_rate),
        })
    }
}

/// Who the facts are for: the messages and what a missing digest or signature means differ.
#[derive(Clone, Debug)]
pub enum Purpose {
    Release,
    /// A check of the manifest at `manifest_path`, which recorded a digest and a signature (or not).
    Check {
        manifest_path: String,
        recorded_digest: bool,
        recorded_signature: bool,
    },
    /// `fetch` of the release the manifest at `manifest_path` records: the media and their
    /// SHA-256 are what it needs; the installer's digest and signature are only reported.
    Fetch {
        manifest_path: String,
    },
}

impl Purpose {
    /// `fetch`: the media of `recorded` again, checked against its SHA-256s alone; what the
    /// registry says of the installer is only worth a warning.
    pub fn fetch_of(recorded: &crate::image::manifest::Manifest) -> Purpose {
        Purpose::Fetch {
            manifest_path: crate::project::manifest_path(&recorded.release_version),
        }
    }

    /// Asking the factory again for what `recorded` holds (`--check`).
    pub fn check_of(recorded: &crate::image::manifest::Manifest) -> Purpose {
        Purpose::Check {
            manifest_path: crate::project::manifest_path(&recorded.release_version),
            recorded_digest: recorded.os.installer.digest.is_some(),
            recorded_signature: recorded.os.installer.signature.is_some(),
        }
    }
}

/// What the factory gave, keyed by kind where there are several.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The factory's Talos versions, oldest first.
    pub versions: Vec<String>,
    pub extensions: Vec<Extension>,
    pub certificate_sha256: Option<crate::image::digest::Sha256Hex>,
    pub media: BTreeMap<BootMedium, ResolvedMedium>,
    pub installer_digest: Option<Digest>,
    pub installer_signature: Option<Signature>,
    /// The air-gap bundle as packed (a real run with the air gap).
    pub air_gap: Option<AirGap>,
    /// A check with the air gap: the digest each bundled image's reference resolves to now.
    pub image_digests: BTreeMap<String, Digest>,
    /// The downloaded media (and the bundle) at their temporary names, for the record step;
    /// empty for a check.
    pub files: Vec<PendingFile>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResolvedMedium {
    /// `None` where the bytes were not downloaded (a check).
    pub sha256: Option<crate::image::digest::Sha256Hex>,
    pub size: u64,
}

/// What each worker thread reports.
enum Event {
    /// A medium's build answered its `HEAD` with this size (`None`: not known).
    Warmed(BootMedium, anyhow::Result<Option<u64>>),
    Downloaded(BootMedium, anyhow::Result<Downloaded>),
    Installer(anyhow::Result<(Option<Digest>, Option<Signature>)>),
    /// An image of the bundle, by the part it is.
    Bundled(BundlePart, anyhow::Result<bundle::Fetched>),
    /// A check: the digest an image's reference resolves to now.
    Looked(String, anyhow::Result<Digest>),
}

/// The stage's worker threads: each runs one task on a thread of its own and reports one
/// event; the loop in `resolve` takes the events as they come.
struct Workers {
    events: mpsc::Sender<Event>,
    inbox: mpsc::Receiver<Event>,
    waiting: usize,
}

impl Workers {
    fn new() -> Workers {
        let (events, inbox) = mpsc::channel();
        Workers {
            events,
            inbox,
            waiting: 0,
        }
    }

    /// Runs `work` on a thread of its own. What it captured is let go when it returns, before
    /// its event is sent.
    fn spawn(&mut self, work: impl FnOnce() -> Event + Send + 'static) {
        self.waiting += 1;
        let events = self.events.clone();
        std::thread::spawn(move || {
            let event = work();
            let _ = events.send(event);
        });
    }

    /// The next report, or `None` once every worker has reported.
    fn next(&mut self) -> Option<Event> {
        if self.waiting == 0 {
            return None;
        }
        self.waiting -= 1;
        Some(
            self.inbox
                .recv()
                .expect("every worker reports before it ends"),
        )
    }
}

/// What every worker of the stage shares: the client and the factory's registration.
struct Shared {
    client: Arc<Client>,
    registration: Arc<Registration>,
}

/// The installer's digest and signature, on a worker of their own.
fn start_installer(
    workers: &mut Workers,
    plan: &Plan,
    shared: &Shared,
    requirements: Requirements,
    purpose: &Purpose,
    progress: &Progress,
) {
    let (client, registration) = (shared.client.clone(), shared.registration.clone());
    let (reference, policy) = (plan.build.installer.clone(), plan.trust.clone());
    let (purpose, line, out) = (
        purpose.clone(),
        progress.line("installer"),
        progress.clone(),
    );
    workers.spawn(move || {
        let wanted = installer::Wanted {
            installer: &reference,
            policy: policy.as_ref(),
            requirements,
        };
        Event::Installer(installer::installer(
            &wanted,
            &client,
            &registration,
            &purpose,
            &line,
            &out,
        ))
    });
}

/// A `HEAD` on each medium, which builds it, each on a worker of its own; their lines.
fn start_warming(
    workers: &mut Workers,
    plan: &Plan,
    shared: &Shared,
    media: &Media,
    progress: &Progress,
) -> BTreeMap<BootMedium, Arc<Line>> {
    let mut lines = BTreeMap::new();
    for medium in &plan.build.media {
        let line = Arc::new(progress.line(&medium.file));
        lines.insert(medium.medium, line.clone());
        let (client, registration) = (shared.client.clone(), shared.registration.clone());
        let (medium, media) = (medium.clone(), media.clone());
        workers.spawn(move || {
            let result = media::warm(&client, &registration, &medium, &media, &line);
            Event::Warmed(medium.medium, result)
        });
    }
    lines
}

/// Every medium's download, at once, once all of them are built and fit on the disk.
fn start_downloads(
    workers: &mut Workers,
    plan: &Plan,
    shared: &Shared,
    downloads: &Downloads,
    lines: &BTreeMap<BootMedium, Arc<Line>>,
) {
    for medium in &plan.build.media {
        let (client, registration) = (shared.client.clone(), shared.registration.clone());
        let (medium, line) = (medium.clone(), lines[&medium.medium].clone());
        let destination = downloads.folder.join(&medium.file);
        let pace = downloads.pace;
        workers.spawn(move || {
            let result = media::fetch(&client, &registration, &medium, destination, pace, &line);
            Event::Downloaded(medium.medium, result)
        });
    }
}

/// A downloaded medium into what the stage resolved. The bytes hashed are what is recorded;
/// a `HEAD` that announced another size is said, or the nightly check (which asks the
/// `HEAD`) would report drift unexplained.
fn absorb_download(
    plan: &Plan,
    progress: &Progress,
    kind: BootMedium,
    announced: Option<u64>,
    downloaded: Downloaded,
    resolved: &mut Resolved,
) {
    if let Some(announced) = announced
        && announced != downloaded.size
    {
        let file = (plan.build.media.iter())
            .find(|m| m.medium == kind)
            .map_or(kind.kind().label, |m| m.file.as_str());
        progress.println(&format!(
            "warning: {file}: the factory's HEAD announced {announced} bytes, its GET sent {} bytes; the {} bytes downloaded and hashed are recorded, and `image --check` compares sizes with what HEAD says, so expect it to report {file} until the factory agrees with itself",
            downloaded.size,
            downloaded.size
        ));
    }
    resolved.media.insert(
        kind,
        ResolvedMedium {
            sha256: Some(downloaded.sha256),
            size: downloaded.size,
        },
    );
    resolved.files.push(downloaded.file);
}

/// The cluster's images, which need nothing from the factory, start with the builds; the
/// store the bundle is packed from, when the run downloads.
fn start_air_gap(
    workers: &mut Workers,
    plan: &Plan,
    client: &Arc<Client>,
    downloads: Option<&Downloads>,
    progress: &Progress,
) -> Option<Arc<Store>> {
    let air_gap = plan.air_gap.as_ref()?;
    let store = downloads.map(|downloads| {
        Arc::new(Store::new(
            client.clone(),
            downloads.folder.join(&air_gap.file),
            downloads.pace,
        ))
    });
    air_gap::spawn_images(
        workers,
        &plan.build,
        air_gap,
        store.as_ref(),
        client,
        progress,
    );
    store
}

/// Runs the stage. Returns at the first failure, whatever the other workers are doing: they
/// own only temporary files, which the run's clean-up removes (`interrupt::abandon`).
pub fn resolve(
    plan: &Plan,
    client: &Arc<Client>,
    requirements: Requirements,
    media: Media,
    purpose: &Purpose,
    progress: &Progress,
) -> anyhow::Result<Resolved> {
    let factory = Factory::new(client, &plan.build.factory);
    let preflight = factory.preflight(&plan.build, &plan.schematic)?;
    let certificate_sha256 = factory.secure_boot_certificate(&plan.build)?;
    let registration = Arc::new(Registration::new(
        plan.build.factory.clone(),
        plan.schematic.clone(),
        client.clone(),
        progress,
    ));
    registration.register()?;
    // The mode, chosen once: downloads for a real run (and `--check --hashes`), else sizes.
    let downloads = match &media {
        Media::Download(downloads) => Some(downloads.clone()),
        Media::Sizes => None,
    };

    let mut workers = Workers::new();
    let shared = Shared {
        client: client.clone(),
        registration: registration.clone(),
    };
    start_installer(&mut workers, plan, &shared, requirements, purpose, progress);
    let lines = start_warming(&mut workers, plan, &shared, &media, progress);

    let store = start_air_gap(&mut workers, plan, client, downloads.as_ref(), progress);
    let mut bundled: BTreeMap<BundlePart, bundle::Fetched> = BTreeMap::new();

    let mut resolved = Resolved {
        versions: preflight.versions,
        extensions: preflight.extensions,
        certificate_sha256,
        ..Resolved::default()
    };
    let mut announced: BTreeMap<BootMedium, Option<u64>> = BTreeMap::new();
    while let Some(event) = workers.next() {
        match event {
            Event::Installer(result) => {
                (resolved.installer_digest, resolved.installer_signature) = result?;
                if let Some(store) = &store {
                    let Some(digest) = resolved.installer_digest.clone() else {
                        bail!(
                            "the air-gap bundle needs the installer, whose digest of {} was not resolved; nothing is recorded",
                            plan.build.installer.image
                        );
                    };
                    air_gap::spawn_installer(
                        &mut workers,
                        &plan.build,
                        store,
                        &digest,
                        resolved.installer_signature.as_ref(),
                        progress,
                    );
                }
            }
            Event::Bundled(part, result) => {
                bundled.insert(part, result?);
            }
            Event::Looked(name, result) => {
                resolved.image_digests.insert(name, result?);
            }
            Event::Warmed(kind, result) => {
                let size = result?;
                let Some(downloads) = &downloads else {
                    let size = size.expect("a check's HEAD fails rather than answer no size");
                    resolved
                        .media
                        .insert(kind, ResolvedMedium { sha256: None, size });
                    lines[&kind].finish(&format!("built, {} ({size} bytes)", mib(size)));
                    continue;
                };
                announced.insert(kind, size);
                if announced.len() < plan.build.media.len() {
                    continue;
                }
                media::ensure_room_for_all(plan, &downloads.folder, &announced)?;
                start_downloads(&mut workers, plan, &shared, downloads, &lines);
            }
            Event::Downloaded(kind, result) => {
                let downloaded = result?;
                let announced = announced.get(&kind).copied().flatten();
                absorb_download(plan, progress, kind, announced, downloaded, &mut resolved);
            }
        }
    }
    if let (Some(store), Some(air_gap)) = (store, &plan.air_gap) {
        let store =
            Arc::into_inner(store).expect("every worker let go of the store before it reported");
        let (file, record) = air_gap::pack(store, air_gap, bundled, progress)?;
        resolved.files.push(file);
        resolved.air_gap = Some(record);
    }
    Ok(resolved)
}
