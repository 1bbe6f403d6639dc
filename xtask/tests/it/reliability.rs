//! What release pipelines do to a run, done to real processes against the loopback factory:
//! parallel runs, signals, SIGKILL, Retry-After, cut connections, plain http, a full disk.
//! Every run downloads two media at once (ISO and disk image), as the concurrent pipeline
//! does; the ISO carries the fault.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const ISO: &str = "ee/appliance/dist/0.1.0/metal-amd64.iso";
const BETA: &str = "ee/appliance/releases/channels/beta.json";
const STABLE: &str = "ee/appliance/releases/channels/stable.json";
const LOCK: &str = "ee/appliance/dist/.release.lock";
const DISK: &str = "ee/appliance/dist/0.1.0/metal-amd64.raw.zst";
/// Both media, downloaded at once.
const BOTH: [&str; 2] = ["--boot-media", "iso,disk-image"];

/// `extra` after the two-media flags.
fn both<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = BOTH.to_vec();
    args.extend(extra);
    args
}

fn slow(delay_ms: u64) -> Behaviour {
    Behaviour::default().with(MEDIA_GETS, Fault::Slow(Duration::from_millis(delay_ms)))
}

#[test]
fn two_runs_of_one_release_the_second_fails_at_once_naming_the_lock() {
    let factory = Factory::start(slow(30));
    let tree = Tree::copy();
    let (beta, stable) = (tree.read(BETA), tree.read(STABLE));
    let first = spawn(
        &tree,
        &factory,
        &both(&["--channel", "beta", "--app-version", "1.0.0"]),
    );
    wait_for("the first run's download", || factory.iso_bytes_sent() > 0);
    let second = tree.image(
        &factory,
        &both(&["--channel", "stable", "--app-version", "2.0.0"]),
    );
    let (code, first_err, _) = finish(first);

    assert_eq!(code, Some(0), "the first run: {first_err}");
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let message = stderr(&second);
    assert!(
        message.contains(LOCK) && message.contains("another release is running"),
        "{message}"
    );
    assert!(
        message.contains("locked by process "),
        "the holder's PID is named: {message}"
    );

    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert_eq!(manifest["app"]["version"], "1.0.0", "the winner's manifest");
    assert_eq!(manifest["channel"], "beta");
    assert_ne!(tree.read(BETA), beta, "the winner's channel moved");
    assert_eq!(
        tree.read(STABLE),
        stable,
        "the loser's channel did not move"
    );
    assert!(partials(&tree).is_empty(), "{:?}", partials(&tree));
    assert!(!tree.path(LOCK).exists(), "the lock file is removed");
}

#[test]
fn a_signal_mid_download_leaves_nothing_and_exits_with_128_plus_its_number() {
    for (name, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        let factory = Factory::start(slow(50));
        let tree = Tree::copy();
        let before = tree.contents();
        let child = spawn(&tree, &factory, &BOTH);
        wait_for("two partial downloads", || {
            factory.iso_bytes_sent() > 0 && partials(&tree).len() == 2
        });
        let sent = Instant::now();
        signal(&child, name);
        let (code, err, _) = finish(child);
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "SIG{name}: took {:?} to exit",
            sent.elapsed()
        );
        assert_eq!(code, Some(128 + number), "SIG{name}: {err}");
        assert!(
            err.contains(&format!("interrupted by SIG{name}"))
                && err.contains("nothing was recorded"),
            "SIG{name}: {err}"
        );
        assert_unchanged(&tree, &before);
    }
}

#[test]
fn a_signal_during_the_record_step_lets_it_finish() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let mut child = tree
        .command(
            &tree
                .image_args(&factory, &BOTH)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        // Long enough for `kill` to start on a loaded machine (1.5 s was not, inside the
        // lifecycle test's second suite): the signal must land inside the pause.
        .env("XTASK_TEST_RECORD_PAUSE_MS", "5000")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen += &line;
        seen.push('\n');
        if line.starts_with("record step: pausing") {
            break;
        }
    }
    assert!(seen.contains("record step: pausing"), "{seen}");
    signal(&child, "TERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let code = child.wait().unwrap().code();
    let err = rest.join("\n");
    assert_eq!(code, Some(143), "{seen}{err}");
    assert!(
        err.contains("interrupted by SIGTERM: the record step had finished first"),
        "{err}"
    );
    // Finished, not half-done: the manifest, its ISO and the channel move are all there.
    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert_eq!(manifest["os"]["iso"]["sha256"], factory.iso_sha256());
    assert!(tree.path(ISO).exists() && tree.path(DISK).exists());
    assert!(tree.read(BETA).contains("\"0.1.0\""));
    assert!(tree.xtask(&["validate"]).status.success());
    assert!(partials(&tree).is_empty() && !tree.path(LOCK).exists());
}

