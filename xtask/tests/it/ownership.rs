//! The record step and its recovery touch only what the run wrote: a manifest another process
//! wrote meanwhile stays, a failed step leaves no backup link and no folder it made, recovery
//! leaves a target that changed since the run died, and a run that is PID 1 in a container
//! still recovers the one before it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/9.9.9.json";
const CHANNEL: &str = "ee/appliance/releases/channels/beta.json";

/// `command` (an xtask run) started with a pause of `pause_ms` inside the record step; returns
/// once it is there, after the media were renamed into place, with the rest of its stderr
/// read on a thread (so the run never writes to a closed pipe).
fn paused(mut command: Command, pause_ms: &str) -> (Child, JoinHandle<String>) {
    let mut child = command
        .env("XTASK_TEST_RECORD_PAUSE_MS", pause_ms)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xtask");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if line.contains("record step: pausing") {
            break;
        }
    }
    let rest = std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        rest.join("\n")
    });
    (child, rest)
}

fn release(tree: &Tree, factory: &Factory, version: &str) -> Command {
    let args = tree.image_args(factory, &["--release-version", version]);
    tree.command(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_manifest_another_process_wrote_during_the_record_step_is_kept() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    let before = tree.contents();
    let (mut child, rest) = paused(release(&tree, &factory, "9.9.9"), "5000");
    tree.write(MANIFEST, "{\"written\": \"by another process\"}\n");
    let status = child.wait().unwrap();
    let err = rest.join().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("File exists"), "{err}");
    let mut expected = before;
    expected.push((
        MANIFEST.to_string(),
        b"{\"written\": \"by another process\"}\n".to_vec(),
    ));
    expected.sort();
    // The other manifest as it was written, the media the run placed gone, and with them the
    // folder it made; no backup link, no journal.
    assert_unchanged(&tree, &expected);
    assert!(!tree.path("ee/appliance/dist/9.9.9").exists());
}

#[test]
fn a_failed_record_step_leaves_no_backup_link() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    // A folder where SHA256SUMS goes: the record step fails after the channel's backup link.
    tree.write("ee/appliance/dist/0.2.0/SHA256SUMS/keep", "x");
    let before = tree.contents();
    let output = tree.image(&factory, &["--release-version", "0.2.0"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_unchanged(&tree, &before);
    assert!(partials(&tree).is_empty(), "{:?}", partials(&tree));

    // (The folder a run made goes too: the first test.)
}

#[test]
fn recovery_leaves_a_target_that_changed_since_the_run_died() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let (mut child, _) = paused(release(&tree, &factory, "9.9.9"), "20000");
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    let iso = "ee/appliance/dist/9.9.9/metal-amd64.iso";
    assert!(tree.path(iso).exists(), "the kill landed after the media");
    // Meanwhile, as a `git pull` and an operator would: a committed manifest and channel
    // arrive, and the ISO is edited in place (the same inode and size, other bytes).
    tree.write(MANIFEST, "{\"committed\": true}\n");
    tree.write(
        CHANNEL,
        "{\n  \"channel\": \"beta\",\n  \"releaseVersion\": \"9.9.9\"\n}\n",
    );
    {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(tree.path(iso))
            .unwrap();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(b"edited").unwrap();
    }
    let before = tree.contents();

    // The next real run recovers first, then stops: 0.1.0 is recorded.
    let again = tree.image(&factory, &["--release-version", "0.1.0"]);
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rolled back the record step of a run killed inside it")
            && err.contains(&format!(
                "left as they are, since they are no longer the files that run put there: {iso}"
            )),
        "{err}"
    );
    // Everything that changed meanwhile is as it was made; only the journal, the backup links
    // and the stale lock file the dead run left are gone.
    let kept: Vec<(String, Vec<u8>)> = before
        .into_iter()
        .filter(|(file, _)| {
            !file.contains(".record-")
                && !file.contains(".previous.partial-")
                && !file.ends_with(".release.lock")
        })
        .collect();
    assert_unchanged(&tree, &kept);
}

/// The outer PID of the process that is PID 1 in the namespace `unshare` (PID `outer`) made.
fn namespace_init(outer: u32) -> u32 {
    let children = format!("/proc/{outer}/task/{outer}/children");
    let read = || std::fs::read_to_string(&children).unwrap_or_default();
    wait_for("the namespace's first process", || {
        !read().trim().is_empty()
    });
    read().split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "needs Linux: user, mount and PID namespaces (unshare) and /proc"
)]
fn a_run_that_is_pid_1_recovers_the_killed_pid_1_before_it() {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&factory, &[]);
    let before = tree.contents();
    let in_namespace = |version: &str| {
        let mut unshare = Command::new("unshare");
        unshare.args(["-rpf", "--mount-proc"]);
        wrap(unshare, &release(&tree, &factory, version))
    };
    let (mut child, _) = paused(in_namespace("9.9.9"), "20000");
    let init = namespace_init(child.id());
    let killed = Command::new("kill")
        .args(["-s", "KILL", &init.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    assert!(
        tree.files().iter().any(|f| f.contains(".record-")),
        "the killed run left its journal"
    );

    // Another PID 1: it holds the lock, so the journal is a dead run's whatever its PID was.
    let output = in_namespace("0.1.0").output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("rolled back the record step"), "{err}");
    assert!(err.contains("already recorded"), "{err}");
    assert_unchanged(&tree, &before);
}
