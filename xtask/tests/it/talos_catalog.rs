//! The Talos catalogue: releases at other minors planned from it, what it lacks refused with the
//! command that adds it, and `cargo xtask talos-catalog` against a small repository in Talos's
//! shape.

use std::path::Path;
use std::process::Command;

use crate::support::*;

#[test]
fn releases_at_talos_v1_13_and_v1_14_plan_without_a_warning() {
    let tree = Tree::copy();
    for (talos, kubernetes) in [("v1.13.9", "v1.36.3"), ("v1.14.0", "v1.37.1")] {
        let output = tree.xtask(&[
            "image",
            "--dry-run",
            "--talos-version",
            talos,
            "--kubernetes-version",
            kubernetes,
        ]);
        assert!(output.status.success(), "{talos}: {}", stderr(&output));
        assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
        assert!(
            stdout(&output).contains(&format!("metal-installer/{APPLIANCE_ID}:{talos}")),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn what_the_catalogue_does_not_allow_is_refused_before_any_request() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let before = tree.files();
    let url = factory.url();
    for (args, expected) in [
        (
            &[
                "--talos-version",
                "v1.13.9",
                "--kubernetes-version",
                "v1.37.0",
            ][..],
            "Talos v1.13 supports Kubernetes 1.31.x through 1.36.x",
        ),
        (
            &[
                "--talos-version",
                "v1.14.0",
                "--kubernetes-version",
                "v1.31.9",
            ][..],
            "Talos v1.14 supports Kubernetes 1.32.x through 1.37.x",
        ),
        (
            &[
                "--talos-version",
                "v1.16.0",
                "--kubernetes-version",
                "v1.37.0",
            ][..],
            "Talos v1.16 is not in this tool's catalogue",
        ),
        (
            &["--talos-version", "v1.12.12", "--air-gap"][..],
            "the images of Talos v1.12.12 are not in this tool's catalogue",
        ),
    ] {
        for mode in [&["--dry-run"][..], &["--allow-unsigned"][..]] {
            let mut full = vec!["image", "--factory-url", &url];
            full.extend_from_slice(mode);
            full.extend_from_slice(args);
            let output = tree.xtask(&full);
            assert_eq!(output.status.code(), Some(1), "{full:?}");
            let error = stderr(&output);
            assert!(error.contains(expected), "{full:?}: {error}");
            if !expected.contains("supports") {
                assert!(
                    error.contains("cargo xtask talos-catalog --from"),
                    "{full:?}: {error}"
                );
            }
        }
    }
    assert!(
        factory.requests.lock().unwrap().is_empty(),
        "a refused plan made a request"
    );
    assert_eq!(tree.files(), before);
}

#[test]
fn an_air_gap_at_v1_13_holds_what_talosctl_lists_at_that_tag() {
    let tree = Tree::copy();
    let output = tree.xtask(&[
        "image",
        "--dry-run",
        "--json",
        "--air-gap",
        "--talos-version",
        "v1.13.9",
        "--kubernetes-version",
        "v1.36.3",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let planned: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let images: Vec<&str> = planned["airGap"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1) // the installer
        .map(|i| i["ref"].as_str().unwrap())
        .collect();
    // Read off v1.13.9's sources by hand (tests/data/talos-images/SOURCE.md), at its default
    // Kubernetes version, which this release pins.
    let golden =
        std::fs::read_to_string(repo_root().join("xtask/tests/data/talos-images/v1.13.9.txt"))
            .unwrap();
    assert_eq!(images, golden.lines().collect::<Vec<_>>());
}

/// `git` in `dir`, as a test user; whether it succeeded.
fn git(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success()
}

/// A repository in Talos's shape, with a tag per `(tag, flannel, etcd)`.
fn talos_like(dir: &Path, tags: &[(&str, &str, &str)]) {
    let git = |args: &[&str]| assert!(git(dir, args), "git {args:?}");
    std::fs::create_dir_all(dir).unwrap();
    git(&["init", "-q"]);
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    for (tag, flannel, etcd) in tags {
        write(
            "pkg/machinery/constants/constants.go",
            &format!(
                "package constants\n\nconst (\n\tDefaultKubernetesVersion = \"1.35.4\"\n\tKubernetesAPIServerImage = \"registry.k8s.io/kube-apiserver\"\n\tKubeletImage = \"ghcr.io/siderolabs/kubelet\"\n\tEtcdImage = \"registry.k8s.io/etcd\"\n\tDefaultEtcdVersion = \"{etcd}\"\n\tFlannelVersion = \"{flannel}\" // a comment\n)\n"
            ),
        );
        write(
            "pkg/images/list.go",
            "package images\n\nconst DefaultSandboxImage = \"registry.k8s.io/pause:3.10.1\"\n\nfunc List() {\n\timages.Flannel = fmt.Sprintf(\"ghcr.io/siderolabs/flannel:%s\", constants.FlannelVersion)\n}\n",
        );
        write(
            "cmd/talosctl/cmd/talos/image.go",
            "var imageK8sBundleCmd = &cobra.Command{\n\tUse:     \"k8s-bundle\",\n\tRunE: func() error {\n\t\tfmt.Printf(\"%s\\n\", images.Flannel)\n\t\tfmt.Printf(\"%s\\n\", images.Etcd)\n\t\tfmt.Printf(\"%s\\n\", images.KubeAPIServer)\n\t\tfmt.Printf(\"%s\\n\", images.Kubelet)\n\t\tfmt.Printf(\"%s\\n\", images.Pause)\n\t\treturn nil\n\t},\n}\n",
        );
        write(
            "pkg/machinery/compatibility/talos112/talos112.go",
            "package talos112\n\nvar MinimumHostUpgradeVersion = semver.MustParse(\"1.10.0\")\nvar MaximumHostDowngradeVersion = semver.MustParse(\"1.14.0\")\nvar DeniedHostUpgradeVersions []semver.Version\nvar MinimumKubernetesVersion = semver.MustParse(\"1.30.0\")\nvar MaximumKubernetesVersion = semver.MustParse(\"1.35.99\")\n",
        );
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", tag]);
        git(&["tag", tag]);
    }
}

#[test]
fn talos_catalog_adds_rows_once_and_refuses_a_moved_tag_or_an_unreadable_constant() {
    let tree = Tree::copy();
    let catalog = tree.root.join("xtask/data/talos.json");
    std::fs::create_dir_all(catalog.parent().unwrap()).unwrap();
    let seed = r#"{"source": "https://github.com/siderolabs/talos", "minors": [{"minor": "v1.11", "from": "v1.11.0", "kubernetes": {"minimum": "1.29.0", "maximum": "1.34.99"}, "hostUpgrade": {"minimum": "1.9.0", "downgradeBelow": "1.13.0", "denied": []}, "installer": "platform", "embeddedMachineConfiguration": true}], "patches": []}"#;
    std::fs::write(&catalog, seed).unwrap();
    let talos = tree.root.join("talos");
    talos_like(
        &talos,
        &[
            ("v1.12.0", "v0.27.4", "v3.6.7"),
            ("v1.12.1", "0.28.0", "3.7.1"),
        ],
    );
    let from = talos.to_str().unwrap();
    let run = |refs: &[&str]| {
        let mut args = vec!["talos-catalog", "--from", from];
        args.extend_from_slice(refs);
        tree.xtask(&args)
    };
    let output = run(&["v1.12.1", "v1.12.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read_to_string(&catalog).unwrap();
    let value: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(value["patches"][0]["tag"], "v1.12.0");
    assert_eq!(
        value["patches"][1]["images"],
        serde_json::json!([
            "ghcr.io/siderolabs/flannel:0.28.0",
            "registry.k8s.io/etcd:3.7.1",
            "registry.k8s.io/kube-apiserver:{kubernetes}",
            "ghcr.io/siderolabs/kubelet:{kubernetes}",
            "registry.k8s.io/pause:3.10.1"
        ])
    );
    assert_eq!(value["minors"][1]["minor"], "v1.12");
    assert_eq!(value["minors"][1]["from"], "v1.12.1");
    assert_eq!(value["minors"][1]["kubernetes"]["maximum"], "1.35.99");
    // Inherited from the minor before it.
    assert_eq!(value["minors"][1]["embeddedMachineConfiguration"], true);

    // The same input: the same bytes.
    let output = run(&["v1.12.0", "v1.12.1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("nothing to add"));
    assert_eq!(std::fs::read_to_string(&catalog).unwrap(), written);

    // A tag that moved is refused, and the file stays.
    let git = |args: &[&str]| git(&talos, args);
    assert!(git(&["commit", "-q", "--allow-empty", "-m", "moved"]));
    assert!(git(&["tag", "-f", "v1.12.0"]));
    let output = run(&["v1.12.0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("v1.12.0 would change its row"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&catalog).unwrap(), written);

    // A constant it cannot read is named.
    let constants = talos.join("pkg/machinery/constants/constants.go");
    let text = std::fs::read_to_string(&constants).unwrap();
    std::fs::write(&constants, text.replace("EtcdImage", "EtcdRepository")).unwrap();
    assert!(git(&["commit", "-q", "-am", "renamed"]));
    assert!(git(&["tag", "v1.12.2"]));
    let output = run(&["v1.12.2"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("v1.12.2:pkg/machinery/constants/constants.go: could not read EtcdImage"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&catalog).unwrap(), written);
}
