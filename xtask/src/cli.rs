//! Every flag of every task, as data: clap structs and nothing else. Each task module adds
//! `impl cli::XArgs { pub fn run(self, root) }`, so this module imports no task, and the image
//! flags come in groups that other layers take whole (pins → the plan's overrides, network →
//! the HTTP client's settings, requirements → the resolve stage).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::image::talos::{Architecture, BootMedium};
use crate::image::version::{KubernetesVersion, ReleaseVersion, TalosVersion};

/// Turns the appliance's image intent (ee/appliance) into verified Talos Linux boot media from
/// the Sidero Labs Image Factory.
///
/// Exit codes: 0 success; 1 the run failed or the input is invalid (the message says which
/// file and how to fix it; also when another release runs in the same tree); 2 the command line
/// is wrong; 3 `image --check` found drift; 128 + n stopped by signal n (130 SIGINT, 143
/// SIGTERM, 129 SIGHUP), having removed what it wrote (a signal during the record step waits
/// for it: the release is then complete and recorded, not removed).
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about,
    long_about
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Image(Box<ImageArgs>),
    Fetch(FetchArgs),
    Channel(ChannelArgs),
    Validate(ValidateArgs),
    ReleaseNotes(ReleaseNotesArgs),
    TalosCatalog(TalosCatalogArgs),
}

/// Build a release from ee/appliance/release.yaml (or preview, check or preflight one)
///
/// Register the schematic with the Image Factory, download and hash the boot media, resolve the
/// installer digest and verify its signature, write SHA256SUMS and the release manifest, and
/// move the release channel. With --dry-run, show what it would do, offline; with --check,
/// compare a recorded release with what the factory gives now.
///
/// Every flag overrides the same field of ee/appliance/release.yaml.
#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Show what a release would produce, offline: no network, nothing written.
    #[arg(long, conflicts_with = "force", help_heading = "Mode")]
    pub dry_run: bool,
    /// Has the factory moved under a recorded release? The one --release-version names, else
    /// the release each channel points at (each release once; --channel: that channel only; a
    /// channel with no release is a notice). Takes every input from the record, asks the
    /// factory again (each medium's size, the installer digest and signature, the extension
    /// digests) and compares only what the factory gives; writes nothing. Exit 3, with what each
    /// difference means, when the factory moved; changes in the committed intent since (the
    /// next release) are listed as unreleased, exit 0.
    #[arg(long, conflicts_with_all = ["dry_run", "force", "preflight"], help_heading = "Mode")]
    pub check: bool,
    /// Ask the factory whether it would build the intent, without building: its Talos version
    /// list, the extension (and overlay) catalogue for that version, and with SecureBoot its
    /// signing certificate; the offline rules (Kubernetes support) as a release applies them.
    /// Registers nothing, builds nothing, downloads nothing, writes nothing; fails with the
    /// messages a release would ("did you mean …").
    #[arg(long, conflicts_with_all = ["dry_run", "force"], help_heading = "Mode")]
    pub preflight: bool,
    /// With --check: also download every medium (into a temporary folder; nothing is kept or
    /// recorded) and compare its SHA-256 with the record. Reads every byte: meant for a weekly job.
    #[arg(long, requires = "check", conflicts_with_all = ["dry_run", "preflight"], help_heading = "Mode")]
    pub hashes: bool,
    /// Print the manifest as JSON on stdout (with --dry-run: the planned one, unknown fields null;
    /// with --check: the comparison).
    #[arg(long, conflicts_with = "preflight", help_heading = "Mode")]
    pub json: bool,
    #[command(flatten)]
    pub pins: Pins,
    /// Overwrite an existing manifest for this release version (recorded releases are kept
    /// otherwise). Only from the recorded inputs: to repair media, use `cargo xtask fetch`.
    #[arg(long, help_heading = "Recorded releases")]
    pub force: bool,
    /// With --force: re-cut the release although today's intent differs from its record
    /// (another schematic, Talos, channel, media, …); the refusal without it lists what differs.
    #[arg(long, requires = "force", conflicts_with_all = ["dry_run", "check", "preflight"], help_heading = "Recorded releases")]
    pub allow_changed_inputs: bool,
    /// Record a release older than the one its channel points at, moving the channel back.
    /// To roll a channel back to a release already recorded, use `cargo xtask channel` (with
    /// the same flag).
    #[arg(long, conflicts_with = "check", help_heading = "Recorded releases")]
    pub allow_channel_rollback: bool,
    /// Record the release although nodes on the release its channel points at cannot reach it
    /// (a Talos host upgrade Talos does not support, a Kubernetes minor skipped or lowered, or
    /// no order of the two steps that Talos supports). The manifest's upgradeFrom says the
    /// check was skipped, and why.
    #[arg(long, conflicts_with = "check", help_heading = "Recorded releases")]
    pub allow_upgrade_gap: bool,
    /// Offer the release on its channel although the channel's nodes boot another way (plain
    /// or SecureBoot, another architecture or platform) and so cannot upgrade to it: its sites
    /// reinstall from the media, and the notes say so.
    #[arg(long, conflicts_with = "check", help_heading = "Recorded releases")]
    pub allow_reinstall: bool,
    /// Record the release although its inputs (the schematic, release.yaml, the signature
    /// policy's key or trusted root) differ from the commit it names, or are untracked: the
    /// manifest then says source.dirty, with each differing input's SHA-256.
    #[arg(long, conflicts_with = "check", help_heading = "Recorded releases")]
    pub allow_dirty: bool,
    /// Also set releaseVersion and channel in release.yaml to this release's, in the same
    /// record step (comments, quotes and line endings kept; all or nothing with the manifest
    /// and the channel), so the intent names the release it recorded. Refused if release.yaml
    /// changed during the run, and with a flag that overrides another field of it (the intent
    /// would then disagree with its record). The release workflow passes it.
    #[arg(long, conflicts_with_all = [
        "dry_run", "check", "preflight", "schematic", "talos_version", "kubernetes_version",
        "app_version", "values_profile", "architecture", "secure_boot", "boot_media", "air_gap",
    ], help_heading = "Recorded releases")]
    pub update_intent: bool,
    #[command(flatten)]
    pub network: Network,
    #[command(flatten)]
    pub requirements: Requirements,
}

