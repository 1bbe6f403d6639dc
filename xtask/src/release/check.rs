//! `cargo xtask image --check`: has the factory moved under a recorded release? Every input is
//! taken from the record (schematic ID, Talos version, platform, architecture, SecureBoot,
//! media, installer); the schematic itself from the factory's stored copy, or else from the
//! commit the release was cut from, registered again. The release's resolve stage then asks
//! the factory again — sizes by `HEAD`, or (`--hashes`) the media's bytes into a temporary
//! folder — and only what the factory gives is compared: media sizes (and hashes), the
//! installer digest and signature, the extension digests, the SecureBoot certificate. Exit 3
//! means the factory moved. What the team has changed in the intent since is listed as
//! unreleased, and is not drift.

use std::fmt;
use std::sync::Arc;

use anyhow::bail;
use serde_json::{Value, json};

use crate::cli;
use crate::cli::Pins;
use crate::host::http::Client;
use crate::host::progress::Progress;
use crate::image::channel::Channel;
use crate::image::intent::Intent;
use crate::image::manifest::Manifest;
use crate::image::plan::Plan;
use crate::image::version::ReleaseVersion;
use crate::util::print_out;
use crate::{host::interrupt, project};

use super::assemble;
use super::facts::{self, Comparison, Notice, Unreleased};
use super::notices;
use super::replay::{self, Replay};
use super::resolve::{self, Media, Purpose};

/// The error a check ends with when the factory moved under a record; `main` maps it to exit
/// code 3, so CI can tell it from a check that could not run.
#[derive(Debug)]
pub struct Drift {
    /// Each release the factory moved under: version, manifest, how many facts differ.
    releases: Vec<(ReleaseVersion, String, usize)>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let moved: Vec<String> = self
            .releases
            .iter()
            .map(|(release, manifest, fields)| {
                format!("release {release} ({manifest}): {fields} recorded fact(s) differ")
            })
            .collect();
        write!(
            f,
            "the factory moved under {}; each line above says what changed. Cut a new release to record the new facts, or raise a change you did not expect with the factory's operators",
            moved.join("; ")
        )
    }
}

impl std::error::Error for Drift {}

impl Drift {
    /// One release whose recorded facts differ from what the factory gives now.
    pub fn of(release: &ReleaseVersion, manifest: &str, fields: usize) -> Drift {
        Drift {
            releases: vec![(release.clone(), manifest.into(), fields)],
        }
    }

    /// The releases of every drift in `drifts` as one; `None` when there is none.
    pub fn joined(drifts: impl IntoIterator<Item = Drift>) -> Option<Drift> {
        let releases: Vec<_> = drifts.into_iter().flat_map(|d| d.releases).collect();
        (!releases.is_empty()).then_some(Drift { releases })
    }
}

/// The comparison of a record with what the factory gives now, and what it says besides.
#[derive(Debug, Default)]
pub struct Report {
    /// Differences (exit 3), notices, not recorded, compared, not compared.
    pub facts: Comparison,
    /// Where the committed intent (with flags) differs from the record; not drift.
    pub unreleased: Vec<Unreleased>,
    pub newer_patches: Vec<String>,
    pub newer_minors: Vec<String>,
}

/// One release checked: its report, or why the check could not run.
struct Checked {
    version: ReleaseVersion,
    manifest: String,
    report: anyhow::Result<Report>,
}

