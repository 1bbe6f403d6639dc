//! Boot media variants against the loopback factory: SecureBoot pairs, a disk image beside
//! the ISO, SHA256SUMS, the pairing rules of `validate` and `validate --artifacts`.

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const DIST: &str = "ee/appliance/dist/0.1.0";

fn manifest(tree: &Tree) -> serde_json::Value {
    tree.json(MANIFEST)
}

/// `sha256sum -c SHA256SUMS` in the release's folder, as someone writing a stick would run it.
fn sha256sum_check(tree: &Tree) -> std::process::Output {
    crate::support::sha256sum_check(&tree.path(DIST))
}

#[test]
fn a_secure_boot_release_with_a_disk_image_records_the_secure_boot_pair() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(
        &factory,
        &["--secure-boot", "true", "--boot-media", "iso,disk-image"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let m = manifest(&tree);
    let base = format!("{}/image/{APPLIANCE_ID}/{TALOS}", factory.url());
    assert_eq!(m["os"]["secureBoot"], true);
    for (field, file) in [
        ("iso", "metal-amd64-secureboot.iso"),
        ("diskImage", "metal-amd64-secureboot.raw.zst"),
    ] {
        let served = factory.served(file).unwrap();
        assert_eq!(m["os"][field]["url"], format!("{base}/{file}"));
        assert_eq!(m["os"][field]["localPath"], format!("{DIST}/{file}"));
        assert_eq!(m["os"][field]["sha256"], sha256_hex(&served), "{field}");
        assert_eq!(m["os"][field]["size"], served.len(), "{field}");
        assert_eq!(
            std::fs::read(tree.path(&format!("{DIST}/{file}"))).unwrap(),
            served
        );
    }
    assert_eq!(
        m["os"]["installer"]["image"],
        format!(
            "127.0.0.1:{}/metal-installer-secureboot/{APPLIANCE_ID}:{TALOS}",
            factory.port
        )
    );
    assert_eq!(m["os"]["installer"]["digest"], SECUREBOOT_INSTALLER_DIGEST);
    assert_eq!(
        m["os"]["secureBootCertificate"]["url"],
        format!("{}/secureboot/signing-cert.pem", factory.url())
    );
    assert_eq!(
        m["os"]["secureBootCertificate"]["sha256"],
        SIGNING_CERT_SHA256.trim()
    );

    let sums = tree.read(&format!("{DIST}/SHA256SUMS"));
    assert_eq!(
        sums,
        format!(
            "{}  metal-amd64-secureboot.iso\n{}  metal-amd64-secureboot.raw.zst\n",
            m["os"]["iso"]["sha256"].as_str().unwrap(),
            m["os"]["diskImage"]["sha256"].as_str().unwrap()
        )
    );
    let check = sha256sum_check(&tree);
    assert!(check.status.success(), "{}", stdout(&check));

    let validate = tree.xtask(&["validate", "--artifacts"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    assert!(
        stdout(&validate).contains(&format!("verified {DIST}/metal-amd64-secureboot.raw.zst"))
            && stdout(&validate).contains(&format!("verified {DIST}/SHA256SUMS")),
        "{}",
        stdout(&validate)
    );
}

#[test]
fn a_plain_release_with_a_disk_image_uses_the_plain_names() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    tree.set_intent(&[("os.bootMedia", "[disk-image, iso]")]);
    let output = tree.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let m = manifest(&tree);
    assert_eq!(m["os"]["secureBoot"], false);
    assert!(m["os"].get("secureBootCertificate").is_none());
    assert!(
        m["os"]["iso"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/metal-amd64.iso")
    );
    assert_eq!(
        m["os"]["diskImage"]["localPath"],
        format!("{DIST}/metal-amd64.raw.zst")
    );
    assert_eq!(
        m["os"]["diskImage"]["sha256"],
        sha256_hex(&factory.served("metal-amd64.raw.zst").unwrap())
    );
    assert!(
        m["os"]["installer"]["image"]
            .as_str()
            .unwrap()
            .contains("/metal-installer/")
    );
    assert!(!factory.saw("GET /secureboot/"));
    assert!(sha256sum_check(&tree).status.success());
}

#[test]
fn a_factory_without_secure_boot_keys_is_refused_before_any_image() {
    let factory = Factory::start(Behaviour {
        secure_boot_keys: false,
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &["--secure-boot", "true"]);
    let err = stderr(&output);
    assert!(
        err.contains("has no SecureBoot keys") && err.contains("404"),
        "{err}"
    );
    assert!(!factory.saw("POST /schematics"), "nothing registered");
    assert!(!factory.saw("GET /image/"), "no image requested");
}

#[test]
fn a_failed_disk_image_keeps_no_medium_and_records_nothing() {
    for fault in [Fault::NOT_FOUND, Fault::Cut] {
        let factory = Factory::start(Behaviour::default().with(DISK_IMAGE_GETS, fault.clone()));
        let tree = Tree::copy();
        let output = fails_cleanly(&tree, &factory, &["--boot-media", "iso,disk-image"]);
        assert!(
            stderr(&output).contains("metal-amd64.raw.zst"),
            "{fault:?}: {}",
            stderr(&output)
        );
        assert!(factory.saw("GET /image/"), "{fault:?}: the ISO came first");
        assert!(!tree.path(&format!("{DIST}/metal-amd64.iso")).exists());
        assert!(!tree.path(&format!("{DIST}/SHA256SUMS")).exists());
    }
}

/// Records a SecureBoot release, then breaks one pairing rule in its manifest.
fn validate_after(edit: impl Fn(&mut serde_json::Value)) -> std::process::Output {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    assert!(
        tree.image(&factory, &["--secure-boot", "true"])
            .status
            .success()
    );
    let mut m = manifest(&tree);
    edit(&mut m);
    tree.write(MANIFEST, &serde_json::to_string_pretty(&m).unwrap());
    tree.xtask(&["validate"])
}

#[test]
fn validate_refuses_a_secure_boot_manifest_with_a_plain_installer_or_iso() {
    let plain_installer = validate_after(|m| {
        let image = m["os"]["installer"]["image"].as_str().unwrap();
        m["os"]["installer"]["image"] = image.replace("-secureboot/", "/").into();
    });
    let plain_iso = validate_after(|m| {
        let url = m["os"]["iso"]["url"].as_str().unwrap();
        m["os"]["iso"]["url"] = url.replace("-secureboot.iso", ".iso").into();
    });
    let no_flag = validate_after(|m| {
        m["os"]["secureBoot"] = false.into();
    });
    for (output, pointer) in [
        (plain_installer, "/os/installer/image"),
        (plain_iso, "/os/iso/url"),
        (no_flag, "/os/secureBootCertificate"),
    ] {
        assert_eq!(output.status.code(), Some(1), "{pointer}");
        let err = stderr(&output);
        assert!(
            err.contains(&format!("invalid: {MANIFEST}: {pointer}")),
            "{pointer}: {err}"
        );
    }
}

#[test]
fn validate_artifacts_catches_a_flipped_byte() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    assert!(
        tree.image(&factory, &["--boot-media", "iso,disk-image"])
            .status
            .success()
    );
    let disk = tree.path(&format!("{DIST}/metal-amd64.raw.zst"));
    let mut bytes = std::fs::read(&disk).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&disk, bytes).unwrap();

    let fast = tree.xtask(&["validate"]);
    assert!(fast.status.success(), "plain validate reads no media");
    let output = tree.xtask(&["validate", "--artifacts"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "invalid: {DIST}/metal-amd64.raw.zst: the disk image's SHA-256 is"
        )) && err.contains(MANIFEST),
        "{err}"
    );
    assert!(stdout(&output).contains(&format!("verified {DIST}/metal-amd64.iso")));

    std::fs::remove_file(&disk).unwrap();
    let absent = tree.xtask(&["validate", "--artifacts"]);
    assert!(absent.status.success(), "{}", stderr(&absent));
    assert!(
        stdout(&absent).contains(&format!("not checked: {DIST}/metal-amd64.raw.zst")),
        "{}",
        stdout(&absent)
    );
}

#[test]
fn validate_artifacts_catches_a_size_or_sha256sums_mismatch() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    assert!(tree.image(&factory, &[]).status.success());
    let iso = tree.path(&format!("{DIST}/metal-amd64.iso"));
    let served = std::fs::read(&iso).unwrap();

    // One byte more: the size says so before any hashing.
    std::fs::write(&iso, [&served[..], b"x"].concat()).unwrap();
    let output = tree.xtask(&["validate", "--artifacts"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{DIST}/metal-amd64.iso: the ISO has {} bytes but {MANIFEST} records {}",
            served.len() + 1,
            served.len()
        )),
        "{err}"
    );
    std::fs::write(&iso, &served).unwrap();
    assert!(tree.xtask(&["validate", "--artifacts"]).status.success());

    // SHA256SUMS naming another hash than the manifest.
    let sums = format!("{DIST}/SHA256SUMS");
    let text = tree.read(&sums);
    let recorded = factory.iso_sha256();
    tree.write(&sums, &text.replace(&recorded, &"0".repeat(64)));
    let output = tree.xtask(&["validate", "--artifacts"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{sums}: lists [{}  metal-amd64.iso]",
            "0".repeat(64)
        )) && err.contains(&format!("records [{recorded}  metal-amd64.iso]")),
        "{err}"
    );
    // A line sha256sum would not write.
    tree.write(&sums, "metal-amd64.iso\n");
    let err = stderr(&tree.xtask(&["validate", "--artifacts"]));
    assert!(err.contains("line 1: not `<sha256 hex>  <file>`"), "{err}");
}

