//! The air-gap bundle's part of the stage: where each image comes from, the installer and its
//! signature fetched once their digest is known, and the packing of what was fetched, in the
//! bundle's order.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;

use crate::host::fsutil::PendingFile;
use crate::host::progress::Progress;
use crate::image::build::Build;
use crate::image::bundle::{self, Store};
use crate::image::digest::Digest;
use crate::image::image_ref::ImageRef;
use crate::image::manifest::{AirGap, BundledImage, Signature};
use crate::image::plan::AirGapPlan;
use crate::util::mib;

use super::{Downloads, Event as Reported, Run, Workers};

/// What a worker of the bundle reports.
pub(super) enum Event {
    /// A part of the bundle, fetched into the store.
    Bundled(BundlePart, anyhow::Result<bundle::Fetched>),
    /// A check: the digest an image's reference resolves to now.
    Looked(String, anyhow::Result<Digest>),
}

/// The bundle's part of the stage: the store its images are fetched into (a run that
/// downloads), and the parts fetched so far. Without an air gap, it does nothing.
pub(super) struct Stage {
    store: Option<Arc<Store>>,
    bundled: BTreeMap<BundlePart, bundle::Fetched>,
}

impl Stage {
    /// The cluster's images, which need nothing from the factory, start with the builds; the
    /// store the bundle is packed from, when the run downloads.
    pub(super) fn start(run: &mut Run, downloads: Option<&Downloads>) -> Stage {
        let mut stage = Stage {
            store: None,
            bundled: BTreeMap::new(),
        };
        let Some(air_gap) = &run.plan.air_gap else {
            return stage;
        };
        stage.store = downloads.map(|downloads| {
            Arc::new(Store::new(
                run.shared.client.clone(),
                downloads.folder.join(&air_gap.file),
                downloads.pace,
            ))
        });
        spawn_images(
            &mut run.workers,
            &run.plan.build,
            air_gap,
            stage.store.as_ref(),
            &run.shared.client,
            run.progress,
        );
        stage
    }

    /// Once the installer's digest is resolved: the installer and its signature into the
    /// bundle. A bundle cannot be made without it.
    pub(super) fn installer_resolved(&mut self, run: &mut Run) -> anyhow::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let Some(digest) = run.resolved.installer_digest.clone() else {
            anyhow::bail!(
                "the air-gap bundle needs the installer, whose digest of {} was not resolved; nothing is recorded",
                run.plan.build.installer.image
            );
        };
        let signature = run.resolved.installer_signature.as_ref();
        let build = &run.plan.build;
        spawn_installer(
            &mut run.workers,
            build,
            store,
            &digest,
            signature,
            run.progress,
        );
        Ok(())
    }

    /// A part fetched, or (a check) an image's digest now.
    pub(super) fn absorb(&mut self, event: Event, run: &mut Run) -> anyhow::Result<()> {
        match event {
            Event::Bundled(part, fetched) => {
                self.bundled.insert(part, fetched?);
            }
            Event::Looked(name, digest) => {
                run.resolved.image_digests.insert(name, digest?);
            }
        }
        Ok(())
    }

    /// Every part fetched: the bundle packed, for the record step.
    pub(super) fn pack(self, run: &mut Run) -> anyhow::Result<()> {
        let (Some(store), Some(air_gap)) = (self.store, &run.plan.air_gap) else {
            return Ok(());
        };
        let store =
            Arc::into_inner(store).expect("every worker let go of the store before it reported");
        let (file, record) = pack(store, air_gap, self.bundled, run.progress)?;
        run.resolved.files.push(file);
        run.resolved.air_gap = Some(record);
        Ok(())
    }
}

/// A part of the air-gap bundle, in the bundle's order: the installer, its signature, then
/// the plan's images (the cluster's, then `airGap.extraImages`) by their place in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum BundlePart {
    Installer,
    /// In the bundle, and recorded as `os.installer.signature`, not as an image.
    Signature,
    Image(usize),
}

/// Where `image` is fetched from: its host's mirror, else the host.
pub(super) fn source(air_gap: &AirGapPlan, image: &ImageRef) -> bundle::Source {
    bundle::Source {
        base: air_gap.registry_base(&image.host),
        repository: image.repository.clone(),
    }
}

/// The installer (by the digest just resolved and, where one verified, its signature's
/// manifest) into the bundle, each a worker of its own.
fn spawn_installer(
    workers: &mut Workers,
    build: &Build,
    store: &Arc<Store>,
    digest: &Digest,
    signature: Option<&Signature>,
    progress: &Progress,
) {
    let source = bundle::Source {
        base: build.installer.registry.clone(),
        repository: build.installer.repository.clone(),
    };
    let mut wanted = vec![(
        BundlePart::Installer,
        digest.to_string(),
        build.installer.image.clone(),
    )];
    if let Some(signature) = signature {
        wanted.push((
            BundlePart::Signature,
            signature.manifest().to_string(),
            signature.bundle_name(&build.installer.image, digest),
        ));
    }
    for (part, reference, name) in wanted {
        let (store, source) = (store.clone(), source.clone());
        let (line, architecture) = (progress.line(&name), build.architecture);
        workers.spawn(move || {
            let result = store.image(
                &source,
                &reference,
                &name,
                None,
                architecture.as_str(),
                &line,
            );
            Reported::AirGap(Event::Bundled(part, result))
        });
    }
}

/// Every image of the plan's bundle (the installer waits for its digest), each a worker of its
/// own: fetched into `store`, or, for a check (`store` is `None`), only resolved again.
fn spawn_images(
    workers: &mut Workers,
    build: &Build,
    air_gap: &AirGapPlan,
    store: Option<&Arc<Store>>,
    client: &Arc<crate::host::http::Client>,
    progress: &Progress,
) {
    for (i, image) in air_gap.images.iter().enumerate() {
        let source = source(air_gap, image);
        let image = image.clone();
        match store {
            Some(store) => {
                let store = store.clone();
                let (line, architecture) = (progress.line(&image.name()), build.architecture);
                // The store is let go when the work returns, before the report: the packing
                // takes it back from the last one.
                workers.spawn(move || {
                    let result = store.image(
                        &source,
                        &image.tag,
                        &image.name(),
                        image.pinned.as_ref(),
                        architecture.as_str(),
                        &line,
                    );
                    Reported::AirGap(Event::Bundled(BundlePart::Image(i), result))
                });
            }
            None => {
                let client = client.clone();
                workers.spawn(move || {
                    let name = image.name();
                    let result = Store::resolve(&client, &source, &image.tag)
                        .with_context(|| format!("resolving {name} again"));
                    Reported::AirGap(Event::Looked(name, result))
                });
            }
        }
    }
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
