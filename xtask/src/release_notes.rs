//! `cargo xtask release-notes`: the Markdown body of a release page, rendered from a recorded
//! manifest alone (no network, no clock), so the same manifest always gives the same bytes.

use std::fmt::Write as _;
use std::path::Path;

use crate::channel::Channel;
use crate::cli;
use crate::digest::or_unknown;
use crate::intent::Intent;
use crate::manifest::{AirGap, Manifest, Signature, known};
use crate::project::file_name;
use crate::talos::BootMedium;
use crate::upgrade::{Component, UpgradeFrom};
use crate::util::mib;

impl cli::ReleaseNotesArgs {
    pub fn run(self, root: &Path) -> anyhow::Result<()> {
        let channel = match (&self.channel, &self.release_version) {
            (Some(channel), _) => Some(channel.clone()),
            (None, None) => Some(Intent::load(root)?.channel),
            (None, Some(_)) => None,
        };
        let channel = channel.map(|name| Channel::read(root, &name)).transpose()?;
        let version = match (self.release_version, &channel) {
            (Some(version), _) => version,
            (None, Some(channel)) => Channel::release_on(root, &channel.channel)?,
            (None, None) => unreachable!("a channel is read when no release is named"),
        };
        crate::talos::check_semver("release version (--release-version)", &version)?;
        let manifest = Manifest::load_recorded(root, &version)?;
        // A channel that offers this release says where its nodes come from (a promotion starts
        // from what that channel offered, not from the release this one was cut after).
        let upgrade = channel
            .filter(|c| c.release_version.as_deref() == Some(version.as_str()))
            .and_then(|c| c.upgrade_from)
            .or_else(|| manifest.upgrade_from.clone());
        crate::util::print_out(&render(&manifest, upgrade.as_ref()))?;
        Ok(())
    }
}

/// The release page body. Pure: a function of the manifest and the upgrade path the notes
/// describe (the channel's, else the record's).
pub fn render(m: &Manifest, upgrade_from: Option<&UpgradeFrom>) -> String {
    let mut out = String::new();
    let os = &m.os;
    let _ = writeln!(out, "# Appliance {}\n", m.release_version);
    let _ = writeln!(
        out,
        "Talos {} · Kubernetes {} · {} {} · app {} (values profile `{}`) · channel `{}`\n",
        m.talos.version,
        m.kubernetes.version,
        os.platform,
        os.architecture,
        m.app.version,
        m.app.values_profile,
        m.channel
    );

    let _ = writeln!(out, "## Boot media\n");
    let _ = writeln!(out, "| file | size | SHA-256 | factory URL |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for (_, medium) in os.media() {
        let size = medium
            .size
            .map(|s| format!("{} ({s} bytes)", mib(s)))
            .unwrap_or_else(|| "not recorded".into());
        let _ = writeln!(
            out,
            "| `{}` | {size} | `{}` | {} |",
            file_name(&medium.local_path),
            known(&medium.sha256),
            medium.url
        );
    }

    let _ = writeln!(out, "\n## Installer\n");
    match &os.installer.digest {
        Some(digest) => {
            let _ = writeln!(
                out,
                "- pinned by digest (use this): `{}@{digest}`",
                os.installer.image
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- digest: not recorded (the registry did not resolve it when the release was cut)"
            );
        }
    }
    let _ = writeln!(out, "- tag: `{}`", os.installer.image);
    let _ = writeln!(
        out,
        "- signature: {}",
        match &os.installer.signature {
            Some(Signature::Keyless {
                issuer,
                identity,
                signature,
            }) => format!(
                "verified keyless (Sigstore) for `{identity}` from {issuer}; bundle manifest `{signature}`"
            ),
            Some(Signature::PublicKey {
                public_key_sha256,
                signature,
            }) => format!(
                "verified with the pinned key whose SHA-256 is `{public_key_sha256}`; `.sig` manifest `{signature}`"
            ),
            None => "not verified when the release was cut".into(),
        }
    );
    if let Some(certificate) = &os.secure_boot_certificate {
        let _ = writeln!(
            out,
            "\n## SecureBoot\n\nThe media and installer are SecureBoot variants: install these media only with the installer above. \
             Their boot chain is signed by the certificate at {} whose SHA-256 fingerprint (DER) is `{}`; compare it before enrolling the key.",
            certificate.url,
            known(&certificate.sha256)
        );
    }

    if let Some(upgrade) = upgrade_from {
        upgrade_section(&mut out, m, upgrade);
    }

    if let Some(air_gap) = &m.air_gap {
        air_gap_section(&mut out, air_gap);
    }

    let _ = writeln!(out, "\n## Schematic\n");
    let _ = writeln!(
        out,
        "- ID `{}`, from `{}`",
        m.talos.schematic_id, m.talos.schematic_path
    );
    if let Some(factory) = &m.talos.factory_url {
        let _ = writeln!(out, "- factory: {factory}");
    }
    match m.talos.extensions.as_deref() {
        Some([]) => {
            let _ = writeln!(out, "- no system extensions");
        }
        Some(extensions) => {
            let _ = writeln!(out, "\n| extension | image | digest |");
            let _ = writeln!(out, "| --- | --- | --- |");
            for e in extensions {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    code(&e.name),
                    code(&e.reference),
                    code(&e.digest)
                );
            }
        }
        None => {
            let _ = writeln!(out, "- extensions: not recorded");
        }
    }

    let _ = writeln!(out, "\n## Source\n");
    match &m.source {
        Some(source) => {
            match (&source.commit, &source.unknown) {
                (Some(commit), _) => {
                    let _ = writeln!(out, "- commit `{commit}`");
                }
                (None, why) => {
                    let _ = writeln!(
                        out,
                        "- commit: unknown, git could not say ({})",
                        code(why.as_deref().unwrap_or("no reason recorded"))
                    );
                }
            }
            if source.dirty {
                let _ = writeln!(
                    out,
                    "- **cut from a tree whose inputs differ from that commit** (`--allow-dirty`), so it cannot be reproduced from git alone:"
                );
                for input in &source.inputs {
                    let _ = writeln!(
                        out,
                        "  - {} (SHA-256 {})",
                        code(&input.path),
                        code(&input.sha256)
                    );
                }
            }
        }
        None => {
            let _ = writeln!(out, "- commit: not recorded");
        }
    }
    let _ = writeln!(out, "- recorded {}", m.generated_at);

    let _ = writeln!(out, "\n## Verify a download\n");
    let _ = writeln!(
        out,
        "With every file of this release and `SHA256SUMS` in one folder:\n\n    sha256sum -c SHA256SUMS\n"
    );
    if let Some(iso) = os.media.get(BootMedium::Iso) {
        let _ = writeln!(
            out,
            "The ISO alone:\n\n    echo \"{}  {}\" | sha256sum -c -",
            known(&iso.sha256),
            file_name(&iso.local_path)
        );
    }
    out
}

