//! Talos and Image Factory naming rules: version strings, the factory's base URL, and the
//! addresses derived from a schematic ID and version (ISO URL, installer image reference).

use std::cmp::Ordering;
use std::fmt;

use anyhow::{bail, ensure};

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

    /// Talos v1.10.0 renamed the installer per platform (`metal-installer`).
    pub fn has_platform_installers(&self) -> bool {
        *self >= TalosVersion::parse("v1.10.0").expect("constant version")
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
fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `<factory>/image/<id>/<version>/<platform>-<arch>.iso`.
pub fn iso_url(
    factory: &FactoryUrl,
    id: &str,
    version: &TalosVersion,
    platform: &str,
    arch: &str,
) -> String {
    format!(
        "{}/image/{id}/{version}/{platform}-{arch}.iso",
        factory.base
    )
}

/// The repository of the installer in the factory's registry, without host or tag.
pub fn installer_repository(id: &str, version: &TalosVersion, platform: &str) -> String {
    if version.has_platform_installers() {
        format!("{platform}-installer/{id}")
    } else {
        format!("installer/{id}")
    }
}

/// `<host[:port]>/<platform>-installer/<id>:<version>` (`installer/` before Talos v1.10.0).
pub fn installer_image(
    factory: &FactoryUrl,
    id: &str,
    version: &TalosVersion,
    platform: &str,
) -> String {
    let repository = installer_repository(id, version, platform);
    format!("{}/{repository}:{version}", factory.authority)
}

/// Kubernetes minors each Talos minor supports, from the Talos support matrix. One table,
/// consulted by planning, `--dry-run` and `validate` alike.
type MinorLine = (u64, u64);
const KUBERNETES_SUPPORT: &[(MinorLine, MinorLine, MinorLine)] = &[
    ((1, 10), (1, 28), (1, 33)),
    ((1, 11), (1, 29), (1, 34)),
    ((1, 12), (1, 30), (1, 35)),
];

/// `Ok(None)` when Talos supports that Kubernetes version, `Ok(Some(warning))` when this
/// tool does not know the Talos minor (it does not guess), an error when it is out of range.
pub fn kubernetes_supported(
    talos: &TalosVersion,
    kubernetes: &str,
) -> anyhow::Result<Option<String>> {
    let k8s = check_kubernetes_version(kubernetes)?;
    let line = talos.minor_line();
    let Some((_, lowest, highest)) = KUBERNETES_SUPPORT.iter().find(|(t, _, _)| *t == line) else {
        return Ok(Some(format!(
            "Kubernetes support for Talos v{}.{} is not in this tool's table; {kubernetes} was not checked",
            line.0, line.1
        )));
    };
    ensure!(
        (*lowest..=*highest).contains(&k8s),
        "Talos v{}.{} supports Kubernetes {}.{}.x through {}.{}.x; {kubernetes} is outside that range",
        line.0,
        line.1,
        lowest.0,
        lowest.1,
        highest.0,
        highest.1
    );
    Ok(None)
}

/// True for exactly 64 lowercase hex characters: the only form of an ID or SHA-256 that is
/// ever put into a URL, a path or a manifest.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
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
    fn installer_naming_follows_the_version() {
        let factory = FactoryUrl::parse("https://factory.talos.dev/").unwrap();
        let id = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
        let v = |s| TalosVersion::parse(s).unwrap();
        assert_eq!(
            installer_image(&factory, id, &v("v1.12.11"), "metal"),
            format!("factory.talos.dev/metal-installer/{id}:v1.12.11")
        );
        assert_eq!(
            installer_image(&factory, id, &v("v1.9.5"), "metal"),
            format!("factory.talos.dev/installer/{id}:v1.9.5")
        );
        assert_eq!(
            iso_url(&factory, id, &v("v1.12.11"), "metal", "amd64"),
            format!("https://factory.talos.dev/image/{id}/v1.12.11/metal-amd64.iso")
        );
        let local = FactoryUrl::parse("http://127.0.0.1:8080").unwrap();
        assert!(
            installer_image(&local, id, &v("v1.12.0"), "metal")
                .starts_with("127.0.0.1:8080/metal-installer/")
        );
    }

    #[test]
    fn kubernetes_support_table() {
        let v = |s| TalosVersion::parse(s).unwrap();
        assert_eq!(
            kubernetes_supported(&v("v1.12.11"), "v1.35.4").unwrap(),
            None
        );
        assert_eq!(
            kubernetes_supported(&v("v1.12.0"), "v1.30.0").unwrap(),
            None
        );
        let too_new = kubernetes_supported(&v("v1.12.11"), "v1.36.0").unwrap_err();
        assert!(
            too_new.to_string().contains("1.30.x through 1.35.x"),
            "{too_new}"
        );
        assert!(kubernetes_supported(&v("v1.12.11"), "v1.29.9").is_err());
        assert!(
            kubernetes_supported(&v("v1.10.3"), "v1.33.1")
                .unwrap()
                .is_none()
        );
        assert!(
            kubernetes_supported(&v("v1.14.0"), "v1.36.0")
                .unwrap()
                .is_some(),
            "unknown minor warns"
        );
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