/// Checks the release `--release-version` names; else the release each channel points at
/// (`--channel`: that channel only), each release once. An empty channel is a notice.
pub fn run(
    args: &cli::ImageArgs,
    root: &std::path::Path,
    client: &Arc<Client>,
) -> anyhow::Result<()> {
    let intent = Intent::load(root)?;
    // The intent as the team has it now (without --release-version, which names the record).
    let intent_plan = Plan::from_intent(
        root,
        intent.clone(),
        &Pins {
            release_version: None,
            ..args.pins.clone()
        },
        // Only what the intent would record is compared; whether its channel may move
        // there is the real run's decision.
        crate::image::channel_move::Allow {
            rollback: true,
            ..Default::default()
        },
    );
    let progress = Progress::new();
    let check = |version: &ReleaseVersion, with_unreleased: bool| Checked {
        version: version.clone(),
        manifest: project::manifest_path(version),
        report: check_release(
            (args.hashes, &args.network, args.requirements),
            root,
            client,
            (&intent, &args.pins, &intent_plan),
            version,
            with_unreleased,
            &progress,
        ),
    };

    if let Some(version) = &args.pins.release_version {
        let checked = check(version, true);
        if let Ok(report) = &checked.report {
            print_out(&if args.json {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report.to_json(version, &checked.manifest))?
                )
            } else {
                report.to_text(version, &checked.manifest)
            })?;
        }
        return outcome(vec![checked]);
    }

    let channels = match &args.pins.channel {
        Some(name) => vec![Channel::read(root, name)?],
        None => Channel::all(root)?,
    };
    // The release the intent's channel points at is the one the next release follows: the
    // intent's changes are listed as unreleased against it.
    let next_channel = match &intent_plan {
        Ok(plan) => plan.release.channel.clone(),
        Err(_) => args.pins.channel.clone().unwrap_or(intent.channel.clone()),
    };
    let follows = channels
        .iter()
        .find(|c| c.channel == next_channel)
        .and_then(|c| c.release_version.clone());
    let checked: Vec<Checked> = crate::image::channel::offered(&channels)
        .iter()
        .map(|version| check(version, follows.as_ref() == Some(version)))
        .collect();
    let notices = channel_notices(&channels, &next_channel, &intent_plan);
    print_out(&if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&channels_json(&channels, &checked, &notices))?
        )
    } else {
        channels_text(&channels, &checked, &notices)
    })?;
    outcome(checked)
}

/// The per-channel check as JSON: each channel's result, the notices, each release's report.
fn channels_json(
    channels: &[Channel],
    checked: &[Checked],
    notices: &[String],
) -> serde_json::Value {
    json!({
        "matches": checked.iter().all(|c| matches!(&c.report, Ok(r) if r.facts.differences.is_empty())),
        "channels": channels.iter().map(|c| {
            let release = checked.iter().find(|k| Some(&k.version) == c.release_version.as_ref());
            json!({
                "channel": c.channel,
                "releaseVersion": c.release_version,
                "result": match release.map(|k| &k.report) {
                    None => "empty",
                    Some(Ok(r)) if r.facts.differences.is_empty() => "matches",
                    Some(Ok(_)) => "drift",
                    Some(Err(_)) => "failed",
                },
                "error": release.and_then(|k| k.report.as_ref().err()).map(|e| format!("{e:#}")),
            })
        }).collect::<Vec<_>>(),
        "notices": notices,
        "releases": checked.iter().filter_map(|k| {
            k.report.as_ref().ok().map(|r| r.to_json(&k.version, &k.manifest))
        }).collect::<Vec<_>>(),
    })
}

/// The per-channel check as text: each channel's release, the notices, each release's report.
fn channels_text(channels: &[Channel], checked: &[Checked], notices: &[String]) -> String {
    let mut out = String::new();
    // A channel with no release is said once, by its notice below.
    for channel in channels {
        if let Some(version) = &channel.release_version {
            out.push_str(&format!("channel {}: release {version}\n", channel.channel));
        }
    }
    for notice in notices {
        out.push_str(&format!("notice: {notice}\n"));
    }
    for k in checked {
        out.push('\n');
        match &k.report {
            Ok(report) => out.push_str(&report.to_text(&k.version, &k.manifest)),
            Err(_) => out.push_str(&format!(
                "release {} ({}): the check could not run (the error follows)\n",
                k.version, k.manifest
            )),
        }
    }
    out
}

