//! The air-gap bundle against a loopback OCI registry (`support::oci`) standing in for ghcr.io
//! and registry.k8s.io through `--registry-mirror`, and for the factory's backing registry
//! behind the loopback factory: what is recorded, what is fetched once, and that a corrupted
//! blob, a cut connection or a signal leaves the tree as it was.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const BUNDLE: &str = "ee/appliance/dist/0.1.0/airgap-amd64.oci.tar";

/// A factory whose registry is `oci`, holding the installer and every image the committed
/// intent's bundle lists, each with a layer of `layer_size` bytes of its own.
struct Site {
    tree: Tree,
    factory: Factory,
    oci: Oci,
    installer: Pushed,
    /// By full reference (`registry.k8s.io/etcd:v3.6.11`).
    images: BTreeMap<String, Pushed>,
}

impl Site {
    fn start(layer_size: usize) -> Site {
        let oci = Oci::start();
        let installer = oci.push(
            &format!("metal-installer/{APPLIANCE_ID}"),
            TALOS,
            layer_size,
        );
        let factory = Factory::start(Behaviour {
            registry: RegistryMode::Proxy(oci.url()),
            ..Behaviour::default()
        });
        let tree = Tree::copy();
        let mut images = BTreeMap::new();
        for reference in planned_images(&tree) {
            let (repository, tag) = split(&reference);
            images.insert(reference.clone(), oci.push(&repository, &tag, layer_size));
        }
        Site {
            tree,
            factory,
            oci,
            installer,
            images,
        }
    }

    /// The flags that turn the bundle on and send both upstream hosts to `oci`.
    fn flags(&self) -> Vec<String> {
        let url = self.oci.url();
        vec![
            "--air-gap".into(),
            "--registry-mirror".into(),
            format!("registry.k8s.io={url}"),
            "--registry-mirror".into(),
            format!("ghcr.io={url}"),
        ]
    }

    fn image(&self, extra: &[&str]) -> std::process::Output {
        let flags = self.flags();
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.extend(extra);
        self.tree.image(&self.factory, &args)
    }

    /// How many GETs the registry saw for `digest`'s blob, in any repository.
    fn blob_gets(&self, digest: &str) -> usize {
        self.oci
            .seen()
            .iter()
            .filter(|(line, _)| {
                line.starts_with("GET ") && line.ends_with(&format!("/blobs/{digest}"))
            })
            .count()
    }
}