/// The bundle, its images with digests, and how a site loads each into its own registry.
/// `text` as a Markdown code span that stays one: control characters shown as U+FFFD (a
/// newline cannot start a heading), `|` escaped (a table cell stays one), and a backtick fence
/// longer than any run of backticks inside. A record is checked against the schema before it
/// is rendered; this keeps the notes safe whatever a string holds.
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// How a site on the channel's previous release gets to this one: the steps the release was
/// checked for, in their order, as commands.
fn upgrade_section(out: &mut String, m: &Manifest, upgrade: &UpgradeFrom) {
    let _ = writeln!(out, "\n## Upgrading from {}\n", upgrade.release_version);
    let _ = write!(
        out,
        "Nodes on release {} run Talos {} and Kubernetes {}. ",
        upgrade.release_version, upgrade.talos, upgrade.kubernetes
    );
    let steps = match (&upgrade.steps, &upgrade.skipped) {
        (Some(steps), _) => steps,
        (None, why) => {
            let _ = writeln!(
                out,
                "This release was recorded without a supported upgrade path from it ({}): upgrade through a release in between, or reinstall.",
                why.as_deref().unwrap_or("not checked")
            );
            return;
        }
    };
    if steps.is_empty() {
        let _ = writeln!(
            out,
            "This release runs the same: nothing to upgrade in Talos or Kubernetes."
        );
        return;
    }
    let _ = writeln!(out, "Upgrade in this order:\n");
    let mut items = Vec::new();
    if m.air_gap.is_some() {
        items.push(
            "Air-gapped sites: load this release's bundle into the site's registry first (\"Air-gap bundle\" below), so the nodes find every image.".to_string(),
        );
    }
    let installer = match &m.os.installer.digest {
        Some(digest) => format!("{}@{digest}", m.os.installer.image),
        None => m.os.installer.image.clone(),
    };
    for step in steps {
        items.push(match step.upgrade {
            Component::Talos => {
                let mut text = format!(
                    "Talos to {}, one node at a time, the control-plane nodes first, each back and healthy before the next:\n\n       talosctl upgrade --nodes <node> --image {installer}",
                    step.to
                );
                if let Some(platform) = m
                    .air_gap
                    .as_ref()
                    .and_then(|a| a.installer())
                    .and_then(|i| i.platform_digest.as_ref())
                {
                    let name = (m.os.installer.image.rsplit_once(':'))
                        .map_or(m.os.installer.image.as_str(), |(name, _)| name);
                    text.push_str(&format!(
                        "\n\n   Air-gapped sites use the platform digest the bundle holds: `--image {name}@{platform}`."
                    ));
                }
                text
            }
            Component::Kubernetes => format!(
                "Kubernetes to {}, once, through one control-plane node:\n\n       talosctl upgrade-k8s --nodes <control-plane node> --to {}",
                step.to,
                step.to.trim_start_matches('v')
            ),
        });
    }
    let numbered: Vec<String> = (items.iter().enumerate())
        .map(|(i, item)| format!("{}. {item}", i + 1))
        .collect();
    let _ = writeln!(out, "{}", numbered.join("\n\n"));
}

