//! `cargo xtask validate`: offline, fast, for pre-commit. Checks that the release intent,
//! every schematic, both schemas, every manifest and every channel are valid and agree with
//! each other. Reports every problem it finds, not just the first; needs no ISO on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::bail;

use crate::cli;
use crate::image::channel::Channel;
use crate::image::intent::Intent;
use crate::image::manifest::{AirGap, Manifest, Schema, known};
use crate::image::version::ReleaseVersion;
use crate::schematic::Schematic;
use crate::util::print_out;
use crate::{host::fsutil, image::bundle, project};

/// Problems (which fail the run) and warnings (which do not), each naming its file.
#[derive(Default)]
struct Report {
    errors: Vec<String>,
    warnings: Vec<String>,
    checked: Vec<String>,
    /// With `--artifacts`: media verified, and media not present to verify.
    verified: Vec<String>,
    not_checked: Vec<String>,
}

impl Report {
    fn error(&mut self, file: &str, message: impl std::fmt::Display) {
        self.errors.push(format!("{file}: {message}"));
    }
}

impl cli::ValidateArgs {
    pub fn run(self, root: &Path) -> anyhow::Result<()> {
        let report = validate_tree(root, self.artifacts);
        let mut out = String::new();
        if self.verbose {
            for file in &report.checked {
                out.push_str(&format!("checked {file}\n"));
            }
        }
        for file in &report.verified {
            out.push_str(&format!("verified {file}\n"));
        }
        for file in &report.not_checked {
            out.push_str(&format!("not checked: {file} (not downloaded here)\n"));
        }
        print_out(&out)?;
        for warning in &report.warnings {
            crate::util::say!("warning: {warning}");
        }
        for error in &report.errors {
            crate::util::say!("invalid: {error}");
        }
        if !report.errors.is_empty() {
            bail!(
                "{} problem(s) in the appliance tree; fix the files named above",
                report.errors.len()
            );
        }
        print_out(&format!(
            "appliance tree is valid ({} files checked{})\n",
            report.checked.len(),
            if report.warnings.is_empty() {
                String::new()
            } else {
                format!(", {} warning(s)", report.warnings.len())
            }
        ))
    }
}

fn validate_tree(root: &Path, artifacts: bool) -> Report {
    let mut report = Report::default();
    check_intent(root, &mut report);
    // Each schematic is parsed once; manifests are compared with these IDs.
    let mut schematic_ids = BTreeMap::new();
    for path in files_in(root, project::SCHEMATICS_DIR, &["yaml", "yml", "json"]) {
        report.checked.push(path.clone());
        match Schematic::load(root, &path) {
            Ok(schematic) => {
                schematic_ids.insert(path, schematic.id());
            }
            Err(e) => report.errors.push(format!("{e:#}")),
        }
    }
    let release_schema = load_schema(root, project::RELEASE_SCHEMA, &mut report);
    let channel_schema = load_schema(root, project::CHANNEL_SCHEMA, &mut report);
    let recorded = check_manifests(
        root,
        release_schema.as_ref(),
        &schematic_ids,
        artifacts,
        &mut report,
    );
    check_channels(root, channel_schema.as_ref(), &recorded, &mut report);
    leftovers(root, &recorded.named, &mut report);
    report
}

/// release.yaml, read and planned as a release would (schematic exists, channel exists,
/// Kubernetes supported by the Talos minor).
fn check_intent(root: &Path, report: &mut Report) {
    report.checked.push(project::INTENT.to_string());
    let intent = match Intent::load(root) {
        Ok(intent) => intent,
        Err(e) => return report.errors.push(format!("{e:#}")),
    };
    // A release older than its channel's is the run's to refuse (it names the flag); the
    // tree itself is consistent.
    let allow = crate::image::channel_move::Allow {
        rollback: true,
        ..Default::default()
    };
    let pins = crate::cli::Pins::default();
    match crate::image::plan::Plan::from_intent(root, intent, &pins, allow) {
        Ok(plan) => report.warnings.extend(
            plan.warnings
                .iter()
                .map(|w| format!("{}: {w}", project::INTENT)),
        ),
        Err(e) => report.error(project::INTENT, format!("{e:#}")),
    }
}

/// What the manifests record: the release versions, the manifests that pass their own
/// consistency rules (by version, read once for the channels' checks), and each file under
/// `dist/` a manifest names.
#[derive(Default)]
struct Recorded {
    releases: BTreeSet<ReleaseVersion>,
    consistent: BTreeMap<ReleaseVersion, Manifest>,
    named: BTreeSet<String>,
}

