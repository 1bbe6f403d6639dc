//! The one pipeline behind `image` and `image --check`: the plan and the factory in, the facts
//! a manifest records out. Preflight, SecureBoot certificate and registration (read back) come
//! first, one after the other; then every build the release needs is asked for at the same
//! moment, because the factory builds each asset on its first request and answers nothing
//! until it is built: a `HEAD` on each medium, and the installer's digest (whose `HEAD` builds
//! it) followed by its signature, each on a thread of its own over the blocking client. A real
//! run then downloads every medium concurrently, to temporary files the record step renames;
//! a check keeps the sizes the `HEAD`s announced. The first failure ends the stage at once.
//!
//! This is also the one place where an outcome becomes a warning or an error ("warn, or fail
//! under `--require-*`").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::bundle::{self, Store};
use crate::cli::Requirements;
use crate::cluster_images::ImageRef;
use crate::digest::Digest;
use crate::download::{self, Downloaded};
use crate::factory::Factory;
use crate::fsutil::{self, PendingFile};
use crate::http::{self, Client, Failure};
use crate::manifest::{AirGap, BundledImage, Extension, Signature};
use crate::plan::{AirGapPlan, Plan, PlannedMedium};
use crate::progress::{Line, Progress};
use crate::talos::BootMedium;
use crate::util::mib;
use crate::{registry, signature};

/// What the stage does with the media.
#[derive(Clone, Debug)]
pub enum Media {
    /// Download them into `folder` (a real run: the release's folder in `ee/appliance/dist`;
    /// `--check --hashes`: a temporary one); an attempt that receives less than `min_rate`
    /// bytes per second over `stall` is given up.
    Download {
        stall: Duration,
        min_rate: u64,
        folder: PathBuf,
    },
    /// Only their sizes, from the `HEAD` that builds them (`--check`).
    Sizes,
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
}

/// What the factory gave, keyed by kind where there are several.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The factory's Talos versions, oldest first.
    pub versions: Vec<String>,
    pub extensions: Vec<Extension>,
    pub certificate_sha256: Option<String>,
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
    pub sha256: Option<String>,
    pub size: u64,
}

