//! `cargo xtask image`: from the committed intent to a recorded release. The pipeline is
//! plan → preflight → register → download → pin installer → record; `--dry-run` stops after
//! the plan and touches neither the network nor the disk; `--check` compares instead of
//! downloading and recording (see `check.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crate::channel::Channel;
use crate::fsutil::{self, write_atomic, write_new, write_replacing};
use crate::interrupt::Provisional;
use crate::manifest::{Manifest, Resolved, ResolvedMedium, Schema};
use crate::plan::{FactorySource, Overrides, Plan};
use crate::{
    check, download, factory, http, interrupt, project, registry, release_lock, signature,
};

/// Build a release: register the schematic with the Image Factory, download and hash the boot
/// media, resolve the installer digest and verify its signature, write SHA256SUMS and the release
/// manifest, and move the release channel.
/// With --dry-run, show what it would do, offline; with --check, compare a recorded release
/// with what the factory gives now.
///
/// Every flag overrides the same field of ee/appliance/release.yaml.
#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Show what a release would produce, offline: no network, nothing written.
    #[arg(long)]
    pub dry_run: bool,
    /// Compare a recorded release with what the factory gives now: the one --release-version
    /// names, else the one the channel (--channel, else channel in release.yaml) points at. Runs
    /// the preflight, registers the schematic, resolves the installer digest and asks each
    /// medium's size; downloads nothing and writes nothing. Exit 3 with a table of the fields
    /// that differ.
    #[arg(long, conflicts_with_all = ["dry_run", "force"])]
    pub check: bool,
    /// Print the manifest as JSON on stdout (with --dry-run: the planned one, unknown fields null;
    /// with --check: the comparison).
    #[arg(long)]
    pub json: bool,
    /// Schematic file, inside the repository [default: talos.schematic]
    #[arg(long, value_name = "PATH")]
    pub schematic: Option<PathBuf>,
    /// Talos version, e.g. v1.12.11 [default: talos.version]
    #[arg(long, value_name = "VERSION")]
    pub talos_version: Option<String>,
    /// Kubernetes version, e.g. v1.35.4 [default: kubernetes.version]
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// Release version, SemVer without v, e.g. 1.4.0 [default: releaseVersion]
    #[arg(long, value_name = "SEMVER")]
    pub release_version: Option<String>,
    /// Application version, SemVer [default: app.version]
    #[arg(long, value_name = "SEMVER")]
    pub app_version: Option<String>,
    /// Application values profile [default: app.valuesProfile]
    #[arg(long, value_name = "NAME")]
    pub values_profile: Option<String>,
    /// Release channel to move; must exist in ee/appliance/releases/channels [default: channel]
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// CPU architecture of the media: amd64 or arm64 [default: os.architecture]
    #[arg(long, value_name = "ARCH")]
    pub architecture: Option<crate::talos::Architecture>,
    /// SecureBoot media and installer (true) or the plain ones (false) [default: os.secureBoot]
    #[arg(long, value_name = "BOOL")]
    pub secure_boot: Option<bool>,
    /// Boot media to download, comma-separated: iso, disk-image; iso is required
    /// [default: os.bootMedia]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub boot_media: Option<Vec<crate::talos::BootMedium>>,
    /// Image Factory base URL; plain http only for a loopback factory [default: the
    /// TALOS_FACTORY_URL environment variable, else factory]
    #[arg(long, value_name = "URL")]
    pub factory_url: Option<String>,
    /// Overwrite an existing manifest for this release version (recorded releases are kept otherwise).
    #[arg(long)]
    pub force: bool,
    /// How long to wait for the factory to answer, in seconds: it builds images before the first byte.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u64,
    /// Attempts in all for a transient failure (connection error, timeout, 429, 5xx).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub retries: u32,
    /// Delay before the first retry, in milliseconds; doubles on each retry.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub retry_delay_ms: u64,
    /// Give up on a download that receives nothing for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,
    /// Trust only the certificates in this PEM file for https, instead of the Mozilla roots: for
    /// a self-hosted factory behind an internal CA.
    #[arg(long, value_name = "PEM", env = "TALOS_FACTORY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Fail when the installer digest cannot be resolved, instead of recording the release without it.
    #[arg(long)]
    pub require_digest: bool,
    /// Fail when the installer's signature cannot be verified under the installerSignature policy
    /// (no policy, no digest, no signature found), instead of recording the release without it. A
    /// signature that is found but does not verify always fails.
    #[arg(long)]
    pub require_signature: bool,
}

