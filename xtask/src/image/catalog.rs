//! What this tool knows about Talos Linux: `xtask/data/talos.json`, read off siderolabs/talos
//! by `cargo xtask talos-catalog` and checked against `xtask/data/talos.schema.json`. Per
//! minor: the Kubernetes versions it runs, the hosts it upgrades from, how the factory names
//! its installer and what a schematic may hold; per tag: the cluster's images. Every other
//! module asks here; no Talos fact lives in Rust code.

use std::sync::OnceLock;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::image::image_ref::ImageRef;
use crate::image::talos::InstallerNaming;
use crate::image::version::{KubernetesVersion, TalosVersion, core};

/// The catalogue as committed, compiled in.
pub const TEXT: &str = include_str!("../../data/talos.json");
/// Where the catalogue lives, for messages.
pub const PATH: &str = "xtask/data/talos.json";

/// `{kubernetes}` in a patch's image list: the release's Kubernetes version.
pub const KUBERNETES: &str = "{kubernetes}";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalog {
    pub source: String,
    pub minors: Vec<Minor>,
    pub patches: Vec<Patch>,
}

/// One Talos minor, from `pkg/machinery/compatibility/talosNNN` at the ref `from`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Minor {
    /// `v1.12`.
    pub minor: String,
    pub from: String,
    pub kubernetes: KubernetesRange,
    pub host_upgrade: HostUpgrade,
    pub installer: InstallerNaming,
    pub embedded_machine_configuration: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesRange {
    /// `1.30.0`
    pub minimum: String,
    /// `1.35.99`: any patch of the last minor.
    pub maximum: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostUpgrade {
    /// The oldest Talos a host may upgrade from.
    pub minimum: String,
    /// A host at this version or newer may not downgrade to the minor.
    pub downgrade_below: String,
    /// Versions that may not upgrade to the minor.
    pub denied: Vec<String>,
}

/// One Talos tag: its commit and the cluster's images, as `talosctl image k8s-bundle` prints
/// them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub tag: String,
    pub commit: String,
    pub images: Vec<String>,
}

/// The committed catalogue, parsed once.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str(TEXT).unwrap_or_else(|e| {
            panic!("{PATH} does not parse ({e}); the unit tests check it against its schema")
        })
    })
}

/// What to run to add what the catalogue lacks.
pub fn how_to_add(what: &str) -> String {
    format!(
        "add {what} to {PATH}: cargo xtask talos-catalog --from <a clone of https://github.com/siderolabs/talos> <tag>… (see docs/operator-guide.md, \"Moving to a new Talos minor\")"
    )
}

impl Catalog {
    /// The minor `version` belongs to; refused when the catalogue lacks it.
    pub fn minor(&self, version: &TalosVersion) -> anyhow::Result<&Minor> {
        let name = format!("v{}.{}", version.major, version.minor);
        match self.minors.iter().find(|m| m.minor == name) {
            Some(minor) => Ok(minor),
            None => bail!(
                "Talos {name} is not in this tool's catalogue (it knows {}): {}",
                self.minor_names().join(", "),
                how_to_add(&format!("Talos {name}"))
            ),
        }
    }

    /// The tag `version`; refused when the catalogue lacks it.
    pub fn patch(&self, version: &TalosVersion) -> anyhow::Result<&Patch> {
        let tag = version.to_string();
        match self.patches.iter().find(|p| p.tag == tag) {
            Some(patch) => Ok(patch),
            None => {
                let line = format!("v{}.{}.", version.major, version.minor);
                let known: Vec<&str> = (self.patches.iter())
                    .filter(|p| p.tag.starts_with(&line))
                    .map(|p| p.tag.as_str())
                    .collect();
                bail!(
                    "the images of Talos {tag} are not in this tool's catalogue (of v{}.{} it knows: {}): {}",
                    version.major,
                    version.minor,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                    how_to_add(&format!("tag {tag}"))
                )
            }
        }
    }