/// What the nightly will say of recorded release `version` (sizes, the installer digest and
/// signature, the extension digests; no hashes): its differences from the record in words, one a
/// line, none when the factory still gives what was recorded. `channel` asks it before rolling
/// a channel back, so the move does not turn the next nightly red unannounced.
pub fn moved_under(
    root: &std::path::Path,
    version: &ReleaseVersion,
    network: &cli::Network,
) -> anyhow::Result<Vec<String>> {
    let client = Arc::new(Client::new(crate::host::http::Settings::from_flags(
        network,
    ))?);
    let intent = Intent::load(root)?;
    let report = check_release(
        (false, network, cli::Requirements::default()),
        root,
        &client,
        (
            &intent,
            &Pins::default(),
            &Err(anyhow::anyhow!("not asked")),
        ),
        version,
        false,
        &Progress::new(),
    )?;
    Ok(report
        .facts
        .differences
        .iter()
        .map(|d| format!("{}: {}", d.path, d.meaning))
        .collect())
}

/// What a channel with no release means for the nightly: nothing to check, not a failure.
fn channel_notices(
    channels: &[Channel],
    next_channel: &str,
    intent_plan: &anyhow::Result<Plan>,
) -> Vec<String> {
    channels
        .iter()
        .filter(|c| c.release_version.is_none())
        .map(|c| {
            let path = project::channel_path(&c.channel);
            match intent_plan {
                Ok(plan) if c.channel == next_channel => format!(
                    "channel {} points at no release yet ({path}): nothing to check; {} prepares its first release, {}",
                    c.channel,
                    project::INTENT,
                    plan.release.version
                ),
                _ => format!(
                    "channel {} points at no release yet ({path}): nothing to check",
                    c.channel
                ),
            }
        })
        .collect()
}

/// Exit 1 when a check could not run, else 3 when the factory moved under a record, else 0.
/// One release checked by name fails with its own error.
fn outcome(checked: Vec<Checked>) -> anyhow::Result<()> {
    let single = checked.len() == 1;
    let (mut failed, mut drifted) = (Vec::new(), Vec::new());
    for k in checked {
        match k.report {
            Err(error) if single => return Err(error),
            Err(error) => failed.push(format!("release {} ({}): {error:#}", k.version, k.manifest)),
            Ok(report) if !report.facts.differences.is_empty() => {
                drifted.push((k.version, k.manifest, report.facts.differences.len()));
            }
            Ok(_) => {}
        }
    }
    if !failed.is_empty() {
        bail!(
            "the check could not run, so there is no verdict on: {}",
            failed.join("; ")
        );
    }
    if drifted.is_empty() {
        Ok(())
    } else {
        Err(Drift { releases: drifted }.into())
    }
}

/// Checks one recorded release: its record replayed through the resolve stage and compared.
fn check_release(
    (hashes, network, requirements): (bool, &cli::Network, cli::Requirements),
    root: &std::path::Path,
    client: &Arc<Client>,
    (intent, pins, intent_plan): (&Intent, &Pins, &anyhow::Result<Plan>),
    version: &ReleaseVersion,
    with_unreleased: bool,
    progress: &Progress,
) -> anyhow::Result<Report> {
    let Replay { recorded, plan } = replay::replay(root, intent, pins, version, client, progress)?;

    // With --hashes the media are downloaded into a private folder of this run, only to hash
    // them: removed on success, failure and signals.
    let scratch = if hashes {
        interrupt::install()?;
        Some(crate::host::fsutil::private_folder(&format!(
            "check-{version}"
        ))?)
    } else {
        None
    };
    let media = match &scratch {
        Some(folder) => Media::download(network, folder.path().to_path_buf()),
        None => Media::Sizes,
    };
    let purpose = Purpose::check_of(&recorded);
    let resolved = resolve::resolve(&plan, client, requirements, media, &purpose, progress);
    let remove_scratch = || {
        if let Some(folder) = &scratch {
            let _ = std::fs::remove_dir_all(folder.path());
        }
    };
    let resolved = match resolved {
        Ok(mut resolved) => {
            // The downloaded media were only for their hashes.
            resolved.files.clear();
            remove_scratch();
            resolved
        }
        Err(error) => {
            remove_scratch();
            return Err(error);
        }
    };
    let now = assemble::manifest(&plan, &resolved, None);
    let mut report = compare(&recorded, &now, hashes);
    let pinned = intent_plan
        .as_ref()
        .map(|p| p.build.talos_version.clone())
        .unwrap_or_else(|_| plan.build.talos_version.clone());
    (report.newer_patches, report.newer_minors) =
        notices::newer_versions(&pinned, &resolved.versions);
    report.facts.notices.extend(
        notices::newer_versions_lines(&pinned, &resolved.versions)
            .into_iter()
            .chain(notices::internal_refs(&resolved.extensions))
            .map(|message| Notice {
                path: None,
                message,
            }),
    );
    if with_unreleased {
        report.unreleased = match intent_plan {
            Ok(intent_plan) => unreleased(&recorded, intent_plan),
            Err(error) => vec![Unreleased {
                field: project::INTENT.into(),
                recorded: String::new(),
                intent: String::new(),
                message: format!("the committed intent does not plan a release: {error:#}"),
            }],
        };
    }
    Ok(report)
}