#[test]
fn the_next_run_removes_what_a_killed_run_left() {
    let factory = Factory::start(slow(50));
    let tree = Tree::copy();
    let child = spawn(&tree, &factory, &BOTH);
    wait_for("two partial downloads", || partials(&tree).len() == 2);
    signal(&child, "KILL");
    let _ = finish(child);
    let left = partials(&tree);
    // Named by the run's random token, not its PID.
    let token = left[0].rsplit_once(".partial-").unwrap().1.to_string();
    assert!(
        token.len() == 16 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{left:?}"
    );
    assert_eq!(
        left,
        vec![
            format!("ee/appliance/dist/0.1.0/.metal-amd64.iso.partial-{token}"),
            format!("ee/appliance/dist/0.1.0/.metal-amd64.raw.zst.partial-{token}"),
        ]
    );
    assert!(tree.path(LOCK).exists(), "SIGKILL leaves the lock file");

    factory.clear_faults();
    let output = tree.image(&factory, &BOTH);
    assert!(output.status.success(), "{}", stderr(&output));
    for partial in &left {
        assert!(
            stderr(&output).contains(&format!(
                "removed {partial}, a partial file left by an interrupted run (run {token}; this run holds the release lock, so that one is gone)"
            )),
            "{}",
            stderr(&output)
        );
    }
    assert!(partials(&tree).is_empty());
}

