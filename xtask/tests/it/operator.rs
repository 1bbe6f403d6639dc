//! The operator's day: the tree a run acts on is the one it stands in, media of a recorded
//! release restored from the record (`fetch`), channels moved on purpose (`channel`), and a
//! reader that closes stdout early.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const ISO: &str = "ee/appliance/dist/0.1.0/metal-amd64.iso";
const SUMS: &str = "ee/appliance/dist/0.1.0/SHA256SUMS";
const INTENT: &str = "ee/appliance/release.yaml";
const BETA: &str = "ee/appliance/releases/channels/beta.json";

/// `cargo xtask <args>` as a user runs it: from a folder inside `tree`, with no
/// `XTASK_PROJECT_ROOT`, so the binary (built in this checkout) must find the tree itself.
fn run_inside(tree: &Tree, args: &[&str]) -> std::process::Output {
    tree.command(args)
        .env_remove("XTASK_PROJECT_ROOT")
        .current_dir(tree.path("ee/appliance/schematics"))
        .output()
        .expect("run xtask")
}

/// A scratch tree that is a checkout as the root finder knows one: Cargo.toml beside `ee/`.
fn checkout() -> Tree {
    let tree = Tree::copy();
    tree.write("Cargo.toml", "[workspace]\n");
    tree
}

#[test]
fn each_checkout_sharing_one_binary_acts_on_its_own_tree() {
    let factory = Factory::start(Behaviour::default());
    let (a, b) = (checkout(), checkout());
    b.set_intent(&[("releaseVersion", "7.0.0")]);
    for (tree, version) in [(&a, "0.1.0"), (&b, "7.0.0")] {
        let output = run_inside(tree, &["image", "--dry-run"]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stdout(&output).starts_with(&format!("Release {version} on channel beta")),
            "{}",
            stdout(&output)
        );
        // The absolute root is said once, and it is this tree, not the one the binary was
        // built in.
        let said = format!("tree: {} (the one you stand in", tree.root.display());
        assert_eq!(stderr(&output).matches("tree: ").count(), 1);
        assert!(stderr(&output).contains(&said), "{}", stderr(&output));
    }
    let before_b = b.contents();
    let args = a.image_args(&factory, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_inside(&a, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(a.path(MANIFEST).exists());
    assert_eq!(
        b.contents(),
        before_b,
        "a run in one checkout wrote into the other"
    );
}

#[test]
fn outside_any_checkout_the_tool_refuses_naming_the_folder() {
    let folder = std::env::temp_dir().join(format!("xtask-nowhere-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["image", "--dry-run"])
        .env_remove("XTASK_PROJECT_ROOT")
        .current_dir(&folder)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&folder).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not inside an appliance checkout"),
        "{}",
        stderr(&output)
    );
}

/// A tree with 0.1.0 recorded on beta, then its media removed as in a fresh clone.
fn recorded_without_media(factory: &Factory) -> Tree {
    let tree = Tree::recorded(factory, &[]);
    std::fs::remove_dir_all(tree.path("ee/appliance/dist")).unwrap();
    tree
}

fn fetch_args<'a>(factory_url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "fetch",
        "--factory-url",
        factory_url,
        "--retry-delay-ms",
        "10",
        "--stall-timeout",
        "2",
    ];
    args.extend(extra);
    args
}

