//! `cargo xtask-bench <benchmark>` (an alias of `cargo run -p xtask-bench --`, the dev profile
//! `cargo xtask` runs): the benchmarks of `cargo xtask`, not tests; their figures go to
//! docs/benchmarks.md. A crate of its own, so a contributor's first `cargo xtask` does not
//! compile it.
//! - `download` measures the ISO download path (stream, hash, write, rename) against
//!   `curl -o FILE URL && sha256sum FILE` on a loopback server, and reports throughput, the
//!   ratio and our peak memory (download.rs);
//! - `release` measures how much of the factory's build time a release and a check pay
//!   (release.rs);
//! - `build` measures a cold build of xtask against its bare dependency set (build.rs);
//! - `bundle` measures the air-gap bundle's fetch and pack against the download path
//!   (bundle.rs).
//!
//! Unix only (Linux, macOS): they take a child's peak memory from `wait4` and flush the page
//! cache with `sync`. On Windows the binary says so and exits 1.

/// A line on stderr that never panics (a closed reader loses the line, not the run).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
#[cfg(unix)]
pub(crate) use say;

#[cfg(unix)]
mod build;
#[cfg(unix)]
mod bundle;
#[cfg(unix)]
mod cli;
#[cfg(unix)]
mod download;
#[cfg(unix)]
mod factory;
#[cfg(unix)]
mod release;

use std::process::ExitCode;

#[cfg(not(unix))]
fn main() -> ExitCode {
    say!(
        "error: the benchmarks run on Linux and macOS (they measure with wait4, getrusage and sync)"
    );
    ExitCode::FAILURE
}

#[cfg(unix)]
fn main() -> ExitCode {
    use clap::Parser;
    use cli::{Cli, Command};

    let cli = Cli::parse();
    let result = xtask::project::root().and_then(|root| {
        let root = root.path.as_path();
        match cli.command {
            Command::Download(args) => args.run(root),
            Command::Release(args) => args.run(root),
            Command::Build(args) => args.run(root),
            Command::Bundle(args) => args.run(root),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
