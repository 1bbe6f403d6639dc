//! The plan: the release intent with command-line overrides applied, checked, and turned into
//! every name a release will have — schematic ID, ISO URL, installer image, file paths — all
//! without touching the network. `--dry-run` prints it; a real run executes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::Pins;
use crate::image::build::{Build, Image};
use crate::image::catalog;
use crate::image::channel_move::Allow;
use crate::image::image_ref::{ImageRef, mirror_base, upstream_base};
use crate::image::intent::{Intent, check_boot_media};
use crate::image::manifest::Manifest;
use crate::image::talos::{Architecture, BootMedium, FactoryUrl};
use crate::image::trust::{self, Policy};
use crate::image::upgrade::UpgradeFrom;
use crate::image::version::{KubernetesVersion, ReleaseVersion, TalosVersion};
use crate::project;
use crate::schematic::Schematic;

/// The factory URL a command was given: `--factory-url`, else `TALOS_FACTORY_URL`, with which.
pub fn factory_url_given(flag: Option<&String>) -> Option<(String, FactorySource)> {
    match (flag, std::env::var("TALOS_FACTORY_URL")) {
        (Some(url), _) => Some((url.clone(), FactorySource::Flag)),
        (None, Ok(url)) => Some((url, FactorySource::Environment)),
        (None, Err(_)) => None,
    }
}

/// The air-gap bundle a release produces besides its media.
#[derive(Clone, Debug)]
pub struct AirGapPlan {
    /// `airgap-<arch>.oci.tar`
    pub file: String,
    /// Repository-relative.
    pub path: String,
    /// The cluster's images (`talosctl image k8s-bundle`), then `airGap.extraImages`; the
    /// installer is `Plan::installer`.
    pub images: Vec<ImageRef>,
    /// Registry host → the base URL its images are fetched from, where it is not the host.
    pub mirrors: BTreeMap<String, String>,
}

impl AirGapPlan {
    /// The images of a release of `talos` with `kubernetes` and the application's `extra`,
    /// each once, in the order the bundle lists them.
    pub fn new(
        release_version: &ReleaseVersion,
        architecture: Architecture,
        (talos, kubernetes): (&TalosVersion, &KubernetesVersion),
        extra: &[ImageRef],
        mirrors: BTreeMap<String, String>,
    ) -> anyhow::Result<AirGapPlan> {
        let mut images = catalog::catalog().patch(talos)?.images(kubernetes)?;
        for image in extra {
            if images.iter().any(|i| i.name() == image.name()) {
                bail!(
                    "airGap.extraImages lists {} twice, or an image the bundle has anyway (the cluster's)",
                    image.name()
                );
            }
            images.push(image.clone());
        }
        let file = format!("airgap-{}.oci.tar", architecture.as_str());
        Ok(AirGapPlan {
            path: project::medium_path(release_version, &file),
            file,
            images,
            mirrors,
        })
    }

    /// The base URL the images of `host` come from: its mirror, else the host itself.
    pub fn registry_base(&self, host: &str) -> String {
        self.mirrors
            .get(host)
            .cloned()
            .unwrap_or_else(|| upstream_base(host))
    }
}

/// `registryMirrors` with every `--registry-mirror HOST=URL` applied over it, each checked.
pub fn registry_mirrors(
    intent: &BTreeMap<String, String>,
    flags: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut mirrors = BTreeMap::new();
    for (host, url) in intent {
        let base = mirror_base(host, url)
            .with_context(|| format!("registryMirrors.{host} in {}", project::INTENT))?;
        mirrors.insert(host.clone(), base);
    }
    for flag in flags {
        let Some((host, url)) = flag.split_once('=') else {
            bail!(
                "--registry-mirror {flag:?}: expected HOST=URL, e.g. registry.k8s.io=https://mirror.example"
            );
        };
        let base = mirror_base(host, url).with_context(|| format!("--registry-mirror {flag}"))?;
        mirrors.insert(host.to_string(), base);
    }
    Ok(mirrors)
}

