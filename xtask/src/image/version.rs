//! The version and name rules, each parsed once where a value enters (release.yaml, a flag, a
//! manifest, a channel file, the Talos catalogue) into a type that cannot hold anything else:
//! Talos versions, the appliance's release versions, Kubernetes versions, and the lowercase
//! names of channels, platforms and profiles. Each type prints and serialises as the string it
//! was parsed from, so the bytes of a manifest do not change.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use anyhow::{bail, ensure};

/// A SemVer 2.0 version without a `v` and without build metadata: the core and the
/// pre-release identifiers, ordered by SemVer precedence.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SemVer {
    core: [u64; 3],
    pre: Vec<Identifier>,
}

/// A pre-release identifier: numbers sort below words, numbers by value, words by ASCII.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Identifier {
    Number(u64),
    Word(String),
}

impl SemVer {
    fn parse(text: &str) -> Option<SemVer> {
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let core = version_core(core)?;
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => (pre.split('.'))
                .map(|id| {
                    let word = !id.is_empty()
                        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    if id.bytes().all(|b| b.is_ascii_digit()) {
                        numeric_identifier(id).map(Identifier::Number)
                    } else {
                        word.then(|| Identifier::Word(id.to_string()))
                    }
                })
                .collect::<Option<_>>()?,
        };
        Some(SemVer { core, pre })
    }
}

impl Ord for SemVer {
    /// The core by number, then a pre-release below its release, then the identifiers in
    /// turn, a shorter list below a longer one with the same start.
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A SemVer numeric identifier: digits without a leading zero.
fn numeric_identifier(s: &str) -> Option<u64> {
    let valid =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if valid { s.parse().ok() } else { None }
}

/// `X.Y.Z`, three numeric identifiers.
fn version_core(text: &str) -> Option<[u64; 3]> {
    let mut parts = text.split('.').map(numeric_identifier);
    let core = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(core)
}

/// SemVer 2.0 without a `v` and without build metadata (it becomes a file name and a URL
/// path segment): `1.4.0`, `1.4.0-rc.1`. The rule for app.version, and the start of the
/// release version's.
pub fn check_semver(what: &str, text: &str) -> anyhow::Result<()> {
    semver(what, text).map(drop)
}

/// `text` as SemVer, or the error that names `what` and the rule.
fn semver(what: &str, text: &str) -> anyhow::Result<SemVer> {
    match SemVer::parse(text) {
        Some(semver) => Ok(semver),
        None => bail!(
            "invalid {what} {text:?}: {what} must be SemVer without a leading v, e.g. 1.4.0 or 1.4.0-rc.1"
        ),
    }
}

/// The longest release version: the schemas' `maxLength` too.
pub const MAX_RELEASE_VERSION: usize = 128;

/// The appliance's release version, wherever one enters (release.yaml, `--release-version`,
/// `fetch`, `channel`, `release-notes`, a manifest, a channel file): SemVer, and at most
/// `MAX_RELEASE_VERSION` characters, as it names the manifest, the media folder and their
/// temporary files (a file name has room for 255 bytes on every common filesystem). Ordered
/// by SemVer precedence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseVersion {
    text: String,
    semver: SemVer,
}