    /// The minor whose factory rules (installer naming, what a schematic may hold) apply to
    /// `version`: its own from its `.0` release on; a pre-release of `.0` is built as the minor
    /// before it (the factory compares whole versions: `>= v1.10.0`).
    pub fn factory_rules(&self, version: &TalosVersion) -> anyhow::Result<&Minor> {
        let own = self.minor(version)?;
        if version.patch != 0 || version.pre.is_none() {
            return Ok(own);
        }
        let index = self.minors.iter().position(|m| m == own).unwrap_or(0);
        Ok(index.checked_sub(1).map_or(own, |i| &self.minors[i]))
    }

    /// The oldest minor whose schematics may carry embeddedMachineConfiguration.
    pub fn first_with_embedded_configuration(&self) -> Option<&str> {
        (self.minors.iter())
            .find(|m| m.embedded_machine_configuration)
            .map(|m| m.minor.as_str())
    }

    pub fn minor_names(&self) -> Vec<&str> {
        self.minors.iter().map(|m| m.minor.as_str()).collect()
    }
}

impl Minor {
    /// `Ok` when the minor runs Kubernetes `kubernetes` (`vX.Y.Z`), else why not, with the range.
    pub fn check_kubernetes(&self, kubernetes: &KubernetesVersion) -> anyhow::Result<()> {
        let version = kubernetes.core();
        let (low, high) = (
            core(&self.kubernetes.minimum)?,
            core(&self.kubernetes.maximum)?,
        );
        anyhow::ensure!(
            (low..=high).contains(&version),
            "Talos {} supports Kubernetes {}.{}.x through {}.{}.x; {kubernetes} is outside that range",
            self.minor,
            low.0,
            low.1,
            high.0,
            high.1
        );
        Ok(())
    }
}

