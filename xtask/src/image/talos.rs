//! Talos and Image Factory naming rules: version strings, the factory's base URL, and the
//! addresses derived from a schematic ID and version (ISO URL, installer image reference).

use std::cmp::Ordering;
use std::fmt;

use anyhow::{bail, ensure};
use serde::Deserialize;

/// A Talos version: `v` + SemVer core, optionally `-alpha.N`, `-beta.N` or `-rc.N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TalosVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Option<(PreRelease, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreRelease {
    Alpha,
    Beta,
    Rc,
}

impl TalosVersion {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let help = "Talos versions are `v` followed by SemVer, e.g. v1.12.11 or v1.13.0-beta.1";
        let Some(rest) = text.strip_prefix('v') else {
            bail!("invalid Talos version {text:?}: {help}");
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let numbers: Vec<Option<u64>> = core.split('.').map(numeric_identifier).collect();
        let [Some(major), Some(minor), Some(patch)] = numbers[..] else {
            bail!("invalid Talos version {text:?}: {help}");
        };
        let pre = match pre {
            None => None,
            Some(pre) => {
                let parsed = pre.split_once('.').and_then(|(kind, n)| {
                    let kind = match kind {
                        "alpha" => PreRelease::Alpha,
                        "beta" => PreRelease::Beta,
                        "rc" => PreRelease::Rc,
                        _ => return None,
                    };
                    Some((kind, numeric_identifier(n)?))
                });
                match parsed {
                    Some(p) => Some(p),
                    None => bail!(
                        "invalid Talos version {text:?}: pre-releases are -alpha.N, -beta.N or -rc.N"
                    ),
                }
            }
        };
        Ok(TalosVersion {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// The `vX.Y` line, used for the Kubernetes support table.
    pub fn minor_line(&self) -> (u64, u64) {
        (self.major, self.minor)
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some((kind, n)) = self.pre {
            let kind = match kind {
                PreRelease::Alpha => "alpha",
                PreRelease::Beta => "beta",
                PreRelease::Rc => "rc",
            };
            write!(f, "-{kind}.{n}")?;
        }
        Ok(())
    }
}

impl PartialOrd for TalosVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TalosVersion {
    /// SemVer precedence: a pre-release sorts before its release.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(&b),
            })
    }
}

/// A SemVer numeric identifier: digits without a leading zero.
fn numeric_identifier(s: &str) -> Option<u64> {
    let valid =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if valid { s.parse().ok() } else { None }
}

/// SemVer 2.0 precedence of two release versions that `check_semver` accepts: the core by
/// number, then a pre-release below its release, identifiers compared numerically when both
/// are numbers, numbers below words, a shorter list below a longer one with the same start.
pub fn semver_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let split = |v: &str| -> (Vec<u64>, Option<String>) {
        let (core, pre) = match v.split_once('-') {
            Some((core, pre)) => (core, Some(pre.to_string())),
            None => (v, None),
        };
        (
            core.split('.').map(|n| n.parse().unwrap_or(0)).collect(),
            pre,
        )
    };
    let ((core_a, pre_a), (core_b, pre_b)) = (split(a), split(b));
    core_a.cmp(&core_b).then_with(|| match (pre_a, pre_b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let (x, y): (Vec<&str>, Vec<&str>) = (x.split('.').collect(), y.split('.').collect());
            x.iter()
                .zip(&y)
                .map(|(i, j)| match (i.parse::<u64>(), j.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => i.cmp(j),
                })
                .find(|o| o.is_ne())
                .unwrap_or_else(|| x.len().cmp(&y.len()))
        }
    })
}

/// The longest release version: the schemas' `maxLength` too.
pub const MAX_RELEASE_VERSION: usize = 128;

/// A release version, wherever one enters (release.yaml, `--release-version`, `fetch`,
/// `channel`, `release-notes`): SemVer as `check_semver` says, and at most
/// `MAX_RELEASE_VERSION` characters, as it names the manifest, the media folder and their
/// temporary files (a file name has room for 255 bytes on every common filesystem).
pub fn check_release_version(what: &str, text: &str) -> anyhow::Result<()> {
    check_semver(what, text)?;
    ensure!(
        text.len() <= MAX_RELEASE_VERSION,
        "{what} is {} characters long; at most {MAX_RELEASE_VERSION}, as it names the manifest file and the media folder",
        text.len()
    );
    Ok(())
}

