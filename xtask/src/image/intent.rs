//! The release intent, `ee/appliance/release.yaml`: the pinned inputs a release is cut from.
//! Parsed strictly (unknown keys are errors, with their line); field rules live here.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::image::image_ref::ImageRef;
use crate::image::talos::{Architecture, BootMedium, FactoryUrl};
use crate::image::version::{
    KubernetesVersion, ReleaseVersion, TalosVersion, check_name, check_semver,
};

/// `release.yaml`, its values parsed into their types as the file is read (the versions, the
/// factory URL, the bundle's extra images: a bad one is an error with its field and line),
/// then checked for the rules the types alone do not hold (`Intent::check`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Intent {
    pub release_version: ReleaseVersion,
    pub channel: String,
    pub talos: TalosIntent,
    pub kubernetes: KubernetesIntent,
    pub os: OsIntent,
    pub app: AppIntent,
    pub factory: FactoryUrl,
    /// The trust policy the installer's signature must verify under; none: not verified.
    #[serde(default)]
    pub installer_signature: Option<InstallerSignatureIntent>,
    /// Registry host → base URL the images of that host are fetched from instead (a
    /// pull-through cache, a corporate mirror); `--registry-mirror` adds to it.
    #[serde(default)]
    pub registry_mirrors: BTreeMap<String, String>,
    /// What the air-gap bundle holds besides the installer and Talos's cluster images.
    #[serde(default)]
    pub air_gap: AirGapIntent,
}

/// `airGap`: the application's images, as `host/repository:tag[@sha256:<hex>]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AirGapIntent {
    #[serde(default)]
    pub extra_images: Vec<ImageRef>,
}

/// `installerSignature`: exactly one of `keyless` (factory.talos.dev) or `publicKey` (a
/// self-hosted factory's pinned key file).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallerSignatureIntent {
    #[serde(default)]
    pub keyless: Option<KeylessIntent>,
    /// Repository-relative path of a PEM "PUBLIC KEY" (ECDSA P-256).
    #[serde(default)]
    pub public_key: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeylessIntent {
    /// The OIDC issuer of the signing certificate, e.g. https://accounts.google.com.
    pub issuer: String,
    /// The certificate's identity (an email or URI subject alternative name).
    pub identity: String,
    /// Repository-relative path of a Sigstore `trusted_root.json` used instead of the one
    /// embedded in `sigstore-verify` (for a transparency log newer than the crate).
    #[serde(default, rename = "trustedRoot")]
    pub trusted_root: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TalosIntent {
    pub version: TalosVersion,
    /// Repository-relative path of the schematic.
    pub schematic: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesIntent {
    pub version: KubernetesVersion,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OsIntent {
    pub platform: String,
    /// amd64 or arm64; another value is refused with its line and the allowed ones.
    pub architecture: Architecture,
    /// SecureBoot media and installer (`-secureboot` names) instead of the plain ones.
    #[serde(default)]
    pub secure_boot: bool,
    /// What to download; the ISO always, a disk image on request.
    #[serde(default = "iso_only")]
    pub boot_media: Vec<BootMedium>,
    /// Also produce the air-gap bundle (the installer and the cluster's images).
    #[serde(default)]
    pub air_gap: bool,
}

/// Byte offsets where the lines of `text` start.
fn line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1))
}

/// A value this edit may replace: a plain scalar (inside its quotes, if any), not flow or
/// block syntax.
fn ensure_plain(display: &str, key: &str, value: &str) -> anyhow::Result<()> {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b));
    anyhow::ensure!(
        plain,
        "{display}: `{key}: {value}` is not a plain value this tool edits; set it by hand"
    );
    Ok(())
}

