//! Release channels, `ee/appliance/releases/channels/<channel>.json`: a name pointing at the
//! release currently offered on it (or at none yet).

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::project;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub channel: String,
    /// `null` until a release is recorded on this channel.
    pub release_version: Option<String>,
    /// When the channel last moved (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl Channel {
    /// The release `name` points at; an error naming the file if none, or no such channel.
    pub fn release_on(root: &Path, name: &str) -> anyhow::Result<String> {
        crate::talos::check_name("channel (--channel)", name)?;
        let path = project::channel_path(name);
        let text = std::fs::read_to_string(root.join(&path))
            .with_context(|| format!("reading channel {path}"))?;
        let channel: Channel = serde_json::from_str(&text).with_context(|| {
            format!("{path} is not a channel file (`cargo xtask validate` says more)")
        })?;
        match channel.release_version {
            Some(version) => Ok(version),
            None => bail!(
                "channel {name} points at no release yet ({path} has releaseVersion null): record one with `cargo xtask image`, or name a recorded release with --release-version"
            ),
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a channel serialises");
        text.push('\n');
        text
    }
}
