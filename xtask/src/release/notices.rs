//! Things worth telling a release engineer that change nothing about the run: a newer Talos
//! patch of the pinned minor (or newer minors) on the factory's `/versions`, and a catalogue
//! that names an extension on a host no node outside the factory can reach.

use crate::image::manifest::Extension;
use crate::image::version::TalosVersion;

/// Newer releases than `pinned` among `listed`: patches of its minor, then later minors (the
/// newest patch of each). Pre-releases are left out.
pub fn newer_versions(pinned: &TalosVersion, listed: &[String]) -> (Vec<String>, Vec<String>) {
    let mut releases: Vec<TalosVersion> = listed
        .iter()
        .filter_map(|v| TalosVersion::parse(v).ok())
        .filter(|v| v.pre.is_none() && v > pinned)
        .collect();
    releases.sort();
    let patches = releases
        .iter()
        .filter(|v| v.minor_line() == pinned.minor_line())
        .map(ToString::to_string)
        .collect();
    let mut minors: Vec<String> = Vec::new();
    let mut lines: Vec<(u64, u64)> = Vec::new();
    for version in releases.iter().rev() {
        if version.minor_line() != pinned.minor_line() && !lines.contains(&version.minor_line()) {
            lines.push(version.minor_line());
            minors.push(version.to_string());
        }
    }
    minors.reverse();
    (patches, minors)
}

/// The lines that say so, for `pinned`; none when nothing newer is listed.
pub fn newer_versions_lines(pinned: &TalosVersion, listed: &[String]) -> Vec<String> {
    let (patches, minors) = newer_versions(pinned, listed);
    let mut lines = Vec::new();
    if !patches.is_empty() {
        lines.push(format!(
            "notice: the factory lists newer Talos v{}.{} patches than the pinned {pinned}: {} (talos.version in release.yaml)",
            pinned.major,
            pinned.minor,
            patches.join(", ")
        ));
    }
    if !minors.is_empty() {
        lines.push(format!(
            "notice: newer Talos minors are listed too (an upgrade to decide, not a routine update): {}",
            minors.join(", ")
        ));
    }
    lines
}

/// Extensions whose catalogue `ref` names a host that is not a public registry (a cluster
/// service, a `.local` or `.internal` name, a bare host): what the catalogue says about where an
/// image lives, which nodes do not use (the image is baked in by digest), but worth a look.
pub fn internal_refs(extensions: &[Extension]) -> Vec<String> {
    extensions
        .iter()
        .filter_map(|e| {
            let host = e.reference.split('/').next().unwrap_or_default();
            let name = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
            let internal = !e.reference.contains('/')
                || !name.contains('.') && name != "localhost"
                || [".svc", ".local", ".internal", ".cluster.local", ".lan", ".home.arpa"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix));
            internal.then(|| {
                format!(
                    "warning: the factory's catalogue names extension {} at {}, on {host}, which is not a public registry (a factory-internal cache?); the digest {} is what the image carries",
                    e.name, e.reference, e.digest
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> TalosVersion {
        TalosVersion::parse(text).unwrap()
    }

    #[test]
    fn newer_patches_and_minors_are_told_apart() {
        let listed: Vec<String> = [
            "v1.11.9",
            "v1.12.10",
            "v1.12.11",
            "v1.12.12",
            "v1.12.13",
            "v1.13.0-rc.1",
            "v1.13.0",
            "v1.13.4",
            "v1.14.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (patches, minors) = newer_versions(&v("v1.12.11"), &listed);
        assert_eq!(patches, ["v1.12.12", "v1.12.13"]);
        assert_eq!(minors, ["v1.13.4", "v1.14.0"]);
        assert_eq!(
            newer_versions_lines(&v("v1.14.0"), &listed),
            Vec::<String>::new()
        );
        let lines = newer_versions_lines(&v("v1.12.11"), &listed);
        assert!(lines[0].contains("v1.12.12, v1.12.13") && lines[1].contains("v1.13.4"));
    }

    #[test]
    fn refs_on_internal_hosts_are_named() {
        let ext = |reference: &str| Extension {
            name: "siderolabs/iscsi-tools".into(),
            reference: reference.into(),
            digest: crate::image::digest::Digest::of(b"1"),
        };
        for public in [
            "ghcr.io/siderolabs/iscsi-tools:v0.2.0",
            "registry.k8s.io/x:1",
            "localhost:5000/a:b",
        ] {
            assert!(internal_refs(&[ext(public)]).is_empty(), "{public}");
        }
        for internal in [
            "cache-registry.image-factory.svc/siderolabs/iscsi-tools:v0.2.0",
            "registry.local/a:b",
            "mirror.corp.internal/a:b",
            "cache/siderolabs/a:b",
            "iscsi-tools:v1",
        ] {
            let found = internal_refs(&[ext(internal)]);
            assert_eq!(found.len(), 1, "{internal}");
            assert!(found[0].contains(internal), "{}", found[0]);
        }
    }
}