fn iso_only() -> Vec<BootMedium> {
    vec![BootMedium::Iso]
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppIntent {
    pub version: String,
    pub values_profile: String,
}

impl Intent {
    /// Reads and checks the tree's intent file (`project::INTENT`).
    pub fn load(root: &Path) -> anyhow::Result<Intent> {
        let display = crate::project::INTENT;
        let text = crate::project::read_input(root, display, crate::project::INPUT_CAP)
            .context("reading the release intent")?;
        Intent::from_text(&text, display)
    }

    /// The intent in `text`, read strictly and checked; `display` names it in messages.
    pub fn from_text(text: &str, display: &str) -> anyhow::Result<Intent> {
        let text = text.strip_prefix(BOM).unwrap_or(text);
        crate::schematic::check_yaml_limits(text, display)?;
        let intent: Intent = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{}:{}: ", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!("{display}:{at}{e}")
        })?;
        intent
            .check()
            .with_context(|| format!("{display}: invalid release intent"))?;
        Ok(intent)
    }

    /// `text` (the intent file) with its top-level `releaseVersion` and `channel` set to what a
    /// release recorded, every other byte (comments, alignment, a BOM, each line's ending, the
    /// value's quotes) kept; a value that is already right is left untouched. Checked by
    /// reading the result back. Only `key: value` lines with a plain value (quoted or not) are
    /// edited: anything else is refused, to be edited by hand.
    pub fn with_release(
        text: &str,
        display: &str,
        release_version: &ReleaseVersion,
        channel: &str,
    ) -> anyhow::Result<String> {
        let (bom, body) = match text.strip_prefix(BOM) {
            Some(body) => (BOM, body),
            None => ("", text),
        };
        let mut out = body.to_string();
        for (key, value) in [
            ("releaseVersion", release_version.as_str()),
            ("channel", channel),
        ] {
            let prefix = format!("{key}:");
            let Some(start) = line_starts(&out).find(|&at| out[at..].starts_with(&prefix)) else {
                anyhow::bail!(
                    "{display}: no top-level `{key}: …` line to set to {value}; set it by hand"
                );
            };
            let end = out[start..].find('\n').map_or(out.len(), |n| start + n);
            let (line, ending) = match out[start..end].strip_suffix('\r') {
                Some(line) => (line, "\r"),
                None => (&out[start..end], ""),
            };
            let rest = &line[prefix.len()..];
            let spaces = rest.len() - rest.trim_start().len();
            let old = rest.trim_start();
            // The value runs to a comment (` #`) or the end of the line.
            let value_len = old.find(" #").unwrap_or(old.len());
            let (old_value, comment) = old.split_at(value_len);
            let old_value = old_value.trim_end();
            let (quote, inner) = unquoted(old_value);
            ensure_plain(display, key, inner)?;
            if inner == value {
                continue;
            }
            let written = format!("{quote}{value}{quote}");
            // A comment stays in its column when the value's length changes.
            let padding = value_len
                .saturating_sub(written.len())
                .max(usize::from(!comment.is_empty()));
            let new_line = format!(
                "{prefix}{}{written}{}{comment}",
                " ".repeat(spaces.max(1)),
                if comment.is_empty() {
                    String::new()
                } else {
                    " ".repeat(padding)
                }
            );
            let new_line = format!("{}{ending}", new_line.trim_end_matches(' '));
            out.replace_range(start..end, &new_line);
        }
        let intent = Intent::from_text(&out, display)?;
        anyhow::ensure!(
            intent.release_version == *release_version && intent.channel == channel,
            "{display}: setting releaseVersion and channel did not read back as {release_version} and {channel}; set them by hand"
        );
        Ok(format!("{bom}{out}"))
    }
}

/// The byte order mark some Windows editors put first; YAML allows it, and it is no key.
const BOM: &str = "\u{feff}";

/// A scalar without its quotes (`"stable"`, `'stable'`), and the quote it had.
fn unquoted(value: &str) -> (&str, &str) {
    for quote in ["\"", "'"] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return (quote, inner);
        }
    }
    ("", value)
}

