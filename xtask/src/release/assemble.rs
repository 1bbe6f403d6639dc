//! The one place a manifest is put together: the plan (names, pins) and the resolved facts
//! (hashes, sizes, digest, signature, catalogue) in, a `Manifest` out. A real run records it;
//! `--check` compares it; `--dry-run --json` shows it with what only the factory knows as null.

use serde_json::Value;

use crate::image::manifest::{
    AirGap, App, BundledImage, Certificate, Installer, Kubernetes, Manifest, Media, Medium, Os,
    Source, Talos,
};
use crate::image::plan::Plan;
use crate::image::talos::{self, BootMedium};

use super::resolve::Resolved;

/// The manifest for `plan` with what `resolved` found, and where it came from (`provenance`).
pub fn manifest(plan: &Plan, resolved: &Resolved, source: Option<Source>) -> Manifest {
    let medium = |kind: BootMedium| {
        let planned = plan.build.media.iter().find(|m| m.medium == kind)?;
        let found = resolved.media.get(&kind);
        Some(Medium {
            url: planned.url.clone(),
            local_path: planned.path.clone(),
            sha256: found.and_then(|f| f.sha256.clone()),
            size: found.map(|f| f.size),
        })
    };
    Manifest {
        release_version: plan.release.version.clone(),
        generated_at: plan.release.generated_at.clone(),
        channel: plan.release.channel.clone(),
        talos: Talos {
            version: plan.build.talos_version.clone(),
            schematic_id: plan.schematic.id.clone(),
            schematic_path: plan.schematic.path.clone(),
            factory_url: Some(plan.build.factory.base.clone()),
            extensions: Some(resolved.extensions.clone()),
        },
        kubernetes: Kubernetes {
            version: plan.build.kubernetes_version.clone(),
        },
        os: Os {
            platform: plan.build.platform.clone(),
            architecture: plan.build.architecture,
            secure_boot: Some(plan.build.secure_boot),
            media: Media(
                talos::MEDIA
                    .iter()
                    .filter_map(|kind| Some((kind.medium, medium(kind.medium)?)))
                    .collect(),
            ),
            installer: Installer {
                image: plan.build.installer.image.clone(),
                digest: resolved.installer_digest.clone(),
                signature: resolved.installer_signature.clone(),
            },
            secure_boot_certificate: plan.build.certificate_url.as_ref().map(|url| Certificate {
                url: url.clone(),
                sha256: resolved.certificate_sha256.clone(),
            }),
        },
        app: App {
            version: plan.release.app_version.clone(),
            values_profile: plan.release.values_profile.clone(),
        },
        upgrade_from: plan.upgrade_from.clone(),
        air_gap: resolved.air_gap.clone().or_else(|| {
            // Planned (a dry run), or a check that resolved the tags again: the names, with
            // the digests a check found and what it does not fetch unknown.
            plan.air_gap.as_ref().map(|air_gap| AirGap {
                path: air_gap.path.clone(),
                sha256: None,
                size: None,
                images: std::iter::once(plan.build.installer.image.clone())
                    .chain(air_gap.images.iter().map(|i| i.name()))
                    .map(|reference| BundledImage {
                        digest: resolved.image_digests.get(&reference).cloned(),
                        reference,
                        platform_digest: None,
                    })
                    .collect(),
            })
        }),
        source,
    }
}

/// The manifest a run would write, as `--dry-run --json` shows it: what only a real run can
/// know is null. The factory's facts are `None` in a plan, which a manifest writes as null,
/// but for the two a record leaves out when a run found none (the installer's digest, and the
/// extensions, which the factory names: unknown whole); those and the record's date are set
/// to null here.
pub fn planned(plan: &Plan, source: Option<Source>) -> Value {
    let mut value = serde_json::to_value(manifest(plan, &Resolved::default(), source))
        .expect("a manifest serialises");
    value["generatedAt"] = Value::Null;
    value["os"]["installer"]["digest"] = Value::Null;
    value["talos"]["extensions"] = Value::Null;
    value
}
