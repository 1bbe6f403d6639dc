//! May release R go onto channel C? One decision for every command that moves a channel
//! (`image`, `image --update-intent`, `channel`): C exists, the move is not a silent roll-back
//! (`--allow-channel-rollback`), and nodes on the release C offers now can reach R
//! (`--allow-upgrade-gap`). The channel file written afterwards records that path
//! (`upgradeFrom`), so a promotion's notes start from the release the channel offered, not
//! from the one R was cut after, and its `updatedAt` never goes back in time.

use std::path::Path;

use anyhow::{Context, bail};

use crate::image::catalog;
use crate::image::channel::Channel;
use crate::image::manifest::Manifest;
use crate::image::talos::Architecture;
use crate::image::upgrade::{self, UpgradeFrom};
use crate::image::version::{KubernetesVersion, ReleaseVersion, TalosVersion};

/// The release about to be offered.
pub struct Offered<'a> {
    pub version: &'a ReleaseVersion,
    pub talos: &'a TalosVersion,
    pub kubernetes: &'a KubernetesVersion,
    /// How its nodes boot: a node booted otherwise cannot get there by `talosctl upgrade`.
    pub boot: Boot<'a>,
}

/// What decides whether a node can move between two releases by upgrading at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Boot<'a> {
    pub platform: &'a str,
    pub architecture: Architecture,
    pub secure_boot: bool,
}

impl Boot<'_> {
    /// How a recorded release's nodes boot.
    pub fn of(manifest: &Manifest) -> Boot<'_> {
        Boot {
            platform: &manifest.os.platform,
            architecture: manifest.os.architecture,
            secure_boot: manifest.os.is_secure_boot(),
        }
    }

    /// What differs from `to`, in words: "plain → SecureBoot", "amd64 → arm64", …
    fn moves_to(&self, to: &Boot) -> Vec<String> {
        let mode = |secure: bool| {
            if secure {
                "SecureBoot"
            } else {
                "plain (not SecureBoot)"
            }
        };
        let mut moves = Vec::new();
        if self.secure_boot != to.secure_boot {
            moves.push(format!(
                "{} → {}",
                mode(self.secure_boot),
                mode(to.secure_boot)
            ));
        }
        if self.architecture != to.architecture {
            moves.push(format!("{} → {}", self.architecture, to.architecture));
        }
        if self.platform != to.platform {
            moves.push(format!("platform {} → {}", self.platform, to.platform));
        }
        moves
    }
}

/// What the operator allowed on purpose, by flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct Allow {
    /// `--allow-channel-rollback`
    pub rollback: bool,
    /// `--allow-upgrade-gap`
    pub gap: bool,
    /// `--allow-reinstall`
    pub reinstall: bool,
    /// `--force --allow-changed-inputs`: a recorded release cut anew from today's intent has
    /// its upgrade path worked out again, from the release it started from.
    pub changed_inputs: bool,
}

/// A move the policy allows.
#[derive(Debug)]
pub struct Decision {
    /// The channel as it is now.
    pub previous: Channel,
    /// The channel offers an older release afterwards (allowed by `--allow-channel-rollback`).
    pub rollback: bool,
    /// How nodes on the release the channel offered get to R; `None` when it offered none
    /// (or R already).
    pub upgrade_from: Option<UpgradeFrom>,
}

/// Decides whether `to` may go onto `channel`; refused with the flag that allows it.
pub fn decide(root: &Path, channel: &str, to: &Offered, allow: Allow) -> anyhow::Result<Decision> {
    let previous = Channel::read(root, channel)?;
    let Some(current) = previous.release_version.clone() else {
        return Ok(Decision {
            previous,
            rollback: false,
            upgrade_from: None,
        });
    };
    if current == *to.version {
        return Ok(Decision {
            previous,
            rollback: false,
            upgrade_from: None,
        });
    }
    let rollback = *to.version < current;
    if rollback && !allow.rollback {
        bail!(
            "channel {channel} points at {current}; offering {} on it would roll it back to an older release. Pass --allow-channel-rollback to do that on purpose (the same flag for `cargo xtask image` and `cargo xtask channel`)",
            to.version
        );
    }
    let recorded = Manifest::load_recorded(root, &current).with_context(|| {
        format!(
            "channel {channel} points at release {current}, the one {} upgrades",
            to.version
        )
    })?;
    let upgrade_from = upgrade(&recorded, to, channel, allow)?;
    Ok(Decision {
        previous,
        rollback,
        upgrade_from: Some(upgrade_from),
    })
}

