//! `cargo xtask release-notes` on a release recorded against the loopback factory.

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";

fn recorded(extra: &[&str]) -> (Factory, Tree) {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, extra);
    (factory, tree)
}

#[test]
fn notes_name_the_media_hashes_installer_digest_versions_and_how_to_verify() {
    let (factory, tree) = recorded(&["--boot-media", "iso,disk-image"]);
    let output = tree.xtask(&["release-notes"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let notes = stdout(&output);
    let manifest: serde_json::Value = tree.json(MANIFEST);
    let disk_sha = manifest["os"]["diskImage"]["sha256"].as_str().unwrap();
    let installer = format!(
        "127.0.0.1:{}/metal-installer/{APPLIANCE_ID}:{TALOS}",
        factory.port
    );
    for expected in [
        format!("Appliance release 0.1.0 on channel `beta`: Talos {TALOS} · Kubernetes v1.35.4"),
        format!(
            "- `metal-amd64.iso`, 0.6 MiB ({} bytes), SHA-256 `{}`, from the factory:\n\n  ```text\n  {}/image/{APPLIANCE_ID}/{TALOS}/metal-amd64.iso\n  ```",
            factory.iso.len(),
            factory.iso_sha256(),
            factory.url()
        ),
        format!("- `metal-amd64.raw.zst`, 0.3 MiB (307207 bytes), SHA-256 `{disk_sha}`"),
        format!("```text\n{installer}@{INSTALLER_DIGEST}\n```"),
        format!("   machine:\n     install:\n       image: {installer}@{INSTALLER_DIGEST}\n"),
        format!("Talos {TALOS} · Kubernetes v1.35.4"),
        format!("- ID `{APPLIANCE_ID}`"),
        "- extension `siderolabs/iscsi-tools`: `ghcr.io/siderolabs/iscsi-tools:1.0.0` at `sha256:"
            .into(),
        "sha256sum -c --ignore-missing SHA256SUMS\n".into(),
        "shasum -a 256 -c --ignore-missing SHA256SUMS\n".into(),
        format!(
            "echo \"{}  metal-amd64.iso\" | sha256sum -c -\n",
            factory.iso_sha256()
        ),
        format!(
            "(Get-FileHash -Algorithm SHA256 .\\metal-amd64.iso).Hash -eq \"{}\"",
            factory.iso_sha256()
        ),
        "The first release on channel `beta`".into(),
    ] {
        assert!(
            notes.contains(&expected),
            "missing {expected:?} in:\n{notes}"
        );
    }
    // The title is the GitHub release's; no table is wider than four columns.
    assert!(!notes.lines().any(|l| l.starts_with("# ")), "{notes}");
    assert!(
        notes
            .lines()
            .filter(|l| l.starts_with('|'))
            .all(|l| l.matches(" | ").count() <= 3),
        "{notes}"
    );

    let again = tree.xtask(&["release-notes", "--release-version", "0.1.0"]);
    assert_eq!(stdout(&again), notes, "same manifest, same bytes");
}

#[test]
fn secure_boot_notes_carry_the_certificate_fingerprint() {
    let (_factory, tree) = recorded(&["--secure-boot", "true"]);
    let notes = stdout(&tree.xtask(&["release-notes"]));
    assert!(notes.contains("## SecureBoot"), "{notes}");
    assert!(notes.contains(SIGNING_CERT_SHA256.trim()), "{notes}");
    assert!(notes.contains("metal-amd64-secureboot.iso"), "{notes}");
}

#[test]
fn an_unrecorded_release_fails_naming_the_file() {
    let tree = Tree::copy();
    let output = tree.xtask(&["release-notes", "--release-version", "9.9.9"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("ee/appliance/releases/9.9.9.json does not exist"),
        "{}",
        stderr(&output)
    );
    let nothing = tree.xtask(&["release-notes"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(stderr(&nothing).contains("channel beta points at no release yet"));
}

/// The page with the loopback factory's port made stable, for a golden file.
fn golden_notes(tree: &Tree, factory: &Factory, args: &[&str]) -> String {
    let output = tree.xtask(&[&["release-notes"][..], args].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).replace(&format!("127.0.0.1:{}", factory.port), "127.0.0.1:PORT")
}

#[test]
fn an_extension_added_at_the_same_versions_is_an_upgrade_with_the_new_installer() {
    let (factory, tree) = recorded(&[]);
    const SCHEMATIC: &str = "ee/appliance/schematics/metal-amd64.yaml";
    tree.write(
        SCHEMATIC,
        &format!(
            "{}      - siderolabs/qemu-guest-agent\n",
            tree.read(SCHEMATIC)
        ),
    );
    // The factory answers the new schematic with its own ID, as the real one does.
    let planned = tree.xtask(&["image", "--dry-run", "--json"]);
    let planned: serde_json::Value = serde_json::from_str(&stdout(&planned)).unwrap();
    let id = planned["talos"]["schematicId"]
        .as_str()
        .unwrap()
        .to_string();
    let canonical = format!("{APPLIANCE_CANONICAL}            - siderolabs/qemu-guest-agent\n");
    factory.behaviour.lock().unwrap().register_answer =
        Some(serde_json::json!({"id": id, "schematic": canonical}).to_string());
    let output = tree.image(&factory, &["--release-version", "0.2.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let notes = golden_notes(&tree, &factory, &[]);
    assert!(
        notes.contains("- adds extension siderolabs/qemu-guest-agent")
            && notes.contains("1. The new installer at the same Talos v1.12.11 (adds extension siderolabs/qemu-guest-agent;")
            && notes.contains("talosctl upgrade --nodes <node> --image ")
            && !notes.contains("nothing to upgrade"),
        "{notes}"
    );
    assert_golden("notes-new-installer.md", &notes);
}

#[test]
fn a_secure_boot_switch_on_a_channel_is_refused_or_a_reinstall() {
    let (factory, tree) = recorded(&[]);
    let before = tree.contents();
    let switch = ["--release-version", "0.2.0", "--secure-boot", "true"];
    let output = tree.image(&factory, &switch);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nodes on release 0.1.0 (channel beta offers it) cannot upgrade to release 0.2.0: plain (not SecureBoot) → SecureBoot")
            && err.contains("--allow-reinstall"),
        "{err}"
    );
    assert_eq!(tree.contents(), before, "a refused switch wrote something");
    let output = tree.image(&factory, &[&switch[..], &["--allow-reinstall"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let notes = golden_notes(&tree, &factory, &[]);
    assert!(
        notes.contains("## Reinstall from 0.1.0")
            && notes.contains("Sites on release 0.1.0 reinstall from these media")
            && !notes.contains("## Upgrading from"),
        "{notes}"
    );
    assert_golden("notes-reinstall.md", &notes);
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
}

#[test]
fn a_promoted_release_starts_from_what_its_new_channel_offered() {
    let (factory, tree) = stable_behind_beta("v1.34.1");
    let output = tree.xtask(&["channel", "stable", "1.2.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let notes = golden_notes(&tree, &factory, &["--channel", "stable"]);
    assert!(
        notes.starts_with("Appliance release 1.2.0 on channel `stable`")
            && notes.contains("## Changes since 1.0.0\n\n- kubernetes.version v1.34.1 → v1.35.4")
            && notes.contains("## Upgrading from 1.0.0"),
        "{notes}"
    );
    assert_golden("notes-promoted.md", &notes);
}

/// The shell blocks that follow `heading` (a line of its own), the first one first.
fn sh_blocks_after(notes: &str, heading: &str) -> Vec<String> {
    let rest = notes
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{notes}"))
        .1;
    rest.split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_string())
        .collect()
}

/// Runs each line of `block` with sh in `folder`, as a reader pastes it.
fn run_as_printed(folder: &std::path::Path, block: &str) -> Vec<String> {
    block
        .lines()
        .map(|line| {
            let output = std::process::Command::new("sh")
                .args(["-c", line])
                .current_dir(folder)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "`{line}` in {}: {}{}",
                folder.display(),
                stdout(&output),
                stderr(&output)
            );
            stdout(&output)
        })
        .collect()
}

#[test]
fn the_linux_and_macos_commands_run_as_printed() {
    let (_factory, tree) = recorded(&["--boot-media", "iso,disk-image", "--secure-boot", "true"]);
    let notes = stdout(&tree.xtask(&["release-notes"]));
    let folder = tree.path("ee/appliance/dist/0.1.0");
    // Only the ISO downloaded, as most sites do: the disk image is not there.
    std::fs::remove_file(folder.join("metal-amd64-secureboot.raw.zst")).unwrap();
    for heading in ["Linux:", "macOS:"] {
        let blocks = sh_blocks_after(&notes, heading);
        let said = run_as_printed(&folder, &blocks[0]);
        assert!(
            said.iter()
                .all(|s| s.contains("metal-amd64-secureboot.iso: OK")),
            "{said:?}"
        );
    }
    // A flipped byte fails them.
    let iso = folder.join("metal-amd64-secureboot.iso");
    let mut bytes = std::fs::read(&iso).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&iso, bytes).unwrap();
    for line in sh_blocks_after(&notes, "Linux:")[0].lines() {
        let failed = std::process::Command::new("sh")
            .args(["-c", line])
            .current_dir(&folder)
            .output()
            .unwrap();
        assert!(!failed.status.success(), "`{line}` passed a flipped byte");
        assert!(
            stdout(&failed).contains("metal-amd64-secureboot.iso: FAILED"),
            "{}",
            stdout(&failed)
        );
    }
    // The SecureBoot certificate's fingerprint, as the page computes it, is the recorded one.
    let blocks = sh_blocks_after(&notes, "### SecureBoot certificate");
    let said = run_as_printed(&folder, &blocks[0]);
    for printed in said {
        assert_eq!(
            printed.split_whitespace().next(),
            Some(SIGNING_CERT_SHA256.trim()),
            "{notes}"
        );
    }
}

#[test]
#[ignore = "needs cmark-gfm (GitHub's Markdown); .ci/run installs it and runs this"]
fn every_golden_page_renders_with_cmark_gfm_code_closed_and_no_wide_table() {
    let golden = repo_root().join("xtask/tests/data/golden");
    let mut pages = 0;
    for entry in std::fs::read_dir(&golden).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("notes-") && name.ends_with(".md")) {
            continue;
        }
        pages += 1;
        let rendered = std::process::Command::new("cmark-gfm")
            .args(["--extension", "table", "--extension", "autolink"])
            .arg(entry.path())
            .output()
            .expect("cmark-gfm is installed");
        assert!(rendered.status.success(), "{name}");
        let html = stdout(&rendered);
        // Every fence closed: no fence marker is left over as text.
        assert!(
            !html.contains("```"),
            "{name}: an unclosed code block\n{html}"
        );
        assert!(!html.contains("<h1>"), "{name}: a second title");
        for table in html.split("<table>").skip(1) {
            let head = table.split("</thead>").next().unwrap();
            assert!(
                head.matches("<th").count() <= 4,
                "{name}: a table wider than four columns"
            );
        }
        // What it is, how to get it, how to install or upgrade, how to verify: in that order.
        let at = |heading: &str| {
            html.find(heading)
                .unwrap_or_else(|| panic!("{name}: no {heading}"))
        };
        assert!(at("<h2>Get it</h2>") < at("<h2>Install</h2>"), "{name}");
        assert!(at("<h2>Install</h2>") < at("<h2>Verify</h2>"), "{name}");
    }
    assert!(pages >= 7, "only {pages} notes goldens");
}
