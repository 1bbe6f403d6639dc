//! Image references as an air-gap bundle names them (`host/repository:tag[@sha256:…]`: the
//! cluster's, from the Talos catalogue, and the ones `airGap.extraImages` adds), and the
//! registries they are fetched from (a mirror, or the host itself).

use std::fmt;

use anyhow::{bail, ensure};

use crate::image::digest::Digest;

/// An image by registry host, repository and tag, optionally pinned to an index digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRef {
    /// As written: `registry.k8s.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub host: String,
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` the tag must resolve to, when the reference pins one.
    pub pinned: Option<Digest>,
}

impl std::str::FromStr for ImageRef {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Self> {
        ImageRef::parse(text)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::util::deserialize_parsed(deserializer)
    }
}

impl ImageRef {
    /// `host/repository:tag[@sha256:<hex>]`, the host spelled out: a bare `nginx:1.27` would
    /// silently mean Docker Hub, so it is refused with the full name to write instead.
    pub fn parse(text: &str) -> anyhow::Result<ImageRef> {
        let help = "expected host/repository:tag, e.g. registry.k8s.io/etcd:v3.6.11 or docker.io/library/nginx:1.27";
        let (name, pinned) = match text.split_once('@') {
            Some((name, digest)) => {
                let Some(digest) = Digest::parse(digest) else {
                    bail!(
                        "invalid image reference {text:?}: the digest after @ must be sha256:<64 lowercase hex>"
                    );
                };
                (name, Some(digest))
            }
            None => (text, None),
        };
        let Some((host, path)) = name.split_once('/') else {
            bail!("invalid image reference {text:?}: no registry host; {help}");
        };
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            bail!(
                "invalid image reference {text:?}: {host:?} is not a registry host; write the registry out ({help})"
            );
        }
        let host_ok = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
        ensure!(
            host_ok,
            "invalid image reference {text:?}: bad host {host:?}"
        );
        // The tag is after the last colon of the path; a colon in the host is a port.
        let Some((repository, tag)) = path.rsplit_once(':') else {
            bail!("invalid image reference {text:?}: no tag; {help}");
        };
        let repository_ok = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'.' | b'_' | b'-')
                    })
                    && part.as_bytes()[0].is_ascii_alphanumeric()
            });
        ensure!(
            repository_ok,
            "invalid image reference {text:?}: repository {repository:?} must be lowercase path components of [a-z0-9._-]"
        );
        let tag_ok = (1..=128).contains(&tag.len())
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !tag.starts_with(['.', '-']);
        ensure!(
            tag_ok,
            "invalid image reference {text:?}: tag {tag:?} must be 1–128 of [A-Za-z0-9_.-], not starting with . or -"
        );
        Ok(ImageRef {
            host: host.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
            pinned,
        })
    }

    /// `host/repository:tag`: the name a bundle entry and the manifest record.
    pub fn name(&self) -> String {
        format!("{}/{}:{}", self.host, self.repository, self.tag)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(digest) = &self.pinned {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The base URL (`scheme://host[:port]`) a mirror of registry `host` is reached at; plain http
/// only to this machine (a test registry), as for the factory: a digest is checked, but a
/// token and the list of what a site installs would travel in the clear.
pub fn mirror_base(host: &str, url: &str) -> anyhow::Result<String> {
    ImageRef::parse(&format!("{host}/x:y")).map_err(|_| {
        anyhow::anyhow!(
            "{host:?} is not a registry host (e.g. registry.k8s.io, ghcr.io, factory.talos.dev)"
        )
    })?;
    let trimmed = url.strip_suffix('/').unwrap_or(url);
    let (scheme, authority) = trimmed.split_once("://").unwrap_or(("", trimmed));
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ensure!(
        matches!(scheme, "https" | "http") && authority_ok,
        "invalid mirror URL {url:?} for {host}: expected https://host[:port] (no path: images keep their repository names)"
    );
    let name = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    ensure!(
        scheme == "https" || crate::image::talos::is_loopback(name),
        "refusing plain-http mirror URL {url:?} for {host}: use https:// (plain http is only for a registry on this machine: 127.0.0.0/8, [::1], localhost)"
    );
    Ok(format!("{scheme}://{authority}"))
}

/// The registry API's base URL for `host` when no mirror is named. Docker Hub's API lives on
/// another name than its references.
pub fn upstream_base(host: &str) -> String {
    match host {
        "docker.io" => "https://registry-1.docker.io".to_string(),
        _ => format!("https://{host}"),
    }
}

/// What one Talos tag pins, from `pkg/machinery/constants/constants.go` (`FlannelVersion`,
/// `DefaultCoreDNSVersion`, `DefaultEtcdVersion`) and `pkg/images/list.go`
/// (`DefaultSandboxImage`) at that tag.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_are_https_or_on_this_machine() {
        assert_eq!(
            mirror_base("ghcr.io", "https://mirror.example:8443/").unwrap(),
            "https://mirror.example:8443"
        );
        assert_eq!(
            mirror_base("registry.k8s.io", "http://127.0.0.1:5000").unwrap(),
            "http://127.0.0.1:5000"
        );
        for (host, url, says) in [
            ("ghcr.io", "http://mirror.example", "refusing plain-http"),
            ("ghcr.io", "https://mirror.example/v2/x", "no path"),
            ("ghcr.io", "ftp://mirror.example", "expected https"),
            ("ghcr", "https://mirror.example", "not a registry host"),
        ] {
            let error = mirror_base(host, url).unwrap_err().to_string();
            assert!(error.contains(says), "{host}={url}: {error}");
        }
        assert_eq!(upstream_base("docker.io"), "https://registry-1.docker.io");
        assert_eq!(upstream_base("ghcr.io"), "https://ghcr.io");
    }

    #[test]
    fn references_name_their_registry() {
        let pinned = format!(
            "registry.example:5000/team/app:1.2.3@sha256:{}",
            "a".repeat(64)
        );
        let image = ImageRef::parse(&pinned).unwrap();
        assert_eq!(image.host, "registry.example:5000");
        assert_eq!(image.repository, "team/app");
        assert_eq!(image.tag, "1.2.3");
        assert_eq!(image.to_string(), pinned);
        for (bad, says) in [
            ("nginx:1.27", "no registry host"),
            ("library/nginx:1.27", "not a registry host"),
            ("ghcr.io/a/b", "no tag"),
            ("ghcr.io/A/b:1", "lowercase"),
            ("ghcr.io/a//b:1", "lowercase"),
            ("ghcr.io/a:-x", "tag"),
            ("ghcr.io/a:1@sha256:abc", "digest"),
            ("gh cr.io/a:1", "bad host"),
        ] {
            let error = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