impl ImageArgs {
    pub fn run(self, root: &Path) -> anyhow::Result<()> {
        let mut plan = Plan::build(root, &self.overrides())?;
        if self.check && self.release_version.is_none() {
            // The release to check is the one the channel offers, not the next one the intent
            // may already name.
            let overrides = Overrides {
                release_version: Some(Channel::release_on(root, &plan.channel)?),
                ..self.overrides()
            };
            plan = Plan::build(root, &overrides)?;
        }
        for warning in &plan.warnings {
            eprintln!("warning: {warning}");
        }
        if self.dry_run {
            return self.show_plan(&plan);
        }
        if self.check {
            return check::run(
                &plan,
                &self.client()?,
                self.require_digest,
                self.require_signature,
                self.json,
            );
        }
        let manifest = self.release(&plan)?;
        if self.json {
            print!("{}", manifest.to_json());
        }
        Ok(())
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            schematic: self.schematic.clone(),
            talos_version: self.talos_version.clone(),
            kubernetes_version: self.kubernetes_version.clone(),
            release_version: self.release_version.clone(),
            app_version: self.app_version.clone(),
            values_profile: self.values_profile.clone(),
            channel: self.channel.clone(),
            architecture: self.architecture,
            secure_boot: self.secure_boot,
            boot_media: self.boot_media.clone(),
            factory_url: match (&self.factory_url, std::env::var("TALOS_FACTORY_URL")) {
                (Some(url), _) => Some((url.clone(), FactorySource::Flag)),
                (None, Ok(url)) => Some((url, FactorySource::Environment)),
                (None, Err(_)) => None,
            },
        }
    }

    fn client(&self) -> anyhow::Result<http::Client> {
        http::Client::new(http::Settings {
            response_timeout: Duration::from_secs(self.timeout),
            attempts: self.retries,
            first_retry_delay: Duration::from_millis(self.retry_delay_ms),
            ca_file: self.ca_file.clone(),
        })
    }

    fn show_plan(&self, plan: &Plan) -> anyhow::Result<()> {
        if self.json {
            let planned = Manifest::planned_json(plan, source_commit(&plan.root));
            println!("{}", serde_json::to_string_pretty(&planned)?);
            return Ok(());
        }
        let extensions = &plan.schematic.customization.official_extensions;
        let manifest_state = if plan.path(&plan.manifest_path).exists() {
            "exists: a real run refuses to overwrite it without --force"
        } else {
            "new"
        };
        println!(
            "Release {} on channel {} (dry run: offline, nothing written)\n",
            plan.release_version, plan.channel
        );
        let mut rows = vec![
            ("schematic", plan.schematic_path.clone()),
            (
                "schematic ID",
                format!("{} (computed offline)", plan.schematic_id),
            ),
            (
                "extensions",
                if extensions.is_empty() {
                    "none".into()
                } else {
                    extensions.join(", ")
                },
            ),
            ("Talos", plan.talos_version.to_string()),
            ("Kubernetes", plan.kubernetes_version.clone()),
            ("factory", plan.factory.base.clone()),
            (
                "SecureBoot",
                match &plan.certificate_url {
                    Some(url) => format!("yes: signing certificate {url}"),
                    None => "no (plain media and installer)".into(),
                },
            ),
        ];
        for medium in &plan.media {
            rows.push((medium.medium.kind().label, medium.url.clone()));
            rows.push(("  saved as", medium.path.clone()));
        }
        rows.extend([
            ("checksums", plan.sums_path.clone()),
            ("installer image", plan.installer_image.clone()),
            (
                "installer signature",
                match &plan.signature_policy {
                    Some(policy) => format!("must verify under {}", policy.describe()),
                    None => format!(
                        "not verified (no installerSignature in {})",
                        project::INTENT
                    ),
                },
            ),
            (
                "manifest",
                format!("{} ({manifest_state})", plan.manifest_path),
            ),
            (
                "channel",
                format!(
                    "{} would point at {}",
                    plan.channel_path, plan.release_version
                ),
            ),
        ]);
        for (label, value) in rows {
            println!("  {label:<16} {value}");
        }
        println!(
            "\nNot consulted offline: the factory's version list and extension catalogue, the media, the installer digest and its signature{}.",
            if plan.secure_boot {
                ", the SecureBoot certificate"
            } else {
                ""
            }
        );
        Ok(())
    }

    /// The real run. Nothing is written until every network step has succeeded, and then
    /// only through temporary files renamed into place: ISO, manifest, channel, in that order.
    /// The release lock is held throughout; a signal removes what was written and records
    /// nothing.
    fn release(&self, plan: &Plan) -> anyhow::Result<Manifest> {
        interrupt::install()?;
        let _lock = release_lock::acquire(&plan.root)?;
        sweep_partials(plan);
        let manifest_file = plan.path(&plan.manifest_path);
        if manifest_file.exists() && !self.force {
            bail!(
                "release {} is already recorded in {}; pick another --release-version, or pass --force to replace it",
                plan.release_version,
                plan.manifest_path
            );
        }
        let schema = Schema::load(&plan.path(project::RELEASE_SCHEMA), project::RELEASE_SCHEMA)?;
        let client = self.client()?;
        let factory = factory::Factory::new(&client, &plan.factory);

        let extensions = factory.preflight(plan)?;
        let certificate_sha256 = factory.secure_boot_certificate(plan)?;
        factory.register(plan)?;
        // Each is removed on any failure from here on, the others with it: a medium is only
        // worth keeping with a manifest naming its hash.
        let mut media = Vec::new();
        for medium in &plan.media {
            media.push(download::download(
                &client,
                &medium.url,
                &plan.path(&medium.path),
                &medium.path,
                medium.medium.kind().magic,
                Duration::from_secs(self.stall_timeout),
            )?);
        }
        let sums = write_sums(plan, &media)?;
        let digest = self.installer_digest(&client, plan)?;
        let signature =
            signature::for_release(&client, plan, digest.as_deref(), self.require_signature)?;

        let resolved = Resolved {
            generated_at: generated_at()?,
            media: media
                .iter()
                .map(|m| ResolvedMedium {
                    sha256: m.sha256.clone(),
                    size: m.size,
                })
                .collect(),
            certificate_sha256,
            installer_digest: digest,
            installer_signature: signature,
            extensions,
            source_commit: source_commit(&plan.root),
        };
        let manifest = Manifest::record(plan, &resolved);
        let summary = format!(
            "recorded release {}: {}; {}; installer {}{}; channel {} → {}",
            plan.release_version,
            plan.media
                .iter()
                .zip(&media)
                .map(|(p, m)| format!("{} (sha256 {})", p.path, m.sha256))
                .collect::<Vec<_>>()
                .join(", "),
            plan.sums_path,
            plan.installer_image,
            manifest
                .os
                .installer
                .digest
                .as_ref()
                .map(|d| format!("@{d}"))
                .unwrap_or_default(),
            plan.channel,
            plan.release_version
        );
        interrupt::record_step(&summary, || {
            record(plan, &schema, &manifest, self.force)?;
            for medium in media {
                medium.file.keep();
            }
            sums.keep();
            Ok(())
        })?;
        eprintln!("{summary}");
        Ok(manifest)
    }

    fn installer_digest(
        &self,
        client: &http::Client,
        plan: &Plan,
    ) -> anyhow::Result<Option<String>> {
        match registry::installer_digest(client, plan) {
            Ok(digest) => Ok(Some(digest)),
            Err(error) if !self.require_digest => {
                eprintln!(
                    "warning: installer digest of {} not resolved, so the manifest omits it: {error:#} (pass --require-digest to make this an error)",
                    plan.installer_image
                );
                Ok(None)
            }
            Err(error) => Err(error.context(format!(
                "resolving the digest of {} (--require-digest)",
                plan.installer_image
            ))),
        }
    }
}

