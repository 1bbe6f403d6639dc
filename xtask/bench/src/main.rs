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

/// A line on stderr that never panics (a closed reader loses the line, not the run).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

mod build;
mod bundle;
mod cli;
mod download;
mod factory;
mod release;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
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