/// How nodes on the recorded release `from` get to `to`, by the catalogue's rules; a gap is
/// refused unless `allow_gap`, which records why.
pub fn upgrade(
    from: &Manifest,
    to: &Offered,
    channel: &str,
    allow: Allow,
) -> anyhow::Result<UpgradeFrom> {
    let previous = &from.release_version;
    let mut upgrade = UpgradeFrom {
        release_version: previous.clone(),
        talos: from.talos.version.clone(),
        kubernetes: from.kubernetes.version.clone(),
        steps: None,
        skipped: None,
        reinstall: None,
        installer: Some(crate::image::upgrade::InstallerFrom {
            image: from.os.installer.image.clone(),
            digest: from.os.installer.digest.clone(),
        }),
    };
    // A node booted another way (SecureBoot or not, another architecture or platform) cannot
    // get there by `talosctl upgrade`: it is installed anew from the media.
    let moves = Boot::of(from).moves_to(&to.boot);
    if !moves.is_empty() {
        let what = moves.join(", ");
        if !allow.reinstall {
            bail!(
                "nodes on release {previous} (channel {channel} offers it) cannot upgrade to release {}: {what}; talosctl upgrade keeps how a node boots, so its sites would reinstall from the media. Offer it on another channel, or pass --allow-reinstall to offer it on {channel} anyway (the notes then tell its sites to reinstall)",
                to.version
            );
        }
        upgrade.reinstall = Some(format!("--allow-reinstall: {what}"));
        return Ok(upgrade);
    }
    let path = upgrade::path(
        catalog::catalog(),
        upgrade::Versions {
            talos: &from.talos.version,
            kubernetes: &from.kubernetes.version,
        },
        upgrade::Versions {
            talos: to.talos,
            kubernetes: to.kubernetes,
        },
    );
    match path {
        Ok(steps) => upgrade.steps = Some(steps),
        Err(gap) if allow.gap => upgrade.skipped = Some(format!("--allow-upgrade-gap: {gap:#}")),
        Err(gap) => bail!(
            "nodes on release {previous} (Talos {}, Kubernetes {}; channel {channel} offers it) cannot reach release {} (Talos {}, Kubernetes {}): {gap:#}. Offer the release in between first, or pass --allow-upgrade-gap to go ahead anyway (the channel file and the notes say the check was skipped, and why)",
            from.talos.version,
            from.kubernetes.version,
            to.version,
            to.talos,
            to.kubernetes
        ),
    }
    Ok(upgrade)
}

/// The channel file after the move: `release_version` offered since `at` (never before the
/// move it replaces: a clock or `SOURCE_DATE_EPOCH` behind the last move does not turn time
/// back), reached by `upgrade_from`.
pub fn moved(
    previous: &Channel,
    release_version: &ReleaseVersion,
    upgrade_from: Option<UpgradeFrom>,
    at: &str,
) -> Channel {
    let parse = |text: &str| text.parse::<jiff::Timestamp>().ok();
    let updated_at = match (previous.updated_at.as_deref(), parse(at)) {
        (Some(before), Some(now)) if parse(before).is_some_and(|b| b > now) => before.to_string(),
        _ => at.to_string(),
    };
    Channel {
        channel: previous.channel.clone(),
        release_version: Some(release_version.clone()),
        updated_at: Some(updated_at),
        upgrade_from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(updated_at: Option<&str>) -> Channel {
        Channel {
            channel: "stable".into(),
            release_version: Some("1.0.0".parse().unwrap()),
            updated_at: updated_at.map(str::to_string),
            upgrade_from: None,
        }
    }

    #[test]
    fn a_move_is_never_dated_before_the_one_it_replaces() {
        for (before, at, expected) in [
            (
                Some("2026-12-07T10:00:00Z"),
                "1970-01-01T00:00:00Z",
                "2026-12-07T10:00:00Z",
            ),
            (
                Some("2026-12-07T10:00:00Z"),
                "2026-12-07T10:00:01Z",
                "2026-12-07T10:00:01Z",
            ),
            (None, "2026-12-07T10:00:00Z", "2026-12-07T10:00:00Z"),
            (
                Some("not a time"),
                "2026-12-07T10:00:00Z",
                "2026-12-07T10:00:00Z",
            ),
        ] {
            let moved = moved(&channel(before), &"1.2.0".parse().unwrap(), None, at);
            assert_eq!(
                moved.updated_at.as_deref(),
                Some(expected),
                "{before:?} {at}"
            );
            assert_eq!(moved.release_version.as_deref(), Some("1.2.0"));
        }
    }
}