/// The release inputs a flag can override, each the same field of `release.yaml`.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Release inputs (each overrides the same field of release.yaml)")]
pub struct Pins {
    /// Schematic file, inside the repository [default: talos.schematic]
    #[arg(long, value_name = "PATH")]
    pub schematic: Option<PathBuf>,
    /// Talos version, e.g. v1.12.11 [default: talos.version]
    #[arg(long, value_name = "VERSION")]
    pub talos_version: Option<TalosVersion>,
    /// Kubernetes version, e.g. v1.35.4 [default: kubernetes.version]
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<KubernetesVersion>,
    /// Release version, SemVer without v, e.g. 1.4.0 [default: releaseVersion]
    #[arg(long, value_name = "SEMVER")]
    pub release_version: Option<ReleaseVersion>,
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
    pub architecture: Option<Architecture>,
    /// SecureBoot media and installer (true) or the plain ones (false) [default: os.secureBoot]
    #[arg(long, value_name = "BOOL")]
    pub secure_boot: Option<bool>,
    /// Boot media to download, comma-separated: iso, disk-image; iso is required
    /// [default: os.bootMedia]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub boot_media: Option<Vec<BootMedium>>,
    /// Image Factory base URL; plain http only for a loopback factory [default: the
    /// TALOS_FACTORY_URL environment variable, else factory]
    #[arg(long, value_name = "URL")]
    pub factory_url: Option<String>,
    /// Also produce the air-gap bundle: the installer for the architecture, its signature and
    /// the images Talos pulls for the cluster (plus airGap.extraImages), digest-checked, as one
    /// OCI layout tar, ee/appliance/dist/<releaseVersion>/airgap-<arch>.oci.tar [default: os.airGap]
    #[arg(long)]
    pub air_gap: bool,
    /// Fetch the images of registry HOST from URL instead (a pull-through cache, a corporate
    /// mirror): HOST=URL, repeatable; https, or plain http to this machine only. Adds to and
    /// replaces entries of registryMirrors in release.yaml
    #[arg(long, value_name = "HOST=URL")]
    pub registry_mirror: Vec<String>,
}

