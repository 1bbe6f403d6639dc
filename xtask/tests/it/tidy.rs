//! Keeps the repository honest, as rust-analyzer's tidy tests do: the committed tree
//! validates, the docs name only flags that exist, the modules keep their layers.

use std::process::Command;

use crate::support::*;

#[test]
fn the_committed_tree_validates() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo xtask validate fails on the committed tree:\n{}",
        stderr(&output)
    );
}

/// Every row of the Reliability and Trust tables in docs/reference.md names, in its
/// last cell, the tests that show it (`module::name`, each a test in `xtask/tests/it`), or
/// says why none can ("none: …").
#[test]
fn every_reliability_and_trust_row_names_a_test_that_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../docs/reference.md")).unwrap();
    let tables = [
        "## Reliability",
        "## Trust: what is verified, and what is not",
    ];
    let mut section = "";
    let mut rows = 0;
    for line in doc.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            section = line;
        }
        let data_row =
            line.starts_with("| ") && !line.starts_with("| ---") && !line.ends_with(" test |");
        if !tables.contains(&section) || !data_row {
            continue;
        }
        rows += 1;
        let cell = line.trim_end_matches(" |").rsplit(" | ").next().unwrap();
        if cell.starts_with("none: ") {
            continue;
        }
        let named: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
        assert!(!named.is_empty(), "{section}: a row names no test: {line}");
        for test in named {
            let (module, name) = test
                .split_once("::")
                .unwrap_or_else(|| panic!("{test}: not module::name"));
            let source = std::fs::read_to_string(root.join(format!("tests/it/{module}.rs")))
                .unwrap_or_else(|_| panic!("{test}: no tests/it/{module}.rs"));
            let declared = source.contains(&format!("\nfn {name}() {{"));
            let is_test = source
                .split(&format!("\nfn {name}() {{"))
                .next()
                .is_some_and(|before| {
                    before
                        .trim_end()
                        .rsplit('\n')
                        // The attributes above it (a `cfg_attr` may span lines).
                        .take_while(|l| !l.trim().is_empty() && !l.starts_with('}'))
                        .any(|l| l.starts_with("#[test]"))
                });
            assert!(
                declared && is_test,
                "{section}: {test} is not a test in tests/it/{module}.rs"
            );
        }
    }
    assert!(rows >= 20, "found {rows} rows: the tables moved?");
}

#[test]
fn docs_name_only_flags_that_exist() {
    let help: String = [
        "image",
        "fetch",
        "channel",
        "validate",
        "release-notes",
        "talos-catalog",
    ]
    .iter()
    .map(|task| {
        stdout(
            &Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args([task, "--help"])
                .output()
                .unwrap(),
        )
    })
    .collect();
    for doc in [
        "README.md",
        "CONTRIBUTING.md",
        "docs/operator-guide.md",
        "docs/reference.md",
        "docs/image-factory.md",
    ] {
        let text = read_repo(doc);
        for word in text.split(|c: char| c.is_whitespace() || "`()[],|".contains(c)) {
            let flag = word
                .split('=')
                .next()
                .unwrap()
                .trim_end_matches(['.', ':', ';']);
            if flag.starts_with("--")
                && flag[2..].starts_with(|c: char| c.is_ascii_lowercase())
                && flag[2..]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-')
            {
                let known = help.contains(&format!("{flag} "))
                    || help.contains(&format!("{flag}\n"))
                    // Other tools' flags the docs show: cargo's, pre-commit's, cosign's, skopeo's, git's,
                    // talosctl's.
                    || [
                        "--help",
                        "--workspace",
                        "--all-targets",
                        "--include-ignored",
                        "--skip",
                        "--name-only",
                        "--platform",
                        "--test",
                        "--lib",
                        "--check",
                        "--ignored",
                        "--all",
                        "--all-files",
                        "--certificate-identity",
                        "--certificate-oidc-issuer",
                        "--key",
                        "--preserve-digests",
                        "--ignore-missing",
                        "--cleanup-tag",
                        "--quiet",
                        // git's
                        "--tags",
                        // gh's, to start the release workflow
                        "--ref",
                        "--end-of-options",
                        // talosctl's, in the upgrade commands
                        "--image",
                        "--to",
                        "--nodes",
                    ]
                    .contains(&flag);
                assert!(
                    known,
                    "{doc} names {flag}, which `cargo xtask image|fetch|channel|validate|release-notes|talos-catalog --help` does not know"
                );
            }
        }
    }
}

