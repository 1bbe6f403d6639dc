//! Can every node on one release reach another? Talos's host upgrade rules and Kubernetes's
//! one-minor-at-a-time rule, from the catalogue: the Talos host must be one the target minor
//! upgrades from (and not too new to come back to it), Kubernetes stays or moves up one minor,
//! and the two steps go in an order where every (Talos, Kubernetes) pair in between is one Talos
//! supports.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::image::catalog::Catalog;
use crate::image::version::{KubernetesVersion, ReleaseVersion, TalosVersion, core};

/// What a release was checked against: the release its channel pointed at, its versions, and
/// the steps from there in order; or why the check was skipped (`--allow-upgrade-gap`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeFrom {
    pub release_version: ReleaseVersion,
    pub talos: TalosVersion,
    pub kubernetes: KubernetesVersion,
    /// In order; absent when the check was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
    /// Why there is no path, when `--allow-upgrade-gap` recorded the release anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Why sites reinstall rather than upgrade (another SecureBoot mode, architecture or
    /// platform), when `--allow-reinstall` offered the release anyway; no steps then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinstall: Option<String>,
    /// The installer the nodes on that release run (absent in records written before it was
    /// recorded): a new one at the same versions (another schematic) is an upgrade too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<InstallerFrom>,
}

/// The installer of the release upgraded from: its reference and, when recorded, its digest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstallerFrom {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<crate::image::digest::Digest>,
}

impl UpgradeFrom {
    /// `0.1.0 (Talos v1.12.11, Kubernetes v1.35.4): Talos to v1.13.9, then Kubernetes to
    /// v1.36.3`.
    pub fn describe(&self) -> String {
        let how = match (&self.steps, &self.skipped) {
            _ if self.reinstall.is_some() => format!(
                "sites reinstall ({})",
                self.reinstall.as_deref().unwrap_or_default()
            ),
            (Some(steps), _) if steps.is_empty() => "the same Talos and Kubernetes".to_string(),
            (Some(steps), _) => steps
                .iter()
                .map(Step::to_string)
                .collect::<Vec<_>>()
                .join(", then "),
            (None, Some(why)) => format!("not checked ({why})"),
            (None, None) => "not checked".to_string(),
        };
        format!(
            "{} (Talos {}, Kubernetes {}): {how}",
            self.release_version, self.talos, self.kubernetes
        )
    }
}

/// One step a site takes: `talosctl upgrade` to a Talos version, or `talosctl upgrade-k8s` to a
/// Kubernetes version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub upgrade: Component,
    pub to: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Talos,
    Kubernetes,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.upgrade {
            Component::Talos => write!(f, "Talos to {}", self.to),
            Component::Kubernetes => write!(f, "Kubernetes to {}", self.to),
        }
    }
}

/// A Talos and a Kubernetes version, as a release records them.
#[derive(Clone, Copy, Debug)]
pub struct Versions<'a> {
    pub talos: &'a TalosVersion,
    pub kubernetes: &'a KubernetesVersion,
}

/// The steps from `from` to `to`, in order, or every reason there is no path with the
/// intermediate release that would be needed.
pub fn path(catalog: &Catalog, from: Versions, to: Versions) -> anyhow::Result<Vec<Step>> {
    let mut gaps = Vec::new();
    let host = (from.talos.major, from.talos.minor, from.talos.patch);
    let target = catalog.minor(to.talos)?;
    let talos_moves = from.talos != to.talos;
    if talos_moves {
        let minimum = core(&target.host_upgrade.minimum)?;
        let below = core(&target.host_upgrade.downgrade_below)?;
        let denied = (target.host_upgrade.denied.iter()).any(|d| core(d).is_ok_and(|d| d == host));
        if host < minimum {
            let between = bridge(catalog, from.talos, to.talos)
                .map(|m| format!("; cut a release on Talos {m} first, which {} upgrades to and which upgrades to {}", from.talos, to.talos))
                .unwrap_or_default();
            gaps.push(format!(
                "Talos {} upgrades only from {minimum} or later, and the nodes run {}{between}",
                target.minor,
                from.talos,
                minimum = target.host_upgrade.minimum
            ));
        } else if host >= below {
            gaps.push(format!(
                "Talos {} cannot be downgraded to from {} (only from below {})",
                target.minor, from.talos, target.host_upgrade.downgrade_below
            ));
        } else if denied {
            gaps.push(format!(
                "Talos {} refuses upgrades from {}",
                target.minor, from.talos
            ));
        }
    }
    let (was, is) = (from.kubernetes.core(), to.kubernetes.core());
    let kubernetes_moves = was != is;
    if is < was {
        gaps.push(format!(
            "Kubernetes cannot go down: the nodes run {}, this release pins {}",
            from.kubernetes, to.kubernetes
        ));
    } else if (is.0, is.1) > (was.0, was.1 + 1) {
        gaps.push(format!(
            "talosctl upgrade-k8s moves Kubernetes one minor at a time: {} to {} skips {}; cut a release with Kubernetes v{}.{}.x first",
            from.kubernetes,
            to.kubernetes,
            (was.1 + 1..is.1)
                .map(|m| format!("v{}.{m}", was.0))
                .collect::<Vec<_>>()
                .join(", "),
            was.0,
            was.1 + 1
        ));
    }
    if !gaps.is_empty() {
        anyhow::bail!("{}", gaps.join("; and "));
    }
    let talos_step = Step {
        upgrade: Component::Talos,
        to: to.talos.to_string(),
    };
    let kubernetes_step = Step {
        upgrade: Component::Kubernetes,
        to: to.kubernetes.to_string(),
    };
    Ok(match (talos_moves, kubernetes_moves) {
        (false, false) => Vec::new(),
        (true, false) => vec![talos_step],
        (false, true) => vec![kubernetes_step],
        (true, true) => {
            // Talos first needs the new Talos to run the old Kubernetes; Kubernetes first needs
            // the old Talos to run the new Kubernetes.
            let runs = |talos: &TalosVersion, kubernetes: &KubernetesVersion| {
                catalog
                    .minor(talos)
                    .is_ok_and(|m| m.check_kubernetes(kubernetes).is_ok())
            };
            if runs(to.talos, from.kubernetes) {
                vec![talos_step, kubernetes_step]
            } else if runs(from.talos, to.kubernetes) {
                vec![kubernetes_step, talos_step]
            } else {
                anyhow::bail!(
                    "no order works: Talos {} does not run Kubernetes {}, and Talos {} does not run Kubernetes {}; cut a release in between (Talos {} with a Kubernetes both run, or the other way round)",
                    to.talos,
                    from.kubernetes,
                    from.talos,
                    to.kubernetes,
                    to.talos
                )
            }
        }
    })
}

