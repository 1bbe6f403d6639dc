//! `cargo xtask release-notes`: the Markdown body of a release page, rendered from records
//! alone (the manifest, the channel's upgrade path and the release it starts from; no network,
//! no clock), so the same records always give the same bytes. The page says what the release
//! is and what changed, how to get it, how to install or upgrade, and how to verify it on
//! Linux, macOS and Windows. Wide values (URLs, digests) sit in lists and fenced blocks, never
//! in table columns, and the title is the GitHub release's, not the body's.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli;
use crate::image::channel::Channel;
use crate::image::digest::or_unknown;
use crate::image::intent::Intent;
use crate::image::manifest::{AirGap, Manifest, Signature, known};
use crate::image::talos::BootMedium;
use crate::image::upgrade::{Component, UpgradeFrom};
use crate::project::file_name;
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
            (None, Some(channel)) => channel.offered_release(root)?,
            (None, None) => unreachable!("a channel is read when no release is named"),
        };
        let manifest = Manifest::load_recorded(root, &version)?;
        // A channel that offers this release says where its nodes come from (a promotion starts
        // from what that channel offered, not from the release this one was cut after).
        let offered_here = channel.filter(|c| c.release_version.as_ref() == Some(&version));
        let channel_name = offered_here
            .as_ref()
            .map_or(manifest.channel.clone(), |c| c.channel.clone());
        let upgrade = offered_here
            .and_then(|c| c.upgrade_from)
            .or_else(|| manifest.upgrade_from.clone());
        // The release it starts from, for "Changes since": a record like this one.
        let previous = match &upgrade {
            Some(from) => Some(Manifest::load_recorded(root, &from.release_version)?),
            None => None,
        };
        let page = Page {
            m: &manifest,
            channel: &channel_name,
            upgrade: upgrade.as_ref(),
            previous: previous.as_ref(),
        };
        crate::util::print_out(&page.render())?;
        Ok(())
    }
}

/// What a page is rendered from: the release, the channel it is offered on, how that
/// channel's nodes get to it, and the release they are on.
pub struct Page<'a> {
    pub m: &'a Manifest,
    pub channel: &'a str,
    pub upgrade: Option<&'a UpgradeFrom>,
    pub previous: Option<&'a Manifest>,
}