#[test]
fn retry_after_in_seconds_is_waited_out_instead_of_the_backoff() {
    let factory =
        Factory::start(Behaviour::default().with_first(1, ISO_GETS, retry_after(429, "2")));
    let tree = Tree::copy();
    let output = tree.image(&factory, &both(&["--retry-delay-ms", "100"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let seen = factory.iso_requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        factory.downloads(".raw.zst").len(),
        1,
        "the disk image went on"
    );
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert!(
        stderr(&output).contains("retry after 2.0 s (Retry-After)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_retry_after_on_the_size_probe_holds_the_download_too() {
    let factory = Factory::start(Behaviour::default().with_first(
        1,
        "HEAD /image/*.iso",
        retry_after(429, "2"),
    ));
    let tree = Tree::copy();
    let output = tree.image(&factory, &both(&["--retry-delay-ms", "10"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let seen = factory.seen();
    let at = |method: &str| {
        seen.iter()
            .find(|s| s.line.starts_with(method) && s.line.contains(".iso"))
            .unwrap_or_else(|| panic!("no {method} of the ISO"))
            .at
    };
    let gap = at("GET ") - at("HEAD ");
    assert!(
        gap >= Duration::from_secs(2),
        "the GET went out {gap:?} after the HEAD was told to come back in 2 s"
    );
    // The disk image was not held: another resource.
    assert_eq!(factory.downloads(".raw.zst").len(), 1);
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    // The date is made when the request arrives, 4 s ahead; whole seconds drop up to one, so
    // the wait is at least about 3 s however long the run took to start.
    let factory =
        Factory::start(Behaviour::default().with_first(1, ISO_GETS, retry_after(503, "+4")));
    let tree = Tree::copy();
    let output = tree.image(&factory, &both(&["--retry-delay-ms", "100"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let seen = factory.iso_requests();
    let gap = seen[1].at - seen[0].at;
    // Far above the 100 ms backoff it replaces, with a second of slack.
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
}

#[test]
fn a_retry_after_of_an_hour_fails_at_once() {
    let factory =
        Factory::start(Behaviour::default().with_first(1, ISO_GETS, retry_after(429, "3600")));
    let tree = Tree::copy();
    let before = tree.contents();
    let start = Instant::now();
    let output = tree.image(&factory, &BOTH);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("retry after 3600 s (Retry-After)") && err.contains("10 minutes"),
        "{err}"
    );
    assert_eq!(factory.iso_requests().len(), 1);
    assert_unchanged(&tree, &before);
}

fn recorded_sha256(tree: &Tree) -> String {
    let manifest: serde_json::Value = tree.json(MANIFEST);
    manifest["os"]["iso"]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_cut_download_resumes_where_the_server_offers_ranges() {
    let factory = Factory::with_iso(
        Behaviour {
            ranges: Ranges::Offered,
            ..Behaviour::default()
        }
        .with_first(1, ISO_GETS, Fault::Cut),
        2 * 1024 * 1024 + 77,
    );
    let tree = Tree::copy();
    let output = tree.image(&factory, &BOTH);
    assert!(output.status.success(), "{}", stderr(&output));
    let seen = factory.iso_requests();
    assert_eq!(seen.len(), 2);
    let half = factory.iso.len() / 2;
    assert_eq!(
        seen[1].headers.get("range"),
        Some(&format!("bytes={half}-"))
    );
    assert_eq!(
        seen[1].headers.get("if-range").map(String::as_str),
        Some("\"build-0\"")
    );
    assert!(
        stderr(&output).contains("resuming at 1.0 MiB of 2.0 MiB"),
        "{}",
        stderr(&output)
    );
    assert_eq!(recorded_sha256(&tree), sha256_hex(&factory.iso));
    assert!(
        factory.iso_bytes_sent() as f64 <= 1.05 * factory.iso.len() as f64,
        "{} bytes served for a {}-byte ISO",
        factory.iso_bytes_sent(),
        factory.iso.len()
    );
    assert_eq!(std::fs::read(tree.path(ISO)).unwrap(), *factory.iso);
    assert_eq!(
        factory.downloads(".raw.zst").len(),
        1,
        "the disk image went on"
    );
    assert!(
        std::fs::read(tree.path(DISK)).unwrap() == factory.served("metal-amd64.raw.zst").unwrap()
    );
}

#[test]
fn without_ranges_or_with_a_changed_file_the_retry_starts_over() {
    for ranges in [Ranges::None, Ranges::ChangingValidator] {
        let factory = Factory::start(
            Behaviour {
                ranges: ranges.clone(),
                ..Behaviour::default()
            }
            .with_first(1, ISO_GETS, Fault::Cut),
        );
        let tree = Tree::copy();
        let output = tree.image(&factory, &BOTH);
        assert!(output.status.success(), "{ranges:?}: {}", stderr(&output));
        let seen = factory.iso_requests();
        assert_eq!(seen.len(), 2, "{ranges:?}");
        match ranges {
            Ranges::None => assert!(!seen[1].headers.contains_key("range")),
            _ => {
                assert!(seen[1].headers.contains_key("range"), "{ranges:?}");
                assert!(
                    stderr(&output).contains("starting over from byte 0"),
                    "{}",
                    stderr(&output)
                );
            }
        }
        assert_eq!(
            recorded_sha256(&tree),
            sha256_hex(&factory.iso),
            "{ranges:?}"
        );
        assert_eq!(std::fs::read(tree.path(ISO)).unwrap(), *factory.iso);
    }
}

#[test]
fn plain_http_to_another_host_is_refused_from_every_source() {
    let tree = Tree::copy();
    let (before, beta) = (tree.files(), tree.read(BETA));
    let url = "http://factory.example.com";
    let flag = tree.xtask(&["image", "--factory-url", url]);
    let env = tree
        .command(&["image"])
        .env("TALOS_FACTORY_URL", url)
        .output()
        .unwrap();
    tree.set_intent(&[("factory", url)]);
    let file = tree.xtask(&["image"]);
    for (output, source) in [
        (flag, "--factory-url"),
        (env, "TALOS_FACTORY_URL"),
        (file, "ee/appliance/release.yaml"),
    ] {
        assert_eq!(output.status.code(), Some(1), "{source}");
        let err = stderr(&output);
        assert!(
            err.contains(source) && err.contains("refusing plain-http") && err.contains("https://"),
            "{source}: {err}"
        );
        // Refused while planning: no lock, no request, nothing written.
        assert!(!err.contains("requesting"), "{err}");
    }
    assert_eq!(tree.files(), before);
    assert_eq!(tree.read(BETA), beta);
}

/// Runs xtask with `args` on a tmpfs of `size` over `ee/appliance/dist`, in a user and mount
/// namespace of the run's own; stdout is the files left on the tmpfs (listed from inside the
/// namespace, before the tmpfs goes away with it).
fn on_small_disk(tree: &Tree, size: &str, args: &[String]) -> std::process::Output {
    let dist = tree.path("ee/appliance/dist");
    std::fs::create_dir_all(&dist).unwrap();
    let script = r#"mount -t tmpfs -o size=$SIZE tmpfs "$1" || exit 99
shift
"$@" >/dev/null
code=$?
find "$DIST" -type f
exit $code"#;
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(&dist)
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("DIST", &dist)
        .env("SIZE", size)
        .env("XTASK_PROJECT_ROOT", &tree.root)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("TALOS_FACTORY_URL")
        .output()
        .expect("run unshare");
    assert_ne!(
        output.status.code(),
        Some(99),
        "could not mount a tmpfs: {}",
        stderr(&output)
    );
    output
}

/// Too small for the ISO alone, and (700 KiB) large enough for either medium but not for
/// both: the run must fail before the first body, naming what is needed and what is there,
/// and leave nothing there.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "needs Linux: user, mount and PID namespaces (unshare) and /proc"
)]
fn a_disk_too_small_for_the_announced_media_fails_before_the_body() {
    for (size, media, expected) in [
        (
            "256k",
            "iso",
            "needs 0.6 MiB in ee/appliance/dist/0.1.0, 0.2 MiB available",
        ),
        (
            "700k",
            "iso,disk-image",
            "for metal-amd64.iso and metal-amd64.raw.zst: needs 0.9 MiB in ee/appliance/dist/0.1.0, 0.7 MiB available",
        ),
    ] {
        let factory = Factory::start(Behaviour::default());
        let tree = Tree::copy();
        std::fs::create_dir_all(tree.path("ee/appliance/dist")).unwrap();
        let before = tree.contents();
        let args = tree.image_args(&factory, &["--boot-media", media]);
        let output = on_small_disk(&tree, size, &args);
        assert_eq!(output.status.code(), Some(1), "{size}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains(expected), "{size}: {err}");
        assert!(!factory.saw("GET /image/"), "{size}: a body was asked for");
        assert_eq!(stdout(&output), "", "{size}: files left on the small disk");
        assert_unchanged(&tree, &before);
    }
}

/// A server that announces no length cannot be checked against the free space first: the
/// write fails when the disk is full, and the partial file is removed.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "needs Linux: user, mount and PID namespaces (unshare) and /proc"
)]
fn a_disk_that_fills_up_during_an_unannounced_body_leaves_nothing() {
    let factory = Factory::start(Behaviour::default().with("* /image/*.iso", Fault::NoLength));
    let tree = Tree::copy();
    std::fs::create_dir_all(tree.path("ee/appliance/dist")).unwrap();
    let before = tree.contents();
    let args = tree.image_args(&factory, &["--retries", "1"]);
    let output = on_small_disk(&tree, "256k", &args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(factory.saw("GET /image/"), "the body was asked for: {err}");
    assert!(
        err.contains("metal-amd64.iso") && err.to_lowercase().contains("space"),
        "{err}"
    );
    assert_eq!(stdout(&output), "", "files left on the full disk");
    assert_unchanged(&tree, &before);
}

/// Even a run that did not see the lock (another tree's run sharing the folder, a hand-made
/// file) cannot replace a manifest that appeared while it worked: it is put into place with
/// no-replace semantics, and the run takes back nothing of what it did not write.
#[test]
fn a_manifest_that_appears_meanwhile_is_never_replaced() {
    let tree = Tree::copy();
    let manifest = tree.path(MANIFEST);
    let written_meanwhile = "{\"written\": \"by another run\"}\n";
    let factory = Factory::start(Behaviour::default().with(
        REGISTRY_REQUESTS,
        Fault::Hook(Hook::new(move || {
            std::fs::write(&manifest, written_meanwhile).unwrap();
        })),
    ));
    let beta = tree.read(BETA);
    let output = tree.image(&factory, &BOTH);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("was recorded by another run meanwhile"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree.read(MANIFEST), written_meanwhile);
    assert_eq!(tree.read(BETA), beta);
    assert!(!tree.path(ISO).exists() && !tree.path(DISK).exists() && partials(&tree).is_empty());
}

/// A body that trickles a byte every 2 s never stalls outright; below --min-rate over the
/// --stall-timeout window each attempt is given up, and after the last nothing is left.
#[test]
fn a_trickling_download_is_abandoned_below_the_minimum_rate() {
    let factory = Factory::start(Behaviour::default().with(ISO_GETS, Fault::Trickle));
    let tree = Tree::copy();
    let before = tree.contents();
    let started = Instant::now();
    let output = tree.image(&factory, &["--stall-timeout", "2", "--retries", "2"]);
    let took = started.elapsed();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("below --min-rate 1024 bytes/s over --stall-timeout 2 s"),
        "{err}"
    );
    assert!(err.contains("gave up after 2 attempts"), "{err}");
    assert_eq!(factory.iso_requests().len(), 2);
    // Two windows of 2 s and the retry delay; a run that waited for the body would take a minute.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_unchanged(&tree, &before);
}

/// A slow but steady body above the minimum rate completes.
#[test]
fn a_slow_steady_download_above_the_minimum_rate_completes() {
    // 16 KiB every 50 ms: about 320 KiB/s, above a --min-rate of 64 KiB/s.
    let factory = Factory::start(slow(50));
    let tree = Tree::copy();
    let output = tree.image(&factory, &["--stall-timeout", "1", "--min-rate", "65536"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(recorded_sha256(&tree), factory.iso_sha256());
    assert_eq!(factory.iso_requests().len(), 1);
}

/// Waits at most `limit` for `child` to end; kills it (and fails) past that.
fn exit_within(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {limit:?} after the signal: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_on_a_run_piped_through_tee_whose_tee_died_first_exits_within_2_s_leaving_nothing() {
    let factory = Factory::start(slow(50));
    let tree = Tree::copy();
    let before = tree.contents();
    // `cargo xtask image 2>&1 | tee log`: Ctrl-C reaches the whole pipeline, and tee, the
    // reader, is often gone before the run writes its last line.
    let mut tee = Command::new("tee")
        .arg(tree.path("ee/appliance/dist-log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let args = tree.image_args(&factory, &BOTH);
    let mut child = tree
        .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::from(tee.stdin.take().unwrap()))
        .spawn()
        .unwrap();
    wait_for("two partial downloads", || {
        factory.iso_bytes_sent() > 0 && partials(&tree).len() == 2
    });
    tee.kill().unwrap();
    tee.wait().unwrap();
    let status = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(exit_within(&mut child, Duration::from_secs(2)), Some(130));
    std::fs::remove_file(tree.path("ee/appliance/dist-log")).unwrap();
    assert_unchanged(&tree, &before);
}

#[test]
fn a_run_whose_stderr_reader_is_gone_is_not_a_crash() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let real = tree.image_args(&factory, &[]);
    let real: Vec<&str> = real.iter().map(String::as_str).collect();
    for args in [&["validate"][..], &["image", "--dry-run"], &real] {
        let mut child = tree
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let code = exit_within(&mut child, Duration::from_secs(60));
        assert_eq!(code, Some(0), "{args:?} with stderr closed");
    }
    assert!(
        tree.path(MANIFEST).exists(),
        "the real run recorded its release"
    );
}

#[test]
fn an_intent_edited_while_the_media_download_is_never_written_over() {
    let factory = Factory::start(slow(20));
    let tree = Tree::copy();
    let intent = "ee/appliance/release.yaml";
    let child = spawn(&tree, &factory, &["--update-intent"]);
    wait_for("the download", || factory.iso_bytes_sent() > 0);
    let edited = tree
        .read(intent)
        .replace("app:\n  version: 0.1.0", "app:\n  version: 0.1.1");
    assert_ne!(
        edited,
        tree.read(intent),
        "the fixture has app.version 0.1.0"
    );
    tree.write(intent, &edited);
    let before = tree.contents();
    let (code, err, _) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("ee/appliance/release.yaml changed during the run")
            && err.contains("nothing is recorded"),
        "{err}"
    );
    assert_eq!(tree.read(intent), edited, "the edit is kept");
    assert!(!tree.path(MANIFEST).exists());
    let kept: Vec<(String, Vec<u8>)> = before
        .into_iter()
        .filter(|(f, _)| {
            !f.contains(".partial-")
                && !f.starts_with("ee/appliance/dist/0.1.0")
                && !f.ends_with(".release.lock")
        })
        .collect();
    assert_unchanged(&tree, &kept);
}