/// How the tool talks to the factory and its registry.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Network")]
pub struct Network {
    /// How long to wait for the factory to answer, in seconds: it builds images before the first byte.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u64,
    /// Attempts in all for a transient failure (connection error, timeout, 429, 5xx).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub retries: u32,
    /// Delay before the first retry, in milliseconds; doubles on each retry.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub retry_delay_ms: u64,
    /// Give up a download attempt that receives less than --min-rate over this many seconds
    /// (nothing at all included); it is retried, resumed where the server allows.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,
    /// The lowest transfer rate accepted, in bytes per second, averaged over --stall-timeout:
    /// far below any real link, so only a stuck transfer trips it.
    #[arg(long, value_name = "BYTES_PER_SECOND", default_value_t = 1024)]
    pub min_rate: u64,
    /// Trust only the certificates in this PEM file for https, instead of the Mozilla roots: for
    /// a self-hosted factory behind an internal CA.
    #[arg(long, value_name = "PEM", env = "TALOS_FACTORY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// What a release insists on rather than record without.
#[derive(Args, Clone, Copy, Debug, Default)]
#[command(next_help_heading = "What a release insists on")]
pub struct Requirements {
    /// Fail when the installer digest cannot be resolved, instead of recording the release without it.
    #[arg(long)]
    pub require_digest: bool,
    /// Fail when the installer's signature cannot be verified because release.yaml has no
    /// installerSignature policy. With a policy the signature is always required: no digest, no
    /// signature or one that does not verify fails the release.
    #[arg(long)]
    pub require_signature: bool,
    /// Record the installer digest without a signature when none is found (or the digest cannot
    /// be verified), although release.yaml pins an installerSignature policy; the run says so
    /// loudly. A signature that is found but does not verify still fails.
    #[arg(long, conflicts_with = "require_signature")]
    pub allow_unsigned: bool,
}

/// Restore the media of a recorded release, verified against the record
///
/// Puts the media (and the air-gap bundle) of a recorded release into
/// ee/appliance/dist/<releaseVersion>/: on a machine that lacks them (a fresh clone), or over a
/// copy that went bad. Installer digest and signature problems are warnings: they are not needed
/// to restore media.
///
/// The release is asked for again from its recorded URLs, through the same download path as a
/// release (resume, bounds, temporary files). Files are put in place only when every SHA-256
/// equals the record; a difference is drift (exit 3) and nothing is placed. The manifest and
/// the channels are never written.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The recorded release [default: every release a channel points at]
    #[arg(long, value_name = "SEMVER")]
    pub release_version: Option<ReleaseVersion>,
    /// Image Factory base URL [default: the TALOS_FACTORY_URL environment variable, else the
    /// record's factoryUrl]
    #[arg(long, value_name = "URL")]
    pub factory_url: Option<String>,
    /// Fetch the bundle's images of registry HOST from URL instead: HOST=URL, repeatable
    /// (as for `image`; adds to registryMirrors in release.yaml)
    #[arg(long, value_name = "HOST=URL")]
    pub registry_mirror: Vec<String>,
    #[command(flatten)]
    pub network: Network,
}

/// Point a channel at a recorded release: a promotion, or a rollback on purpose
///
/// Writes ee/appliance/releases/channels/<name>.json with updatedAt and upgradeFrom, and says
/// what it pointed at before. The move passes the same rule as a release's: the release is
/// recorded, a rollback needs --allow-channel-rollback, and nodes on the release the channel
/// offers must reach this one (or --allow-upgrade-gap). Before a rollback it asks the factory,
/// as the nightly check will, whether it has moved under that release since it was recorded,
/// and warns if so (the move is still made).
#[derive(Args, Debug)]
pub struct ChannelArgs {
    /// The channel to move (a file in ee/appliance/releases/channels)
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The recorded release it is to offer
    #[arg(value_name = "RELEASE_VERSION")]
    pub release_version: ReleaseVersion,
    /// Move the channel back to a release older than the one it offers (as for `image`).
    #[arg(long)]
    pub allow_channel_rollback: bool,
    /// Move the channel although nodes on the release it offers cannot reach this one (as for
    /// `image`); the channel file's upgradeFrom says the check was skipped, and why.
    #[arg(long)]
    pub allow_upgrade_gap: bool,
    /// Move the channel although its nodes boot another way (plain or SecureBoot, another
    /// architecture or platform) than this release's: its sites reinstall (as for `image`).
    #[arg(long)]
    pub allow_reinstall: bool,
    #[command(flatten)]
    pub network: Network,
}

/// Add what siderolabs/talos says at the given refs to xtask/data/talos.json
///
/// Each tag's cluster images, and each minor's Kubernetes range and host upgrade rules from the
/// newest ref that has them. Run it when Talos ships a patch or a minor, then commit the file.
#[derive(Args, Debug)]
pub struct TalosCatalogArgs {
    /// A clone (or bare clone) of https://github.com/siderolabs/talos, fetched with its tags.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Add a minor from its compatibility table even without a tag of it (vX.Y).
    #[arg(long, value_name = "vX.Y")]
    pub minor: Vec<String>,
    /// Tags to add (v1.13.9), and other refs (HEAD) for the tables of minors not released yet.
    #[arg(value_name = "REF", required = true)]
    pub refs: Vec<String>,
}

/// Check the appliance tree: intent, schematics, schemas, manifests and channels.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Print each file checked, not only the problems.
    #[arg(long, short)]
    pub verbose: bool,
    /// Also re-hash every boot medium and air-gap bundle a manifest names that is present under
    /// ee/appliance/dist (size and SHA-256; a bundle's index.json must name every recorded
    /// image), and check SHA256SUMS where present; absent files are listed as not checked.
    /// Reads every byte, so it takes as long as the files are large.
    #[arg(long)]
    pub artifacts: bool,
}

/// Print the release notes (Markdown) of a recorded release
///
/// Boot media with sizes and SHA-256, the installer with its digest, versions, schematic and
/// extensions, how to upgrade from the release the channel offered before, and how to verify a
/// download. Reads the manifest and the channel only.
#[derive(Args, Debug)]
pub struct ReleaseNotesArgs {
    /// The recorded release [default: the one the channel points at]
    #[arg(long, value_name = "SEMVER")]
    pub release_version: Option<ReleaseVersion>,
    /// The channel whose release to describe when --release-version is not given
    /// [default: channel in ee/appliance/release.yaml]
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
}