/// The facts the factory gives, recorded against now (`facts::compare`).
pub fn compare(recorded: &Manifest, now: &Manifest, hashes: bool) -> Report {
    Report {
        facts: facts::compare(recorded, now, hashes),
        ..Report::default()
    }
}

/// Where the committed intent (with flags) differs from the record, over every input
/// (`facts::unreleased`).
pub fn unreleased(recorded: &Manifest, intent: &Plan) -> Vec<Unreleased> {
    let planned = assemble::manifest(intent, &Default::default(), None);
    facts::unreleased(recorded, &planned)
}

impl Report {
    fn to_text(&self, version: &str, manifest: &str) -> String {
        let mut out = String::new();
        if self.facts.differences.is_empty() {
            out.push_str(&format!(
                "release {version} ({manifest}): the factory still gives what was recorded; {} fact(s) compared\n",
                self.facts.compared
            ));
        } else {
            out.push_str(&format!(
                "release {version} ({manifest}): the factory moved under the record in {} of {} fact(s):\n",
                self.facts.differences.len(),
                self.facts.compared
            ));
            let width = self
                .facts
                .differences
                .iter()
                .map(|d| d.path.len())
                .max()
                .unwrap_or(0);
            for d in &self.facts.differences {
                out.push_str(&format!("  {:<width$}  {}\n", d.path, d.meaning));
            }
        }
        if !self.facts.notices.is_empty() {
            out.push_str("\nnotices (not drift):\n");
            for notice in &self.facts.notices {
                out.push_str(&format!("  {}\n", notice.message));
            }
        }
        if !self.unreleased.is_empty() {
            out.push_str("\nunreleased changes in the committed intent (not drift):\n");
            for change in &self.unreleased {
                out.push_str(&format!("  {}\n", change.message));
            }
        }
        if !self.facts.not_recorded.is_empty() {
            out.push_str(&format!(
                "\nnot recorded (the manifest predates these fields; not drift): {}\n",
                self.facts.not_recorded.join(", ")
            ));
        }
        out.push_str("\nnot compared:\n");
        for (path, why) in &self.facts.not_compared {
            out.push_str(&format!("  {path}: {why}\n"));
        }
        out
    }

