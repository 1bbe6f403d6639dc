//! Release channels, `ee/appliance/releases/channels/<channel>.json`: a name pointing at the
//! release currently offered on it (or at none yet).

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::image::version::ReleaseVersion;
use crate::project;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub channel: String,
    /// `null` until a release is recorded on this channel.
    pub release_version: Option<ReleaseVersion>,
    /// When the channel last moved (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// How nodes on the release the channel offered before its last move get to this one
    /// (`channel_move`); absent before the first release, and in files written before it was
    /// recorded here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_from: Option<crate::image::upgrade::UpgradeFrom>,
}

impl Channel {
    /// The release this channel points at; an error naming its file if none (`root`: the tree
    /// whose recorded releases the error lists).
    pub fn offered_release(&self, root: &Path) -> anyhow::Result<ReleaseVersion> {
        let (name, path) = (&self.channel, project::channel_path(&self.channel));
        match &self.release_version {
            Some(version) => Ok(version.clone()),
            None => bail!(
                "channel {name} points at no release yet ({path} has releaseVersion null): record one with `cargo xtask image`, or name a recorded release instead ({})",
                crate::image::manifest::recorded_releases(root)
            ),
        }
    }

    /// The channel file of `name`; an error naming the file if there is none or it is not one.
    pub fn read(root: &Path, name: &str) -> anyhow::Result<Channel> {
        let path = project::channel_path(name);
        crate::image::version::check_name("channel", name).with_context(|| {
            format!("{path}: a channel's file is named after it; rename or remove it")
        })?;
        if std::fs::symlink_metadata(root.join(&path)).is_err() {
            bail!(
                "there is no channel {name} ({path} does not exist); the channels are: {}",
                names(root).join(", ")
            );
        }
        let text = project::read_input(root, &path, project::INPUT_CAP)
            .with_context(|| format!("reading channel {path}"))?;
        serde_json::from_str(&text).with_context(|| {
            format!("{path} is not a channel file (`cargo xtask validate` says more)")
        })
    }

    /// Every channel of the tree, by name.
    pub fn all(root: &Path) -> anyhow::Result<Vec<Channel>> {
        names(root)
            .iter()
            .map(|name| Channel::read(root, name))
            .collect()
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a channel serialises");
        text.push('\n');
        text
    }
}

/// The releases `channels` point at, each once, in the channels' order.
pub fn offered(channels: &[Channel]) -> Vec<ReleaseVersion> {
    let mut releases: Vec<ReleaseVersion> = Vec::new();
    for version in channels.iter().filter_map(|c| c.release_version.as_ref()) {
        if !releases.contains(version) {
            releases.push(version.clone());
        }
    }
    releases
}

/// The names of the tree's channels (`<name>.json` in the channels folder), sorted.
pub fn names(root: &Path) -> Vec<String> {
    let mut names = project::json_stems(root, project::CHANNELS_DIR);
    names.sort();
    names
}