/// A mirror no image of the bundle is fetched through does nothing: most likely a mistyped
/// host. Said by name; `--registry-mirror` without an air-gap bundle is said too.
fn unused_mirrors(air_gap: Option<&AirGapPlan>, flags: &[String]) -> Vec<String> {
    let Some(air_gap) = air_gap else {
        return flags
            .iter()
            .map(|flag| format!("--registry-mirror {flag} does nothing: mirrors serve the air-gap bundle's images, and this release has none (os.airGap / --air-gap)"))
            .collect();
    };
    let hosts: std::collections::BTreeSet<&str> =
        air_gap.images.iter().map(|i| i.host.as_str()).collect();
    air_gap
        .mirrors
        .keys()
        .filter(|host| !hosts.contains(host.as_str()))
        .map(|host| {
            format!(
                "registry mirror {host}: no image of the air-gap bundle comes from {host}, so it does nothing (the bundle's hosts: {}); a typo?",
                hosts.iter().copied().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

/// Where a factory URL given outside `release.yaml` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorySource {
    Flag,
    Environment,
}

/// What a release is: its version, channel and application, and when its manifest is dated.
#[derive(Clone, Debug)]
pub struct Release {
    pub version: ReleaseVersion,
    pub channel: String,
    pub app_version: String,
    pub values_profile: String,
    /// The manifest's `generatedAt` (RFC 3339 UTC), fixed while planning: from
    /// `SOURCE_DATE_EPOCH` when set, so a wrong value stops the run before its first request.
    pub generated_at: String,
}

/// The schematic a release is built from.
#[derive(Clone, Debug)]
pub struct SchematicPlan {
    /// Repository-relative.
    pub path: String,
    /// The file as written: what is sent to the factory, which judges it itself.
    pub text: String,
    pub parsed: Schematic,
    pub canonical: String,
    pub id: String,
}

impl SchematicPlan {
    pub fn new(path: String, text: String, parsed: Schematic) -> SchematicPlan {
        SchematicPlan {
            path,
            text,
            canonical: parsed.canonical_yaml(),
            id: parsed.id(),
            parsed,
        }
    }
}

/// Where a run writes, repository-relative.
#[derive(Clone, Debug)]
pub struct Outputs {
    pub sums_path: String,
    pub manifest_path: String,
    pub channel_path: String,
}

impl Outputs {
    fn of(release: &Release) -> Outputs {
        Outputs {
            sums_path: project::sums_path(&release.version),
            manifest_path: project::manifest_path(&release.version),
            channel_path: project::channel_path(&release.channel),
        }
    }
}

/// A release planned: each stage takes the part it needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub root: PathBuf,
    pub release: Release,
    pub schematic: SchematicPlan,
    pub build: Build,
    pub outputs: Outputs,
    /// What the installer's signature must verify under; `None`: not verified.
    pub trust: Option<Policy>,
    /// The air-gap bundle, when `os.airGap` or `--air-gap` asks for one.
    pub air_gap: Option<AirGapPlan>,
    /// The release the channel points at and how its nodes get to this one; `None` for a
    /// channel's first release.
    pub upgrade_from: Option<UpgradeFrom>,
    /// Things worth saying that do not stop a release (a mirror no image uses, say).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The plan of the tree's intent with `pins` (the flags) over it; `allow` is what the
    /// operator allowed of the channel move.
    pub fn build(root: &Path, pins: &Pins, allow: Allow) -> anyhow::Result<Plan> {
        let intent = Intent::load(root)?;
        Plan::from_intent(root, intent, pins, allow)
    }

    pub fn from_intent(
        root: &Path,
        intent: Intent,
        o: &Pins,
        allow: Allow,
    ) -> anyhow::Result<Plan> {
        fn pick<T: Clone>(flag: &Option<T>, field: T) -> T {
            flag.clone().unwrap_or(field)
        }
        // A `--factory-url` (or `TALOS_FACTORY_URL`) is checked below, naming its source.
        let release_version = pick(&o.release_version, intent.release_version);
        let channel = pick(&o.channel, intent.channel);
        crate::image::version::check_name("channel (--channel)", &channel)?;
        let talos_version = pick(&o.talos_version, intent.talos.version);
        let kubernetes_version = pick(&o.kubernetes_version, intent.kubernetes.version);
        check_versions(&talos_version, &kubernetes_version)?;
        let rules = catalog::catalog().factory_rules(&talos_version)?;
        let mut warnings = Vec::new();
        let app_version = pick(&o.app_version, intent.app.version);
        crate::image::version::check_semver("app version (--app-version)", &app_version)?;
        let values_profile = pick(&o.values_profile, intent.app.values_profile);
        crate::image::version::check_name("values profile (--values-profile)", &values_profile)?;
        let factory = match factory_url_given(o.factory_url.as_ref()) {
            Some(given) => factory_url_from(&given)?,
            None => intent.factory,
        };
        let platform = intent.os.platform;
        let architecture = o.architecture.unwrap_or(intent.os.architecture);
        let secure_boot = o.secure_boot.unwrap_or(intent.os.secure_boot);
        let mut boot_media = o.boot_media.clone().unwrap_or(intent.os.boot_media);
        check_boot_media("--boot-media / os.bootMedia", &boot_media)?;
        // The table's order: the ISO first, whatever order the list was written in.
        boot_media.sort();

        let channel_path = project::channel_path(&channel);
        if !root.join(&channel_path).is_file() {
            bail!(
                "unknown channel {channel:?}: {channel_path} does not exist (channels: {})",
                crate::image::channel::names(root).join(", ")
            );
        }

        let (schematic_path, schematic_text, schematic) = read_schematic(
            root,
            o.schematic.as_deref(),
            intent.talos.schematic,
            Gates {
                talos_version: &talos_version,
                embedded_machine_configuration: rules.embedded_machine_configuration,
                factory: &factory,
                secure_boot,
            },
            &mut warnings,
        )?;
        let signature_policy = match intent.installer_signature {
            None => None,
            Some(policy) => Some(trust::load_policy(root, policy)?),
        };
        let air_gap = (intent.os.air_gap || o.air_gap)
            .then(|| {
                let mirrors = registry_mirrors(&intent.registry_mirrors, &o.registry_mirror)?;
                let versions = (&talos_version, &kubernetes_version);
                AirGapPlan::new(
                    &release_version,
                    architecture,
                    versions,
                    &intent.air_gap.extra_images,
                    mirrors,
                )
                .context("the air-gap bundle (os.airGap / --air-gap)")
            })
            .transpose()?;
        warnings.extend(unused_mirrors(air_gap.as_ref(), &o.registry_mirror));
        let release = Release {
            version: release_version,
            channel,
            app_version,
            values_profile,
            generated_at: generated_at()?,
        };
        let schematic = SchematicPlan::new(schematic_path, schematic_text, schematic);
        let image = Image {
            naming: rules.installer,
            talos_version,
            kubernetes_version,
            platform,
            architecture,
            secure_boot,
        };
        let build = Build::new(image, factory, &boot_media, &schematic.id, &release.version);
        let upgrade_from = upgrade_from(root, &release, &build, allow)?;
        let mut plan = Plan::new(
            root,
            release,
            schematic,
            build,
            signature_policy,
            air_gap,
            warnings,
        );
        plan.upgrade_from = upgrade_from;
        Ok(plan)
    }

    /// The plan of a recorded release, for `--check`: every input from the manifest, the
    /// schematic from `schematic_text` (the factory's stored copy, or the file at the recorded
    /// commit), which must have the recorded ID; only the factory URL may be overridden (a
    /// mirror), and the signature policy is today's.
    pub fn from_record(
        root: &Path,
        manifest: &Manifest,
        schematic_text: String,
        schematic_source: &str,
        factory_override: Option<&(String, FactorySource)>,
        signature_policy: Option<Policy>,
        air_gap: Option<AirGapPlan>,
    ) -> anyhow::Result<Plan> {
        let file = project::manifest_path(&manifest.release_version);
        let factory = recorded_factory(manifest, factory_override)?;
        let schematic = Schematic::from_text(&schematic_text, schematic_source)?;
        if schematic.id() != manifest.talos.schematic_id {
            bail!(
                "{schematic_source} has ID {}, not the recorded {}: it is not the schematic release {} was cut from",
                schematic.id(),
                manifest.talos.schematic_id,
                manifest.release_version
            );
        }
        let boot_media: Vec<BootMedium> = manifest.os.media().iter().map(|(k, _)| *k).collect();
        let release = Release {
            version: manifest.release_version.clone(),
            channel: manifest.channel.clone(),
            app_version: manifest.app.version.clone(),
            values_profile: manifest.app.values_profile.clone(),
            generated_at: generated_at()?,
        };
        let schematic = SchematicPlan::new(
            manifest.talos.schematic_path.clone(),
            schematic_text,
            schematic,
        );
        let image = manifest
            .image()
            .with_context(|| format!("{file}: /talos/version"))?;
        let build = Build::new(image, factory, &boot_media, &schematic.id, &release.version);
        let mut plan = Plan::new(
            root,
            release,
            schematic,
            build,
            signature_policy,
            air_gap,
            Vec::new(),
        );
        plan.upgrade_from = manifest.upgrade_from.clone();
        Ok(plan)
    }

    /// The plan of `release`, built from `schematic` as `build`; what a run writes follows.
    fn new(
        root: &Path,
        release: Release,
        schematic: SchematicPlan,
        build: Build,
        trust: Option<Policy>,
        air_gap: Option<AirGapPlan>,
        warnings: Vec<String>,
    ) -> Plan {
        Plan {
            root: root.to_path_buf(),
            outputs: Outputs::of(&release),
            release,
            schematic,
            build,
            trust,
            air_gap,
            upgrade_from: None,
            warnings,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// A Kubernetes version as such, and one the Talos minor supports (the catalogue says).
fn check_versions(
    talos_version: &TalosVersion,
    kubernetes_version: &KubernetesVersion,
) -> anyhow::Result<()> {
    catalog::catalog()
        .minor(talos_version)
        .context("--talos-version / talos.version")?
        .check_kubernetes(kubernetes_version)
        .context("--kubernetes-version / kubernetes.version")
}

/// What a schematic is checked against: the Talos version's gates, the factory and the media.
struct Gates<'a> {
    talos_version: &'a TalosVersion,
    embedded_machine_configuration: bool,
    factory: &'a FactoryUrl,
    secure_boot: bool,
}

/// The schematic `--schematic` (else `talos.schematic`) names: its repository-relative path,
/// its text and its parse, refused where the Talos version or the factory cannot build it;
/// settings that change nothing are warnings.
fn read_schematic(
    root: &Path,
    flag: Option<&Path>,
    intent_path: String,
    gates: Gates,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(String, String, Schematic)> {
    let Gates {
        talos_version,
        embedded_machine_configuration,
        factory,
        secure_boot,
    } = gates;
    let schematic_path = match flag {
        Some(path) => project::relative(root, path).with_context(|| {
            format!(
                "--schematic {}: the schematic must be inside the repository",
                path.display()
            )
        })?,
        None => intent_path,
    };
    if std::fs::symlink_metadata(root.join(&schematic_path)).is_err() {
        bail!(
            "schematic {schematic_path} does not exist (set talos.schematic in {} or pass --schematic)",
            project::INTENT
        );
    }
    let schematic_text = project::read_input(root, &schematic_path, project::INPUT_CAP)
        .with_context(|| format!("reading schematic {schematic_path}"))?;
    let schematic = Schematic::from_text(&schematic_text, &schematic_path)?;
    if !schematic
        .customization
        .embedded_machine_configuration
        .is_empty()
        && !embedded_machine_configuration
    {
        bail!(
            "schematic {schematic_path}: embeddedMachineConfiguration needs Talos {}.0 or later, not {talos_version}",
            catalog::catalog()
                .first_with_embedded_configuration()
                .unwrap_or("(no minor in the catalogue)")
        );
    }
    if !schematic.owner.is_empty() && factory.is_public_factory() {
        bail!(
            "schematic {schematic_path}: `owner` is for Enterprise factories; {} answers 400 to it",
            factory.base
        );
    }
    if !secure_boot && schematic.customization.secureboot != Default::default() {
        warnings.push(format!(
            "{schematic_path} has customization.secureboot settings, but os.secureBoot is false: they change nothing on plain media"
        ));
    }
    Ok((schematic_path, schematic_text, schematic))
}

/// How nodes on the release `release`'s channel offers get to it, as `channel_move` decides
/// (refused for a silent roll-back or a gap, unless allowed). A release already recorded (a
/// re-cut, an intent that names the release it recorded) keeps what its record says, unless
/// it is cut anew from changed inputs: then the path from the release it started from is
/// worked out again for today's versions.
fn upgrade_from(
    root: &Path,
    release: &Release,
    build: &Build,
    allow: Allow,
) -> anyhow::Result<Option<UpgradeFrom>> {
    let offered = crate::image::channel_move::Offered {
        version: &release.version,
        talos: &build.talos_version,
        kubernetes: &build.kubernetes_version,
        boot: crate::image::channel_move::Boot {
            platform: &build.platform,
            architecture: build.architecture,
            secure_boot: build.secure_boot,
        },
    };
    if root
        .join(project::manifest_path(&release.version))
        .is_file()
    {
        let recorded = Manifest::load_recorded(root, &release.version)?.upgrade_from;
        return match recorded {
            Some(was) if allow.changed_inputs => {
                let from =
                    Manifest::load_recorded(root, &was.release_version).with_context(|| {
                        format!(
                            "release {} upgraded from release {}",
                            release.version, was.release_version
                        )
                    })?;
                crate::image::channel_move::upgrade(&from, &offered, &release.channel, allow)
                    .map(Some)
            }
            recorded => Ok(recorded),
        };
    }
    Ok(crate::image::channel_move::decide(root, &release.channel, &offered, allow)?.upgrade_from)
}

/// The factory a recorded release came from (`talos.factoryUrl`, else its ISO's URL), unless
/// a flag or the environment names another (a mirror).
pub fn recorded_factory(
    manifest: &Manifest,
    given: Option<&(String, FactorySource)>,
) -> anyhow::Result<FactoryUrl> {
    let file = project::manifest_path(&manifest.release_version);
    let recorded = manifest.talos.factory_url.clone().or_else(|| {
        let iso = manifest.os.media.get(BootMedium::Iso)?;
        let (base, _) = iso.url.split_once("/image/")?;
        Some(base.to_string())
    });
    match given {
        Some(given) => factory_url_from(given),
        None => FactoryUrl::parse(recorded.as_deref().unwrap_or_default())
            .with_context(|| format!("{file}: /talos/factoryUrl")),
    }
}

/// The factory URL a flag or the environment gave, named by its source if it is refused.
fn factory_url_from((url, source): &(String, FactorySource)) -> anyhow::Result<FactoryUrl> {
    match source {
        FactorySource::Flag => FactoryUrl::parse(url).context("--factory-url"),
        FactorySource::Environment => FactoryUrl::parse(url)
            .context("TALOS_FACTORY_URL (environment; unset it or pass --factory-url)"),
    }
}

/// `SOURCE_DATE_EPOCH` as the reproducible-builds specification defines it: an integer number
/// of seconds since 1970-01-01T00:00:00Z, ASCII digits only (no sign, no space); refused
/// otherwise, and past what `generatedAt` can say.
fn source_date_epoch(epoch: &str) -> anyhow::Result<i64> {
    let spec = "the reproducible-builds.org specification: the seconds since 1970-01-01T00:00:00Z as ASCII digits only, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)";
    anyhow::ensure!(
        !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()),
        "SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds as in {spec}"
    );
    // The last second a four-digit-year RFC 3339 time (the manifest's generatedAt) can say,
    // as the time library bounds it: 9999-12-30T22:00:00Z.
    let last = jiff::Timestamp::MAX.as_second();
    match epoch.parse::<i64>() {
        Ok(seconds) if seconds <= last => Ok(seconds),
        _ => anyhow::bail!(
            "SOURCE_DATE_EPOCH={epoch} is past {} ({last}), the last time a manifest's generatedAt can say; {spec}",
            jiff::Timestamp::MAX
        ),
    }
}

/// RFC 3339 UTC; from SOURCE_DATE_EPOCH when set, so the same inputs give the same bytes.
pub fn generated_at() -> anyhow::Result<String> {
    let seconds = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => source_date_epoch(&epoch)?,
        Err(_) => jiff::Timestamp::now().as_second(),
    };
    let at = jiff::Timestamp::from_second(seconds).context("SOURCE_DATE_EPOCH is out of range")?;
    // Whole seconds, so Display writes RFC 3339 without a fraction: 2026-01-01T00:00:00Z.
    Ok(at.to_string())
}