/// SemVer 2.0 without a `v` and without build metadata (it becomes a file name and a URL
/// path segment): `1.4.0`, `1.4.0-rc.1`.
pub fn check_semver(what: &str, text: &str) -> anyhow::Result<()> {
    let help = format!("{what} must be SemVer without a leading v, e.g. 1.4.0 or 1.4.0-rc.1");
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let core_ok = core
        .split('.')
        .map(numeric_identifier)
        .filter(Option::is_some)
        .count()
        == 3
        && core.split('.').count() == 3;
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric_identifier(id).is_some())
        })
    });
    ensure!(core_ok && pre_ok, "invalid {what} {text:?}: {help}");
    Ok(())
}

/// A Kubernetes version as Talos pins it: `v` + SemVer (`v1.35.4`).
pub fn check_kubernetes_version(text: &str) -> anyhow::Result<(u64, u64)> {
    let parsed = text.strip_prefix('v').and_then(|rest| {
        check_semver("Kubernetes version", rest).ok()?;
        let mut core = rest.split(['-', '.']);
        Some((core.next()?.parse().ok()?, core.next()?.parse().ok()?))
    });
    match parsed {
        Some(minor) => Ok(minor),
        None => bail!("invalid Kubernetes version {text:?}: expected v + SemVer, e.g. v1.35.4"),
    }
}

/// A lowercase name usable in file names: `metal`, `amd64`, `appliance`, `stable`.
pub fn check_name(what: &str, text: &str) -> anyhow::Result<()> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    ensure!(
        ok,
        "invalid {what} {text:?}: use lowercase letters, digits and inner dashes (at most 63)"
    );
    Ok(())
}

/// The factory's base URL: `http(s)://host[:port]`, nothing after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactoryUrl {
    /// `https://factory.talos.dev`, with no trailing slash.
    pub base: String,
    /// `factory.talos.dev` or `127.0.0.1:8080`: the registry name in image references.
    pub authority: String,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
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
    #[test]
    fn release_versions_order_as_semver_says() {
        // SemVer 2.0's own example chain, then the core compared by number, not text.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "10.0.0",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(semver_order(a, b), i.cmp(&j), "{a} against {b}");
            }
        }
    }

    use super::*;

    #[test]
    fn talos_versions() {
        assert_eq!(
            TalosVersion::parse("v1.12.11").unwrap().to_string(),
            "v1.12.11"
        );
        assert_eq!(
            TalosVersion::parse("v1.13.0-rc.2").unwrap().to_string(),
            "v1.13.0-rc.2"
        );
        for bad in [
            "1.12.11",
            "v1.12",
            "latest",
            "v1.12.0/../x",
            "v01.12.0",
            "v1.12.0-pre.1",
            "v1.12.0-rc",
            "v1.12.0 ",
        ] {
            assert!(TalosVersion::parse(bad).is_err(), "{bad}");
        }
        let v = |s| TalosVersion::parse(s).unwrap();
        assert!(v("v1.10.0-beta.1") < v("v1.10.0"));
        assert!(v("v1.10.0-alpha.3") < v("v1.10.0-beta.0"));
        assert!(v("v1.9.5") < v("v1.10.0"));
    }

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

    #[test]
    fn release_versions_are_file_name_safe_semver() {
        for good in ["1.4.0", "1.4.0-rc.1", "0.0.1-alpha"] {
            assert!(check_semver("releaseVersion", good).is_ok(), "{good}");
        }
        for bad in [
            "v1.4.0",
            "1.4",
            "1.4.0+build",
            "1.4.0-",
            "01.4.0",
            "1.4.0-rc.01",
            "1.4.0/..",
            "../1.0.0",
        ] {
            assert!(check_semver("releaseVersion", bad).is_err(), "{bad}");
        }
    }
}