impl ReleaseVersion {
    /// `text` checked, with `what` (the field or flag it came from) named in the error.
    pub fn parse(what: &str, text: &str) -> anyhow::Result<Self> {
        let semver = semver(what, text)?;
        ensure!(
            text.len() <= MAX_RELEASE_VERSION,
            "{what} is {} characters long; at most {MAX_RELEASE_VERSION}, as it names the manifest file and the media folder",
            text.len()
        );
        Ok(ReleaseVersion {
            text: text.to_string(),
            semver,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A Kubernetes version as Talos pins it: `v` + SemVer (`v1.35.4`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesVersion {
    text: String,
    semver: SemVer,
}

impl KubernetesVersion {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text.strip_prefix('v').and_then(SemVer::parse) {
            Some(semver) => Ok(KubernetesVersion {
                text: text.to_string(),
                semver,
            }),
            None => bail!("invalid Kubernetes version {text:?}: expected v + SemVer, e.g. v1.35.4"),
        }
    }

    /// `(X, Y, Z)`, to compare with the Talos catalogue's `X.Y.Z` bounds (`core`).
    pub fn core(&self) -> (u64, u64, u64) {
        let [major, minor, patch] = self.semver.core;
        (major, minor, patch)
    }
}

/// `X.Y.Z` as the Talos catalogue writes its bounds (`1.30.0`), as numbers.
pub fn core(text: &str) -> anyhow::Result<(u64, u64, u64)> {
    match version_core(text) {
        Some([major, minor, patch]) => Ok((major, minor, patch)),
        None => bail!("{text:?} is not a version core (X.Y.Z)"),
    }
}

/// Both string versions: `Display` and `Deref` give the text they were parsed from, `FromStr`
/// (clap's value parser) and serde go through `parse`, and order is SemVer precedence.
macro_rules! string_version {
    ($type:ident, $parse:expr) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl std::ops::Deref for $type {
            type Target = str;
            fn deref(&self) -> &str {
                &self.text
            }
        }

        impl FromStr for $type {
            type Err = anyhow::Error;
            fn from_str(text: &str) -> anyhow::Result<Self> {
                $parse(text)
            }
        }

        impl Ord for $type {
            fn cmp(&self, other: &Self) -> Ordering {
                self.semver.cmp(&other.semver)
            }
        }

        impl PartialOrd for $type {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl PartialEq<str> for $type {
            fn eq(&self, other: &str) -> bool {
                self.text == other
            }
        }

        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::util::deserialize_parsed(deserializer)
            }
        }
    };
}

string_version!(ReleaseVersion, |text: &str| ReleaseVersion::parse(
    "release version",
    text
));
string_version!(KubernetesVersion, KubernetesVersion::parse);

impl FromStr for TalosVersion {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Self> {
        TalosVersion::parse(text)
    }
}

impl serde::Serialize for TalosVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TalosVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::util::deserialize_parsed(deserializer)
    }
}

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
        let Some([major, minor, patch]) = version_core(core) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn release(text: &str) -> anyhow::Result<ReleaseVersion> {
        ReleaseVersion::parse("releaseVersion", text)
    }

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
                let (a, b) = (release(a).unwrap(), release(b).unwrap());
                assert_eq!(a.cmp(&b), i.cmp(&j), "{a} against {b}");
                assert_eq!(a == b, i == j, "{a} against {b}");
            }
        }
    }

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
    fn release_versions_are_file_name_safe_semver_of_at_most_128_characters() {
        for good in ["1.4.0", "1.4.0-rc.1", "0.0.1-alpha", "1.0.0-x-y.0a"] {
            let version = release(good).unwrap();
            assert_eq!(version.to_string(), good);
            assert_eq!(
                serde_json::to_string(&version).unwrap(),
                format!("\"{good}\"")
            );
            assert_eq!(good.parse::<ReleaseVersion>().unwrap(), version);
        }
        for bad in [
            "v1.4.0",
            "1.4",
            "1.4.0+build",
            "1.4.0-",
            "01.4.0",
            "1.4.0-rc.01",
            "1.4.0-rc..1",
            "1.4.0/..",
            "../1.0.0",
            "1.4.0-é",
        ] {
            assert!(release(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<ReleaseVersion>(&format!("{bad:?}")).is_err());
        }
        let long = format!("1.0.0-{}", "a".repeat(MAX_RELEASE_VERSION - 6));
        assert!(release(&long).is_ok());
        let error = release(&format!("{long}a")).unwrap_err().to_string();
        assert!(
            error.contains("129 characters long; at most 128"),
            "{error}"
        );
    }

    #[test]
    fn kubernetes_versions_are_v_and_semver_with_their_core() {
        let v = KubernetesVersion::parse("v1.35.4").unwrap();
        assert_eq!(v.to_string(), "v1.35.4");
        assert_eq!(v.core(), (1, 35, 4));
        assert_eq!(core("1.30.0").unwrap(), (1, 30, 0));
        assert!(core("1.30").is_err() && core("1.30.0.1").is_err() && core("1.030.0").is_err());
        assert!(KubernetesVersion::parse("v1.35.0-rc.1").unwrap() < v);
        for bad in ["1.35.4", "v1.35", "v1.35.04", "vv1.35.4", "v1.35.4+k3s"] {
            assert!(KubernetesVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