/// Every manifest against the schema and the consistency rules (and with `artifacts`, its
/// files on disk).
fn check_manifests(
    root: &Path,
    schema: Option<&Schema>,
    schematic_ids: &BTreeMap<String, String>,
    artifacts: bool,
    report: &mut Report,
) -> Recorded {
    // A past release cut from an older schematic is history; it is worth a warning only while
    // a channel still offers it. The channel files themselves are checked later.
    let channels: Vec<Channel> = crate::image::channel::names(root)
        .iter()
        .filter_map(|name| Channel::read(root, name).ok())
        .collect();
    let offered = crate::image::channel::offered(&channels);
    let mut recorded = Recorded::default();
    for path in files_in(root, project::RELEASES_DIR, &["json"]) {
        report.checked.push(path.clone());
        let stem = file_stem(&path);
        let Some(manifest) = read_checked::<Manifest>(root, &path, schema, report) else {
            continue;
        };
        let problems = manifest.consistency_problems(&stem);
        let consistent = problems.is_empty();
        for problem in problems {
            report.error(&path, problem);
        }
        if offered.contains(&manifest.release_version) {
            warn_if_schematic_changed(root, schematic_ids, &path, &manifest, report);
        }
        if let Some(source) = manifest.source.as_ref().filter(|s| s.dirty) {
            let inputs: Vec<&str> = source.inputs.iter().map(|i| i.path.as_str()).collect();
            report.warnings.push(format!(
                "{path}: release {} was cut from a dirty tree (--allow-dirty): {} differed from {}, so it cannot be reproduced from git alone",
                manifest.release_version,
                inputs.join(", "),
                source.describe()
            ));
        }
        if artifacts {
            check_artifacts(root, &path, &manifest, report);
        }
        let media = manifest.os.media();
        recorded
            .named
            .extend(media.iter().map(|(_, m)| m.local_path.clone()));
        recorded
            .named
            .extend(manifest.air_gap.iter().map(|a| a.path.clone()));
        recorded
            .named
            .insert(project::sums_path(&manifest.release_version));
        recorded.releases.insert(manifest.release_version.clone());
        if consistent {
            recorded
                .consistent
                .insert(manifest.release_version.clone(), manifest);
        }
    }
    recorded
}

/// Every channel file against its schema, its name, and the release it points at.
fn check_channels(root: &Path, schema: Option<&Schema>, recorded: &Recorded, report: &mut Report) {
    for path in files_in(root, project::CHANNELS_DIR, &["json"]) {
        report.checked.push(path.clone());
        let stem = file_stem(&path);
        let Some(channel) = read_checked::<Channel>(root, &path, schema, report) else {
            continue;
        };
        if channel.channel != stem {
            report.error(
                &path,
                format!(
                    "/channel: the file is {stem}.json but names channel {:?}",
                    channel.channel
                ),
            );
        }
        if let Some(release) = &channel.release_version
            && !recorded.releases.contains(release)
        {
            report.error(
                &path,
                format!("/releaseVersion: points at release {release}, but {} does not exist or is invalid", project::manifest_path(release)),
            );
            continue;
        }
        if let (Some(release), Some(upgrade)) = (&channel.release_version, &channel.upgrade_from) {
            for problem in channel_upgrade_problems(release, upgrade, recorded) {
                report.error(&path, problem);
            }
        }
    }
}

/// A channel file's `upgradeFrom`: from a recorded release, at the versions that release
/// records, with the steps the catalogue gives from there to the release the channel offers.
fn channel_upgrade_problems(
    release: &ReleaseVersion,
    upgrade: &crate::image::upgrade::UpgradeFrom,
    recorded: &Recorded,
) -> Vec<String> {
    let from = &upgrade.release_version;
    if !recorded.releases.contains(from) {
        return vec![format!(
            "/upgradeFrom/releaseVersion: {from} is not a recorded release ({} does not exist or is invalid)",
            project::manifest_path(from)
        )];
    }
    let (Some(offered), Some(previous)) = (
        recorded.consistent.get(release),
        recorded.consistent.get(from),
    ) else {
        return Vec::new(); // each manifest's own problems are reported with it
    };
    let mut problems = Vec::new();
    if (&previous.talos.version, &previous.kubernetes.version)
        != (&upgrade.talos, &upgrade.kubernetes)
    {
        problems.push(format!(
            "/upgradeFrom: release {from} records Talos {} and Kubernetes {}, the channel says {} and {}",
            previous.talos.version, previous.kubernetes.version, upgrade.talos, upgrade.kubernetes
        ));
    }
    problems.extend(offered.upgrade_problems(upgrade));
    problems
}

