//! On Windows the integration tests (`tests/it`) are not compiled: they drive the binary with
//! Unix programs (git, kill, sh, sha256sum, tar, unshare) and signals. This test stands for
//! them, so a Windows run reports them as ignored rather than as passed or absent.
#![cfg(windows)]

#[test]
#[ignore = "the integration tests (tests/it) need Unix programs and signals; Linux and macOS run them, and .ci/other-platforms runs the Windows build under wine"]
fn integration_tests_run_on_unix_only() {
    unreachable!("ignored on purpose: see the reason");
}