/// A part of the air-gap bundle, in the bundle's order: the installer, its signature, then
/// the plan's images (the cluster's, then `airGap.extraImages`) by their place in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum BundlePart {
    Installer,
    /// In the bundle, and recorded as `os.installer.signature`, not as an image.
    Signature,
    Image(usize),
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
    let factory = Factory::new(client, &plan.factory);
    let preflight = factory.preflight(plan)?;
    let certificate_sha256 = factory.secure_boot_certificate(plan)?;
    // One copy of the plan, shared by the registration and every worker.
    let plan = Arc::new(plan.clone());
    let registration = Arc::new(Registration::new(plan.clone(), client.clone(), progress));
    registration.register()?;

    let (events, inbox) = mpsc::channel();
    let mut waiting = 0;
    {
        let (plan, client, registration) = (plan.clone(), client.clone(), registration.clone());
        let (purpose, line, events) = (purpose.clone(), progress.line("installer"), events.clone());
        let out = progress.clone();
        waiting += 1;
        std::thread::spawn(move || {
            let result = installer(
                &plan,
                &client,
                &registration,
                requirements,
                &purpose,
                &line,
                &out,
            );
            let _ = events.send(Event::Installer(result));
        });
    }
    let mut lines: BTreeMap<BootMedium, Arc<Line>> = BTreeMap::new();
    for medium in &plan.media {
        let line = Arc::new(progress.line(&medium.file));
        lines.insert(medium.medium, line.clone());
        let (medium, client, registration, events, media) = (
            medium.clone(),
            client.clone(),
            registration.clone(),
            events.clone(),
            media.clone(),
        );
        waiting += 1;
        std::thread::spawn(move || {
            let result = warm(&client, &registration, &medium, &media, &line);
            let _ = events.send(Event::Warmed(medium.medium, result));
        });
    }

    // The cluster's images need nothing from the factory: they start with the builds.
    let store = match (&plan.air_gap, &media) {
        (
            Some(air_gap),
            Media::Download {
                stall,
                min_rate,
                folder,
            },
        ) => {
            let store = Arc::new(Store::new(
                client.clone(),
                folder.join(&air_gap.file),
                (*stall, *min_rate),
            ));
            for (i, image) in air_gap.images.iter().enumerate() {
                let source = source(air_gap, image);
                let (store, image, events) = (store.clone(), image.clone(), events.clone());
                let (line, architecture) =
                    (progress.line(&image.name()), plan.architecture.clone());
                waiting += 1;
                std::thread::spawn(move || {
                    let result = store.image(
                        &source,
                        &image.tag,
                        &image.name(),
                        image.pinned.as_ref(),
                        &architecture,
                        &line,
                    );
                    // Before the report: the packing takes the store back from the last one.
                    drop(store);
                    let _ = events.send(Event::Bundled(BundlePart::Image(i), result));
                });
            }
            Some(store)
        }
        (Some(air_gap), Media::Sizes) => {
            for image in &air_gap.images {
                let source = source(air_gap, image);
                let (client, name, tag, events) = (
                    client.clone(),
                    image.name(),
                    image.tag.clone(),
                    events.clone(),
                );
                waiting += 1;
                std::thread::spawn(move || {
                    let result = Store::resolve(&client, &source, &tag)
                        .with_context(|| format!("resolving {name} again"));
                    let _ = events.send(Event::Looked(name, result));
                });
            }
            None
        }
        (None, _) => None,
    };
    let mut bundled: BTreeMap<BundlePart, bundle::Fetched> = BTreeMap::new();

    let mut resolved = Resolved {
        versions: preflight.versions,
        extensions: preflight.extensions,
        certificate_sha256,
        ..Resolved::default()
    };
    let mut announced: BTreeMap<BootMedium, Option<u64>> = BTreeMap::new();
    while waiting > 0 {
        let event = inbox.recv().expect("every worker reports before it ends");
        waiting -= 1;
        match event {
            Event::Installer(result) => {
                (resolved.installer_digest, resolved.installer_signature) = result?;
                if let Some(store) = &store {
                    let Some(digest) = resolved.installer_digest.clone() else {
                        bail!(
                            "the air-gap bundle needs the installer, whose digest of {} was not resolved; nothing is recorded",
                            plan.installer.image
                        );
                    };
                    waiting += spawn_installer(
                        &plan,
                        store,
                        &digest,
                        resolved.installer_signature.as_ref(),
                        &events,
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
                if let Media::Sizes = &media {
                    let size = size.expect("a check's HEAD fails rather than answer no size");
                    resolved
                        .media
                        .insert(kind, ResolvedMedium { sha256: None, size });
                    lines[&kind].finish(&format!("built, {} ({size} bytes)", mib(size)));
                    continue;
                }
                announced.insert(kind, size);
                if announced.len() < plan.media.len() {
                    continue;
                }
                let Media::Download {
                    stall,
                    min_rate,
                    folder,
                } = &media
                else {
                    unreachable!("sizes returned above")
                };
                ensure_room_for_all(&plan, folder, &announced)?;
                for medium in &plan.media {
                    let (medium, client, registration, events, line) = (
                        medium.clone(),
                        client.clone(),
                        registration.clone(),
                        events.clone(),
                        lines[&medium.medium].clone(),
                    );
                    let destination = folder.join(&medium.file);
                    let (stall, min_rate) = (*stall, *min_rate);
                    waiting += 1;
                    std::thread::spawn(move || {
                        let result = fetch(
                            &client,
                            &registration,
                            &medium,
                            destination,
                            (stall, min_rate),
                            &line,
                        );
                        let _ = events.send(Event::Downloaded(medium.medium, result));
                    });
                }
            }
            Event::Downloaded(kind, result) => {
                let downloaded = result?;
                resolved.media.insert(
                    kind,
                    ResolvedMedium {
                        sha256: Some(downloaded.sha256),
                        size: downloaded.size,
                    },
                );
                resolved.files.push(downloaded.file);
            }
        }
    }
    if let (Some(store), Some(air_gap)) = (store, &plan.air_gap) {
        let store =
            Arc::into_inner(store).expect("every worker let go of the store before it reported");
        let (file, record) = pack(store, air_gap, bundled, progress)?;
        resolved.files.push(file);
        resolved.air_gap = Some(record);
    }
    Ok(resolved)
}

/// Where `image` is fetched from: its host's mirror, else the host.
fn source(air_gap: &AirGapPlan, image: &ImageRef) -> bundle::Source {
    bundle::Source {
        base: air_gap.registry_base(&image.host),
        repository: image.repository.clone(),
    }
}

/// The installer (by the digest just resolved and, where one verified, its signature's
/// manifest) into the bundle, on threads of their own; how many were started.
fn spawn_installer(
    plan: &Plan,
    store: &Arc<Store>,
    digest: &Digest,
    signature: Option<&Signature>,
    events: &mpsc::Sender<Event>,
    progress: &Progress,
) -> usize {
    let source = bundle::Source {
        base: plan.installer.registry.clone(),
        repository: plan.installer.repository.clone(),
    };
    let mut wanted = vec![(
        BundlePart::Installer,
        digest.to_string(),
        plan.installer.image.clone(),
    )];
    if let Some(signature) = signature {
        wanted.push((
            BundlePart::Signature,
            signature.manifest().to_string(),
            signature_name(plan, digest, signature),
        ));
    }
    let count = wanted.len();
    for (part, reference, name) in wanted {
        let (store, source, events) = (store.clone(), source.clone(), events.clone());
        let (line, architecture) = (progress.line(&name), plan.architecture.clone());
        std::thread::spawn(move || {
            let result = store.image(&source, &reference, &name, None, &architecture, &line);
            drop(store);
            let _ = events.send(Event::Bundled(part, result));
        });
    }
    count
}

/// The name the installer's signature goes by in the bundle: cosign's `sha256-<hex>.sig` tag
/// for a legacy signature, the same with `.sigstore` for a Sigstore bundle (which a registry
/// with the referrers API finds by its subject, whatever the tag).
fn signature_name(plan: &Plan, digest: &Digest, signature: &Signature) -> String {
    let hex_part = digest.hex();
    let base = plan
        .installer
        .image
        .rsplit_once(':')
        .map_or(plan.installer.image.as_str(), |(name, _)| name);
    let suffix = match signature {
        Signature::PublicKey { .. } => "sig",
        Signature::Keyless { .. } => "sigstore",
    };
    format!("{base}:sha256-{hex_part}.{suffix}")
}

/// Packs the fetched images, in the bundle's order, and says what the manifest records.
fn pack(
    store: Store,
    air_gap: &AirGapPlan,
    bundled: BTreeMap<BundlePart, bundle::Fetched>,
    progress: &Progress,
) -> anyhow::Result<(PendingFile, AirGap)> {
    let line = progress.line(&air_gap.file);
    line.status("packing the OCI image layout");
    let entries: Vec<bundle::Entry> = bundled.values().map(|f| f.entry.clone()).collect();
    let (file, sha256, size) = store
        .pack(&entries)
        .with_context(|| format!("packing {}", air_gap.path))?;
    line.finish(&format!(
        "{} images, {} ({size} bytes)",
        entries.len(),
        mib(size)
    ));
    let images = bundled
        .iter()
        // The signature is in the bundle, and recorded as os.installer.signature.
        .filter(|(part, _)| **part != BundlePart::Signature)
        .map(|(_, f)| BundledImage {
            reference: f.entry.name.clone(),
            digest: Some(f.digest.clone()),
            platform_digest: Some(f.entry.digest.clone()),
        })
        .collect();
    Ok((
        file,
        AirGap {
            path: air_gap.path.clone(),
            sha256: Some(sha256),
            size: Some(size),
            images,
        },
    ))
}

/// Asks for a medium's build with `HEAD`. For a real run that only starts (or joins) the build,
/// so a timeout or a passing failure is said and let go: the download waits for the build. For
/// a check, the size it announces is the answer, with the usual retries.
fn warm(
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
        Media::Download { .. } => {
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
    std::fs::create_dir_all(folder)
        .with_context(|| format!("creating folder {}", folder.display()))?;
    let available = fsutil::available_space(folder)?;
    if needed > available {
        let shown = crate::project::relative(&plan.root, folder)
            .unwrap_or_else(|| folder.display().to_string());
        let files: Vec<&str> = plan.media.iter().map(|m| m.file.as_str()).collect();
        bail!(
            "not enough disk space for {}: needs {} in {shown}, {} available; free space or point {shown} at a larger disk",
            files.join(" and "),
            mib(needed),
            mib(available)
        );
    }
    Ok(())
}

/// The installer's digest, then its signature under the plan's policy; what is missing is a
/// warning or an error as the requirements (and, for a check, the record) say.
fn installer(
    plan: &Plan,
    client: &Client,
    registration: &Registration,
    requirements: Requirements,
    purpose: &Purpose,
    line: &Line,
    out: &Progress,
) -> anyhow::Result<(Option<Digest>, Option<Signature>)> {
    let image = &plan.installer.image;
    line.status(&format!(
        "building… (the factory names the digest once the installer is built; this can take minutes): {image}"
    ));
    let what = format!("resolving the digest of {image}");
    let resolved = registration.repairing(&what, || {
        registry::installer_digest(client, &plan.installer)
    });
    let digest = match (resolved, purpose) {
        (Ok(digest), _) => {
            line.status(&format!("digest {digest}"));
            Some(digest)
        }
        (Err(error), Purpose::Release) if !requirements.require_digest => {
            out.println(&format!(
                "warning: installer digest of {image} not resolved, so the manifest omits it: {error:#} (pass --require-digest to make this an error)"
            ));
            None
        }
        (Err(error), Purpose::Release) => {
            return Err(error.context(format!(
                "resolving the digest of {image} (--require-digest)"
            )));
        }
        (
            Err(error),
            Purpose::Check {
                manifest_path,
                recorded_digest,
                ..
            },
        ) => {
            if requirements.require_digest || *recorded_digest {
                return Err(error.context(format!(
                    "the installer digest of {image} cannot be resolved, so the check cannot tell whether it moved"
                )));
            }
            out.println(&format!(
                "warning: installer digest of {image} not resolved ({error:#}); {manifest_path} records none either"
            ));
            None
        }
    };
    let signature = installer_signature(plan, client, digest.as_ref(), requirements, purpose, out);
    let signature = match purpose {
        Purpose::Check { .. } => signature
            .context("the check cannot tell whether the installer is still the signed one")?,
        Purpose::Release => signature?,
    };
    line.finish(&match (&digest, &signature) {
        (Some(digest), Some(_)) => format!("digest {digest}, signature verified"),
        (Some(digest), None) => format!("digest {digest}, signature not verified"),
        (None, _) => "digest not resolved".to_string(),
    });
    Ok((digest, signature))
}

/// The signature a release records: verified under the plan's policy, or `None` with a
/// warning when nothing can be verified and it is not required. A signature that does not
/// verify is always an error.
fn installer_signature(
    plan: &Plan,
    client: &Client,
    digest: Option<&Digest>,
    requirements: Requirements,
    purpose: &Purpose,
    out: &Progress,
) -> anyhow::Result<Option<Signature>> {
    let image = &plan.installer.image;
    let intent = crate::project::INTENT;
    let Some(policy) = &plan.signature_policy else {
        let why = format!("{intent} has no installerSignature policy");
        if requirements.require_signature {
            bail!("the signature of {image} is not verified: {why} (--require-signature)");
        }
        out.println(&format!(
            "warning: the signature of {image} is not verified: {why}; the manifest records no signature"
        ));
        return Ok(None);
    };
    // A pinned policy binds a release; a check requires what the record has.
    let bound = match purpose {
        Purpose::Release => !requirements.allow_unsigned,
        Purpose::Check {
            recorded_signature, ..
        } => *recorded_signature || requirements.require_signature,
    };
    let not_verified = |why: String| -> anyhow::Result<Option<Signature>> {
        match purpose {
            Purpose::Release if bound => bail!(
                "the signature of {image} is not verified: {why}, and {intent} pins the {} policy, which a release must meet; nothing is recorded. If the factory really serves unsigned installers, --allow-unsigned records the digest without a signature",
                policy.describe()
            ),
            Purpose::Release => out.println(&format!(
                "WARNING: recording {image} WITHOUT A VERIFIED SIGNATURE (--allow-unsigned): {why}, although {intent} pins the {} policy; the manifest records no signature",
                policy.describe()
            )),
            Purpose::Check { .. } if bound => {
                bail!("the signature of {image} is not verified: {why}")
            }
            Purpose::Check { .. } => out.println(&format!(
                "warning: the signature of {image} is not verified: {why}; the record has none either"
            )),
        }
        Ok(None)
    };
    let Some(digest) = digest else {
        return not_verified("its digest was not resolved".into());
    };
    let outcome =
        signature::verify(client, &plan.installer, policy, digest).with_context(|| {
            format!(
                "verifying the signature of {image}@{digest} under the {} policy of {}",
                policy.describe(),
                crate::project::INTENT
            )
        })?;
    match outcome {
        signature::Outcome::Verified(signature) => {
            out.println(&format!(
                "verified the signature of {image}@{digest} under the {} policy",
                policy.describe()
            ));
            Ok(Some(signature))
        }
        signature::Outcome::Unsigned(looked) => {
            not_verified(format!("no signature found ({looked})"))
        }
    }
}

/// The schematic as registered with the factory, shared by the workers: a factory can lose a
/// schematic it answered 201 to (image-factory #535), which shows as a 404 on a later request.
/// Such a 404 is checked against `GET /schematics/<id>`; if the factory no longer has the
/// schematic, it is posted once more and the request is made again.
struct Registration {
    plan: Arc<Plan>,
    client: Arc<Client>,
    /// Whether the one second POST of this run has been made.
    posted_again: Mutex<bool>,
    out: Progress,
}

impl Registration {
    fn new(plan: Arc<Plan>, client: Arc<Client>, out: &Progress) -> Registration {
        Registration {
            plan,
            client,
            posted_again: Mutex::new(false),
            out: out.clone(),
        }
    }

    fn factory(&self) -> Factory<'_> {
        Factory::new(&self.client, &self.plan.factory)
    }

    /// POST, then read back: a factory that answered 201 without storing the schematic gets it
    /// once more.
    fn register(&self) -> anyhow::Result<()> {
        let factory = self.factory();
        let id = factory.register(&self.plan)?;
        if factory.has_schematic(&id)? {
            return Ok(());
        }
        self.out.println(&format!(
            "the factory answered 201 to schematic {id} but does not have it (GET {}/schematics/{id}: 404); registering it again",
            self.plan.factory.base
        ));
        let mut posted_again = self.lock();
        factory.register(&self.plan)?;
        *posted_again = true;
        if !factory.has_schematic(&id)? {
            bail!(
                "the factory does not keep schematic {id}: it answered 201 twice, and GET {}/schematics/{id} is 404 both times; try again later, or report it to the factory's operators",
                self.plan.factory.base
            );
        }
        Ok(())
    }

    /// Runs `request`; after a 404, if the factory lost the schematic, registers it again and
    /// runs `request` once more.
    fn repairing<T>(
        &self,
        what: &str,
        mut request: impl FnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match request() {
            Err(error) if http::is_not_found(&error) => {
                if self.repair(what)? {
                    request()
                } else {
                    Err(error)
                }
            }
            other => other,
        }
    }

    /// Whether a request that met a 404 is worth making again: the schematic was lost and is
    /// registered anew (or another worker just did that).
    fn repair(&self, what: &str) -> anyhow::Result<bool> {
        let mut posted_again = self.lock();
        let factory = self.factory();
        let id = &self.plan.schematic_id;
        if factory.has_schematic(id)? {
            // A true 404, unless the second POST happened while this request was on its way.
            return Ok(*posted_again);
        }
        if *posted_again {
            bail!(
                "{what}: the factory lost schematic {id} again after it was registered a second time; try again later, or report it to the factory's operators"
            );
        }
        self.out.println(&format!(
            "{what}: 404, and the factory no longer has schematic {id} (GET {}/schematics/{id}: 404): registering it again and retrying",
            self.plan.factory.base
        ));
        factory.register(&self.plan)?;
        *posted_again = true;
        if !factory.has_schematic(id)? {
            bail!(
                "{what}: the factory does not keep schematic {id}: registered again, GET {}/schematics/{id} is still 404",
                self.plan.factory.base
            );
        }
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.posted_again.lock().unwrap_or_else(|e| e.into_inner())
    }
}
