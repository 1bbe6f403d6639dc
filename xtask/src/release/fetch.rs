//! `cargo xtask fetch`: the media (and the air-gap bundle) of a recorded release, put into
//! `ee/appliance/dist/<releaseVersion>/` on a machine that does not have them (a fresh clone:
//! `dist/` is not committed), or over a copy that went bad. The record is replayed through the
//! release's own resolve stage (the same downloads, resume, bounds and temporary files), and
//! the files are put in place only when every SHA-256 equals the record; otherwise it is drift
//! (exit 3) and nothing is placed. The record itself is never written.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::cli;
use crate::cli::Pins;
use crate::host::fsutil::write_atomic;
use crate::host::http::{self, Client};
use crate::host::interrupt::{self, Provisional};
use crate::host::progress::Progress;
use crate::image::channel::Channel;
use crate::image::intent::Intent;
use crate::image::manifest::known;
use crate::image::version::ReleaseVersion;
use crate::util::mib;
use crate::{image::release_lock, project};

use super::check::Drift;
use super::record;
use super::replay::{self, Replay};
use super::resolve::{self, Media, Purpose, Resolved};

impl cli::FetchArgs {
    pub fn run(self, root: &project::Root) -> anyhow::Result<()> {
        crate::util::say!("{}", root.note);
        let root = root.path.as_path();
        let versions = match &self.release_version {
            Some(version) => vec![version.clone()],
            None => channel_releases(root)?,
        };
        let intent = Intent::load(root)?;
        let pins = Pins {
            factory_url: self.factory_url.clone(),
            registry_mirror: self.registry_mirror.clone(),
            ..Pins::default()
        };
        let client = Arc::new(Client::new(http::Settings::from_flags(&self.network))?);
        interrupt::install()?;
        let _lock = release_lock::acquire(root)?;
        // What a killed run left (a record step half done, partial files) goes first, as
        // before a release: fetched files must not land beside a record being rolled back.
        record::sweep(root);
        let progress = Progress::new();
        // Every release, each reported: one that drifted or failed does not keep the others
        // from being restored.
        let (mut drifts, mut failures) = (Vec::new(), Vec::new());
        for version in &versions {
            let fetched = replay::replay(root, &intent, &pins, version, &client, &progress)
                .and_then(|replay| self.fetch(replay, &client, &progress));
            match fetched {
                Ok(()) => {}
                Err(error) if versions.len() == 1 => return Err(error),
                Err(error) => match error.downcast::<Drift>() {
                    Ok(drift) => {
                        progress.println(&format!("release {version}: {drift}"));
                        drifts.push(drift);
                    }
                    Err(error) => {
                        progress.println(&format!("release {version}: not fetched: {error:#}"));
                        failures.push(version.clone());
                    }
                },
            }
        }
        if !failures.is_empty() {
            bail!(
                "release(s) {} could not be fetched (each said above){}; the others are in place",
                failures
                    .iter()
                    .map(|v: &ReleaseVersion| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                match Drift::joined(drifts) {
                    Some(drift) => format!(", and {drift}"),
                    None => String::new(),
                }
            );
        }
        match Drift::joined(drifts) {
            Some(drift) => Err(drift.into()),
            None => Ok(()),
        }
    }

    /// One release: downloaded beside the final names, compared, then put in place.
    fn fetch(
        &self,
        Replay { recorded, plan }: Replay,
        client: &Arc<Client>,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let version = &recorded.release_version;
        let manifest_path = project::manifest_path(version);
        let shown = project::release_dist_dir(version);
        let folder = plan.path(&shown);
        // A folder this run makes goes again unless the files are placed.
        let made = Provisional::folder(&folder)?;
        let media = Media::download(&self.network, folder.clone());
        let purpose = Purpose::fetch_of(&recorded);
        let resolved = resolve::resolve(
            &plan,
            client,
            cli::Requirements::default(),
            media,
            &purpose,
            progress,
        )?;
        let differences = differences(&recorded, &resolved);
        if !differences.is_empty() {
            for line in &differences {
                progress.println(&format!("  {line}"));
            }
            // The downloads and the folder go when dropped; nothing was placed.
            return Err(Drift::of(version, &manifest_path, differences.len()).into());
        }
        let mut placed = Vec::new();
        for file in resolved.files {
            let name = project::relative(&plan.root, file.destination()).unwrap_or_default();
            file.persist()
                .with_context(|| format!("putting {name} in place"))?
                .keep();
            placed.push(name);
        }
        write_atomic(
            &plan.path(&plan.outputs.sums_path),
            record::sums(&recorded).as_bytes(),
        )
        .with_context(|| format!("writing {}", plan.outputs.sums_path))?;
        placed.push(plan.outputs.sums_path.clone());
        if let Some(made) = made {
            made.keep();
        }
        progress.println(&format!(
            "fetched release {version}: {}, each equal to {manifest_path}",
            placed.join(", ")
        ));
        Ok(())
    }
}

/// The releases the channels point at, each once; an error when none does.
fn channel_releases(root: &Path) -> anyhow::Result<Vec<ReleaseVersion>> {
    let versions = crate::image::channel::offered(&Channel::all(root)?);
    if versions.is_empty() {
        bail!(
            "no channel points at a release yet ({}): nothing to fetch; name a recorded release with --release-version",
            project::CHANNELS_DIR
        );
    }
    Ok(versions)
}

/// Each downloaded file whose bytes are not the recorded ones, in words.
fn differences(recorded: &crate::image::manifest::Manifest, resolved: &Resolved) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, medium) in recorded.os.media() {
        match resolved.media.get(&kind) {
            Some(now) if now.sha256.is_some() && now.sha256 == medium.sha256 => {}
            Some(now) => out.push(format!(
                "{}: the factory now gives other bytes: sha256 {} ({}), the record has {} ({})",
                medium.local_path,
                known(&now.sha256),
                mib(now.size),
                known(&medium.sha256),
                medium
                    .size
                    .map(mib)
                    .unwrap_or_else(|| "size not recorded".into()),
            )),
            None => out.push(format!("{}: not downloaded", medium.local_path)),
        }
    }
    if let Some(was) = &recorded.air_gap {
        match &resolved.air_gap {
            Some(now) if now.sha256.is_some() && now.sha256 == was.sha256 => {}
            Some(now) => out.push(format!(
                "{}: packed again it has other bytes: sha256 {} ({}), the record has {} ({}); `cargo xtask image --check` says which image moved",
                was.path,
                known(&now.sha256),
                now.size.map(mib).unwrap_or_default(),
                known(&was.sha256),
                was.size.map(mib).unwrap_or_default()
            )),
            None => out.push(format!("{}: not packed", was.path)),
        }
    }
    out
}