/// Checks the manifest against the schema and the consistency rules, writes it, then moves the
/// channel; if the channel cannot move, the manifest is taken back (or the one `--force`
/// replaced is restored), so a failed run records nothing. Without `force` the manifest is put
/// into place only if none exists, whatever another process did meanwhile.
fn record(plan: &Plan, schema: &Schema, manifest: &Manifest, force: bool) -> anyhow::Result<()> {
    let value = serde_json::to_value(manifest)?;
    let mut problems = schema.problems(&value);
    problems.extend(manifest.consistency_problems(&plan.release_version));
    if !problems.is_empty() {
        bail!(
            "refusing to write a manifest that fails {}: {} (this is a bug in xtask)",
            project::RELEASE_SCHEMA,
            problems.join("; ")
        );
    }
    let manifest_file = plan.path(&plan.manifest_path);
    let channel_file = plan.path(&plan.channel_path);
    // What a failed step puts back: the manifest `--force` replaces, and the channel as it was.
    let previous_manifest = force.then(|| std::fs::read(&manifest_file).ok());
    let previous_channel = std::fs::read(&channel_file).ok();
    let bytes = manifest.to_json();
    let written = if force {
        write_atomic(&manifest_file, bytes.as_bytes()).map(|()| None)
    } else {
        write_new(&manifest_file, bytes.as_bytes())
            .map(Some)
            .with_context(|| {
                format!(
                    "release {} was recorded by another run meanwhile; it is kept as it is",
                    plan.release_version
                )
            })
    }
    .with_context(|| format!("writing {}", plan.manifest_path));
    let written = match written {
        Ok(written) => written,
        // Without --force nothing of ours is in place.
        Err(error) if !force => return Err(error),
        // With it, the rename may have happened before the failure: the old one goes back.
        Err(error) => return Err(take_back(plan, error, previous_manifest, None)),
    };
    let channel = Channel {
        channel: plan.channel.clone(),
        release_version: Some(plan.release_version.clone()),
        updated_at: Some(manifest.generated_at.clone()),
    };
    let moved = write_atomic(&channel_file, channel.to_json().as_bytes())
        .with_context(|| format!("moving channel {}", plan.channel_path));
    let Err(error) = moved else {
        if let Some(new) = written {
            new.keep();
        }
        return Ok(());
    };
    // A new manifest goes as `written` drops; a replaced one is restored, and so is the channel.
    drop(written);
    Err(take_back(plan, error, previous_manifest, previous_channel))
}

