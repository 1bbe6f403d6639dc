//! `cargo xtask`: the appliance's image tooling. This file parses the command line, finds the
//! project root and dispatches to one module per task.

mod bench;
mod channel;
mod check;
mod download;
mod factory;
mod fsutil;
mod http;
mod image;
mod intent;
mod interrupt;
mod manifest;
mod plan;
mod project;
mod registry;
mod release_lock;
mod release_notes;
mod schematic;
mod signature;
mod sigstore_ring;
mod talos;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turns the appliance's image intent (ee/appliance) into verified Talos Linux boot media from
/// the Sidero Labs Image Factory.
///
/// Exit codes: 0 success; 1 the run failed or the input is invalid (the message says which
/// file and how to fix it; also when another release runs in the same tree); 2 the command line
/// is wrong; 3 `image --check` found drift; 128 + n stopped by signal n (130 SIGINT, 143
/// SIGTERM, 129 SIGHUP), having removed what it wrote.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about,
    long_about
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Image(Box<image::ImageArgs>),
    Validate(validate::ValidateArgs),
    ReleaseNotes(release_notes::ReleaseNotesArgs),
    BenchDownload(bench::BenchDownloadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = project::root();
    let result = match cli.command {
        Command::Image(args) => args.run(&root),
        Command::Validate(args) => args.run(&root),
        Command::ReleaseNotes(args) => args.run(&root),
        Command::BenchDownload(args) => args.run(&root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<check::Drift>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
