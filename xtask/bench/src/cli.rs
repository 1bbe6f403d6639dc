//! The benchmarks' command line: one subcommand per benchmark.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Benchmarks of `cargo xtask`; their figures go to docs/benchmarks.md.
#[derive(Parser)]
#[command(name = "xtask-bench", bin_name = "cargo xtask-bench", about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Download(BenchDownloadArgs),
    Release(BenchReleaseArgs),
    Build(BenchBuildArgs),
    Bundle(BenchBundleArgs),
}

/// Benchmark the ISO download path against curl + sha256sum on loopback.
#[derive(Args, Debug)]
pub struct BenchDownloadArgs {
    /// Size of the served file, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// Runs of each path; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
}

/// Benchmark the air-gap bundle's fetch (blobs by digest, checked as they stream, then packed
/// into the tar) against the media download path, on one loopback server; prints both
/// throughputs and the peak memory.
#[derive(Args, Debug)]
pub struct BenchBundleArgs {
    /// Size of the image's layers together, in MiB (the ISO served to the download path has
    /// the same size).
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// How many layers the image has.
    #[arg(long, default_value_t = 8)]
    pub layers: u64,
    /// Runs of each path; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
}

/// Benchmark a cold build: xtask and the bare dependency set (xtask/bench-baseline), each from
/// an empty target folder, alternately; prints both, the ratio, and xtask's slowest units.
#[derive(Args, Debug)]
pub struct BenchBuildArgs {
    /// Builds of each crate; the best is reported.
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
}

/// Benchmark a release and a check of ISO + disk image + installer against a loopback factory
/// that builds each asset on its first request: cold against warm, as a share of the builds.
#[derive(Args, Debug)]
pub struct BenchReleaseArgs {
    /// How long the factory builds each asset on its first request, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub build_delay_ms: u64,
    /// Size of each medium served, in MiB.
    #[arg(long, default_value_t = 64)]
    pub size_mib: u64,
    /// Runs of each case; the best is reported.
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// The xtask binary to measure, e.g. one built from an earlier commit [default: this
    /// checkout's, built now in the dev profile]
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}