/// What interrupted runs and hand-work leave: a record step's journal or a temporary file
/// under `dist/` (warnings: the next real run cleans them up; a journal the next run would
/// refuse is an error), one in the committed `releases/` folder or beside release.yaml (an
/// error: `git add -A` would commit it), and a file under `dist/` that no manifest names (a
/// warning).
fn leftovers(root: &Path, named: &BTreeSet<String>, report: &mut Report) {
    let beside_intent = std::fs::read_dir(root.join(project::APPLIANCE_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            format!(
                "{}/{}",
                project::APPLIANCE_DIR,
                e.file_name().to_string_lossy()
            )
        });
    for path in walk(root, project::RELEASES_DIR)
        .into_iter()
        .chain(beside_intent)
    {
        if project::file_name(&path).contains(fsutil::PARTIAL_MARK) {
            report.error(
                &path,
                "a temporary file an interrupted run left in a committed folder; the next cargo xtask image, fetch or channel removes it (or remove it by hand; never commit it)",
            );
        }
    }
    for path in walk(root, project::DIST_DIR) {
        let name = project::file_name(&path);
        let (what, hint) = if name.starts_with(".record-") && name.ends_with(".journal") {
            if let Err(refused) = crate::release::read_journal(root, &path) {
                report.error(
                    &path,
                    format!("a record step's journal that no run will use: {refused:#}; remove it (never commit it)"),
                );
                continue;
            }
            (
                "the journal of a run killed inside its record step",
                "the next cargo xtask image, fetch or channel rolls that step back",
            )
        } else if name.contains(fsutil::PARTIAL_MARK) {
            (
                "a temporary file an interrupted run left",
                "the next cargo xtask image, fetch or channel removes it",
            )
        } else if name.starts_with('.') || named.contains(&path) {
            continue;
        } else {
            (
                "a file no manifest names",
                "remove it, or restore a recorded release with cargo xtask fetch",
            )
        };
        report.warnings.push(format!("{path}: {what}; {hint}"));
    }
}