impl Intent {
    /// Field rules that the YAML shape and the types alone do not enforce.
    fn check(&self) -> anyhow::Result<()> {
        check_name("channel", &self.channel)?;
        check_name("os.platform", &self.os.platform)?;
        check_boot_media("os.bootMedia", &self.os.boot_media)?;
        check_semver("app.version", &self.app.version)?;
        check_name("app.valuesProfile", &self.app.values_profile)?;
        if let Some(policy) = &self.installer_signature {
            policy.check()?;
        }
        for (host, url) in &self.registry_mirrors {
            crate::image::image_ref::mirror_base(host, url)
                .with_context(|| format!("registryMirrors.{host}"))?;
        }
        Ok(())
    }
}

impl InstallerSignatureIntent {
    fn check(&self) -> anyhow::Result<()> {
        match (&self.keyless, &self.public_key) {
            (Some(keyless), None) => {
                anyhow::ensure!(
                    keyless.issuer.starts_with("https://") && keyless.issuer.len() > 8,
                    "invalid installerSignature.keyless.issuer {:?}: an OIDC issuer URL, e.g. https://accounts.google.com",
                    keyless.issuer
                );
                anyhow::ensure!(
                    !keyless.identity.trim().is_empty(),
                    "installerSignature.keyless.identity is empty: the signing certificate's email or URI, e.g. image-factory-signing@talos-production.iam.gserviceaccount.com"
                );
                Ok(())
            }
            (None, Some(_)) => Ok(()),
            _ => anyhow::bail!(
                "installerSignature takes exactly one of `keyless: {{issuer, identity}}` (factory.talos.dev) or `publicKey: <path of a PEM key>` (a self-hosted factory)"
            ),
        }
    }
}