#[test]
fn workflow_actions_are_pinned_to_a_commit_with_its_version() {
    let dir = repo_root().join(".github/workflows");
    let mut uses = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (number, line) in text.lines().enumerate() {
            let Some(reference) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            else {
                continue;
            };
            uses += 1;
            let (action, rest) = reference.split_once('@').unwrap_or((reference, ""));
            let (sha, comment) = rest.split_once(" # v").unwrap_or((rest, ""));
            assert!(
                !action.is_empty()
                    && sha.len() == 40
                    && sha
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                    && !comment.is_empty(),
                ".github/workflows/{name}:{}: `{reference}` is not pinned as `owner/action@<40-hex commit> # vX.Y.Z`",
                number + 1
            );
        }
    }
    assert!(uses > 0, "no `uses:` found in .github/workflows");
}

/// docs/operator-guide.md starts the release workflow by a tag push and by `gh workflow run`:
/// the tag matches the workflow's `push.tags` pattern, the workflow file exists and takes a
/// dispatch, and every `-f name=value` is one of its inputs (a choice input: one of its options).
#[test]
fn the_guide_starts_the_release_workflow_with_its_real_trigger_and_inputs() {
    let guide = read_repo("docs/operator-guide.md");
    let run = guide
        .lines()
        .find(|l| l.starts_with("gh workflow run "))
        .expect("docs/operator-guide.md shows no `gh workflow run` line");
    let words: Vec<&str> = run.split_whitespace().collect();
    let file = words[3];
    let workflow = read_repo(&format!(".github/workflows/{file}"));
    let dispatch = workflow
        .split("\n  workflow_dispatch:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{file} takes no workflow_dispatch"));
    let inputs = dispatch.split("\n  push:").next().unwrap();
    let mut given = 0;
    for pair in words.windows(2).filter(|w| w[0] == "-f") {
        let (name, value) = pair[1].split_once('=').expect("-f name=value");
        let input = inputs
            .split(&format!("\n      {name}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("{file} has no input {name} (the guide passes -f {name}=…)"));
        let body: Vec<&str> = input
            .lines()
            .take_while(|l| l.starts_with("        "))
            .collect();
        if let Some(options) = body.join("\n").split("options: [").nth(1) {
            let options = options.split(']').next().unwrap();
            assert!(
                options.split(", ").any(|o| o == value),
                "{file}: input {name} offers [{options}], not {value}"
            );
        }
        given += 1;
    }
    assert!(given >= 2, "`{run}` passes no inputs");
    let tag_line = guide
        .lines()
        .find(|l| l.starts_with("git tag appliance-v"))
        .expect("docs/operator-guide.md shows no tag push");
    let tag = tag_line.split_whitespace().nth(2).unwrap();
    assert!(
        tag_line.ends_with(&format!("git push origin {tag}")),
        "{tag_line}: pushes another tag than it makes"
    );
    let patterns: Vec<&str> = workflow
        .split("\n  push:\n    tags:\n")
        .nth(1)
        .expect("the release workflow has no push.tags trigger")
        .lines()
        .take_while(|l| l.starts_with("      "))
        .filter_map(|l| l.trim().strip_prefix("- \""))
        .map(|p| p.trim_end_matches('"'))
        .collect();
    assert!(
        patterns.iter().any(|p| p
            .strip_suffix('*')
            .is_some_and(|prefix| tag.starts_with(prefix))),
        "{tag} matches none of the workflow's tag patterns {patterns:?}"
    );
}

/// The layers of `xtask/src`, lowest first: a module may use modules of its own layer or
/// below, never above, and no chain of uses may come back to where it started. An entry is a
/// module path: a file or folder module, at the top or inside one of the `FOLDERS`.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "data",
        &[
            "util",
            "test_hooks",
            "host::os",
            "project",
            "cli",
            "mutate",
            "json_schema",
            "schematic",
            "image::digest",
            "image::version",
            "image::talos",
            "image::catalog",
            "image::image_ref",
            "image::upgrade",
            "image::build",
            "image::intent",
            "image::trust",
            "image::manifest",
            "image::channel",
            "image::channel_move",
        ],
    ),
    ("plan", &["image::plan"]),
    (
        "stages",
        &[
            "host::http",
            "host::progress",
            "host::interrupt",
            "host::fsutil",
            "image::release_lock",
            "image::factory",
            "image::download",
            "image::registry",
            "image::bundle",
            "image::signature",
            "image::sigstore_ring",
        ],
    ),
    (
        "tasks",
        &["release", "validate", "release_notes", "talos_catalog"],
    ),
    ("root", &["lib", "main"]),
];

