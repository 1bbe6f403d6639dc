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
