//! `cargo xtask image`: from the committed intent to a recorded release. One pipeline, three
//! ends: `--dry-run` stops after the plan (offline, nothing written); a real run is
//! plan → resolve → assemble → record; `--check` is plan → resolve → assemble → compare, through
//! the same resolve stage, so the check cannot drift from the run.

mod assemble;
mod check;
mod dry_run;
mod facts;
mod fetch;
mod move_channel;
mod notices;
mod provenance;
mod record;
mod replay;
mod resolve;

use std::sync::Arc;

use anyhow::{Context, bail};

pub use check::Drift;
pub use facts::changes_between;
pub use record::read_journal;

use crate::cli;
use crate::host::progress::Progress;
use crate::image::factory::Factory;
use crate::image::intent::Intent;
use crate::image::manifest::{Manifest, Schema, known};
use crate::image::plan::Plan;
use crate::{host::http, host::interrupt, image::release_lock, project};

use resolve::{Media, Purpose};

impl cli::ImageArgs {
    pub fn run(self, root: &project::Root) -> anyhow::Result<()> {
        crate::util::say!("{}", root.note);
        let root = root.path.as_path();
        if self.check {
            let client = Arc::new(http::Client::new(http::Settings::from_flags(
                &self.network,
            ))?);
            return check::run(&self, root, &client);
        }
        let allow = crate::image::channel_move::Allow {
            rollback: self.allow_channel_rollback,
            gap: self.allow_upgrade_gap,
            reinstall: self.allow_reinstall,
            changed_inputs: self.allow_changed_inputs,
        };
        // The release.yaml the plan reads, as a file: `--update-intent` edits only that one.
        let intent_seen = crate::host::fsutil::Identity::of(&root.join(project::INTENT));
        let plan = Plan::build(root, &self.pins, allow)?;
        for warning in &plan.warnings {
            crate::util::say!("warning: {warning}");
        }
        if self.dry_run {
            // What a real run would record; a dirty tree is said, not refused.
            let source = match provenance::source(&plan, true)? {
                Some(source) if source.dirty && !self.allow_dirty => {
                    let inputs: Vec<&str> = source.inputs.iter().map(|i| i.path.as_str()).collect();
                    crate::util::say!(
                        "warning: a real run stops before its first request: {} HEAD ({}; commit them, or pass --allow-dirty)",
                        crate::util::differ_from(&inputs),
                        source.describe()
                    );
                    Some(source)
                }
                other => other,
            };
            return dry_run::show(&plan, source, self.json);
        }
        let client = Arc::new(http::Client::new(http::Settings::from_flags(
            &self.network,
        ))?);
        if self.preflight {
            // What the plan already knows stops a preflight as it would stop the run.
            self.before_requests(&plan)?;
            return preflight(&plan, &client);
        }
        let manifest = self.release(&plan, &client, intent_seen)?;
        if self.json {
            crate::util::print_out(&manifest.to_json())?;
        }
        Ok(())
    }

    /// The real run. Nothing is put in place until every network step has succeeded; the
    /// downloads wait at temporary names, and the record step renames them together with
    /// `SHA256SUMS`, the manifest and the channel. The release lock is held throughout; a
    /// signal removes what was written and records nothing.
    fn release(
        &self,
        plan: &Plan,
        client: &Arc<http::Client>,
        intent_seen: Option<crate::host::fsutil::Identity>,
    ) -> anyhow::Result<Manifest> {
        interrupt::install()?;
        let _lock = release_lock::acquire(&plan.root)?;
        record::sweep(&plan.root);
        let source = self.before_requests(plan)?;
        // Edited now, so a release.yaml this tool cannot edit fails before any network step;
        // written at the record step only if it is still the file the plan read.
        let intent = self
            .update_intent
            .then(|| {
                let text = project::read_input(&plan.root, project::INTENT, project::INPUT_CAP)?;
                let seen = intent_seen
                    .clone()
                    .context("release.yaml is not a regular file")?;
                let edit = record::IntentEdit {
                    seen,
                    text: Intent::with_release(
                        &text,
                        project::INTENT,
                        &plan.release.version,
                        &plan.release.channel,
                    )?,
                };
                edit.still_unchanged(&plan.root)?;
                anyhow::Ok(edit)
            })
            .transpose()?;
        let schema = Schema::load(&plan.root, project::RELEASE_SCHEMA)?;
        let progress = Progress::new();
        // A folder this run makes goes again, once empty, unless the release is recorded.
        let folder = plan.path(&project::release_dist_dir(&plan.release.version));
        let made = interrupt::Provisional::folder(&folder)?;
        let media = Media::download(&self.network, folder.clone());
        let mut resolved = resolve::resolve(
            plan,
            client,
            self.requirements,
            media,
            &Purpose::Release,
            &progress,
        )?;
        for line in notices::newer_versions_lines(&plan.build.talos_version, &resolved.versions)
            .into_iter()
            .chain(notices::internal_refs(&resolved.extensions))
        {
            progress.println(&line);
        }
        let files = std::mem::take(&mut resolved.files);
        let manifest = assemble::manifest(plan, &resolved, source);
        let summary = summary(plan, &manifest);
        interrupt::record_step(&summary, || {
            record::record(plan, &schema, &manifest, files, self.force, intent.as_ref())
        })?;
        if let Some(folder) = made {
            folder.keep();
        }
        crate::util::say!("{summary}");
        Ok(manifest)
    }