impl Page<'_> {
    /// The release page body. Pure: a function of the records.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // What moved since the release the channel offered before: said, and the reason for a
        // new installer.
        let changes = self
            .previous
            .map(|previous| crate::release::changes_between(previous, self.m));
        self.summary(&mut out);
        self.changes(&mut out, changes.as_deref());
        self.get_it(&mut out);
        self.install(&mut out);
        if let Some(upgrade) = self.upgrade {
            self.upgrade_section(&mut out, upgrade, changes.as_deref());
        }
        if let Some(air_gap) = &self.m.air_gap {
            air_gap_section(&mut out, self.m, air_gap);
        }
        self.verify(&mut out);
        self.schematic_and_source(&mut out);
        out
    }

    fn summary(&self, out: &mut String) {
        let m = self.m;
        let os = &m.os;
        let _ = writeln!(
            out,
            "Appliance release {} on channel `{}`: Talos {} · Kubernetes {} · {} {}{} · app {} (values profile `{}`).",
            m.release_version,
            self.channel,
            m.talos.version,
            m.kubernetes.version,
            os.platform,
            os.architecture,
            if os.is_secure_boot() {
                " SecureBoot"
            } else {
                ""
            },
            m.app.version,
            m.app.values_profile,
        );
    }

    /// Each input that moved since the release the channel offered before, from the records.
    fn changes(&self, out: &mut String, changes: Option<&[String]>) {
        let (Some(upgrade), Some(changes)) = (self.upgrade, changes) else {
            let _ = writeln!(
                out,
                "\nThe first release on channel `{}`: install it from the media (\"Install\" below).",
                self.channel
            );
            return;
        };
        let _ = writeln!(out, "\n## Changes since {}\n", upgrade.release_version);
        if changes.is_empty() {
            let _ = writeln!(out, "- no input changed; the factory built it again");
        }
        for change in changes {
            let _ = writeln!(out, "- {}", plain(change));
        }
    }

    fn get_it(&self, out: &mut String) {
        let m = self.m;
        let _ = writeln!(
            out,
            "\n## Get it\n\nThe boot media are this release's assets (below on this page), with `SHA256SUMS`; the factory serves the same bytes at the URL given with each.\n"
        );
        for (_, medium) in m.os.media() {
            let size = medium
                .size
                .map(|s| format!("{} ({s} bytes)", mib(s)))
                .unwrap_or_else(|| "size not recorded".into());
            let _ = writeln!(
                out,
                "- `{}`, {size}, SHA-256 `{}`, from the factory:\n\n  ```text\n  {}\n  ```\n",
                file_name(&medium.local_path),
                known(&medium.sha256),
                plain(&medium.url)
            );
        }
        let _ = writeln!(
            out,
            "The installer, pinned by digest (nodes install and upgrade with it):\n"
        );
        let _ = writeln!(out, "```text\n{}\n```\n", plain(&installer_reference(m)));
        if m.os.installer.digest.is_none() {
            let _ = writeln!(
                out,
                "The registry did not resolve the installer's digest when the release was cut: the tag above is all that is recorded.\n"
            );
        }
        let _ = writeln!(
            out,
            "Its signature: {}.",
            match &m.os.installer.signature {
                Some(Signature::Keyless {
                    issuer, identity, ..
                }) => format!(
                    "verified keyless (Sigstore) for {} from {} when the release was cut",
                    code(identity),
                    code(issuer)
                ),
                Some(Signature::PublicKey {
                    public_key_sha256, ..
                }) => format!(
                    "verified with the pinned key whose SHA-256 is `{public_key_sha256}` when the release was cut"
                ),
                None => "not verified when the release was cut".into(),
            }
        );
    }

    /// New sites, or every site of a reinstall: boot the media, install with the pinned
    /// installer. Machine configs themselves are the site's.
    fn install(&self, out: &mut String) {
        let m = self.m;
        let _ = writeln!(out, "\n## Install\n");
        let who = match self.upgrade {
            Some(u) if u.reinstall.is_some() => format!(
                "Sites on release {} reinstall from these media (\"Reinstall from {}\" below); new sites install the same way.",
                u.release_version, u.release_version
            ),
            Some(_) => "New sites install from the media; sites on an earlier release upgrade instead (below).".to_string(),
            None => "Every site installs from the media.".to_string(),
        };
        let _ = writeln!(out, "{who}\n");
        let iso =
            m.os.media
                .get(BootMedium::Iso)
                .map(|iso| file_name(&iso.local_path).to_string())
                .unwrap_or_default();
        let boot = if m.os.is_secure_boot() {
            "Boot each node from it in UEFI mode with SecureBoot on, after enrolling the signing certificate (\"SecureBoot certificate\" under \"Verify\"): write it to a USB stick or attach it as virtual media. It does not boot in legacy BIOS mode or with SecureBoot off."
        } else {
            "Boot each node from it: write it to a USB stick (`dd`, Rufus, balenaEtcher) or attach it as the VM's or the BMC's virtual media."
        };
        let _ = writeln!(
            out,
            "1. Download `{iso}` and check it (\"Verify\" below).\n2. {boot}\n3. Give every node's machine config this patch, so it installs (and later upgrades) with the installer pinned by digest:\n\n   ```yaml\n   machine:\n     install:\n       image: {}\n   ```\n\nWriting and applying the machine configs (`talosctl gen config`, `talosctl apply-config`) is the site's, and not part of this page.",
            plain(&installer_reference(m))
        );
    }

    /// How a site on the channel's previous release gets to this one: the steps the release
    /// was checked for, in their order, as commands; a new installer at the same versions is a
    /// step too; another boot mode is a reinstall.
    fn upgrade_section(&self, out: &mut String, upgrade: &UpgradeFrom, changes: Option<&[String]>) {
        let m = self.m;
        if let Some(why) = &upgrade.reinstall {
            let _ = writeln!(
                out,
                "\n## Reinstall from {}\n\nNodes on release {} cannot upgrade to this one: {}. `talosctl upgrade` keeps how a node boots, so each site installs this release from its media (\"Install\" above), node by node, after saving what it needs.",
                upgrade.release_version,
                upgrade.release_version,
                plain(why.trim_start_matches("--allow-reinstall: "))
            );
            return;
        }
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
        let installer = installer_reference(m);
        // The installer changed at the same Talos version (another schematic): nodes take it
        // with `talosctl upgrade`, or they never get the new extensions.
        let new_installer = match &upgrade.installer {
            Some(was) => was.image != m.os.installer.image || was.digest != m.os.installer.digest,
            None => self
                .previous
                .is_some_and(|p| p.talos.schematic_id != m.talos.schematic_id),
        };
        let talos_step = steps.iter().any(|s| s.upgrade == Component::Talos);
        if steps.is_empty() && !new_installer {
            let _ = writeln!(
                out,
                "This release runs the same Talos, Kubernetes and installer: nothing to upgrade on the nodes."
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
        let talos_upgrade = |why: String| {
            let mut text = format!(
                "{why}, one node at a time, the control-plane nodes first, each back and healthy before the next:\n\n   ```sh\n   talosctl upgrade --nodes <node> --image {}\n   ```",
                plain(&installer)
            );
            if let Some(platform) = m
                .air_gap
                .as_ref()
                .and_then(|a| a.installer())
                .and_then(|i| i.platform_digest.as_ref())
            {
                text.push_str(&format!(
                    "\n\n   Air-gapped sites use the platform digest the bundle holds: `--image {}@{platform}`.",
                    plain(repository(&m.os.installer.image))
                ));
            }
            text
        };
        if new_installer && !talos_step {
            let reasons = self.installer_reasons(changes);
            items.push(talos_upgrade(format!(
                "The new installer at the same Talos {} ({reasons}; Talos activates extensions only on install or upgrade)",
                m.talos.version
            )));
        }
        for step in steps {
            items.push(match step.upgrade {
                Component::Talos => talos_upgrade(format!("Talos to {}", step.to)),
                Component::Kubernetes => format!(
                    "Kubernetes to {}, once, through one control-plane node:\n\n   ```sh\n   talosctl upgrade-k8s --nodes <control-plane node> --to {}\n   ```",
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

    /// Why the installer is new: the extensions added or removed, else the schematic.
    fn installer_reasons(&self, changes: Option<&[String]>) -> String {
        let Some(changes) = changes else {
            return "a new installer".into();
        };
        let extensions: Vec<&str> = (changes.iter())
            .filter(|c| c.contains(" extension "))
            .map(String::as_str)
            .collect();
        if extensions.is_empty() {
            format!("schematic {}", self.m.talos.schematic_id)
        } else {
            plain(&extensions.join(", "))
        }
    }

    /// Checksums on Linux, macOS and Windows, the installer's signature again, and the
    /// SecureBoot certificate's fingerprint.
    fn verify(&self, out: &mut String) {
        let m = self.m;
        let _ = writeln!(
            out,
            "\n## Verify\n\nIn the folder holding the files you downloaded and `SHA256SUMS` (files you did not download are skipped):\n"
        );
        let iso = m.os.media.get(BootMedium::Iso);
        let one = iso.map(|iso| {
            (
                known(&iso.sha256).to_string(),
                file_name(&iso.local_path).to_string(),
            )
        });
        let _ = writeln!(
            out,
            "Linux:\n\n```sh\nsha256sum -c --ignore-missing SHA256SUMS"
        );
        if let Some((sha256, file)) = &one {
            let _ = writeln!(out, "echo \"{sha256}  {file}\" | sha256sum -c -");
        }
        let _ = writeln!(
            out,
            "```\n\nmacOS:\n\n```sh\nshasum -a 256 -c --ignore-missing SHA256SUMS"
        );
        if let Some((sha256, file)) = &one {
            let _ = writeln!(out, "echo \"{sha256}  {file}\" | shasum -a 256 -c -");
        }
        let _ = writeln!(
            out,
            "```\n\nWindows (PowerShell), each file listed in `SHA256SUMS` that is here, then the ISO alone (both print `True`):\n\n```powershell\nGet-Content SHA256SUMS | ForEach-Object {{ $hash, $file = $_ -split '\\s+', 2; if (Test-Path $file) {{ \"${{file}}: $((Get-FileHash -Algorithm SHA256 $file).Hash -eq $hash)\" }} }}"
        );
        if let Some((sha256, file)) = &one {
            let _ = writeln!(
                out,
                "(Get-FileHash -Algorithm SHA256 .\\{file}).Hash -eq \"{sha256}\""
            );
        }
        let _ = writeln!(out, "```");
        let installer = installer_reference(m);
        match (&m.os.installer.signature, &m.os.installer.digest) {
            (
                Some(Signature::Keyless {
                    issuer, identity, ..
                }),
                Some(_),
            ) => {
                let _ = writeln!(
                    out,
                    "\nThe installer's signature, again, with cosign:\n\n```sh\ncosign verify --certificate-identity '{}' --certificate-oidc-issuer '{}' {}\n```",
                    quoted(identity),
                    quoted(issuer),
                    plain(&installer)
                );
            }
            (
                Some(Signature::PublicKey {
                    public_key_sha256, ..
                }),
                Some(_),
            ) => {
                let _ = writeln!(
                    out,
                    "\nThe installer's signature, again, with cosign and the factory's public key (`factory.pub`, whose SHA-256 is `{public_key_sha256}`):\n\n```sh\ncosign verify --key factory.pub --insecure-ignore-tlog=true {}\n```",
                    plain(&installer)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "\nThe installer's signature was not verified when the release was cut, so there is no signature to check again."
                );
            }
        }
        if let Some(certificate) = &m.os.secure_boot_certificate {
            let _ = writeln!(
                out,
                "\n### SecureBoot certificate\n\nThe media and the installer are SecureBoot variants: install these media only with the installer above. Their boot chain is signed by the factory's certificate, whose SHA-256 fingerprint (of its DER form) is `{}`. Compare it before enrolling the key; each command prints it:\n\n```sh\ncurl -fsSL {} | openssl x509 -outform DER | sha256sum\ncurl -fsSL {} | openssl x509 -outform DER | shasum -a 256\n```",
                known(&certificate.sha256),
                plain(&certificate.url),
                plain(&certificate.url)
            );
        }
    }

    fn schematic_and_source(&self, out: &mut String) {
        let m = self.m;
        let _ = writeln!(out, "\n## Schematic\n");
        let _ = writeln!(
            out,
            "- ID `{}`, from `{}`",
            m.talos.schematic_id, m.talos.schematic_path
        );
        if let Some(factory) = &m.talos.factory_url {
            let _ = writeln!(out, "- factory: {}", plain(factory));
        }
        match m.talos.extensions.as_deref() {
            Some([]) => {
                let _ = writeln!(out, "- no system extensions");
            }
            Some(extensions) => {
                for e in extensions {
                    let _ = writeln!(
                        out,
                        "- extension {}: {} at {}",
                        code(&e.name),
                        code(&e.reference),
                        code(e.digest.as_str())
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
                            code(input.sha256.as_str())
                        );
                    }
                }
            }
            None => {
                let _ = writeln!(out, "- commit: not recorded");
            }
        }
        let _ = writeln!(out, "- recorded {}", m.generated_at);
    }
}

/// The installer as nodes should name it: pinned by digest when one is recorded.
fn installer_reference(m: &Manifest) -> String {
    match &m.os.installer.digest {
        Some(digest) => format!("{}@{digest}", m.os.installer.image),
        None => m.os.installer.image.clone(),
    }
}

/// An image reference without its tag: `host/path`.
fn repository(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => image,
    }
}

/// Text for a fenced block or a plain line: control characters shown as U+FFFD and backticks
/// as `'`, so no recorded string can close a block or start a heading.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Text inside single quotes in a shell command: a quote in it is dropped.
fn quoted(text: &str) -> String {
    plain(text).replace('\'', "")
}

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

/// The bundle, its images with digests, and how a site loads each, the installer's signature
/// included, into its own registry.
fn air_gap_section(out: &mut String, m: &Manifest, air_gap: &AirGap) {
    let file = file_name(&air_gap.path);
    let _ = writeln!(
        out,
        "\n## Air-gap bundle\n\n`{file}`, {} ({} bytes), SHA-256 `{}`: one OCI image layout holding the installer, its signature and the images Talos pulls for the cluster, each for this release's architecture. The images, each with the digest of its index and of its platform manifest:\n",
        air_gap.size.map(mib).unwrap_or_default(),
        air_gap.size.unwrap_or_default(),
        known(&air_gap.sha256)
    );
    for image in &air_gap.images {
        let _ = writeln!(
            out,
            "- {}\n  - index `{}`\n  - platform manifest `{}`",
            code(&image.reference),
            or_unknown(&image.digest),
            or_unknown(&image.platform_digest)
        );
    }
    // The installer's signature, under the name the bundle gives it: cosign's tag for a legacy
    // signature, the same with `.sigstore` for a Sigstore bundle.
    let signature = match (&m.os.installer.digest, &m.os.installer.signature) {
        (Some(digest), Some(signature)) => {
            Some(signature.bundle_name(&m.os.installer.image, digest))
        }
        _ => None,
    };
    let _ = writeln!(
        out,
        "\nLoad every image, and the installer's signature, into the site's registry (`$SITE`, e.g. `registry.site.internal:5000`) at its recorded digest, keeping its path (add `--dest-tls-verify=false` for a registry without TLS):\n\n```sh"
    );
    let references = air_gap
        .images
        .iter()
        .map(|i| i.reference.as_str())
        .chain(signature.as_deref());
    for reference in references {
        let path = reference
            .split_once('/')
            .map_or(reference, |(_, path)| path);
        let _ = writeln!(
            out,
            "skopeo copy --preserve-digests oci-archive:{file}:{} docker://$SITE/{}",
            plain(reference),
            plain(path)
        );
    }
    let _ = writeln!(out, "```");
    // The bundle holds the installer's manifest for this architecture, not its index: the
    // index names manifests for other architectures that are not in the bundle, so its digest
    // does not resolve at the site. The install reference is the platform digest.
    let Some(installer) = air_gap.installer() else {
        return;
    };
    let platform = or_unknown(&installer.platform_digest);
    let name = repository(&installer.reference);
    let path = name.split_once('/').map_or(name, |(_, path)| path);
    // Each upstream host once, in the bundle's order.
    let mut unique: Vec<&str> = Vec::new();
    for image in &air_gap.images {
        if let Some((host, _)) = image.reference.split_once('/')
            && !unique.contains(&host)
        {
            unique.push(host);
        }
    }
    let _ = writeln!(
        out,
        "\nThen give each node one `RegistryMirrorConfig` per upstream host ({}) pointing at `$SITE`, and install with the installer's platform digest, which the bundle holds (the index digest `{}` names other architectures too, and does not resolve at the site):\n\n```yaml\nmachine:\n  install:\n    image: {}@{platform}\n```\n\nor, on a node without the mirror configuration, straight from the site's registry:\n\n```yaml\nmachine:\n  install:\n    image: $SITE/{}@{platform}\n```",
        plain(&unique.join(", ")),
        or_unknown(&installer.digest),
        plain(name),
        plain(path)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page of `m`, on its own channel, from its record's upgrade path.
    fn page(m: &Manifest) -> Page<'_> {
        Page {
            m,
            channel: &m.channel,
            upgrade: m.upgrade_from.as_ref(),
            previous: None,
        }
    }

    /// The air-gap golden manifest with an upgrade path recorded into it.
    fn air_gap_release(steps: serde_json::Value) -> Manifest {
        let mut value: serde_json::Value =
            // The golden's placeholder for the bundle's hash (a test substitutes the real one).
            serde_json::from_str(
                &include_str!("../tests/data/golden/manifest-air-gap.json")
                    .replace("BUNDLE_SHA256", &"b".repeat(64)),
            )
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
        let notes = page(&m).render();
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
        let same = page(&same).render();
        assert!(same.contains("nothing to upgrade on the nodes"), "{same}");
        let mut skipped = air_gap_release(serde_json::json!([]));
        let upgrade = skipped.upgrade_from.as_mut().unwrap();
        upgrade.steps = None;
        upgrade.skipped = Some("--allow-upgrade-gap: Kubernetes cannot go down".into());
        let notes = page(&skipped).render();
        assert!(
            notes.contains("recorded without a supported upgrade path from it (--allow-upgrade-gap: Kubernetes cannot go down)"),
            "{notes}"
        );
    }
}
