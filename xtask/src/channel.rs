//! Release channels, `ee/appliance/releases/channels/<channel>.json`: a name pointing at the
//! release currently offered on it (or at none yet).

use serde::{Deserialize, Serialize};

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
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a channel serialises");
        text.push('\n');
        text
    }
}
