//! The one pipeline behind `image` and `image --check`: the plan and the factory in, the facts
//! a manifest records out. Preflight, SecureBoot certificate and registration (read back) come
//! first, one after the other; then every build the release needs is asked for at the same
//! moment, because the factory builds each asset on its first request and answers nothing
//! until it is built: a `HEAD` on each medium, and the installer's digest (whose `HEAD` builds
//! it) followed by its signature, each on a thread of its own over the blocking client. A real
//! run then downloads every medium concurrently, to temporary files the record step renames;
//! a check keeps the sizes the `HEAD`s announced. The first failure ends the stage at once.
//!
//! Each artifact kind has its module (`registration`, `media`, `installer`, `air_gap`), which
//! starts its work on the stage's `Workers` and absorbs its workers' reports into `Resolved`;
//! the loop here only routes each report to its module. The media's mode (download or sizes)
//! is taken apart once, in `media::Stage::start`. `installer` is the one place where an
//! outcome becomes a warning or an error ("warn, or fail under `--require-*`").

mod air_gap;
mod installer;
mod media;
mod registration;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::cli::Requirements;
use crate::host::fsutil::PendingFile;
use crate::host::http::Client;
use crate::host::progress::Progress;
use crate::image::digest::Digest;
use crate::image::factory::Factory;
use crate::image::manifest::{AirGap, Extension, Signature};
use crate::image::plan::Plan;
use crate::image::talos::BootMedium;

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

/// What each worker thread reports, by the module that started it; each module absorbs its
/// own.
enum Event {
    Media(media::Event),
    Installer(installer::Outcome),
    AirGap(air_gap::Event),
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
#[derive(Clone)]
struct Shared {
    client: Arc<Client>,
    registration: Arc<Registration>,
}

/// The stage as it runs: what it works from, its workers, and what it resolved so far. Each
/// artifact module starts its work on `workers` and absorbs its workers' reports into
/// `resolved`.
struct Run<'a> {
    plan: &'a Plan,
    progress: &'a Progress,
    shared: Shared,
    workers: Workers,
    resolved: Resolved,
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
    let mut run = Run {
        plan,
        progress,
        shared: Shared {
            client: client.clone(),
            registration,
        },
        workers: Workers::new(),
        resolved: Resolved {
            versions: preflight.versions,
            extensions: preflight.extensions,
            certificate_sha256,
            ..Resolved::default()
        },
    };
    installer::start(&mut run, requirements, purpose);
    let mut media = media::Stage::start(&mut run, media);
    let mut air_gap = air_gap::Stage::start(&mut run, media.downloads());
    while let Some(event) = run.workers.next() {
        match event {
            Event::Media(event) => media.absorb(event, &mut run)?,
            Event::Installer(outcome) => {
                installer::absorb(outcome, &mut run)?;
                // The bundle holds the installer, by the digest just resolved.
                air_gap.installer_resolved(&mut run)?;
            }
            Event::AirGap(event) => air_gap.absorb(event, &mut run)?,
        }
    }
    air_gap.pack(&mut run)?;
    Ok(run.resolved)
}