impl Patch {
    /// The cluster's images of the tag, with `kubernetes` for the Kubernetes ones.
    pub fn images(&self, kubernetes: &KubernetesVersion) -> anyhow::Result<Vec<ImageRef>> {
        (self.images.iter())
            .map(|image| {
                let reference = image.replace(KUBERNETES, kubernetes);
                ImageRef::parse(&reference)
                    .with_context(|| format!("{PATH}: an image of Talos {}", self.tag))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::image::talos::{FactoryUrl, MEDIA, asset_file, asset_url, installer_image};

    /// The installer naming the catalogue gives a version.
    fn naming(version: &TalosVersion) -> InstallerNaming {
        catalog().factory_rules(version).unwrap().installer
    }

    #[test]
    fn installer_naming_follows_the_version() {
        let factory = FactoryUrl::parse("https://factory.talos.dev/").unwrap();
        let id = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
        let v = |s| TalosVersion::parse(s).unwrap();
        let local = FactoryUrl::parse("http://127.0.0.1:8080").unwrap();
        assert!(
            installer_image(
                &local,
                id,
                &v("v1.12.0"),
                naming(&v("v1.12.0")),
                "metal",
                false
            )
            .starts_with("127.0.0.1:8080/metal-installer/")
        );
        assert_eq!(
            asset_url(&factory, id, &v("v1.12.11"), "metal-amd64.iso"),
            format!("https://factory.talos.dev/image/{id}/v1.12.11/metal-amd64.iso")
        );
    }

    /// Golden names per Talos minor, from `tests/data/boot-media-names.txt`: one line per
    /// version, architecture and SecureBoot flag, written as the factory names them.
    #[test]
    fn names_per_talos_minor_match_the_golden_file() {
        let factory = FactoryUrl::parse("https://factory.talos.dev").unwrap();
        let id = "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245";
        let mut lines = Vec::new();
        for version in ["v1.9.6", "v1.10.0-beta.1", "v1.10.0", "v1.11.5", "v1.12.11"] {
            let v = TalosVersion::parse(version).unwrap();
            for arch in ["amd64", "arm64"] {
                for secure_boot in [false, true] {
                    let files: Vec<String> = MEDIA
                        .iter()
                        .map(|k| asset_file("metal", arch, secure_boot, k.medium))
                        .collect();
                    lines.push(format!(
                        "{version} {arch} secureBoot={secure_boot}: {} {}",
                        files.join(" "),
                        installer_image(&factory, id, &v, naming(&v), "metal", secure_boot)
                    ));
                }
            }
        }
        let golden = include_str!("../../tests/data/boot-media-names.txt");
        assert_eq!(lines.join("\n") + "\n", golden);
    }

    #[test]
    fn the_catalogue_is_valid_under_its_schema_and_in_order() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../data/talos.schema.json")).unwrap();
        let validator = crate::json_schema::Validator::compile(&schema)
            .unwrap_or_else(|p| panic!("talos.schema.json: {p:?}"));
        let value: serde_json::Value = serde_json::from_str(TEXT).unwrap();
        let problems = validator.problems(&value);
        assert!(problems.is_empty(), "{PATH}: {problems:?}");
        let catalog = catalog();
        let minors: Vec<TalosVersion> = (catalog.minors.iter())
            .map(|m| TalosVersion::parse(&format!("{}.0", m.minor)).unwrap())
            .collect();
        assert!(
            minors.windows(2).all(|w| w[0] < w[1]),
            "minors oldest first"
        );
        let tags: Vec<TalosVersion> = (catalog.patches.iter())
            .map(|p| TalosVersion::parse(&p.tag).unwrap())
            .collect();
        assert!(tags.windows(2).all(|w| w[0] < w[1]), "patches oldest first");
        for patch in &catalog.patches {
            let version = TalosVersion::parse(&patch.tag).unwrap();
            catalog
                .minor(&version)
                .expect("every tag's minor has a row");
            patch.images(&"v1.35.4".parse().unwrap()).unwrap();
        }
    }

    /// Each golden file was extracted from the Talos sources at its tag by hand, before the
    /// catalogue existed (SOURCE.md there), for the tag's default Kubernetes version: the
    /// catalogue's rows, read by `talos-catalog`, must print the same.
    #[test]
    fn the_catalogue_prints_what_talosctl_prints_at_every_golden_tag() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/talos-images");
        let mut seen = 0;
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "txt") {
                continue;
            }
            let tag = path.file_stem().unwrap().to_str().unwrap().to_string();
            let golden = std::fs::read_to_string(&path).unwrap();
            let kubernetes = golden
                .lines()
                .find_map(|l| l.strip_prefix("registry.k8s.io/kube-apiserver:"))
                .unwrap();
            let listed: Vec<String> = (catalog().patch(&TalosVersion::parse(&tag).unwrap()))
                .unwrap()
                .images(&kubernetes.parse().unwrap())
                .unwrap()
                .iter()
                .map(ImageRef::name)
                .collect();
            assert_eq!(listed, golden.lines().collect::<Vec<_>>(), "{tag}");
            seen += 1;
        }
        assert!(seen >= 12, "{seen} golden files");
    }

    #[test]
    fn unknown_minors_and_tags_are_refused_with_the_command_to_run() {
        let catalog = catalog();
        let error = catalog
            .minor(&TalosVersion::parse("v1.99.0").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("Talos v1.99 is not in"), "{error}");
        assert!(
            error.contains("cargo xtask talos-catalog --from"),
            "{error}"
        );
        let error = catalog
            .patch(&TalosVersion::parse("v1.12.99").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("Talos v1.12.99"), "{error}");
        assert!(error.contains("v1.12.11"), "{error}");
    }

    #[test]
    fn kubernetes_is_checked_against_the_minor_range() {
        let minor = catalog()
            .minor(&TalosVersion::parse("v1.13.9").unwrap())
            .unwrap();
        minor.check_kubernetes(&"v1.36.3".parse().unwrap()).unwrap();
        minor.check_kubernetes(&"v1.31.0".parse().unwrap()).unwrap();
        let error = minor
            .check_kubernetes(&"v1.37.0".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("Talos v1.13 supports Kubernetes 1.31.x through 1.36.x"),
            "{error}"
        );
        minor
            .check_kubernetes(&"v1.30.9".parse().unwrap())
            .unwrap_err();
    }
}