/// Every file below `dir` of the tree, repository-relative, sorted.
fn walk(root: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => stack.push(path),
                Ok(_) => out.extend(project::relative(root, &path)),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// What to do about a downloaded file that is not what its manifest records: get the
/// recorded bytes again (never re-cut the release, which would record today's intent).
fn restore_hint(release_version: &str) -> String {
    format!("restore it as recorded: cargo xtask fetch --release-version {release_version}")
}

/// Re-hashes the media `manifest` names that are on disk, and checks `SHA256SUMS` against
/// the manifest where it exists. `path` is the manifest's.
fn check_artifacts(root: &Path, path: &str, manifest: &Manifest, report: &mut Report) {
    let redownload = restore_hint(&manifest.release_version);
    let mut sums_expected = Vec::new();
    for (medium, recorded) in manifest.os.media() {
        let file = &recorded.local_path;
        let name = project::file_name(file).to_string();
        sums_expected.push((name, known(&recorded.sha256).to_string()));
        let absolute = root.join(file);
        if !absolute.exists() {
            report.not_checked.push(file.clone());
            continue;
        }
        let (sha256, size) = match fsutil::sha256_file(&absolute) {
            Ok(found) => found,
            Err(e) => {
                report.error(file, format!("cannot read: {e}"));
                continue;
            }
        };
        let label = medium.kind().label;
        if recorded.size.is_some_and(|s| s != size) {
            report.error(
                file,
                format!(
                    "the {label} has {size} bytes but {path} records {}; {redownload}",
                    recorded.size.unwrap_or_default()
                ),
            );
        } else if Some(&sha256) != recorded.sha256.as_ref() {
            report.error(
                file,
                format!(
                    "the {label}'s SHA-256 is {sha256} but {path} records {}; {redownload}",
                    known(&recorded.sha256)
                ),
            );
        } else {
            report.verified.push(file.clone());
        }
    }
    if let Some(air_gap) = &manifest.air_gap {
        let name = project::file_name(&air_gap.path);
        sums_expected.push((name.to_string(), known(&air_gap.sha256).to_string()));
        check_bundle(root, path, air_gap, report);
    }
    let sums = project::sums_path(&manifest.release_version);
    let Ok(text) = std::fs::read_to_string(root.join(&sums)) else {
        if root.join(&sums).parent().is_some_and(Path::exists) {
            report.not_checked.push(sums);
        }
        return;
    };
    let mut listed: Vec<(String, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match line.split_once("  ") {
            Some((hex, name)) if crate::image::digest::is_sha256_hex(hex) => {
                listed.push((name.to_string(), hex.to_string()));
            }
            _ => report.error(
                &sums,
                format!(
                    "line {}: not `<sha256 hex>  <file>` as sha256sum writes it: {line:?}",
                    number + 1
                ),
            ),
        }
    }
    listed.sort();
    sums_expected.sort();
    if listed == sums_expected {
        report.verified.push(sums);
    } else {
        let show = |pairs: &[(String, String)]| {
            pairs
                .iter()
                .map(|(name, hex)| format!("{hex}  {name}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        report.error(
            &sums,
            format!(
                "lists [{}] but {path} records [{}]; {redownload}",
                show(&listed),
                show(&sums_expected)
            ),
        );
    }
}

/// The air-gap bundle, where it is on disk: its size and SHA-256 as `path` records them, and
/// an `index.json` that names every recorded image.
fn check_bundle(root: &Path, path: &str, air_gap: &AirGap, report: &mut Report) {
    let file = &air_gap.path;
    let absolute = root.join(file);
    if !absolute.exists() {
        report.not_checked.push(file.clone());
        return;
    }
    let again = restore_hint(&file_stem(path));
    let (sha256, size) = match fsutil::sha256_file(&absolute) {
        Ok(found) => found,
        Err(e) => return report.error(file, format!("cannot read: {e}")),
    };
    if Some(size) != air_gap.size {
        return report.error(
            file,
            format!(
                "the air-gap bundle has {size} bytes but {path} records {}; {again}",
                air_gap.size.unwrap_or_default()
            ),
        );
    }
    if Some(&sha256) != air_gap.sha256.as_ref() {
        return report.error(
            file,
            format!(
                "the air-gap bundle's SHA-256 is {sha256} but {path} records {}; {again}",
                known(&air_gap.sha256)
            ),
        );
    }
    let names = match bundle::bundle_names(&absolute) {
        Ok(names) => names,
        Err(e) => return report.error(file, format!("{e:#}")),
    };
    let missing: Vec<&str> = air_gap
        .images
        .iter()
        .map(|i| i.reference.as_str())
        .filter(|r| !names.iter().any(|n| n == r))
        .collect();
    if missing.is_empty() {
        report.verified.push(file.clone());
    } else {
        report.error(
            file,
            format!(
                "its index.json does not name {}, which {path} records; {again}",
                missing.join(", ")
            ),
        );
    }
}

fn load_schema(root: &Path, path: &str, report: &mut Report) -> Option<Schema> {
    report.checked.push(path.to_string());
    match Schema::load(root, path) {
        Ok(schema) => Some(schema),
        Err(e) => {
            report.errors.push(format!("{e:#}"));
            None
        }
    }
}

/// A JSON file read, checked against its schema (every violation reported with its pointer)
/// and deserialised; `None` when any of that failed.
fn read_checked<T: serde::de::DeserializeOwned>(
    root: &Path,
    path: &str,
    schema: Option<&Schema>,
    report: &mut Report,
) -> Option<T> {
    let value = read_json(root, path, report)?;
    if let Some(schema) = schema {
        let problems = schema.problems(&value);
        if !problems.is_empty() {
            for problem in problems {
                report.error(path, problem);
            }
            return None;
        }
    }
    serde_json::from_value(value)
        .map_err(|e| report.error(path, e))
        .ok()
}

/// `ee/appliance/releases/1.0.0.json` → `1.0.0`.
fn file_stem(path: &str) -> String {
    project::file_name(path)
        .trim_end_matches(".json")
        .to_string()
}

fn read_json(root: &Path, path: &str, report: &mut Report) -> Option<serde_json::Value> {
    let text = match project::read_input(root, path, project::INPUT_CAP) {
        Ok(text) => text,
        Err(e) => {
            report.error(path, format!("cannot read: {e:#}"));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            report.error(
                path,
                format!("{}:{}: not valid JSON: {e}", e.line(), e.column()),
            );
            None
        }
    }
}

/// A release a channel offers whose schematic file now has a different ID was cut from another
/// schematic: not an error (history is history), but worth knowing before the next release.
/// `schematic_ids` holds the IDs already computed for the schematics folder; a schematic kept
/// elsewhere in the repository is read here.
fn warn_if_schematic_changed(
    root: &Path,
    schematic_ids: &BTreeMap<String, String>,
    path: &str,
    manifest: &Manifest,
    report: &mut Report,
) {
    let schematic_path = &manifest.talos.schematic_path;
    let now = match schematic_ids.get(schematic_path) {
        Some(id) => Ok(id.clone()),
        None => Schematic::load(root, schematic_path).map(|s| s.id()),
    };
    match now {
        Ok(id) if id == manifest.talos.schematic_id => {}
        Ok(id) => report.warnings.push(format!(
            "{path}: release {} was cut from schematic {}, but {schematic_path} now has ID {id}; the next release will differ",
            manifest.release_version, manifest.talos.schematic_id
        )),
        Err(_) => report.warnings.push(format!(
            "{path}: release {} records schematic {schematic_path}, which no longer exists or no longer parses",
            manifest.release_version
        )),
    }
}

/// Repository-relative paths of the files directly in `dir` with one of `extensions`, sorted.
fn files_in(root: &Path, dir: &str, extensions: &[&str]) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let ext = name.rsplit_once('.')?.1;
            (extensions.contains(&ext) && !name.starts_with('.')).then(|| format!("{dir}/{name}"))
        })
        .collect();
    files.sort();
    files
}