/// Puts back what a failed record step changed and says so on `error`: the manifest as it was
/// before `--force` (`Some(None)`: there was none), and the channel's previous bytes.
fn take_back(
    plan: &Plan,
    error: anyhow::Error,
    previous_manifest: Option<Option<Vec<u8>>>,
    previous_channel: Option<Vec<u8>>,
) -> anyhow::Error {
    let manifest_file = plan.path(&plan.manifest_path);
    let manifest_back = match previous_manifest {
        None => Ok(()),
        Some(Some(bytes)) => write_atomic(&manifest_file, &bytes),
        Some(None) => match std::fs::remove_file(&manifest_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        },
    };
    let channel_back = match previous_channel {
        Some(bytes) => write_atomic(&plan.path(&plan.channel_path), &bytes),
        None => Ok(()),
    };
    match (manifest_back, channel_back) {
        (Ok(()), Ok(())) => error.context(format!(
            "{} was taken back; nothing is recorded",
            plan.manifest_path
        )),
        (Err(e), _) => error.context(format!(
            "and {} could not be taken back ({e:#}): remove or restore it by hand",
            plan.manifest_path
        )),
        (_, Err(e)) => error.context(format!(
            "and {} could not be restored ({e:#}): restore it from git",
            plan.channel_path
        )),
    }
}

/// `SHA256SUMS` beside the media, as `sha256sum -c` reads it: `<hex>  <file>` per medium,
/// sorted by file name. Provisional like the media: kept only with the manifest.
fn write_sums(plan: &Plan, media: &[download::Downloaded]) -> anyhow::Result<Provisional> {
    let mut entries: Vec<(&str, &str)> = plan
        .media
        .iter()
        .zip(media)
        .map(|(p, m)| (p.file.as_str(), m.sha256.as_str()))
        .collect();
    entries.sort();
    let text: String = entries
        .iter()
        .map(|(file, sha256)| format!("{sha256}  {file}\n"))
        .collect();
    write_replacing(&plan.path(&plan.sums_path), text.as_bytes())
        .with_context(|| format!("writing {}", plan.sums_path))
}

/// Partial files of runs that were killed (SIGKILL, a power loss) cannot have been removed by
/// them; holding the lock, this run does it and says so.
fn sweep_partials(plan: &Plan) {
    for dir in [project::DIST_DIR, project::RELEASES_DIR] {
        for (path, pid) in fsutil::sweep_partials(&plan.path(dir)) {
            let shown =
                project::relative(&plan.root, &path).unwrap_or_else(|| path.display().to_string());
            eprintln!(
                "removed {shown}, a partial file left by an interrupted run (PID {pid} is no longer running)"
            );
        }
    }
}

/// RFC 3339 UTC; from SOURCE_DATE_EPOCH when set, so the same inputs give the same bytes.
fn generated_at() -> anyhow::Result<String> {
    let now = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => {
            let seconds: i64 = epoch.trim().parse().with_context(|| {
                format!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds")
            })?;
            time::OffsetDateTime::from_unix_timestamp(seconds)
                .context("SOURCE_DATE_EPOCH is out of range")?
        }
        Err(_) => time::OffsetDateTime::now_utc(),
    };
    let now = now
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid");
    Ok(now.format(&time::format_description::well_known::Rfc3339)?)
}

/// The commit the release is cut from, or `None` outside a git checkout.
fn source_commit(root: &Path) -> Option<String> {
    let shell = xshell::Shell::new().ok()?;
    shell.change_dir(root);
    let commit = xshell::cmd!(shell, "git rev-parse --verify HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())).then_some(commit)
}
