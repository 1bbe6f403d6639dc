//! The release intent, `ee/appliance/release.yaml`: the pinned inputs a release is cut from.
//! Parsed strictly (unknown keys are errors, with their line); field rules live here.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::talos::{
    Architecture, BootMedium, FactoryUrl, TalosVersion, check_kubernetes_version, check_name,
    check_semver,
};

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Intent {
    pub release_version: String,
    pub channel: String,
    pub talos: TalosIntent,
    pub kubernetes: KubernetesIntent,
    pub os: OsIntent,
    pub app: AppIntent,
    pub factory: String,
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
    pub extra_images: Vec<String>,
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
    pub version: String,
    /// Repository-relative path of the schematic.
    pub schematic: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesIntent {
    pub version: String,
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
    /// Reads and checks the intent file; `display` is its repository-relative name.
    pub fn load(path: &Path, display: &str) -> anyhow::Result<Intent> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading release intent {display}"))?;
        Intent::from_text(&text, display)
    }

    /// The intent in `text`, read strictly and checked; `display` names it in messages.
    pub fn from_text(text: &str, display: &str) -> anyhow::Result<Intent> {
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

    /// Field rules that the YAML shape alone does not enforce.
    pub fn check(&self) -> anyhow::Result<()> {
        check_semver("releaseVersion", &self.release_version)?;
        check_name("channel", &self.channel)?;
        TalosVersion::parse(&self.talos.version).context("talos.version")?;
        check_kubernetes_version(&self.kubernetes.version).context("kubernetes.version")?;
        check_name("os.platform", &self.os.platform)?;
        check_boot_media("os.bootMedia", &self.os.boot_media)?;
        check_semver("app.version", &self.app.version)?;
        check_name("app.valuesProfile", &self.app.values_profile)?;
        FactoryUrl::parse(&self.factory).context("factory")?;
        if let Some(policy) = &self.installer_signature {
            policy.check()?;
        }
        for (host, url) in &self.registry_mirrors {
            crate::cluster_images::mirror_base(host, url)
                .with_context(|| format!("registryMirrors.{host}"))?;
        }
        for (i, image) in self.air_gap.extra_images.iter().enumerate() {
            crate::cluster_images::ImageRef::parse(image)
                .with_context(|| format!("airGap.extraImages[{i}]"))?;
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
        let intent: Intent = serde_yaml::from_str(text)?;
        intent.check()?;
        Ok(intent)
    }

    #[test]
    fn the_committed_shape_parses() {
        assert_eq!(parse(GOOD).unwrap().talos.version, "v1.12.11");
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