/// The newest minor a host on `from` may upgrade to, whose `.0` the target upgrades from.
fn bridge<'c>(catalog: &'c Catalog, from: &TalosVersion, to: &TalosVersion) -> Option<&'c str> {
    let target = catalog.minor(to).ok()?;
    let target_minimum = core(&target.host_upgrade.minimum).ok()?;
    let host = (from.major, from.minor, from.patch);
    catalog
        .minors
        .iter()
        .filter(|m| {
            let (Ok(minimum), Ok(below)) = (
                core(&m.host_upgrade.minimum),
                core(&m.host_upgrade.downgrade_below),
            ) else {
                return false;
            };
            let Ok(start) = TalosVersion::parse(&format!("{}.0", m.minor)) else {
                return false;
            };
            host >= minimum
                && host < below
                && (start.major, start.minor, 0) >= target_minimum
                && start < *to
        })
        .map(|m| m.minor.as_str())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::catalog::catalog;

    fn steps(from: (&str, &str), to: (&str, &str)) -> anyhow::Result<Vec<String>> {
        let (a, b) = (
            TalosVersion::parse(from.0).unwrap(),
            TalosVersion::parse(to.0).unwrap(),
        );
        let (k, l): (KubernetesVersion, KubernetesVersion) =
            (from.1.parse().unwrap(), to.1.parse().unwrap());
        let path = path(
            catalog(),
            Versions {
                talos: &a,
                kubernetes: &k,
            },
            Versions {
                talos: &b,
                kubernetes: &l,
            },
        )?;
        Ok(path.iter().map(Step::to_string).collect())
    }

    #[test]
    fn a_minor_up_with_kubernetes_one_minor_up_goes_talos_first() {
        assert_eq!(
            steps(("v1.12.11", "v1.35.4"), ("v1.13.9", "v1.36.3")).unwrap(),
            ["Talos to v1.13.9", "Kubernetes to v1.36.3"]
        );
        assert_eq!(
            steps(("v1.12.11", "v1.35.4"), ("v1.12.11", "v1.35.4")).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn kubernetes_first_when_the_new_talos_does_not_run_the_old_kubernetes() {
        // Talos v1.14 runs 1.32 on, so a node on 1.31 moves Kubernetes first, on v1.12.
        assert_eq!(
            steps(("v1.12.11", "v1.31.2"), ("v1.14.0", "v1.32.1")).unwrap(),
            ["Kubernetes to v1.32.1", "Talos to v1.14.0"]
        );
    }

    #[test]
    fn gaps_are_refused_with_the_release_needed_between() {
        let skipped = steps(("v1.12.11", "v1.35.4"), ("v1.14.0", "v1.37.1"))
            .unwrap_err()
            .to_string();
        assert!(
            skipped.contains("one minor at a time") && skipped.contains("Kubernetes v1.36.x first"),
            "{skipped}"
        );
        let down = steps(("v1.12.11", "v1.35.4"), ("v1.12.11", "v1.34.1"))
            .unwrap_err()
            .to_string();
        assert!(down.contains("Kubernetes cannot go down"), "{down}");
        let host = steps(("v1.10.7", "v1.33.1"), ("v1.13.9", "v1.34.1"))
            .unwrap_err()
            .to_string();
        assert!(
            host.contains("Talos v1.13 upgrades only from 1.11.0 or later")
                && host.contains("cut a release on Talos v1.12 first"),
            "{host}"
        );
    }
}
