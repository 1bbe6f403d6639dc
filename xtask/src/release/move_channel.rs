//! `cargo xtask channel <name> <releaseVersion>`: a channel moved on purpose, outside a release
//! run: a rollback to an older release or a promotion of another channel's release. The release
//! must be recorded (its manifest loads and passes its own checks) and the move must pass the
//! same policy as a release's (`channel_move`: a rollback and a gap each need their flag); the
//! channel file is written whole, under the release lock, with `updatedAt` and the upgrade
//! path from the release it offered, and the previous value is said.

use anyhow::Context;

use crate::host::fsutil::write_atomic;
use crate::image::manifest::Manifest;
use crate::{cli, image::channel_move, image::release_lock, project};

impl cli::ChannelArgs {
    pub fn run(self, root: &project::Root) -> anyhow::Result<()> {
        crate::util::say!("{}", root.note);
        let root = root.path.as_path();
        let lock = release_lock::acquire(root)?;
        // A record step a killed run left is rolled back first: its roll-back restores the
        // channel file, which would undo this move if it came later.
        super::record::sweep(root);
        let path = project::channel_path(&self.name);
        let recorded = Manifest::load_recorded(root, &self.release_version).with_context(|| {
            format!("channel {} can only point at a recorded release", self.name)
        })?;
        let offered = channel_move::Offered {
            version: &self.release_version,
            talos: &recorded.talos.version,
            kubernetes: &recorded.kubernetes.version,
            boot: channel_move::Boot::of(&recorded),
        };
        let allow = channel_move::Allow {
            rollback: self.allow_channel_rollback,
            gap: self.allow_upgrade_gap,
            reinstall: self.allow_reinstall,
            changed_inputs: false,
        };
        let decision = channel_move::decide(root, &self.name, &offered, allow)?;
        if decision.previous.release_version.as_ref() == Some(&self.release_version) {
            crate::util::say!(
                "channel {} already points at {} ({path}); nothing written",
                self.name,
                self.release_version
            );
            return Ok(());
        }
        // The time of the move itself, not SOURCE_DATE_EPOCH (which dates a build's inputs).
        let now = jiff::Timestamp::now().as_second();
        let at = jiff::Timestamp::from_second(now)?.to_string();
        let channel = channel_move::moved(
            &decision.previous,
            &self.release_version,
            decision.upgrade_from.clone(),
            &at,
        );
        write_atomic(&root.join(&path), channel.to_json().as_bytes())
            .with_context(|| format!("moving channel {path}"))?;
        let how = match (&decision.previous.release_version, decision.rollback) {
            (None, _) => "its first release".to_string(),
            (Some(was), true) => format!("rolled back from {was}"),
            (Some(was), false) => format!("moved forward from {was}"),
        };
        let path_note = decision
            .upgrade_from
            .as_ref()
            .map(|u| format!("; nodes on {}", u.describe()))
            .unwrap_or_default();
        crate::util::say!(
            "channel {} → {} ({how}{path_note}); next: commit {path}",
            self.name,
            self.release_version
        );
        // The move is written: the factory's answer only adds a warning, so a release in the
        // same tree need not wait for it.
        drop(lock);
        if decision.rollback {
            self.warn_if_the_factory_moved(root);
        }
        Ok(())
    }

    /// A release rolled back to may be one the factory has since moved under: the nightly then
    /// exits 3 for this channel, and `fetch` refuses media that changed. Said now, with the
    /// drift, rather than by the next nightly.
    fn warn_if_the_factory_moved(&self, root: &std::path::Path) {
        let version = &self.release_version;
        let check = format!("cargo xtask image --check --release-version {version}");
        match super::check::moved_under(root, version, &self.network) {
            Ok(drift) if drift.is_empty() => crate::util::say!(
                "checked: the factory still gives what {} records",
                project::manifest_path(version)
            ),
            Ok(drift) => crate::util::say!(
                "warning: the factory has moved under release {version} since it was recorded:\n  {}\n\
                 the nightly ({check}) will exit 3 for channel {} until a new release replaces it, \
                 and `cargo xtask fetch --release-version {version}` refuses media that changed \
                 (nothing is placed): keep the copies you have (`cargo xtask validate --artifacts` \
                 proves them), or cut a new release from {version}'s inputs instead \
                 (docs/operator-guide.md, \"Roll back, promote, withdraw\")",
                drift.join("\n  "),
                self.name
            ),
            Err(error) => crate::util::say!(
                "warning: could not ask the factory whether it moved under release {version}: {error:#}; \
                 run {check} before the move is merged"
            ),
        }
    }
}