#[test]
fn dry_run_shows_arm64_names() {
    let tree = Tree::copy();
    let output = tree.xtask(&[
        "image",
        "--dry-run",
        "--architecture",
        "arm64",
        "--secure-boot",
        "true",
        "--boot-media",
        "iso,disk-image",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    for name in [
        "/metal-arm64-secureboot.iso",
        "/metal-arm64-secureboot.raw.zst",
        "dist/0.1.0/metal-arm64-secureboot.raw.zst",
        "/metal-installer-secureboot/",
        "/secureboot/signing-cert.pem",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
}

#[test]
fn check_reports_a_changed_disk_image_size_as_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let media = ["--boot-media", "iso,disk-image"];
    assert!(tree.image(&factory, &media).status.success());
    factory.behaviour.lock().unwrap().disk_image_size += 512;
    let output = tree.xtask(&[
        "image",
        "--check",
        "--factory-url",
        &factory.url(),
        "--boot-media",
        "iso,disk-image",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("/os/diskImage/size"), "{out}");
    assert!(!out.contains("/os/iso/size"), "{out}");
}

#[test]
fn secure_boot_settings_on_plain_media_are_warned_about() {
    let tree = Tree::copy();
    let schematic = "ee/appliance/schematics/metal-amd64.yaml";
    let text = tree.read(schematic) + "  secureboot:\n    enrollKeys: force\n";
    tree.write(schematic, &text);
    let output = tree.xtask(&["validate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "has customization.secureboot settings, but os.secureBoot is false: they change nothing on plain media"
        ),
        "{}",
        stderr(&output)
    );
    let secure = tree.xtask(&["image", "--dry-run", "--secure-boot", "true"]);
    assert!(!stderr(&secure).contains("customization.secureboot"));
}