    /// What stops a run before its first request, for the run and for `--preflight` alike: a
    /// release already recorded (without `--force`), a re-cut from other inputs, and inputs
    /// that are not the commit's (the source the record names, returned).
    fn before_requests(
        &self,
        plan: &Plan,
    ) -> anyhow::Result<Option<crate::image::manifest::Source>> {
        if plan.path(&plan.outputs.manifest_path).exists() && !self.force {
            bail!(
                "release {} is already recorded in {}; pick another --release-version, or pass --force to replace it",
                plan.release.version,
                plan.outputs.manifest_path
            );
        }
        self.refuse_surprises(plan)?;
        // The commit the record names must hold its inputs.
        provenance::source(plan, self.allow_dirty)
    }

    /// Before any network step: a `--force` re-cut from other inputs than the record needs its
    /// own flag; the message says what would change. (A channel moved back, or over a gap, is
    /// refused while planning, by `channel_move`.)
    fn refuse_surprises(&self, plan: &Plan) -> anyhow::Result<()> {
        if self.force
            && plan.path(&plan.outputs.manifest_path).exists()
            && !self.allow_changed_inputs
        {
            let recorded = Manifest::load_recorded(&plan.root, &plan.release.version)?;
            let changes = check::unreleased(&recorded, plan);
            if !changes.is_empty() {
                let said: Vec<&str> = changes.iter().map(|c| c.message.as_str()).collect();
                bail!(
                    "--force would re-cut release {} from other inputs than {} records: {}. To repair its media, run `cargo xtask fetch --release-version {}`; to record it anew from today's intent, add --allow-changed-inputs; or cut a new release version",
                    plan.release.version,
                    plan.outputs.manifest_path,
                    said.join("; "),
                    plan.release.version
                );
            }
        }
        Ok(())
    }
}

/// `--preflight`: the factory's answers a release starts with, and nothing that builds.
fn preflight(plan: &Plan, client: &http::Client) -> anyhow::Result<()> {
    let factory = Factory::new(client, &plan.build.factory);
    let found = factory.preflight(&plan.build, &plan.schematic)?;
    let certificate = factory.secure_boot_certificate(&plan.build)?;
    for line in notices::newer_versions_lines(&plan.build.talos_version, &found.versions)
        .into_iter()
        .chain(notices::internal_refs(&found.extensions))
    {
        crate::util::say!("{line}");
    }
    let extensions: Vec<&str> = found.extensions.iter().map(|e| e.name.as_str()).collect();
    crate::util::print_out(&format!(
        "preflight: {} would build release {}: Talos {} is listed{}{}; nothing was registered, built or downloaded\n",
        plan.build.factory.base,
        plan.release.version,
        plan.build.talos_version,
        if extensions.is_empty() {
            String::new()
        } else {
            format!(", extensions in its catalogue: {}", extensions.join(", "))
        },
        match certificate {
            Some(sha256) => format!(", SecureBoot signing certificate sha256 {sha256}"),
            None => String::new(),
        }
    ))
}

/// What a successful run says it recorded, a file a line, and the step that follows.
fn summary(plan: &Plan, manifest: &Manifest) -> String {
    let mut lines = vec![format!(
        "recorded release {} on channel {}:",
        plan.release.version, plan.release.channel
    )];
    lines.extend(
        manifest
            .os
            .media()
            .iter()
            .map(|(_, m)| format!("  {}  sha256 {}", m.local_path, known(&m.sha256))),
    );
    lines.extend(
        manifest
            .air_gap
            .iter()
            .map(|a| format!("  {}  sha256 {}", a.path, known(&a.sha256))),
    );
    lines.push(format!("  {}", plan.outputs.sums_path));
    lines.push(format!(
        "  installer {}{}",
        plan.build.installer.image,
        manifest
            .os
            .installer
            .digest
            .as_ref()
            .map(|d| format!("@{d}"))
            .unwrap_or_default()
    ));
    lines.push(format!(
        "  {} and {} → {}",
        plan.outputs.manifest_path, plan.outputs.channel_path, plan.release.version
    ));
    lines.push(format!(
        "next: commit the record (git add {} {} && git commit), then publish the media: cargo xtask release-notes --release-version {}",
        plan.outputs.manifest_path, plan.outputs.channel_path, plan.release.version
    ));
    lines.join("\n")
}