    fn to_json(&self, version: &str, manifest: &str) -> Value {
        json!({
            "releaseVersion": version,
            "manifest": manifest,
            "matches": self.facts.differences.is_empty(),
            "compared": self.facts.compared,
            "differences": self.facts.differences.iter().map(|d| json!({
                "path": d.path,
                "recorded": d.recorded,
                "now": d.now,
                "meaning": d.meaning,
            })).collect::<Vec<_>>(),
            "notices": self.facts.notices.iter().map(|n| json!({
                "path": n.path,
                "message": n.message,
            })).collect::<Vec<_>>(),
            "unreleased": self.unreleased.iter().map(|u| json!({
                "field": u.field,
                "recorded": u.recorded,
                "intent": u.intent,
                "message": u.message,
            })).collect::<Vec<_>>(),
            "newerVersions": {"patches": self.newer_patches, "minors": self.newer_minors},
            "notRecorded": self.facts.not_recorded,
            "notCompared": self.facts.not_compared.iter().map(|(path, why)| json!({"path": path, "why": why})).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(manifest: &mut Manifest) -> &mut Medium {
        manifest.os.media.0.get_mut(&BootMedium::Iso).unwrap()
    }

    /// A SHA-256 made of one repeated hex digit, for readable test data.
    fn hash(digit: char) -> crate::image::digest::Sha256Hex {
        crate::image::digest::Sha256Hex::parse(&digit.to_string().repeat(64)).unwrap()
    }

    /// A digest made of one repeated hex digit, for readable test data.
    fn digest(digit: char) -> Digest {
        Digest::parse(&format!("sha256:{}", digit.to_string().repeat(64))).unwrap()
    }
    use crate::image::digest::Digest;
    use crate::image::manifest::{AirGap, Extension, Medium};
    use crate::image::talos::BootMedium;

    fn manifest() -> Manifest {
        serde_json::from_value(json!({
            "releaseVersion": "1.0.0",
            "generatedAt": "2026-01-01T00:00:00Z",
            "channel": "stable",
            "talos": {
                "version": "v1.12.11",
                "schematicId": "6".repeat(64),
                "schematicPath": "ee/appliance/schematics/metal-amd64.yaml",
                "factoryUrl": "https://factory.talos.dev",
                "extensions": [{"name": "a", "ref": "ghcr.io/a:1", "digest": digest('1')}]
            },
            "kubernetes": {"version": "v1.35.4"},
            "os": {
                "platform": "metal",
                "architecture": "amd64",
                "secureBoot": false,
                "iso": {"url": "u", "localPath": "ee/appliance/dist/1.0.0/metal-amd64.iso", "sha256": "a".repeat(64), "size": 10},
                "installer": {"image": "i", "digest": digest('d')}
            },
            "app": {"version": "1.0.0", "valuesProfile": "appliance"}
        }))
        .unwrap()
    }

    /// The pointers of the facts that differ.
    fn paths(report: &Report) -> Vec<&str> {
        (report.facts.differences.iter())
            .map(|d| d.path.as_str())
            .collect()
    }

    #[test]
    fn the_same_facts_match() {
        let report = compare(&manifest(), &manifest(), true);
        assert_eq!(report.facts.differences, vec![]);
        // ISO size and hash, installer digest, one extension.
        assert_eq!(report.facts.compared, 4);
    }

    #[test]
    fn each_moved_fact_says_what_it_means() {
        let mut now = manifest();
        iso(&mut now).size = Some(11);
        now.os.installer.digest = Some(digest('e'));
        now.talos.extensions = Some(vec![Extension {
            name: "a".into(),
            reference: "ghcr.io/a:1".into(),
            digest: digest('2'),
        }]);
        let report = compare(&manifest(), &now, false);
        let paths = paths(&report);
        assert_eq!(
            paths,
            [
                "/os/iso/size",
                "/os/installer/digest",
                "/talos/extensions/0/digest"
            ]
        );
        assert!(
            report.facts.differences[0]
                .meaning
                .contains("metal-amd64.iso is now")
        );
        assert!(
            report.facts.differences[1]
                .meaning
                .contains("the factory rebuilt the installer")
        );
        assert!(report.facts.differences[2].meaning.contains("extension a"));
    }

    #[test]
    fn a_ref_that_moved_alone_is_a_notice_and_hashes_need_the_flag() {
        let mut now = manifest();
        now.talos.extensions.as_mut().unwrap()[0].reference =
            "cache-registry.image-factory.svc/a:1".into();
        iso(&mut now).sha256 = Some(hash('b'));
        let report = compare(&manifest(), &now, false);
        assert_eq!(report.facts.differences, vec![]);
        assert_eq!(report.facts.notices.len(), 1);
        assert!(
            report.facts.notices[0]
                .message
                .contains("catalogue metadata")
        );
        let report = compare(&manifest(), &now, true);
        assert_eq!(report.facts.differences.len(), 1);
        assert!(
            report.facts.differences[0]
                .meaning
                .contains("at the same size")
        );
    }

    #[test]
    fn facts_an_older_record_lacks_are_not_recorded() {
        let mut recorded = manifest();
        iso(&mut recorded).size = None;
        recorded.talos.extensions = None;
        recorded.os.installer.digest = None;
        let report = compare(&recorded, &manifest(), false);
        assert_eq!(report.facts.differences, vec![]);
        assert_eq!(
            report.facts.not_recorded,
            ["/os/iso/size", "/os/installer/digest", "/talos/extensions"]
        );
    }

    fn bundle(etcd: Option<Digest>, platform: Option<Digest>) -> AirGap {
        let image = |reference: &str, digest: Option<Digest>, platform: Option<Digest>| {
            crate::image::manifest::BundledImage {
                reference: reference.into(),
                digest,
                platform_digest: platform,
            }
        };
        AirGap {
            path: "ee/appliance/dist/1.0.0/airgap-amd64.oci.tar".into(),
            sha256: Some(hash('a')),
            size: Some(1),
            images: vec![
                // The installer's entry, found by its reference: `/os/installer/digest`'s.
                image("i", Some(digest('1')), Some(digest('2'))),
                image("registry.k8s.io/etcd:v3.6.11", etcd, platform),
            ],
        }
    }

    #[test]
    fn a_moved_tag_in_the_bundle_is_drift_and_what_a_check_did_not_fetch_is_not_compared() {
        let mut recorded = manifest();
        recorded.air_gap = Some(bundle(Some(digest('3')), Some(digest('4'))));
        let mut now = manifest();
        // A check resolves tags only: no platform digest, no tar.
        now.air_gap = Some(bundle(Some(digest('3')), None));
        let report = compare(&recorded, &now, false);
        assert_eq!(report.facts.differences, vec![]);
        assert_eq!(
            report.facts.compared,
            compare(&manifest(), &manifest(), false).facts.compared + 1
        );

        now.air_gap = Some(bundle(Some(digest('5')), None));
        let report = compare(&recorded, &now, false);
        let paths = paths(&report);
        assert_eq!(paths, ["/airGap/images/1/digest"]);
        assert!(
            report.facts.differences[0]
                .meaning
                .contains("registry.k8s.io/etcd:v3.6.11: the tag moved")
        );
    }

    #[test]
    fn what_is_not_compared_follows_the_record_and_the_flag() {
        let listed = |report: Report| -> Vec<String> {
            report
                .facts
                .not_compared
                .into_iter()
                .map(|(p, _)| p)
                .collect()
        };
        let base = ["inputs", "/generatedAt", "/source"];
        assert_eq!(listed(compare(&manifest(), &manifest(), true)), base);
        assert_eq!(
            listed(compare(&manifest(), &manifest(), false)),
            [&base[..], &["/os/*/sha256"]].concat()
        );
        let mut with_bundle = manifest();
        with_bundle.air_gap = Some(bundle(Some(digest('3')), None));
        assert_eq!(
            listed(compare(&with_bundle, &with_bundle, false)),
            [&base[..], &["/os/*/sha256", "/airGap/sha256"]].concat()
        );
    }

    #[test]
    fn a_whole_object_an_older_record_lacks_is_not_recorded() {
        let mut now = manifest();
        now.os.secure_boot_certificate = Some(crate::image::manifest::Certificate {
            url: "u".into(),
            sha256: Some(hash('c')),
        });
        let report = compare(&manifest(), &now, false);
        assert_eq!(report.facts.not_recorded, ["/os/secureBootCertificate"]);
        assert_eq!(report.facts.differences, vec![]);
    }
}
