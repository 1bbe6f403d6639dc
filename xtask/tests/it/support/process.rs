//! Running the binary as a user would and as pipelines do: outputs, spawned children, signals,
//! the "nothing changed" and "nothing left" checks, and a child's peak memory.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Runs a release that must fail and checks that it leaves the tree exactly as it was: exit
/// code 1, and every file below the tree with the bytes it had (no manifest, medium,
/// SHA256SUMS or partial file added, none removed or changed, the channels unmoved).
pub fn fails_cleanly(tree: &Tree, factory: &Factory, extra: &[&str]) -> Output {
    let before = tree.contents();
    let output = tree.image(factory, extra);
    assert!(
        !output.status.success(),
        "the run should fail: {}",
        stderr(&output)
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_unchanged(tree, &before);
    output
}

/// Every file below the tree has the bytes it had in `before`, and there is no other.
pub fn assert_unchanged(tree: &Tree, before: &[(String, Vec<u8>)]) {
    let after = tree.contents();
    let names = |c: &[(String, Vec<u8>)]| c.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&after),
        names(before),
        "files were left behind or removed"
    );
    for ((file, now), (_, was)) in after.iter().zip(before) {
        assert!(
            now == was,
            "{file} changed ({} bytes, was {})",
            now.len(),
            was.len()
        );
    }
}

pub fn spawn(tree: &Tree, factory: &Factory, extra: &[&str]) -> Child {
    let args = tree.image_args(factory, extra);
    tree.command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xtask")
}

/// Starts `cargo xtask <args>` on `tree` with a long pause inside the record step, and returns
/// once it is there (after the media were renamed into place, before the manifest and the
/// channel), for a test to kill it at that point.
pub fn spawn_inside_record_step(tree: &Tree, args: &[String]) -> Child {
    let mut child = tree
        .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .env("XTASK_TEST_RECORD_PAUSE_MS", "20000")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xtask");
    let lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    for line in lines.map_while(Result::ok) {
        if line.contains("record step: pausing") {
            break;
        }
    }
    child
}

/// Waits (bounded) until `ready` holds.
pub fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never saw {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn partials(tree: &Tree) -> Vec<String> {
    tree.files()
        .into_iter()
        .filter(|f| f.contains(".partial-"))
        .collect()
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {name}");
}

/// Waits for the child (bounded), returning its exit code, stderr and how long it took.
pub fn finish(child: Child) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let output = child.wait_with_output().expect("wait for xtask");
    (output.status.code(), stderr(&output), start.elapsed())
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `command` to its end, returning its exit code, stderr and its own peak RSS in KiB.
///
/// Measured one process removed: Linux keeps, across `execve`, the peak RSS of the memory the
/// process had before it (`signal->maxrss`), and a child spawned straight from this test
/// binary starts in this binary's memory (vfork), so `wait4` on it would report the test
/// harness's peak, which grows with every test run beside it. A small Python process forks
/// the command instead and reports its children's peak, at most its own ~10 MiB too high
/// (`ru_maxrss` is KiB on Linux and bytes on macOS; the script reports KiB on both).
pub fn run_measured(command: Command) -> (Option<i32>, String, u64) {
    const MEASURE: &str = "import os, resource, sys\n\
pid = os.fork()\n\
if pid == 0:\n    os.execvp(sys.argv[2], sys.argv[2:])\n\
_, status = os.waitpid(pid, 0)\n\
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
peak = peak // 1024 if sys.platform == 'darwin' else peak\n\
open(sys.argv[1], 'w').write(str(peak))\n\
sys.exit(os.waitstatus_to_exitcode(status) % 256)\n";
    let report = std::env::temp_dir().join(format!(
        "xtask-peak-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut python = Command::new("python3");
    python.args(["-c", MEASURE]).arg(&report);
    let mut wrapped = wrap(python, &command);
    let output = wrapped.stdout(Stdio::null()).output().expect("run python3");
    let peak = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no peak RSS reported ({e}): {}", stderr(&output)));
    let _ = std::fs::remove_file(&report);
    (
        output.status.code(),
        stderr(&output),
        peak.trim().parse().expect("ru_maxrss in KiB"),
    )
}

/// `outer` (a program and its first arguments) running `inner`: `inner`'s program and
/// arguments appended, its environment changes and working folder carried over.
pub fn wrap(mut outer: Command, inner: &Command) -> Command {
    outer.arg(inner.get_program()).args(inner.get_args());
    for (name, value) in inner.get_envs() {
        match value {
            Some(value) => outer.env(name, value),
            None => outer.env_remove(name),
        };
    }
    if let Some(dir) = inner.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

/// `sha256sum -c SHA256SUMS` in `folder`, as someone writing a stick would run it (macOS:
/// `shasum -a 256 -c`, which reads the same file).
pub fn sha256sum_check(folder: &std::path::Path) -> Output {
    let mut command = if cfg!(target_os = "macos") {
        let mut shasum = std::process::Command::new("shasum");
        shasum.args(["-a", "256"]);
        shasum
    } else {
        std::process::Command::new("sha256sum")
    };
    command
        .args(["-c", "SHA256SUMS"])
        .current_dir(folder)
        .output()
        .expect("run sha256sum")
}
