//! What a release is built as, derived from its Talos image and factory: every medium's file
//! name, URL and local path, the installer's reference and the SecureBoot certificate's URL.
//! One derivation for the plan (what a run will fetch) and for a record (what its names must
//! be: `Manifest::consistency_problems` compares the two).

use crate::image::talos::{self, Architecture, BootMedium, FactoryUrl, InstallerNaming};
use crate::image::version::{KubernetesVersion, ReleaseVersion, TalosVersion};
use crate::project;

/// The installer image as the registry steps need it, and nothing more of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallerRef {
    /// `<host[:port]>/<repository>:<tag>`, as recorded.
    pub image: String,
    /// The registry's base URL: the factory's scheme and host.
    pub registry: String,
    /// Without host or tag: `metal-installer/<id>`.
    pub repository: String,
    /// The Talos version.
    pub tag: String,
}

/// One boot medium as a release will fetch and record it.
#[derive(Clone, Debug)]
pub struct PlannedMedium {
    pub medium: BootMedium,
    /// The factory's file name, also the local one: `metal-amd64-secureboot.iso`.
    pub file: String,
    pub url: String,
    /// Repository-relative.
    pub path: String,
}

/// The Talos image a release is built as: what `Build` derives its names from.
pub struct Image {
    pub talos_version: TalosVersion,
    /// How the factory names the installer of that version (the catalogue says).
    pub naming: InstallerNaming,
    pub kubernetes_version: KubernetesVersion,
    pub platform: String,
    pub architecture: Architecture,
    pub secure_boot: bool,
}

/// What is built, and by which factory: the image, and the media, certificate and installer
/// that follow from it.
#[derive(Clone, Debug)]
pub struct Build {
    pub talos_version: TalosVersion,
    pub kubernetes_version: KubernetesVersion,
    pub platform: String,
    pub architecture: Architecture,
    pub secure_boot: bool,
    pub factory: FactoryUrl,
    /// The media to download, the ISO first, each with its name, URL and local path.
    pub media: Vec<PlannedMedium>,
    /// The certificate that signs SecureBoot media, when `secure_boot`.
    pub certificate_url: Option<String>,
    pub installer: InstallerRef,
}

impl Build {
    /// Every name the build has: `boot_media` in the table's order (the ISO first), for the
    /// schematic `schematic_id`, downloaded for release `release_version`.
    pub fn new(
        image: Image,
        factory: FactoryUrl,
        boot_media: &[BootMedium],
        schematic_id: &str,
        release_version: &ReleaseVersion,
    ) -> Build {
        let Image {
            talos_version,
            naming,
            kubernetes_version,
            platform,
            architecture,
            secure_boot,
        } = image;
        let media = boot_media
            .iter()
            .map(|&medium| {
                let file = talos::asset_file(&platform, architecture.as_str(), secure_boot, medium);
                PlannedMedium {
                    medium,
                    url: talos::asset_url(&factory, schematic_id, &talos_version, &file),
                    path: project::medium_path(release_version, &file),
                    file,
                }
            })
            .collect();
        let installer = InstallerRef {
            image: talos::installer_image(
                &factory,
                schematic_id,
                &talos_version,
                naming,
                &platform,
                secure_boot,
            ),
            registry: factory.base.clone(),
            repository: talos::installer_repository(schematic_id, naming, &platform, secure_boot),
            tag: talos_version.to_string(),
        };
        Build {
            certificate_url: secure_boot.then(|| talos::signing_certificate_url(&factory)),
            media,
            installer,
            talos_version,
            kubernetes_version,
            platform,
            architecture,
            secure_boot,
            factory,
        }
    }
}
