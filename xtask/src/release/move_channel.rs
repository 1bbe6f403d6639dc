//! `cargo xtask channel <name> <releaseVersion>`: a channel moved on purpose, outside a release
//! run: a rollback to an older release or a promotion of another channel's release. The release
//! must be recorded (its manifest loads and passes its own checks); the channel file is written
//! whole, under the release lock, with `updatedAt`, and the previous value is said.

use std::cmp::Ordering;

use anyhow::Context;

use crate::channel::Channel;
use crate::cli;
use crate::fsutil::write_atomic;
use crate::manifest::Manifest;
use crate::talos::{check_semver, semver_order};
use crate::{plan, project, release_lock};

impl cli::ChannelArgs {
    pub fn run(self, root: &project::Root) -> anyhow::Result<()> {
        crate::util::say!("{}", root.note);
        let root = root.path.as_path();
        check_semver("release version", &self.release_version)?;
        let lock = release_lock::acquire(root)?;
        // A record step a killed run left is rolled back first: its roll-back restores the
        // channel file, which would undo this move if it came later.
        super::record::sweep(root);
        let previous = Channel::read(root, &self.name)?;
        Manifest::load_recorded(root, &self.release_version).with_context(|| {
            format!("channel {} can only point at a recorded release", self.name)
        })?;
        let path = project::channel_path(&self.name);
        if previous.release_version.as_ref() == Some(&self.release_version) {
            crate::util::say!(
                "channel {} already points at {} ({path}); nothing written",
                self.name,
                self.release_version
            );
            return Ok(());
        }
        let channel = Channel {
            channel: self.name.clone(),
            release_version: Some(self.release_version.clone()),
            updated_at: Some(plan::generated_at()?),
        };
        write_atomic(&root.join(&path), channel.to_json().as_bytes())
            .with_context(|| format!("moving channel {path}"))?;
        let rollback = previous
            .release_version
            .as_ref()
            .is_some_and(|was| semver_order(&self.release_version, was) == Ordering::Less);
        let how = match &previous.release_version {
            None => "its first release".to_string(),
            Some(was) if rollback => format!("rolled back from {was}"),
            Some(was) => format!("moved forward from {was}"),
        };
        crate::util::say!(
            "channel {} → {} ({how}); next: commit {path}",
            self.name,
            self.release_version
        );
        // The move is written: the factory's answer only adds a warning, so a release in the
        // same tree need not wait for it.
        drop(lock);
        if rollback {
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