/// The bundle's images after the installer, as `image --dry-run --json --air-gap` plans them.
fn planned_images(tree: &Tree) -> Vec<String> {
    let output = tree.xtask(&["image", "--dry-run", "--json", "--air-gap"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let planned: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let images = planned["airGap"]["images"].as_array().unwrap();
    images[1..]
        .iter()
        .map(|i| i["ref"].as_str().unwrap().to_string())
        .collect()
}

/// `registry.k8s.io/coredns/coredns:v1.14.2` → (`coredns/coredns`, `v1.14.2`).
fn split(reference: &str) -> (String, String) {
    let (_, path) = reference.split_once('/').unwrap();
    let (repository, tag) = path.rsplit_once(':').unwrap();
    (repository.to_string(), tag.to_string())
}

/// A file of the bundle, as GNU tar (an independent reader) extracts it.
fn tar_member(bundle: &std::path::Path, member: &str) -> Vec<u8> {
    let output = Command::new("tar")
        .arg("-xOf")
        .arg(bundle)
        .arg(member)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn a_release_with_the_air_gap_records_every_image_and_fetches_each_blob_once() {
    let site = Site::start(64 * 1024);
    assert_eq!(site.images.len(), 9);
    let output = site.image(&["--require-digest"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = site.tree.json(MANIFEST);
    let air_gap = &manifest["airGap"];
    assert_eq!(air_gap["path"], BUNDLE);
    let images = air_gap["images"].as_array().unwrap();
    assert_eq!(images.len(), 10, "{air_gap}");
    assert_eq!(images[0]["ref"], manifest["os"]["installer"]["image"]);
    assert_eq!(images[0]["digest"], site.installer.index.as_str());
    assert_eq!(images[0]["platformDigest"], site.installer.amd64.as_str());
    for image in &images[1..] {
        let pushed = &site.images[image["ref"].as_str().unwrap()];
        assert_eq!(image["digest"], pushed.index.as_str(), "{image}");
        assert_eq!(image["platformDigest"], pushed.amd64.as_str(), "{image}");
    }

    // The bytes recorded are the file's; SHA256SUMS and validate --artifacts agree.
    let bundle = site.tree.path(BUNDLE);
    let bytes = std::fs::read(&bundle).unwrap();
    assert_eq!(air_gap["sha256"], sha256_hex(&bytes));
    assert_eq!(air_gap["size"], bytes.len());
    assert!(
        site.tree
            .read("ee/appliance/dist/0.1.0/SHA256SUMS")
            .contains(&format!("{}  airgap-amd64.oci.tar", sha256_hex(&bytes)))
    );
    let validated = site.tree.xtask(&["validate", "--artifacts"]);
    assert!(validated.status.success(), "{}", stderr(&validated));
    assert!(
        stdout(&validated).contains(BUNDLE),
        "{}",
        stdout(&validated)
    );

    // The notes give an air-gapped site the installer at its platform digest, which the
    // bundle holds, never at the index digest, which would not resolve there.
    let notes = site.tree.xtask(&["release-notes"]);
    let notes = stdout(&notes);
    let installer = manifest["os"]["installer"]["image"].as_str().unwrap();
    let name = installer.rsplit_once(':').unwrap().0;
    assert!(
        notes.contains(&format!(
            "machine:\n  install:\n    image: {name}@{}\n",
            site.installer.amd64
        )) && notes.contains(&format!(
            "machine:\n  install:\n    image: $SITE/{}@{}\n",
            name.split_once('/').unwrap().1,
            site.installer.amd64
        )),
        "{notes}"
    );
    assert!(
        !notes.contains(&format!("image: {name}@{}", site.installer.index)),
        "{notes}"
    );

    // One OCI layout: each entry named by its reference, at its platform manifest.
    assert_eq!(
        tar_member(&bundle, "oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: serde_json::Value =
        serde_json::from_slice(&tar_member(&bundle, "index.json")).unwrap();
    for image in images {
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == image["ref"])
            .unwrap_or_else(|| panic!("{} is not in index.json: {index}", image["ref"]));
        assert_eq!(entry["digest"], image["platformDigest"]);
        let platform = image["platformDigest"].as_str().unwrap();
        let blob = tar_member(&bundle, &format!("blobs/sha256/{}", &platform[7..]));
        assert_eq!(sha256_hex(&blob), platform[7..]);
    }

    // The layer all ten images share was fetched once, and is in the tar once.
    let shared = digest(b"the layer every image shares\n");
    assert_eq!(site.blob_gets(&shared), 1);
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(&bundle)
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert_eq!(listing.matches(&shared[7..]).count(), 1, "{listing}");
    assert!(
        partials(&site.tree).is_empty(),
        "{:?}",
        partials(&site.tree)
    );
}

#[test]
fn a_check_resolves_the_images_again_and_reports_a_moved_tag_as_drift() {
    let site = Site::start(1024);
    let output = site.image(&["--require-digest"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = site.image(&["--check"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    // etcd's tag now names other bytes.
    site.oci.push("etcd", "v3.6.11", 2048);
    let output = site.image(&["--check", "--json"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let differences = report["releases"][0]["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{report}");
    assert!(
        differences[0]["path"]
            .as_str()
            .unwrap()
            .starts_with("/airGap/images/")
    );
    assert!(
        differences[0]["meaning"]
            .as_str()
            .unwrap()
            .contains("registry.k8s.io/etcd:v3.6.11: the tag moved"),
        "{report}"
    );
}

#[test]
fn a_corrupted_blob_fails_the_release_naming_it_and_leaves_nothing() {
    let site = Site::start(64 * 1024);
    let layer = site.images["registry.k8s.io/etcd:v3.6.11"]
        .amd64_layer
        .clone();
    site.oci.set_faults(OciFaults {
        corrupt: Some(layer.clone()),
        ..OciFaults::default()
    });
    let flags = site.flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let output = fails_cleanly(&site.tree, &site.factory, &args);
    let err = stderr(&output);
    assert!(
        err.contains(&layer) && err.contains("corrupted or substituted blob"),
        "{err}"
    );
}

#[test]
fn a_blob_download_cut_off_resumes_where_it_stopped() {
    let site = Site::start(256 * 1024);
    let layer = site.images["ghcr.io/siderolabs/kubelet:v1.35.4"]
        .amd64_layer
        .clone();
    site.oci.set_faults(OciFaults {
        cut_first: Some(layer.clone()),
        ..OciFaults::default()
    });
    let output = site.image(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let ranges: Vec<String> = site
        .oci
        .seen()
        .into_iter()
        .filter(|(line, _)| line.ends_with(&format!("/blobs/{layer}")))
        .filter_map(|(_, headers)| headers.get("range").cloned())
        .collect();
    assert_eq!(ranges, [format!("bytes={}-", 128 * 1024)]);
    let validated = site.tree.xtask(&["validate", "--artifacts"]);
    assert!(validated.status.success(), "{}", stderr(&validated));
}

#[test]
fn sigterm_while_the_bundle_is_fetched_exits_143_and_leaves_nothing() {
    let site = Site::start(512 * 1024);
    let layer = site.images["registry.k8s.io/kube-apiserver:v1.35.4"]
        .amd64_layer
        .clone();
    site.oci.set_faults(OciFaults {
        slow: Some((layer.clone(), Duration::from_millis(50))),
        ..OciFaults::default()
    });
    let before = site.tree.contents();
    let child = spawn(
        &site.tree,
        &site.factory,
        &site.flags().iter().map(String::as_str).collect::<Vec<_>>(),
    );
    wait_for("the slow blob's download", || site.blob_gets(&layer) > 0);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "TERM");
    let (code, err, _) = finish(child);
    assert_eq!(code, Some(143), "{err}");
    assert_unchanged(&site.tree, &before);
    assert!(
        partials(&site.tree).is_empty(),
        "{:?}",
        partials(&site.tree)
    );
}

#[test]
fn without_the_air_gap_the_manifest_is_byte_for_byte_what_it_was() {
    let site = Site::start(1024);
    let output = site.tree.image(&site.factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plain = site.tree.read(MANIFEST);
    assert!(!plain.contains("airGap"), "{plain}");
    assert!(
        !site
            .oci
            .seen()
            .iter()
            .any(|(line, _)| line.contains("/blobs/")),
        "no blob is fetched without the air gap"
    );

    // `os.airGap` left out (it is committed as false) and mirrors in release.yaml change
    // nothing either.
    let other = Site::start(1024);
    let committed = other.tree.read("ee/appliance/release.yaml");
    let intent: String = committed
        .lines()
        .filter(|line| !line.trim_start().starts_with("airGap: false"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(intent, committed, "release.yaml commits os.airGap: false");
    other.tree.write(
        "ee/appliance/release.yaml",
        &format!(
            "{intent}registryMirrors:\n  registry.k8s.io: {}\n",
            other.oci.url()
        ),
    );
    let output = other.tree.image(&other.factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The factory's port is in the installer's image name; nothing else may differ.
    let port = |site: &Site| format!("127.0.0.1:{}", site.factory.port);
    assert_eq!(
        other
            .tree
            .read(MANIFEST)
            .replace(&port(&other), "127.0.0.1:PORT"),
        plain.replace(&port(&site), "127.0.0.1:PORT")
    );
}

#[test]
fn the_applications_images_come_last_and_a_pinned_one_must_resolve_to_its_digest() {
    let site = Site::start(1024);
    let nginx = site.oci.push("library/nginx", "1.27", 4096);
    let intent = site.tree.read("ee/appliance/release.yaml");
    let with_extra =
        |reference: &str| format!("{intent}airGap:\n  extraImages:\n    - {reference}\n");
    let docker = format!("docker.io={}", site.oci.url());
    site.tree.write(
        "ee/appliance/release.yaml",
        &with_extra("docker.io/library/nginx:1.27"),
    );
    let output = site.image(&["--registry-mirror", &docker]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = site.tree.json(MANIFEST);
    let images = manifest["airGap"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 11);
    assert_eq!(
        images[10],
        serde_json::json!({
            "ref": "docker.io/library/nginx:1.27",
            "digest": nginx.index,
            "platformDigest": nginx.amd64,
        })
    );

    // Pinned to another index than the tag names now: refused, nothing left.
    let other = Site::start(1024);
    other.oci.push("library/nginx", "1.27", 4096);
    let pinned = format!("docker.io/library/nginx:1.27@sha256:{}", "ab".repeat(32));
    other
        .tree
        .write("ee/appliance/release.yaml", &with_extra(&pinned));
    let mut args = other.flags();
    args.extend([
        "--registry-mirror".to_string(),
        format!("docker.io={}", other.oci.url()),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = fails_cleanly(&other.tree, &other.factory, &args);
    let err = stderr(&output);
    assert!(
        err.contains("docker.io/library/nginx:1.27")
            && err.contains(&format!("not sha256:{}", "ab".repeat(32))),
        "{err}"
    );
}

#[test]
fn fetch_restores_the_bundle_with_the_media_equal_to_the_record() {
    let site = Site::start(64 * 1024);
    let output = site.image(&["--require-digest"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let recorded = std::fs::read(site.tree.path(BUNDLE)).unwrap();
    std::fs::remove_dir_all(site.tree.path("ee/appliance/dist")).unwrap();

    let url = site.factory.url();
    let mirror = format!("ghcr.io={}", site.oci.url());
    let k8s = format!("registry.k8s.io={}", site.oci.url());
    let output = site.tree.xtask(&[
        "fetch",
        "--factory-url",
        &url,
        "--registry-mirror",
        &mirror,
        "--registry-mirror",
        &k8s,
        "--retry-delay-ms",
        "10",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read(site.tree.path(BUNDLE)).unwrap(), recorded);
    let validated = site.tree.xtask(&["validate", "--artifacts"]);
    assert!(validated.status.success(), "{}", stderr(&validated));
    assert!(stdout(&validated).contains(&format!("verified {BUNDLE}")));
}

/// An air-gap release, byte for byte: what `--dry-run --json`, the manifest, `SHA256SUMS`, the
/// release notes and `--check --json` say (both servers' ports shown as PORT and OCIPORT).
#[test]
fn an_air_gap_release_matches_the_golden_files() {
    let site = Site::start(4096);
    // The ports only where they are ones: as digits they could also stand inside a digest.
    let (port, oci_port) = (site.factory.url(), site.oci.url());
    let shown = |text: &str| {
        text.replace(&oci_port, "http://127.0.0.1:OCIPORT")
            .replace(&port, "http://127.0.0.1:PORT")
            .replace(
                &format!("127.0.0.1:{}", site.factory.port),
                "127.0.0.1:PORT",
            )
    };
    let mut flags = site.flags();
    flags.extend(["--factory-url".to_string(), site.factory.url()]);
    let dry_run: Vec<&str> = ["image", "--dry-run", "--json"]
        .into_iter()
        .chain(flags.iter().map(String::as_str))
        .collect();
    let output = site.tree.xtask(&dry_run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_golden("dry-run-air-gap.json", &shown(&stdout(&output)));

    let output = site.image(&["--require-digest"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The tar names the installer by its reference, which holds the factory's port: its
    // SHA-256 is shown as BUNDLE_SHA256.
    let bundle = sha256_hex(&std::fs::read(site.tree.path(BUNDLE)).unwrap());
    let shown = |text: &str| shown(text).replace(&bundle, "BUNDLE_SHA256");
    assert_golden("manifest-air-gap.json", &shown(&site.tree.read(MANIFEST)));
    assert_golden(
        "SHA256SUMS-air-gap",
        &shown(&site.tree.read("ee/appliance/dist/0.1.0/SHA256SUMS")),
    );
    let notes = site.tree.xtask(&["release-notes"]);
    assert_golden("notes-air-gap.md", &shown(&stdout(&notes)));
    let output = site.image(&[
        "--check",
        "--hashes",
        "--json",
        "--release-version",
        "0.1.0",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_golden("check-air-gap.json", &shown(&stdout(&output)));
}

#[test]
fn an_air_gap_release_carries_the_real_keyless_signature_of_its_installer() {
    // The installer is a real image with a real cosign keyless signature (tests/data/sigstore):
    // its manifest and blobs, and the bundle as cosign v3 pushed it, served by the registry.
    const SIGNED: &[u8] =
        include_bytes!("../data/sigstore/image-factory-extensions-catalog.manifest.json");
    const SIGNATURE: &[u8] =
        include_bytes!("../data/sigstore/image-factory-extensions-catalog.sigstore.json");
    const BLOBS: [&[u8]; 3] = [
        include_bytes!(
            "../data/sigstore/image-factory-extensions-catalog.blob-263ff3409c99ab6abed308b160ebd774dceb75568b0e019479098226a800ced4"
        ),
        include_bytes!(
            "../data/sigstore/image-factory-extensions-catalog.blob-574d9e16099696929f5eeb890ef9a53ba012939b59bd3866b5eb8acc97760b3c"
        ),
        include_bytes!(
            "../data/sigstore/image-factory-extensions-catalog.blob-37e1a6bb7d947f4347826f92090f95e9214cd4d218b0c12128a4aa7de5906c7d"
        ),
    ];
    const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    let oci = Oci::start();
    let tree = Tree::copy();
    tree.set_signature_policy(
        "installerSignature:\n  keyless:\n    issuer: https://accounts.google.com\n    identity: albert.kostusev@siderolabs.com\n",
    );
    for reference in planned_images(&tree) {
        let (repository, tag) = split(&reference);
        oci.push(&repository, &tag, 1024);
    }
    let repository = format!("metal-installer/{APPLIANCE_ID}");
    let subject = format!("sha256:{}", sha256_hex(SIGNED));
    for reference in [TALOS, subject.as_str()] {
        oci.put_object(
            &format!("{repository}/manifests/{reference}"),
            DOCKER_MANIFEST,
            SIGNED,
        );
    }
    for blob in BLOBS {
        let path = format!("{repository}/blobs/sha256:{}", sha256_hex(blob));
        oci.put_object(&path, "application/octet-stream", blob);
    }
    for (path, media_type, bytes) in cosign_push(&repository, &subject, SIGNATURE) {
        oci.put_object(&path, media_type, &bytes);
    }
    let factory = Factory::start(Behaviour {
        registry: RegistryMode::Proxy(oci.url()),
        ..Behaviour::default()
    });
    let url = oci.url();
    // The signed image is linux/arm64 (its config says so): an arm64 release.
    let output = tree.image(
        &factory,
        &[
            "--air-gap",
            "--architecture",
            "arm64",
            "--registry-mirror",
            &format!("registry.k8s.io={url}"),
            "--registry-mirror",
            &format!("ghcr.io={url}"),
            "--require-signature",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = tree.json(MANIFEST);
    let installer = &manifest["os"]["installer"];
    assert_eq!(installer["digest"], subject.as_str());
    assert_eq!(
        installer["signature"]["identity"],
        "albert.kostusev@siderolabs.com"
    );
    assert_eq!(
        installer["signature"]["issuer"],
        "https://accounts.google.com"
    );
    let signature_manifest = installer["signature"]["signature"].as_str().unwrap();
    assert_eq!(manifest["airGap"]["images"][0]["digest"], subject.as_str());

    // The bundle holds the signature's manifest under cosign's `.sigstore` name, and its blob.
    let bundle = tree.path("ee/appliance/dist/0.1.0/airgap-arm64.oci.tar");
    let index: serde_json::Value =
        serde_json::from_slice(&tar_member(&bundle, "index.json")).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == signature_manifest)
        .unwrap_or_else(|| panic!("no entry for {signature_manifest} in {index}"));
    let name = entry["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap();
    let hex = subject.trim_start_matches("sha256:");
    assert!(name.ends_with(&format!(":sha256-{hex}.sigstore")), "{name}");
    let blob = tar_member(&bundle, &format!("blobs/sha256/{}", sha256_hex(SIGNATURE)));
    assert!(
        blob == SIGNATURE,
        "the bundle's signature blob is the real bundle"
    );
}