/// The ISO is always among the media (the manifest's `os.iso` is required), once each.
pub fn check_boot_media(what: &str, media: &[BootMedium]) -> anyhow::Result<()> {
    let names: Vec<&str> = media.iter().map(|m| m.kind().name).collect();
    anyhow::ensure!(
        media.contains(&BootMedium::Iso),
        "invalid {what} [{}]: `iso` must be among the boot media (allowed: iso, disk-image)",
        names.join(", ")
    );
    for (i, medium) in media.iter().enumerate() {
        anyhow::ensure!(
            !media[..i].contains(medium),
            "invalid {what} [{}]: {} is listed twice",
            names.join(", "),
            medium.kind().name
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "releaseVersion: 1.0.0\nchannel: beta\ntalos: {version: v1.12.11, schematic: s.yaml}\nkubernetes: {version: v1.35.4}\nos: {platform: metal, architecture: amd64}\napp: {version: 1.0.0, valuesProfile: appliance}\nfactory: https://factory.talos.dev\n";

    fn parse(text: &str) -> anyhow::Result<Intent> {
        Intent::from_text(text, "release.yaml")
    }

    #[test]
    fn a_recorded_release_is_written_back_keeping_every_other_byte() {
        let fixture = include_str!("../../tests/data/appliance/release.yaml");
        let edited = Intent::with_release(
            fixture,
            "release.yaml",
            &"10.20.30".parse().unwrap(),
            "stable",
        )
        .unwrap();
        let changed: Vec<(&str, &str)> = fixture
            .lines()
            .zip(edited.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            changed,
            [
                (
                    "releaseVersion: 0.1.0          # SemVer without v; names ee/appliance/releases/<releaseVersion>.json",
                    "releaseVersion: 10.20.30       # SemVer without v; names ee/appliance/releases/<releaseVersion>.json"
                ),
                (
                    "channel: beta                  # an existing ee/appliance/releases/channels/<channel>.json",
                    "channel: stable                # an existing ee/appliance/releases/channels/<channel>.json"
                ),
            ]
        );
        assert_eq!(fixture.lines().count(), edited.lines().count());
        // Without comments, and back again.
        let bare = "releaseVersion: 1.0.0\nchannel: beta\n";
        let rest = &fixture[fixture.find("talos:").unwrap()..];
        let edited = Intent::with_release(
            &format!("{bare}{rest}"),
            "r",
            &"1.0.1-rc.1".parse().unwrap(),
            "beta",
        )
        .unwrap();
        assert!(edited.starts_with("releaseVersion: 1.0.1-rc.1\nchannel: beta\ntalos:"));
        // Flow syntax is left to a person.
        let flow = format!("releaseVersion: [1.0.0]\nchannel: beta\n{rest}");
        let error =
            Intent::with_release(&flow, "r", &"1.0.1".parse().unwrap(), "beta").unwrap_err();
        assert!(error.to_string().contains("set it by hand"), "{error}");
    }

    #[test]
    fn quotes_line_endings_and_a_bom_are_kept_and_a_right_value_is_left_alone() {
        let rest = GOOD.split_once("talos:").unwrap().1;
        let text = format!(
            "\u{feff}releaseVersion: '1.0.0'\r\nchannel: \"stable\"   # the guide allows quotes\r\ntalos:{}",
            rest.replace('\n', "\r\n")
        );
        let edited = Intent::with_release(&text, "r", &"1.0.1".parse().unwrap(), "stable").unwrap();
        assert_eq!(edited, text.replacen("'1.0.0'", "'1.0.1'", 1));
        // Nothing to change: the same bytes.
        assert_eq!(
            Intent::with_release(&edited, "r", &"1.0.1".parse().unwrap(), "stable").unwrap(),
            edited
        );
        // Without a comment, the line keeps its \r too.
        let bare = format!(
            "releaseVersion: 1.0.0\r\nchannel: beta\r\ntalos:{}",
            rest.replace('\n', "\r\n")
        );
        let edited = Intent::with_release(&bare, "r", &"1.0.1".parse().unwrap(), "beta").unwrap();
        assert!(
            edited.starts_with("releaseVersion: 1.0.1\r\nchannel: beta\r\n"),
            "{edited:?}"
        );
        // A BOM is no key: the intent after it reads as usual.
        let with_bom = format!("\u{feff}{GOOD}");
        assert_eq!(Intent::from_text(&with_bom, "r").unwrap().channel, "beta");
    }

    #[test]
    fn the_committed_shape_parses() {
        assert_eq!(parse(GOOD).unwrap().talos.version.to_string(), "v1.12.11");
    }

    #[test]
    fn boot_media_and_secure_boot() {
        let intent = parse(GOOD).unwrap();
        assert!(!intent.os.secure_boot);
        assert_eq!(intent.os.boot_media, [BootMedium::Iso]);
        let both = GOOD.replace(
            "architecture: amd64}",
            "architecture: arm64, secureBoot: true, bootMedia: [iso, disk-image]}",
        );
        let intent = parse(&both).unwrap();
        assert!(intent.os.secure_boot);
        assert_eq!(
            intent.os.boot_media,
            [BootMedium::Iso, BootMedium::DiskImage]
        );
        for (media, expected) in [
            ("[disk-image]", "`iso` must be among"),
            ("[iso, iso]", "iso is listed twice"),
            ("[iso, floppy]", "expected `iso` or `disk-image`"),
        ] {
            let text = GOOD.replace(
                "architecture: amd64}",
                &format!("architecture: amd64, bootMedia: {media}}}"),
            );
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.contains(expected), "{media}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = parse(&GOOD.replace("channel: beta", "channel: beta\nchanel: x")).unwrap_err();
        assert!(err.to_string().contains("chanel"), "{err}");
        for (from, to) in [
            ("releaseVersion: 1.0.0", "releaseVersion: v1.0.0"),
            ("version: v1.12.11", "version: 1.12"),
            ("version: v1.35.4", "version: 1.35.4"),
            ("architecture: amd64", "architecture: x86"),
            ("architecture: amd64", "architecture: AMD64"),
            (
                "valuesProfile: appliance",
                "valuesProfile: Appliance Profile",
            ),
            (
                "factory: https://factory.talos.dev",
                "factory: factory.talos.dev",
            ),
        ] {
            assert!(parse(&GOOD.replace(from, to)).is_err(), "{to}");
        }
    }
}