fn air_gap_section(out: &mut String, air_gap: &AirGap) {
    let file = file_name(&air_gap.path);
    let _ = writeln!(
        out,
        "\n## Air-gap bundle\n\n`{file}`, {} ({} bytes), SHA-256 `{}`: one OCI image layout holding the installer (with its signature) and the images Talos pulls for the cluster, each for this release's architecture.\n",
        air_gap.size.map(mib).unwrap_or_default(),
        air_gap.size.unwrap_or_default(),
        known(&air_gap.sha256)
    );
    let _ = writeln!(out, "| image | digest | platform manifest |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for image in &air_gap.images {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{}` |",
            image.reference,
            or_unknown(&image.digest),
            or_unknown(&image.platform_digest)
        );
    }
    let _ = writeln!(
        out,
        "\nLoad every image into the site's registry (`$SITE`, e.g. `registry.site.internal:5000`) at its recorded digest, keeping its path:\n"
    );
    for image in &air_gap.images {
        let path = image
            .reference
            .split_once('/')
            .map_or(image.reference.as_str(), |(_, path)| path);
        let _ = writeln!(
            out,
            "    skopeo copy --preserve-digests oci-archive:{file}:{} docker://$SITE/{path}",
            image.reference
        );
    }
    // The bundle holds the installer's manifest for this architecture, not its index: the
    // index names manifests for other architectures that are not in the bundle, so its digest
    // does not resolve at the site. The install reference is the platform digest.
    let Some(installer) = air_gap.installer() else {
        return;
    };
    let platform = or_unknown(&installer.platform_digest);
    let name = installer
        .reference
        .rsplit_once(':')
        .map_or(installer.reference.as_str(), |(name, _)| name);
    let path = name.split_once('/').map_or(name, |(_, path)| path);
    let _ = writeln!(
        out,
        "\nThen give each node one `RegistryMirrorConfig` per upstream host (factory.talos.dev, ghcr.io, registry.k8s.io) pointing at `$SITE`, and install with the installer's platform digest, which the bundle holds (the index digest `{}` above names other architectures too, and does not resolve at the site):\n",
        or_unknown(&installer.digest)
    );
    let _ = writeln!(out, "    machine.install.image: {name}@{platform}\n");
    let _ = writeln!(
        out,
        "or, on a node without the mirror configuration, straight from the site's registry:\n"
    );
    let _ = writeln!(out, "    machine.install.image: $SITE/{path}@{platform}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The air-gap golden manifest with an upgrade path recorded into it.
    fn air_gap_release(steps: serde_json::Value) -> Manifest {
        let mut value: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/golden/manifest-air-gap.json"))
                .unwrap();
        value["upgradeFrom"] = serde_json::json!({
            "releaseVersion": "0.0.9",
            "talos": "v1.12.10",
            "kubernetes": "v1.34.2",
            "steps": steps,
        });
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_air_gap_upgrade_loads_the_bundle_first_and_names_the_platform_digest() {
        let m = air_gap_release(serde_json::json!([
            {"upgrade": "kubernetes", "to": "v1.35.4"},
            {"upgrade": "talos", "to": "v1.12.11"}
        ]));
        let notes = render(&m, m.upgrade_from.as_ref());
        let section = notes
            .split("## Upgrading from 0.0.9")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("an upgrade section");
        let platform = m.air_gap.as_ref().unwrap().installer().unwrap();
        let platform = platform.platform_digest.as_ref().unwrap();
        let load = section.find("1. Air-gapped sites: load this release's bundle");
        let kubernetes = section.find("2. Kubernetes to v1.35.4");
        let talos = section.find("3. Talos to v1.12.11");
        assert!(
            load < kubernetes && kubernetes < talos && load.is_some(),
            "{section}"
        );
        assert!(section.contains("--to 1.35.4"), "{section}");
        assert!(
            section.contains(&format!("@{platform}`")),
            "the platform digest for air-gapped sites: {section}"
        );
    }

    #[test]
    fn a_code_span_stays_one_whatever_it_holds() {
        assert_eq!(code("ghcr.io/a:1"), "`ghcr.io/a:1`");
        assert_eq!(
            code("x\n## Click [here](https://evil.example) | y"),
            "`x\u{fffd}## Click [here](https://evil.example) \\| y`"
        );
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
    }

    #[test]
    fn nothing_to_upgrade_and_a_skipped_check_are_said() {
        let same = air_gap_release(serde_json::json!([]));
        let same = render(&same, same.upgrade_from.as_ref());
        assert!(same.contains("nothing to upgrade in Talos or Kubernetes"));
        let mut skipped = air_gap_release(serde_json::json!([]));
        let upgrade = skipped.upgrade_from.as_mut().unwrap();
        upgrade.steps = None;
        upgrade.skipped = Some("--allow-upgrade-gap: Kubernetes cannot go down".into());
        let notes = render(&skipped, skipped.upgrade_from.as_ref());
        assert!(
            notes.contains("recorded without a supported upgrade path from it (--allow-upgrade-gap: Kubernetes cannot go down)"),
            "{notes}"
        );
    }
}
