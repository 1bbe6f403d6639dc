//! `cargo xtask talos-catalog --from <DIR> <ref>…`: adds to `xtask/data/talos.json` what a
//! clone of siderolabs/talos says at those refs. Each tag gives its row of cluster images
//! (`talosctl image k8s-bundle`'s list, read off `pkg/machinery/constants/constants.go`,
//! `pkg/images/list.go` and `cmd/talosctl/cmd/talos/image.go` with `git show`); each minor
//! takes its compatibility facts (`pkg/machinery/compatibility/talosNNN`) from the newest ref
//! given that has them (tags by version, then any other ref such as `HEAD`, whose minors newer
//! than every known one are added too). A tag's row never changes; the output is the same bytes
//! for the same input.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::cli::TalosCatalogArgs;
use crate::image::catalog::{self, Catalog, HostUpgrade, KubernetesRange, Minor, Patch};
use crate::image::version::TalosVersion;

impl TalosCatalogArgs {
    pub fn run(self, root: &Path) -> anyhow::Result<()> {
        let path = root.join(catalog::PATH);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", catalog::PATH))?;
        let mut catalog: Catalog =
            serde_json::from_str(&text).with_context(|| format!("reading {}", catalog::PATH))?;
        let repo = Repo(self.from.clone());
        let changes = update(&mut catalog, &repo, &self.refs, &self.minor)?;
        let mut out = serde_json::to_string_pretty(&catalog)?;
        out.push('\n');
        if out == text {
            println!("{}: nothing to add", catalog::PATH);
            return Ok(());
        }
        crate::host::fsutil::write_atomic(&path, out.as_bytes())
            .with_context(|| format!("writing {}", catalog::PATH))?;
        for change in changes {
            println!("{change}");
        }
        println!("wrote {}; commit it", catalog::PATH);
        Ok(())
    }
}

/// A clone (or bare clone) of siderolabs/talos.
struct Repo(PathBuf);

impl Repo {
    fn git(&self, args: &[&str]) -> anyhow::Result<Option<String>> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.0)
            .args(args)
            .output()
            .with_context(|| format!("running git in {}", self.0.display()))?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    fn commit(&self, reference: &str) -> anyhow::Result<String> {
        let spec = format!("{reference}^{{commit}}");
        match self.git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ])? {
            Some(out) => Ok(out.trim().to_string()),
            None => bail!("{}: no ref {reference:?}", self.0.display()),
        }
    }

    /// The file at a commit, or `None` when it has none.
    fn show(&self, commit: &str, file: &str) -> anyhow::Result<Option<String>> {
        self.git(&["show", &format!("{commit}:{file}")])
    }

    fn file(&self, commit: &str, reference: &str, file: &str) -> anyhow::Result<String> {
        self.show(commit, file)?
            .with_context(|| format!("{reference}: no {file}"))
    }
}

/// Adds every ref's rows to `catalog`; what changed, in words.
fn update(
    catalog: &mut Catalog,
    repo: &Repo,
    refs: &[String],
    minors: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut changes = Vec::new();
    // Tags by version, then the other refs as given: the last one is the newest.
    let mut tags: Vec<(TalosVersion, &String)> = Vec::new();
    let mut others = Vec::new();
    for reference in refs {
        match TalosVersion::parse(reference) {
            Ok(version) => tags.push((version, reference)),
            Err(_) => others.push(reference),
        }
    }
    tags.sort();
    add_patches(catalog, repo, &tags, &mut changes)?;
    // The minors to read: known ones, the tags', the ones asked for, and a newer ref's newest.
    let mut wanted: Vec<(u64, u64)> = catalog
        .minors
        .iter()
        .map(|m| minor_of(&m.minor))
        .collect::<anyhow::Result<_>>()?;
    wanted.extend(tags.iter().map(|(v, _)| (v.major, v.minor)));
    for minor in minors {
        wanted.push(minor_of(minor).with_context(|| format!("--minor {minor}"))?);
    }
    let ordered_refs: Vec<&String> = tags.iter().map(|(_, t)| *t).chain(others.clone()).collect();
    for reference in &others {
        let commit = repo.commit(reference)?;
        let newest = wanted.iter().max().copied();
        for minor in tables_at(repo, &commit)? {
            if newest.is_none_or(|n| minor > n) {
                wanted.push(minor);
            }
        }
    }
    wanted.sort();
    wanted.dedup();
    update_minors(catalog, repo, wanted, &ordered_refs, &mut changes)?;
    Ok(changes)
}

