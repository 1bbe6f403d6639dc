//! The factory's side of Talos naming: architectures, the boot media (`MEDIA`), the factory's
//! base URL, and the addresses derived from a schematic ID and version (asset URLs, installer).

use std::fmt;

use anyhow::{bail, ensure};
use serde::{Deserialize, Serialize};

use crate::image::version::TalosVersion;

/// The factory's base URL: `http(s)://host[:port]`, nothing after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactoryUrl {
    /// `https://factory.talos.dev`, with no trailing slash.
    pub base: String,
    /// `factory.talos.dev` or `127.0.0.1:8080`: the registry name in image references.
    pub authority: String,
}

impl std::str::FromStr for FactoryUrl {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Self> {
        FactoryUrl::parse(text)
    }
}

impl<'de> Deserialize<'de> for FactoryUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::util::deserialize_parsed(deserializer)
    }
}

impl FactoryUrl {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let help = "expected http(s)://host[:port], e.g. https://factory.talos.dev";
        let trimmed = text.strip_suffix('/').unwrap_or(text);
        let Some((scheme, authority)) = trimmed.split_once("://") else {
            bail!("invalid factory URL {text:?}: {help}");
        };
        ensure!(
            scheme == "https" || scheme == "http",
            "invalid factory URL {text:?}: the scheme must be https or http"
        );
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                (host, Some(port))
            }
            _ => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
            });
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        ensure!(
            host_ok && port_ok,
            "invalid factory URL {text:?}: {help} (no path, query, user or fragment)"
        );
        ensure!(
            scheme == "https" || is_loopback(host),
            "refusing plain-http factory URL {text:?}: the ISO whose hash the manifest records would come over an unauthenticated connection; \
             use https:// (plain http is only for a loopback test factory: 127.0.0.0/8, [::1], localhost)"
        );
        Ok(FactoryUrl {
            base: format!("{scheme}://{authority}"),
            authority: authority.to_ascii_lowercase(),
        })
    }

    pub fn is_public_factory(&self) -> bool {
        self.authority == "factory.talos.dev"
    }
}

/// A host on this machine: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A CPU architecture the factory builds for, as `os.architecture` and `--architecture` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Amd64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Amd64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of boot medium, as `os.bootMedia` and `--boot-media` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BootMedium {
    Iso,
    DiskImage,
}

/// The bytes that tell a medium from an error page, and where they sit.
#[derive(Clone, Copy, Debug)]
pub struct Magic {
    pub offset: u64,
    pub bytes: &'static [u8],
    /// What their absence means, for the message.
    pub missing: &'static str,
}

/// Everything that differs between boot media, one row each: a new medium is a new row.
#[derive(Debug)]
pub struct MediumKind {
    pub medium: BootMedium,
    /// In `os.bootMedia` and `--boot-media`.
    pub name: &'static str,
    /// For people: "ISO", "disk image".
    pub label: &'static str,
    /// The manifest field under `os`.
    pub field: &'static str,
    /// After `<platform>-<arch>[-secureboot]` in the factory's file name.
    pub suffix: &'static str,
    pub magic: Magic,
}

pub const MEDIA: &[MediumKind] = &[
    MediumKind {
        medium: BootMedium::Iso,
        name: "iso",
        label: "ISO",
        field: "iso",
        suffix: ".iso",
        // ISO 9660: the primary volume descriptor's `CD001` at byte 0x8001.
        magic: Magic {
            offset: 0x8001,
            bytes: b"CD001",
            missing: "not an ISO image (no ISO 9660 `CD001` at offset 0x8001)",
        },
    },
    MediumKind {
        medium: BootMedium::DiskImage,
        name: "disk-image",
        label: "disk image",
        field: "diskImage",
        suffix: ".raw.zst",
        // The zstd frame magic number, little-endian 0xFD2FB528.
        magic: Magic {
            offset: 0,
            bytes: &[0x28, 0xB5, 0x2F, 0xFD],
            missing: "not a zstd-compressed disk image (no zstd frame magic 28 B5 2F FD at offset 0)",
        },
    },
];

impl BootMedium {
    pub fn kind(self) -> &'static MediumKind {
        MEDIA
            .iter()
            .find(|k| k.medium == self)
            .expect("every medium has a row in MEDIA")
    }
}

/// The factory's file name: `<platform>-<arch>[-secureboot]<suffix>`, e.g.
/// `metal-amd64-secureboot.iso`, `metal-arm64.raw.zst`.
pub fn asset_file(platform: &str, arch: &str, secure_boot: bool, medium: BootMedium) -> String {
    format!(
        "{platform}-{arch}{}{}",
        if secure_boot { "-secureboot" } else { "" },
        medium.kind().suffix
    )
}

/// `<factory>/image/<id>/<version>/<file>`.
pub fn asset_url(factory: &FactoryUrl, id: &str, version: &TalosVersion, file: &str) -> String {
    format!("{}/image/{id}/{version}/{file}", factory.base)
}

/// Where the factory serves the certificate that signs SecureBoot media.
pub fn signing_certificate_url(factory: &FactoryUrl) -> String {
    format!("{}/secureboot/signing-cert.pem", factory.base)
}

/// How the factory names the installer of a Talos minor (the catalogue says which).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallerNaming {
    /// `<platform>-installer[-secureboot]` (Talos v1.10 on).
    Platform,
    /// `installer[-secureboot]`.
    Generic,
}

/// The repository of the installer in the factory's registry, without host or tag:
/// `<platform>-installer[-secureboot]/<id>` or `installer[-secureboot]/<id>`, as `naming` says.
pub fn installer_repository(
    id: &str,
    naming: InstallerNaming,
    platform: &str,
    secure_boot: bool,
) -> String {
    let secure = if secure_boot { "-secureboot" } else { "" };
    match naming {
        InstallerNaming::Platform => format!("{platform}-installer{secure}/{id}"),
        InstallerNaming::Generic => format!("installer{secure}/{id}"),
    }
}

/// `<host[:port]>/<repository>:<version>`.
pub fn installer_image(
    factory: &FactoryUrl,
    id: &str,
    version: &TalosVersion,
    naming: InstallerNaming,
    platform: &str,
    secure_boot: bool,
) -> String {
    let repository = installer_repository(id, naming, platform, secure_boot);
    format!("{}/{repository}:{version}", factory.authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_urls_are_bare_origins() {
        for bad in [
            "factory.talos.dev",
            "ftp://x",
            "https://x/path",
            "https://u@x",
            "https://x?q",
            "https://x:0",
            "https://x:99999",
            "http://factory.example.com",
            "http://10.0.0.1:8080",
            "http://127.0.0.1.example.com",
            "http://[::2]:80",
        ] {
            assert!(FactoryUrl::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "https://factory.talos.dev",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:1",
            "http://[::1]:8080",
        ] {
            assert!(FactoryUrl::parse(good).is_ok(), "{good}");
        }
    }
}