#[test]
fn fetch_restores_the_media_of_the_channels_release_equal_to_the_record() {
    let factory = Factory::with_iso(Behaviour::default(), 3 * 1024 * 1024 + 17);
    let tree = recorded_without_media(&factory);
    let record = tree.read(MANIFEST);
    let channel = tree.read(BETA);
    let url = factory.url();
    let output = tree.xtask(&fetch_args(&url, &[]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(tree.path(ISO)).unwrap(),
        *factory.iso,
        "the ISO placed is the factory's"
    );
    let manifest: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(manifest["os"]["iso"]["sha256"], factory.iso_sha256());
    assert_eq!(
        tree.read(SUMS),
        format!("{}  metal-amd64.iso\n", factory.iso_sha256())
    );
    assert!(
        stderr(&output).contains(&format!(
            "fetched release 0.1.0: {ISO}, {SUMS}, each equal to {MANIFEST}"
        )),
        "{}",
        stderr(&output)
    );
    // The record is read, never written; `sha256sum -c` agrees.
    assert_eq!(tree.read(MANIFEST), record);
    assert_eq!(tree.read(BETA), channel);
    let check = sha256sum_check(&tree.path("ee/appliance/dist/0.1.0"));
    assert!(check.status.success(), "{}", stdout(&check));
    let validate = tree.xtask(&["validate", "--artifacts"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    assert!(stdout(&validate).contains(&format!("verified {ISO}")));
}

#[test]
fn fetch_of_other_bytes_is_drift_and_places_nothing_not_even_over_a_bad_copy() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded_without_media(&factory);
    factory.behaviour.lock().unwrap().iso_flip_byte = true;
    let url = factory.url();

    let before = tree.contents();
    let output = tree.xtask(&fetch_args(&url, &["--release-version", "0.1.0"]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("{ISO}: the factory now gives other bytes"))
            && err.contains("the factory moved under release 0.1.0"),
        "{err}"
    );
    assert_eq!(tree.contents(), before, "a drifted fetch placed something");
    assert!(!tree.path("ee/appliance/dist/0.1.0").exists());

    // A corrupted copy: validate points at fetch, which keeps it as it is while the factory
    // gives other bytes.
    tree.write(ISO, "corrupted");
    tree.write(SUMS, "");
    let validate = tree.xtask(&["validate", "--artifacts"]);
    assert_eq!(validate.status.code(), Some(1));
    assert!(
        stderr(&validate)
            .contains("restore it as recorded: cargo xtask fetch --release-version 0.1.0"),
        "{}",
        stderr(&validate)
    );
    let before = tree.contents();
    let output = tree.xtask(&fetch_args(&url, &[]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(tree.contents(), before);

    // Once the factory gives the recorded bytes again, the bad copy is replaced.
    factory.behaviour.lock().unwrap().iso_flip_byte = false;
    let output = tree.xtask(&fetch_args(&url, &[]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read(tree.path(ISO)).unwrap(), *factory.iso);
}

#[test]
fn fetch_restores_the_media_while_the_installer_registry_is_down() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded_without_media(&factory);
    factory.put(INSTALLER_HEADS, Fault::Status(500, None), None);
    let url = factory.url();
    let output = tree.xtask(&fetch_args(&url, &["--retries", "1"]));
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("warning: installer digest of")
            && err.contains("fetch restores the media ee/appliance/releases/0.1.0.json records and does not need it"),
        "{err}"
    );
    assert_eq!(std::fs::read(tree.path(ISO)).unwrap(), *factory.iso);
}

#[test]
fn fetch_of_every_channel_goes_on_past_a_drifted_release_and_reports_each() {
    let factory = Factory::start(Behaviour::default());
    let tree = recorded_without_media(&factory);
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.2.0",
            "--channel",
            "stable",
            "--app-version",
            "2.0.0",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::remove_dir_all(tree.path("ee/appliance/dist/0.2.0")).unwrap();
    // Beta's 0.1.0, fetched first, records other bytes than the factory gives.
    let mut record = tree.json(MANIFEST);
    record["os"]["iso"]["sha256"] = serde_json::json!("0".repeat(64));
    tree.write(MANIFEST, &serde_json::to_string_pretty(&record).unwrap());
    let url = factory.url();
    let output = tree.xtask(&fetch_args(&url, &[]));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(!tree.path(ISO).exists(), "{err}");
    // Stable's 0.2.0 is restored all the same, and each release is reported.
    assert_eq!(
        std::fs::read(tree.path("ee/appliance/dist/0.2.0/metal-amd64.iso")).unwrap(),
        *factory.iso,
        "{err}"
    );
    assert!(
        err.contains("release 0.1.0: the factory moved under release 0.1.0")
            && err.contains("fetched release 0.2.0")
            && err.contains("error: the factory moved under release 0.1.0"),
        "{err}"
    );
}

#[test]
fn sigterm_mid_fetch_exits_143_and_leaves_nothing() {
    let factory = Factory::with_iso(Behaviour::default(), 2 * 1024 * 1024);
    let tree = recorded_without_media(&factory);
    factory.put(MEDIA_GETS, Fault::Slow(Duration::from_millis(50)), None);
    let before = tree.files();
    let url = factory.url();
    let mut child = tree
        .command(&fetch_args(&url, &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sent = factory.iso_bytes_sent();
    wait_for("the fetch's download", || factory.iso_bytes_sent() > sent);
    signal(&child, "TERM");
    let code = child.wait().unwrap().code();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, Some(143), "{err}");
    assert_eq!(tree.files(), before, "{err}");
    assert!(!tree.path("ee/appliance/dist/0.1.0").exists(), "{err}");
}

#[test]
fn fetch_with_no_release_on_any_channel_says_what_to_do() {
    let tree = Tree::copy();
    let output = tree.xtask(&["fetch"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no channel points at a release yet")
            && stderr(&output).contains("--release-version"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_channel_is_rolled_back_on_purpose_and_only_to_a_recorded_release() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    for version in ["0.1.0", "0.3.0"] {
        let output = tree.image(&factory, &["--release-version", version]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let channel: serde_json::Value = tree.json(BETA);
    assert_eq!(channel["releaseVersion"], "0.3.0");

    // A rollback is never silent: the same flag as for `image`.
    let before = tree.contents();
    let output = tree.xtask(&["channel", "beta", "0.1.0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("channel beta points at 0.3.0; offering 0.1.0 on it would roll it back to an older release. Pass --allow-channel-rollback"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree.contents(), before);
    let output = tree.xtask(&["channel", "beta", "0.1.0", "--allow-channel-rollback"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("channel beta → 0.1.0 (rolled back from 0.3.0; nodes on 0.3.0 (Talos v1.12.11, Kubernetes v1.35.4): the same Talos and Kubernetes); next: commit ee/appliance/releases/channels/beta.json"),
        "{}",
        stderr(&output)
    );
    let channel: serde_json::Value = tree.json(BETA);
    assert_eq!(channel["releaseVersion"], "0.1.0");
    // The time of the move, not SOURCE_DATE_EPOCH (the tests' 2026-01-01), and never before
    // the move it replaces.
    let updated = channel["updatedAt"].as_str().unwrap();
    assert!(updated > "2026-01-01T00:00:00Z", "{updated}");
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));

    // Promotion onto another channel says it had none before.
    let output = tree.xtask(&["channel", "stable", "0.3.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("channel stable → 0.3.0 (its first release)"));

    let before = tree.contents();
    let output = tree.xtask(&["channel", "beta", "0.2.0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("channel beta can only point at a recorded release")
            && stderr(&output).contains("release 0.2.0 is not recorded"),
        "{}",
        stderr(&output)
    );
    let output = tree.xtask(&["channel", "nightly", "0.1.0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("channels/nightly.json"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree.contents(), before);
}

/// A rollback onto a release the factory has moved under is still made, but `channel` says
/// so at once, with the drift and what it means for the nightly and for `fetch`; onto a release
/// the factory still gives as recorded, it says that was checked.
#[test]
fn a_rollback_onto_a_release_the_factory_moved_under_warns_with_the_drift() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    for version in ["0.1.0", "0.2.0", "0.3.0"] {
        let output = tree.image(&factory, &["--release-version", version]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let output = tree.xtask(&["channel", "beta", "0.2.0", "--allow-channel-rollback"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "checked: the factory still gives what ee/appliance/releases/0.2.0.json records"
        ) && !stderr(&output).contains("moved under")
            && !stderr(&output).contains("could not ask"),
        "{}",
        stderr(&output)
    );

    let moved = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    factory.behaviour.lock().unwrap().installer_digest = moved.into();
    let output = tree.xtask(&["channel", "beta", "0.1.0", "--allow-channel-rollback"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("channel beta → 0.1.0 (rolled back from 0.2.0")
            && err.contains("warning: the factory has moved under release 0.1.0 since it was recorded:\n  /os/installer/digest: the factory rebuilt the installer")
            && err.contains("cargo xtask image --check --release-version 0.1.0")
            && err.contains("will exit 3 for channel beta")
            && err.contains("`cargo xtask fetch --release-version 0.1.0` refuses media that changed"),
        "{err}"
    );
    assert_eq!(tree.json(BETA)["releaseVersion"], "0.1.0");

    // No factory to ask (nothing listens on the discard port): the move is made, and the
    // warning names the check to run.
    let output = tree.xtask(&["channel", "stable", "0.3.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = tree
        .command(&[
            "channel",
            "stable",
            "0.2.0",
            "--retries",
            "1",
            "--allow-channel-rollback",
        ])
        .env("TALOS_FACTORY_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output)
            .contains("warning: could not ask the factory whether it moved under release 0.2.0")
            && stderr(&output).contains(
                "run cargo xtask image --check --release-version 0.2.0 before the move is merged"
            ),
        "{}",
        stderr(&output)
    );
}

/// docs/operator-guide.md, "A self-hosted factory": with the URL from the environment and the
/// factory's static key committed, the first run names that factory, the ISO and installer on
/// its host, and the key by the SHA-256 the guide tells the operator to compare.
#[test]
fn a_self_hosted_factory_is_shown_by_the_first_run_as_the_guide_says() {
    let tree = Tree::copy();
    tree.write(
        "ee/appliance/keys/factory.pub",
        include_str!("../data/factory-p256.pub"),
    );
    tree.set_signature_policy("installerSignature:\n  publicKey: ee/appliance/keys/factory.pub\n");
    let output = tree
        .command(&["image", "--dry-run"])
        .env("TALOS_FACTORY_URL", "https://factory.internal.example")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = format!("{}{}", stdout(&output), stderr(&output));
    // `openssl pkey -pubin -in factory-p256.pub -outform der | sha256sum`, as the guide says.
    let key = "1bd4da09b3f657f6280af2c84cc1f7e72c7750d4019aa5b238d2b3e688cd7fac";
    for line in [
        "  factory          https://factory.internal.example\n".to_string(),
        format!(
            "  ISO              https://factory.internal.example/image/{APPLIANCE_ID}/{TALOS}/metal-amd64.iso\n"
        ),
        format!(
            "  installer image  factory.internal.example/metal-installer/{APPLIANCE_ID}:{TALOS}\n"
        ),
        format!(
            "  installer signature must verify under publicKey ee/appliance/keys/factory.pub (SHA-256 of the key {key})\n"
        ),
    ] {
        assert!(text.contains(&line), "{line:?} not in:\n{text}");
    }
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    let tree = Tree::copy();
    for args in [
        &["image", "--dry-run"][..],
        &["image", "--dry-run", "--json"],
    ] {
        let mut child = tree
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the first byte is read: every write fails.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    }
}

#[test]
fn force_re_cuts_only_from_the_recorded_inputs_unless_told_and_says_what_would_change() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(
        &factory,
        &["--release-version", "0.3.0", "--channel", "stable"],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    // The same inputs: --force repairs as before.
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.3.0",
            "--channel",
            "stable",
            "--force",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    // Today's intent names another channel: refused before any request.
    let before = tree.contents();
    factory.requests.lock().unwrap().clear();
    let output = tree.image(&factory, &["--release-version", "0.3.0", "--force"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("--force would re-cut release 0.3.0 from other inputs than ee/appliance/releases/0.3.0.json records: channel stable → beta")
            && err.contains("cargo xtask fetch --release-version 0.3.0")
            && err.contains("--allow-changed-inputs"),
        "{err}"
    );
    assert!(factory.requests.lock().unwrap().is_empty());
    assert_eq!(tree.contents(), before);

    // Told so, it re-cuts.
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.3.0",
            "--force",
            "--allow-changed-inputs",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = tree.json("ee/appliance/releases/0.3.0.json");
    assert_eq!(manifest["channel"], "beta");
}

#[test]
fn a_release_older_than_its_channels_needs_the_rollback_flag() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(&factory, &["--release-version", "0.3.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = tree.contents();
    let output = tree.image(&factory, &["--release-version", "0.2.5"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(
            "channel beta points at 0.3.0; offering 0.2.5 on it would roll it back to an older release"
        ) && err.contains("cargo xtask channel")
            && err.contains("--allow-channel-rollback"),
        "{err}"
    );
    assert_eq!(tree.contents(), before);
    let output = tree.image(
        &factory,
        &["--release-version", "0.2.5", "--allow-channel-rollback"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let channel: serde_json::Value = tree.json(BETA);
    assert_eq!(channel["releaseVersion"], "0.2.5");
}

#[test]
fn contradictory_flags_are_refused_as_usage_errors() {
    let tree = Tree::copy();
    for args in [
        &["image", "--dry-run", "--hashes"][..],
        &["image", "--dry-run", "--force"],
        &["image", "--dry-run", "--preflight"],
        &["image", "--check", "--preflight"],
        &["image", "--dry-run", "--allow-changed-inputs"],
        &["image", "--allow-changed-inputs"],
        &["image", "--check", "--allow-channel-rollback"],
        &["image", "--preflight", "--json"],
    ] {
        let output = tree.xtask(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn preflight_stops_where_a_real_run_would_stop_at_once() {
    let factory = Factory::start(Behaviour::default());
    // Already recorded.
    let tree = Tree::recorded(&factory, &[]);
    factory.requests.lock().unwrap().clear();
    let output = tree.image(&factory, &["--preflight"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("release 0.1.0 is already recorded in ee/appliance/releases/0.1.0.json"),
        "{err}"
    );
    assert!(
        !stdout(&output).contains("would build"),
        "{}",
        stdout(&output)
    );
    assert!(factory.requests.lock().unwrap().is_empty());
    // Inputs that are not the commit's.
    let tree = Tree::copy_in_git();
    tree.set_intent(&[("app.version", "0.1.1")]);
    let output = tree.image(&factory, &["--preflight"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("its inputs are not that commit's: ee/appliance/release.yaml (changed)"),
        "{err}"
    );
    let output = tree.image(&factory, &["--preflight", "--allow-dirty"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn preflight_asks_the_factory_and_builds_nothing() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let output = tree.image(&factory, &["--preflight"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("would build release 0.1.0: Talos v1.12.11 is listed, extensions in its catalogue: siderolabs/iscsi-tools, siderolabs/util-linux-tools; nothing was registered, built or downloaded"),
        "{}",
        stdout(&output)
    );

    const SCHEMATIC: &str = "ee/appliance/schematics/metal-amd64.yaml";
    tree.write(
        SCHEMATIC,
        &tree
            .read(SCHEMATIC)
            .replace("siderolabs/iscsi-tools", "siderolabs/iscsi-tool"),
    );
    factory.requests.lock().unwrap().clear();
    let before = tree.contents();
    let output = tree.image(&factory, &["--preflight"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("siderolabs/iscsi-tool (did you mean siderolabs/iscsi-tools?)"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree.contents(), before);
    let requests = factory.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|r| r == "GET /versions" || r.ends_with("/extensions/official")),
        "{requests:?}"
    );
    assert_eq!(factory.posts(), 0, "nothing registered");
}

#[test]
fn a_ci_log_hears_from_a_long_build_and_the_run_ends_with_the_next_step() {
    let factory = Factory::start(Behaviour {
        build_delay: Some(Duration::from_millis(1500)),
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let args = tree.image_args(&factory, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = tree
        .command(&args)
        .env("XTASK_TEST_HEARTBEAT_MS", "400")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("metal-amd64.iso: still building after"),
        "{err}"
    );
    // Once built, the heartbeat is quiet: nothing after the download started.
    let received = err
        .find("metal-amd64.iso: receiving")
        .expect("the download");
    assert!(
        !err[received..].contains("metal-amd64.iso: still building"),
        "{err}"
    );
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with(
            "next: commit the record (git add ee/appliance/releases/0.1.0.json ee/appliance/releases/channels/beta.json && git commit)"
        ),
        "{err}"
    );
    assert!(err.contains("recorded release 0.1.0 on channel beta:\n  ee/appliance/dist/0.1.0/metal-amd64.iso  sha256 "), "{err}");
}

#[test]
fn a_dispatched_release_leaves_the_intent_naming_it_and_the_nightly_quiet() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let committed = tree.read(INTENT);
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.3.0",
            "--channel",
            "stable",
            "--update-intent",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let intent = tree.read(INTENT);
    let changed: Vec<(&str, &str)> = committed
        .lines()
        .zip(intent.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(intent.contains("\nreleaseVersion: 0.3.0 "), "{intent}");
    assert!(intent.contains("\nchannel: stable "), "{intent}");
    let validate = tree.xtask(&["validate"]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    // The nightly finds nothing unreleased: the intent is the release it recorded.
    let output = tree.image(&factory, &["--check", "--channel", "stable"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        !stdout(&output).contains("unreleased changes"),
        "{}",
        stdout(&output)
    );

    // An intent this tool cannot edit fails before any request, naming the line.
    tree.write(
        INTENT,
        &intent.replace("releaseVersion: 0.3.0 ", "releaseVersion: !!str 0.3.0 "),
    );
    factory.requests.lock().unwrap().clear();
    let output = tree.image(&factory, &["--release-version", "0.4.0", "--update-intent"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not a plain value this tool edits; set it by hand"),
        "{}",
        stderr(&output)
    );
    assert!(factory.requests.lock().unwrap().is_empty());
}

#[test]
fn help_lists_the_users_commands_and_groups_the_image_flags() {
    let tree = Tree::copy();
    let top = stdout(&tree.xtask(&["--help"]));
    for command in ["image", "fetch", "channel", "validate", "release-notes"] {
        assert!(top.contains(&format!("\n  {command} ")), "{command}: {top}");
    }
    // The benchmarks are a crate of their own (`cargo xtask-bench`), not in this binary.
    assert!(!top.contains("bench"), "{top}");
    assert_eq!(
        tree.xtask(&["bench-build", "--help"]).status.code(),
        Some(2)
    );
    let image = stdout(&tree.xtask(&["image", "--help"]));
    for heading in [
        "Mode:",
        "Recorded releases:",
        "Release inputs (each overrides the same field of release.yaml):",
        "Network:",
        "What a release insists on:",
    ] {
        assert!(
            image.contains(&format!("\n{heading}\n")),
            "{heading}: {image}"
        );
    }
}

#[test]
fn a_channel_move_after_a_killed_release_rolls_that_release_back_first_and_stays() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    for version in ["0.1.0", "0.3.0"] {
        let output = tree.image(&factory, &["--release-version", version]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let args = tree.image_args(&factory, &["--release-version", "0.4.0"]);
    let mut child = spawn_inside_record_step(&tree, &args);
    child.kill().unwrap(); // SIGKILL, inside the record step
    child.wait().unwrap();

    let output = tree.xtask(&["channel", "beta", "0.1.0", "--allow-channel-rollback"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("rolled back the record step")
            && stderr(&output).contains("channel beta → 0.1.0 (rolled back from 0.3.0"),
        "{}",
        stderr(&output)
    );
    assert!(
        !tree
            .path("ee/appliance/dist/0.4.0/metal-amd64.iso")
            .exists()
    );
    // A later run finds nothing left to roll back over the move.
    let output = tree.xtask(&["channel", "stable", "0.3.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let channel: serde_json::Value = tree.json(BETA);
    assert_eq!(channel["releaseVersion"], "0.1.0");
}

#[test]
fn the_tag_path_takes_a_quoted_channel_and_leaves_a_right_value_as_it_is() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let quoted = tree
        .read(INTENT)
        .replace("channel: beta       ", "channel: \"beta\"     ");
    assert!(quoted.contains("channel: \"beta\""), "{quoted}");
    tree.write(INTENT, &quoted);
    let output = tree.image(&factory, &["--release-version", "0.3.0", "--update-intent"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        tree.read(INTENT),
        quoted.replacen("releaseVersion: 0.1.0", "releaseVersion: 0.3.0", 1)
    );
    let output = tree.image(
        &factory,
        &[
            "--release-version",
            "0.4.0",
            "--channel",
            "stable",
            "--update-intent",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(tree.read(INTENT).contains("channel: \"stable\""));
}

#[test]
fn update_intent_refuses_a_flag_it_would_not_write_back() {
    let tree = Tree::copy();
    for flag in [
        ["--kubernetes-version", "v1.35.3"],
        ["--app-version", "2.0.0"],
    ] {
        let output = tree.xtask(&[&["image", "--update-intent"][..], &flag].concat());
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert!(
            err.contains("'--update-intent' cannot be used with") && err.contains(flag[0]),
            "{err}"
        );
    }
}

#[test]
fn help_is_wrapped_and_each_command_has_a_one_line_summary() {
    let tree = Tree::copy();
    for command in [
        "",
        "image",
        "fetch",
        "channel",
        "validate",
        "release-notes",
        "talos-catalog",
    ] {
        for flag in ["-h", "--help"] {
            let args: Vec<&str> = [command, flag]
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect();
            let output = tree.xtask(&args);
            assert!(output.status.success(), "{args:?}");
            let text = stdout(&output);
            let longest = text.lines().map(|l| l.chars().count()).max().unwrap();
            assert!(
                longest <= 100,
                "{args:?}: a line of {longest} characters\n{text}"
            );
        }
    }
    let top = stdout(&tree.xtask(&["-h"]));
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        commands.iter().all(|l| l.starts_with("  ")),
        "each command's summary fits one line: {commands:#?}"
    );
}

/// Each message names what the user has, in words they can act on.
#[test]
fn messages_name_real_flags_real_channels_and_real_values() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    // A release that is not recorded: the recorded ones are listed, no flag `channel` lacks.
    let output = tree.xtask(&["channel", "stable", "0.2.0"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("release 0.2.0 is not recorded")
            && err.contains("the recorded releases are 0.1.0"),
        "{err}"
    );
    assert!(!err.contains("--release-version"), "{err}");
    // An unknown channel: the channels are listed, no raw OS error.
    let output = tree.xtask(&["channel", "nightly", "0.1.0"]);
    let err = stderr(&output);
    assert!(
        err.contains("there is no channel nightly (ee/appliance/releases/channels/nightly.json does not exist); the channels are: beta, stable"),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    // A stray file is blamed, not a flag nobody passed.
    tree.write("ee/appliance/releases/channels/Old.json", "{}");
    let output = tree.xtask(&["fetch"]);
    let err = stderr(&output);
    assert!(
        err.contains("ee/appliance/releases/channels/Old.json: a channel's file is named after it"),
        "{err}"
    );
    assert!(!err.contains("--channel"), "{err}");
    std::fs::remove_file(tree.path("ee/appliance/releases/channels/Old.json")).unwrap();
    // A signature looked for and not found names the digest, not a variable.
    let output = tree.image(&factory, &["--release-version", "0.2.0"]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("no Sigstore signature bundle for sha256:") && !err.contains(" for D:"),
        "{err}"
    );
    // A piped run says the installer digest once while it resolves (and once in the summary).
    let digest = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    let progress = err.split("recorded release 0.2.0").next().unwrap();
    assert_eq!(
        progress
            .matches(&format!("installer: digest {digest}"))
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn one_dirty_input_differs_and_two_differ() {
    let tree = Tree::copy_in_git();
    tree.set_intent(&[("app.version", "0.1.1")]);
    let output = tree.xtask(&["image", "--dry-run"]);
    let err = stderr(&output);
    assert!(
        err.contains(
            "a real run stops before its first request: ee/appliance/release.yaml differs from HEAD"
        ),
        "{err}"
    );
}