/// A row per tag, each checked against the row it already has (a tag does not move).
fn add_patches(
    catalog: &mut Catalog,
    repo: &Repo,
    tags: &[(TalosVersion, &String)],
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    for (_, tag) in tags {
        let commit = repo.commit(tag)?;
        let row = Patch {
            tag: tag.to_string(),
            images: images_at(repo, &commit, tag)?,
            commit,
        };
        match catalog.patches.iter().find(|p| p.tag == row.tag) {
            Some(existing) if *existing == row => {}
            Some(existing) => bail!(
                "{tag} would change its row in {} (a tag does not move): recorded commit {} and images {:?}, now commit {} and images {:?}; if the tag really moved, delete the row by hand and run again",
                catalog::PATH,
                existing.commit,
                existing.images,
                row.commit,
                row.images
            ),
            None => {
                changes.push(format!("added {tag}: {}", row.images.join(" ")));
                catalog.patches.push(row);
            }
        }
    }
    catalog
        .patches
        .sort_by_key(|p| TalosVersion::parse(&p.tag).expect("a tag the schema allows"));

    Ok(())
}

/// Each wanted minor's compatibility facts from the newest ref that has them, its naming and
/// gates inherited from its row or the nearest older minor.
fn update_minors(
    catalog: &mut Catalog,
    repo: &Repo,
    wanted: Vec<(u64, u64)>,
    ordered_refs: &[&String],
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    for minor in wanted {
        let name = format!("v{}.{}", minor.0, minor.1);
        let mut found = None;
        for reference in ordered_refs.iter().rev() {
            let commit = repo.commit(reference)?;
            if let Some(facts) = compatibility_at(repo, &commit, reference, minor)? {
                found = Some((reference.to_string(), facts));
                break;
            }
        }
        let existing = catalog.minors.iter().position(|m| m.minor == name);
        let Some((from, (kubernetes, host_upgrade))) = found else {
            if existing.is_none() {
                bail!(
                    "no ref given has pkg/machinery/compatibility/talos{}{}/ for Talos {name}: give a tag of that minor, or HEAD for one not released yet",
                    minor.0,
                    minor.1
                );
            }
            continue;
        };
        // The factory's naming and a schematic's gates follow the nearest older minor.
        let older = (catalog.minors.iter())
            .filter(|m| minor_of(&m.minor).is_ok_and(|m| m < minor))
            .max_by_key(|m| minor_of(&m.minor).unwrap_or_default());
        let inherit = existing.map(|i| &catalog.minors[i]).or(older).cloned();
        let Some(inherit) = inherit else {
            bail!(
                "Talos {name} is older than every minor in {}: its installer naming cannot be inherited; add its row by hand",
                catalog::PATH
            );
        };
        let row = Minor {
            minor: name.clone(),
            from,
            kubernetes,
            host_upgrade,
            installer: inherit.installer,
            embedded_machine_configuration: inherit.embedded_machine_configuration,
        };
        match existing {
            Some(i) if catalog.minors[i] == row => {}
            Some(i) => {
                let facts = |m: &Minor| (m.kubernetes.clone(), m.host_upgrade.clone());
                if facts(&catalog.minors[i]) != facts(&row) {
                    changes.push(format!(
                        "updated {name} from {}: Kubernetes {}–{}, upgrades from {}",
                        row.from,
                        row.kubernetes.minimum,
                        row.kubernetes.maximum,
                        row.host_upgrade.minimum
                    ));
                }
                catalog.minors[i] = row;
            }
            None => {
                changes.push(format!(
                    "added {name} from {}: Kubernetes {}–{}, upgrades from {} (installer naming and schematic gates as {})",
                    row.from,
                    row.kubernetes.minimum,
                    row.kubernetes.maximum,
                    row.host_upgrade.minimum,
                    inherit.minor
                ));
                catalog.minors.push(row);
            }
        }
    }
    catalog
        .minors
        .sort_by_key(|m| minor_of(&m.minor).unwrap_or_default());
    Ok(())
}