/// Folders that only group modules of the layers: their `mod.rs` declares modules and nothing
/// else.
const FOLDERS: &[&str] = &["host", "image"];

/// Each source file as (module path, the module paths its `crate::` and `super::` uses name),
/// comments and unit tests left out.
fn module_uses() -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    fn walk(dir: &std::path::Path, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                if stem != "mod" {
                    module.push(stem.to_string());
                }
                out.push((module, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("xtask/src"), &[], &mut files);
    files
        .into_iter()
        .map(|(module, text)| {
            // Unit tests may reach anywhere: only the code they test is layered.
            let text = match module.last().map(String::as_str) {
                Some("tests") => "",
                _ => text.split("#[cfg(test)]").next().unwrap(),
            };
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut uses = Vec::new();
            for (anchor, base) in [("crate::", Vec::new()), ("super::", parent(&module))] {
                for (at, _) in code.match_indices(anchor) {
                    paths_at(&code[at + anchor.len()..], base.clone(), &mut uses);
                }
            }
            (module, uses)
        })
        .collect()
}

/// The lower-case (module) paths a `use` or path names from `rest` on: `image::plan::Plan` is
/// `image::plan`, and a group `image::{plan, talos::X}` is both.
fn paths_at(rest: &str, mut base: Vec<String>, uses: &mut Vec<Vec<String>>) {
    let mut rest = rest.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap();
            for item in inner.split(',') {
                paths_at(item, base.clone(), uses);
            }
            return;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if name.is_empty() || name == "self" {
            break;
        }
        base.push(name.clone());
        match rest[name.len()..].strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    if !base.is_empty() {
        uses.push(base);
    }
}

/// The module a `super::` in `module`'s file refers to.
fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The LAYERS entry a module path is part of (the longest that starts it), with its layer.
fn unit_of(path: &[String]) -> Option<(Vec<String>, usize)> {
    let path = if path.is_empty() {
        &["main".to_string()][..]
    } else {
        path
    };
    (1..=path.len()).rev().find_map(|n| {
        let name = path[..n].join("::");
        LAYERS
            .iter()
            .position(|(_, modules)| modules.contains(&name.as_str()))
            .map(|layer| (path[..n].to_vec(), layer))
    })
}

#[test]
fn modules_import_only_down_their_layers_and_never_in_a_cycle() {
    let files = module_uses();
    let mut problems = Vec::new();
    for (module, _) in &files {
        if unit_of(module).is_none() && !FOLDERS.contains(&module.join("::").as_str()) {
            problems.push(format!(
                "xtask/src/{}: in no layer; add it to LAYERS in tests/it/tidy.rs",
                module.join("/")
            ));
        }
    }
    for folder in FOLDERS {
        let text = read_repo(&format!("xtask/src/{folder}/mod.rs"));
        for line in text.lines().map(str::trim) {
            let declares = ["pub mod ", "pub(crate) mod ", "mod "]
                .iter()
                .any(|p| line.starts_with(p) && line.ends_with(';'));
            if !(line.is_empty() || line.starts_with("//") || declares) {
                problems.push(format!(
                    "xtask/src/{folder}/mod.rs only groups modules, but has {line:?}"
                ));
            }
        }
    }
    for (_, modules) in LAYERS {
        for module in *modules {
            if !files.iter().any(|(m, _)| m.join("::") == *module)
                && !["lib", "main"].contains(module)
            {
                problems.push(format!(
                    "LAYERS names {module}, which xtask/src does not have"
                ));
            }
        }
    }
    // Edges between units, and between siblings inside one (release::check → release::resolve).
    let mut edges: std::collections::BTreeSet<(String, String)> = Default::default();
    for (module, uses) in &files {
        let Some((from, from_layer)) = unit_of(module) else {
            continue;
        };
        for used in uses {
            let Some((to, to_layer)) = unit_of(used) else {
                continue;
            };
            if to != from {
                if to_layer > from_layer {
                    problems.push(format!(
                        "{} (layer {}) uses {} (layer {}): an import up a layer",
                        module.join("::"),
                        LAYERS[from_layer].0,
                        to.join("::"),
                        LAYERS[to_layer].0
                    ));
                }
                edges.insert((from.join("::"), to.join("::")));
            } else if module.len() > from.len()
                && used.len() > from.len()
                && used[from.len()] != module[from.len()]
            {
                let sibling = &used[..=from.len()];
                if files.iter().any(|(m, _)| m.as_slice() == sibling) {
                    edges.insert((module[..=from.len()].join("::"), sibling.join("::")));
                }
            }
        }
    }
    // A cycle: a path from a module back to itself.
    let nodes: std::collections::BTreeSet<&String> =
        edges.iter().flat_map(|(a, b)| [a, b]).collect();
    for start in &nodes {
        let mut stack = vec![(start.to_string(), vec![start.to_string()])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for (_, next) in edges.iter().filter(|(a, _)| *a == node) {
                if next == *start {
                    let mut cycle = path.clone();
                    cycle.push(next.clone());
                    problems.push(format!("import cycle: {}", cycle.join(" → ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "xtask/src layering:\n{}",
        problems.join("\n")
    );
}

/// docs/reference.md's module map lists every module of `LAYERS` with its layer, and nothing
/// else: a module added, moved or removed without the map is red here.
#[test]
fn the_module_map_in_the_reference_names_every_module_and_its_layer() {
    let reference = read_repo("docs/reference.md");
    let map = reference
        .split("## The code: a module map")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/reference.md has no module map");
    let mut listed = Vec::new();
    for line in map.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for module in cells[1].split(", ") {
            listed.push((module.trim_matches('`').to_string(), cells[2].to_string()));
        }
    }
    let mut expected: Vec<(String, String)> = LAYERS
        .iter()
        .flat_map(|(layer, modules)| modules.iter().map(|m| (m.to_string(), layer.to_string())))
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(
        listed, expected,
        "docs/reference.md's module map against LAYERS"
    );
    // A source file the docs name by path exists.
    let mut named = 0;
    for doc in [
        "README.md",
        "docs/reference.md",
        "docs/dependencies.md",
        "docs/benchmarks.md",
    ] {
        let text = read_repo(doc);
        for (at, _) in text.match_indices("xtask/src/") {
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "_/.".contains(*c))
                .collect();
            if let Some(path) = path
                .strip_suffix('.')
                .or(Some(&path))
                .filter(|p| p.ends_with(".rs"))
            {
                named += 1;
                assert!(
                    repo_root().join(path).is_file(),
                    "{doc} names {path}, which does not exist"
                );
            }
        }
    }
    assert!(named >= 5, "only {named} source paths found in the docs");
}

/// `lib.rs` declares at most 15 top-level modules: the domain sits in folders, so the crate
/// root shows the design (issue 38).
#[test]
fn the_crate_root_declares_at_most_fifteen_modules() {
    let lib = read_repo("xtask/src/lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter(|l| l.starts_with("mod ") || l.starts_with("pub mod "))
        .collect();
    assert!(
        modules.len() <= 15,
        "xtask/src/lib.rs declares {} modules:\n{}",
        modules.len(),
        modules.join("\n")
    );
}

/// The pins of release.yaml, its comment, renovate.json's Kubernetes bound and its description,
/// README's Talos line and the docs' table say what the Talos catalogue (xtask/data/talos.json,
/// read as JSON) says of the pinned minor; the pinned Talos tag has its row, so a Renovate patch
/// bump the catalogue lacks is red with the fix. Nothing here names a version: every expected
/// text is derived, so the test holds after a minor move made as docs/operator-guide.md says.
#[test]
fn the_pins_renovate_and_the_docs_follow_the_talos_catalogue() {
    let config: serde_json::Value = serde_json::from_str(&read_repo("renovate.json")).unwrap();
    let catalog: serde_json::Value =
        serde_json::from_str(&read_repo("xtask/data/talos.json")).unwrap();
    let intent = read_repo("ee/appliance/release.yaml");
    let talos = intent
        .split("\ntalos:\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|line| line.trim().strip_prefix("version: "))
        .expect("talos.version in release.yaml")
        .to_string();
    let patches = catalog["patches"].as_array().unwrap();
    assert!(
        patches.iter().any(|p| p["tag"] == talos.as_str()),
        "release.yaml pins Talos {talos}, which xtask/data/talos.json has no row for: run cargo xtask talos-catalog --from <a clone of https://github.com/siderolabs/talos> {talos} and commit the file"
    );
    let minor: String = talos.split('.').take(2).collect::<Vec<_>>().join(".");
    let row = catalog["minors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["minor"] == minor.as_str())
        .unwrap_or_else(|| panic!("xtask/data/talos.json has no row for Talos {minor}"));
    let range = |key: &str| -> (u64, u64) {
        let text = row["kubernetes"][key].as_str().unwrap();
        let numbers: Vec<u64> = text.split('.').map(|n| n.parse().unwrap()).collect();
        (numbers[0], numbers[1])
    };
    let ((low_major, low_minor), (max_major, max_minor)) = (range("minimum"), range("maximum"));
    let rules = config["packageRules"].as_array().unwrap();
    let rule = |dep: &str, key: &str| {
        rules
            .iter()
            .find(|r| r["matchDepNames"] == serde_json::json!([dep]) && r.get(key).is_some())
            .unwrap_or_else(|| panic!("renovate.json: no {key} rule for {dep}"))
            .clone()
    };
    assert_eq!(
        rule("kubernetes", "allowedVersions")["allowedVersions"],
        format!("<{max_major}.{}.0", max_minor + 1),
        "renovate.json: Talos {minor} supports Kubernetes up to {max_major}.{max_minor}.x (xtask/data/talos.json)"
    );
    let talos_rule = rule("talos", "matchUpdateTypes");
    assert_eq!(
        talos_rule["matchUpdateTypes"],
        serde_json::json!(["major", "minor"])
    );
    assert_eq!(talos_rule["enabled"], false);
    let said = format!(
        "# Talos {minor} supports Kubernetes {low_major}.{low_minor}.x through {max_major}.{max_minor}.x"
    );
    assert!(
        intent.contains(&said),
        "release.yaml's comment on kubernetes.version should say: {said}"
    );
    let bound = rule("kubernetes", "allowedVersions");
    let said = format!(
        "(Talos {minor}: {low_major}.{low_minor}.x to {max_major}.{max_minor}.x, xtask/data/talos.json)"
    );
    assert!(
        bound["description"].as_str().unwrap().contains(&said),
        "renovate.json: the Kubernetes rule's description should say {said}"
    );
    let said = format!("runs on Talos Linux {minor}.");
    assert!(
        read_repo("README.md").contains(&said),
        "README.md should say the appliance {said} (release.yaml pins {talos})"
    );
    // The reference's table of Kubernetes ranges: one row per minor of the catalogue.
    let reference = read_repo("docs/reference.md");
    for minor in catalog["minors"].as_array().unwrap() {
        let at = |key: &str| {
            let text = minor["kubernetes"][key].as_str().unwrap();
            text.split('.').take(2).collect::<Vec<_>>().join(".")
        };
        let line = format!(
            "| {} | {} | {} | {} |",
            minor["minor"].as_str().unwrap(),
            at("minimum"),
            at("maximum"),
            minor["hostUpgrade"]["minimum"].as_str().unwrap()
        );
        assert!(
            reference.contains(&line),
            "docs/reference.md's Talos table lacks the catalogue's row: {line}"
        );
    }
}

/// docs/dependencies.md tells a contributor how to get full debug info back for a debugging
/// session; that command must name the setting the root Cargo.toml really lowers.
#[test]
fn the_debug_info_override_in_the_docs_names_the_profile_setting() {
    let manifest = read_repo("Cargo.toml");
    let section = manifest
        .split("\n[")
        .find(|s| s.starts_with("profile.dev.package.xtask]"))
        .expect("Cargo.toml has no [profile.dev.package.xtask]");
    assert!(
        section
            .lines()
            .any(|l| l.trim() == r#"debug = "line-tables-only""#),
        "[profile.dev.package.xtask] no longer sets debug = \"line-tables-only\"; \
         update docs/dependencies.md and Cargo.toml together:\n{section}"
    );
    let docs = read_repo("docs/dependencies.md");
    assert!(
        docs.contains(r#"cargo --config 'profile.dev.package.xtask.debug="full"' xtask"#),
        "docs/dependencies.md no longer shows how to build xtask with full debug info"
    );
}

/// A file of the repository, by its path from the root.
fn read_repo(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// GitHub's anchor of a Markdown heading: lower case, punctuation but `-` dropped, spaces `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every link from the README or a doc to a Markdown file of the repository (and to a heading
/// in it) lands: the docs were split and renamed once, and a stale link reads as a dead end.
#[test]
fn links_between_the_docs_land_on_a_file_and_heading_that_exist() {
    let docs = [
        "README.md",
        "CONTRIBUTING.md",
        "docs/operator-guide.md",
        "docs/reference.md",
        "docs/image-factory.md",
        "docs/dependencies.md",
        "docs/benchmarks.md",
    ];
    let mut checked = 0;
    for doc in docs {
        let text = read_repo(doc);
        let folder = doc.rsplit_once('/').map_or("", |(folder, _)| folder);
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap();
            if target.starts_with("http") {
                continue;
            }
            let (file, heading) = target.split_once('#').unwrap_or((target, ""));
            if !(file.is_empty() || file.ends_with(".md")) {
                continue;
            }
            let path = match (file, folder) {
                ("", _) => doc.to_string(),
                (file, "") => file.to_string(),
                (file, folder) => format!("{folder}/{file}"),
            };
            let linked = read_repo(&path);
            if !heading.is_empty() {
                let headings: Vec<String> = linked
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(|l| anchor(l.trim_start_matches('#')))
                    .collect();
                assert!(
                    headings.iter().any(|h| h == heading),
                    "{doc} links to {path}#{heading}, which has no such heading: {headings:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "only {checked} links found: did the docs move?"
    );
}

/// The modules on the paths of `image`'s record step, `fetch` and `channel`, and what they
/// parse (the intent, schematics, manifests, channels, journals, trust files).
const UNTRUSTED_READERS: &[&str] = &[
    "release",
    "image/channel.rs",
    "image/channel_move.rs",
    "image/manifest.rs",
    "image/intent.rs",
    "image/plan.rs",
    "image/trust.rs",
    "schematic",
];

/// Ways to read a file's bytes that skip `project::read_input`'s rules (a regular file of the
/// tree, no link out of it, a cap).
const RAW_READS: &[&str] = &[
    "fs::read(",
    "fs::read_to_string(",
    "File::open(",
    "OpenOptions",
    "from_reader(",
    "read_to_end(",
    "read_to_string(",
];

#[test]
fn record_fetch_and_channel_read_tree_files_only_through_read_input() {
    fn sources(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap().flatten() {
                sources(&entry.path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path.to_path_buf());
        }
    }
    let src = repo_root().join("xtask/src");
    let mut files = Vec::new();
    for name in UNTRUSTED_READERS {
        sources(&src.join(name), &mut files);
    }
    assert!(files.len() > 20, "the modules moved: {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests build their own data.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (number, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for raw in RAW_READS {
                if line.contains(raw) {
                    problems.push(format!(
                        "{}:{}: `{raw}` reads a file without project::read_input's rules (a regular file of the tree, no link out of it, a cap): {}",
                        file.strip_prefix(repo_root()).unwrap().display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nothing_prints_to_stderr_in_a_way_that_panics_when_its_reader_is_gone() {
    let mut problems = Vec::new();
    let mut stack = vec![repo_root().join("xtask/src")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The JSON-Schema suite report is a unit test's own output.
        if path.ends_with("json_schema/suite.rs") {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            if code.contains("eprintln!(") || code.contains("eprint!(") {
                problems.push(format!(
                    "{}:{}: eprintln! panics once stderr's reader is gone (`… 2>&1 | tee log`, Ctrl-C); use crate::util::say!",
                    path.strip_prefix(repo_root()).unwrap().display(),
                    number + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
