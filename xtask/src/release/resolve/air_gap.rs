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

use super::{Event, Workers};

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
pub(super) fn spawn_installer(
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
            Event::Bundled(part, result)
        });
    }
}

/// Every image of the plan's bundle (the installer waits for its digest), each a worker of its
/// own: fetched into `store`, or, for a check (`store` is `None`), only resolved again.
pub(super) fn spawn_images(
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
                    Event::Bundled(BundlePart::Image(i), result)
                });
            }
            None => {
                let client = client.clone();
                workers.spawn(move || {
                    let name = image.name();
                    let result = Store::resolve(&client, &source, &image.tag)
                        .with_context(|| format!("resolving {name} again"));
                    Event::Looked(name, result)
                });
            }
        }
    }
}

/// Packs the fetched images, in the bundle's order, and says what the manifest records.
pub(super) fn pack(
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
