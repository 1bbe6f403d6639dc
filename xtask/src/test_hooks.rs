//! The only ways the tests steer the production binary, each an environment variable that is
//! unset in real use. Listed here, with why, so nobody has to find them in the code.

use std::path::PathBuf;
use std::time::Duration;

/// `XTASK_PROJECT_ROOT`: the tree to work on instead of the one this binary was built in. The
/// integration tests run the binary on a scratch copy of `ee/appliance`, never on the checkout.
const PROJECT_ROOT: &str = "XTASK_PROJECT_ROOT";

/// `XTASK_TEST_RECORD_PAUSE_MS`: a pause inside the record step, after the media are renamed
/// into place and before `SHA256SUMS`, manifest and channel. The step otherwise takes
/// microseconds; the pause lets a test land a signal there (it waits for the step) or a
/// SIGKILL (the next run rolls the step back).
const RECORD_PAUSE_MS: &str = "XTASK_TEST_RECORD_PAUSE_MS";

/// `XTASK_TEST_HEARTBEAT_MS`: how often a CI log is told that a build is still going, instead
/// of every minute, so a test sees the line without waiting a minute.
const HEARTBEAT_MS: &str = "XTASK_TEST_HEARTBEAT_MS";

/// How often the plain progress lines say "still building": a minute, unless a test asks.
pub fn heartbeat() -> Duration {
    std::env::var(HEARTBEAT_MS)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

pub fn project_root() -> Option<PathBuf> {
    std::env::var_os(PROJECT_ROOT).map(PathBuf::from)
}

/// Sleeps inside the record step when a test asked for it, and says so.
pub fn pause_in_record_step() {
    if let Some(ms) = std::env::var(RECORD_PAUSE_MS)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        crate::util::say!("record step: pausing {ms} ms ({RECORD_PAUSE_MS})");
        std::thread::sleep(Duration::from_millis(ms));
    }
}