/// `v1.12` as numbers.
fn minor_of(text: &str) -> anyhow::Result<(u64, u64)> {
    let version = TalosVersion::parse(&format!("{text}.0"))
        .with_context(|| format!("{text:?} is not a Talos minor (vX.Y)"))?;
    Ok((version.major, version.minor))
}

const COMPATIBILITY: &str = "pkg/machinery/compatibility";

/// The minors a commit has compatibility tables for.
fn tables_at(repo: &Repo, commit: &str) -> anyhow::Result<Vec<(u64, u64)>> {
    let listing = repo
        .git(&[
            "ls-tree",
            "--name-only",
            commit,
            &format!("{COMPATIBILITY}/"),
        ])?
        .unwrap_or_default();
    Ok(listing
        .lines()
        .filter_map(|line| line.rsplit('/').next()?.strip_prefix("talos"))
        .filter_map(|digits| {
            // talos112 → 1.12; talos19 → 1.9 (the major is one digit).
            let (major, minor) = digits.split_at_checked(1)?;
            Some((major.parse().ok()?, minor.parse().ok()?))
        })
        .collect())
}

/// A minor's Kubernetes range and host upgrade rules at a commit, when it has the table.
fn compatibility_at(
    repo: &Repo,
    commit: &str,
    reference: &str,
    (major, minor): (u64, u64),
) -> anyhow::Result<Option<(KubernetesRange, HostUpgrade)>> {
    let package = format!("talos{major}{minor}");
    let file = format!("{COMPATIBILITY}/{package}/{package}.go");
    let Some(source) = repo.show(commit, &file)? else {
        return Ok(None);
    };
    let at = |name: &str| -> anyhow::Result<String> {
        semver_var(&source, name)
            .with_context(|| format!("{reference}:{file}: could not read {name}"))
    };
    let denied = match denied_var(&source) {
        Some(list) => list,
        None => bail!("{reference}:{file}: could not read DeniedHostUpgradeVersions"),
    };
    Ok(Some((
        KubernetesRange {
            minimum: at("MinimumKubernetesVersion")?,
            maximum: at("MaximumKubernetesVersion")?,
        },
        HostUpgrade {
            minimum: at("MinimumHostUpgradeVersion")?,
            downgrade_below: at("MaximumHostDowngradeVersion")?,
            denied,
        },
    )))
}

/// `var Name = semver.MustParse("1.2.3")`.
fn semver_var(source: &str, name: &str) -> Option<String> {
    let prefix = format!("var {name} = semver.MustParse(\"");
    let line = source
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))?;
    let value = line.strip_suffix("\")")?;
    crate::image::version::core(value).ok()?;
    Some(value.to_string())
}

/// `var DeniedHostUpgradeVersions []semver.Version` (none) or `= []semver.Version{
/// semver.MustParse("…"), … }`.
fn denied_var(source: &str) -> Option<Vec<String>> {
    let start = source.find("var DeniedHostUpgradeVersions")?;
    let rest = &source[start..];
    let line = rest.lines().next()?;
    if line.trim_end().ends_with("[]semver.Version") {
        return Some(Vec::new());
    }
    let body = &rest[rest.find('{')? + 1..rest.find('}')?];
    body.split("semver.MustParse(\"")
        .skip(1)
        .map(|item| {
            let value = item.split('"').next()?;
            crate::image::version::core(value).ok()?;
            Some(value.to_string())
        })
        .collect()
}

/// `Name = "value"` of a Go constant block.
fn constant(source: &str, name: &str) -> Option<String> {
    source.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        let key = key.trim();
        let key = key.strip_prefix("const ").unwrap_or(key).trim();
        if key != name {
            return None;
        }
        let value = value.trim();
        let value = value.split("//").next()?.trim();
        Some(value.strip_prefix('"')?.strip_suffix('"')?.to_string())
    })
}

/// What `talosctl image k8s-bundle` prints at a tag: each `images.<Field>` it prints, in its
/// order, put together as that tag's sources say (the Kubernetes version as `{kubernetes}`).
fn images_at(repo: &Repo, commit: &str, tag: &str) -> anyhow::Result<Vec<String>> {
    const CONSTANTS: &str = "pkg/machinery/constants/constants.go";
    const LIST: &str = "pkg/images/list.go";
    const COMMAND: &str = "cmd/talosctl/cmd/talos/image.go";
    let constants = repo.file(commit, tag, CONSTANTS)?;
    let list = repo.file(commit, tag, LIST)?;
    let command = repo.file(commit, tag, COMMAND)?;
    let read = |file: &str, source: &str, name: &str| -> anyhow::Result<String> {
        constant(source, name).with_context(|| format!("{tag}:{file}: could not read {name}"))
    };
    let with_tag = |repository: &str, version: &str| format!("{repository}:{version}");
    // An image list.go puts together with fmt.Sprintf("<repository>:%s", constants.<version>).
    let formatted = |version: &str| -> anyhow::Result<String> {
        let needle = format!("%s\", constants.{version})");
        let repository = list
            .lines()
            .find_map(|line| {
                let at = line.find(&needle)?;
                let start = line[..at].rfind("fmt.Sprintf(\"")? + "fmt.Sprintf(\"".len();
                line[start..at].strip_suffix(':').map(str::to_string)
            })
            .with_context(|| {
                format!("{tag}:{LIST}: could not read the image built from constants.{version}")
            })?;
        Ok(with_tag(
            &repository,
            &read(CONSTANTS, &constants, version)?,
        ))
    };
    let start = command
        .find("Use:     \"k8s-bundle\"")
        .or_else(|| command.find("\"k8s-bundle\""))
        .with_context(|| format!("{tag}:{COMMAND}: could not read the k8s-bundle command"))?;
    let body = &command[start..];
    let body = &body[..body.find("return nil").unwrap_or(body.len())];
    let mut images = Vec::new();
    for line in body.lines() {
        let Some(field) = line
            .trim()
            .strip_prefix("fmt.Printf(\"%s\\n\", images.")
            .and_then(|rest| rest.strip_suffix(')'))
        else {
            continue;
        };
        let kubernetes = |name: &str| -> anyhow::Result<String> {
            Ok(with_tag(
                &read(CONSTANTS, &constants, name)?,
                catalog::KUBERNETES,
            ))
        };
        images.push(match field {
            "Flannel" => formatted("FlannelVersion")?,
            "KubeNetworkPolicies" => formatted("KubeNetworkPoliciesVersion")?,
            "CoreDNS" => with_tag(
                &read(CONSTANTS, &constants, "CoreDNSImage")?,
                &read(CONSTANTS, &constants, "DefaultCoreDNSVersion")?,
            ),
            "Etcd" => with_tag(
                &read(CONSTANTS, &constants, "EtcdImage")?,
                &read(CONSTANTS, &constants, "DefaultEtcdVersion")?,
            ),
            "Pause" => read(LIST, &list, "DefaultSandboxImage")?,
            "KubeAPIServer" => kubernetes("KubernetesAPIServerImage")?,
            "KubeControllerManager" => kubernetes("KubernetesControllerManagerImage")?,
            "KubeScheduler" => kubernetes("KubernetesSchedulerImage")?,
            "KubeProxy" => kubernetes("KubeProxyImage")?,
            "Kubelet" => kubernetes("KubeletImage")?,
            other => bail!(
                "{tag}:{COMMAND}: k8s-bundle prints images.{other}, which this command cannot read; teach xtask/src/talos_catalog.rs where its reference comes from"
            ),
        });
    }
    if images.is_empty() {
        bail!("{tag}:{COMMAND}: could not read what k8s-bundle prints");
    }
    Ok(images)
}
