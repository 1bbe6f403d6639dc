//! `cargo xtask`: the appliance's image tooling, as a library the binary (`main.rs`) runs and
//! the benchmarks (`xtask/bench`, a crate of their own, so a contributor's first `cargo xtask`
//! does not compile them) drive. This file declares the modules, parses the command line,
//! finds the project root and dispatches to one module per task. The modules sit in layers
//! (data → plan → stages → tasks → root), each importing only from the layers below it; which
//! module is in which layer is `LAYERS` in `tests/it/tidy.rs`, which fails `cargo test` when a
//! module is in none or imports upwards. The modules the benchmarks use are `pub`.

pub mod cli;
pub mod host;
pub mod image;
mod json_schema;
#[cfg(test)]
mod mutate;
pub mod project;
mod release;
mod release_notes;
mod schematic;
mod talos_catalog;
mod test_hooks;
pub mod util;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// The whole of `cargo xtask`: parse, find the project root, dispatch, map the outcome to an
/// exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = project::root().and_then(|root| dispatch(cli.command, &root));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`cargo xtask image --dry-run | head -1`) has what it
        // wanted: the rest is not printed, and that is no failure.
        Err(error) if error.downcast_ref::<util::StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(error) => {
            // Workers of a failed run may still be waiting on the network with temporary
            // files open: those files go now, and nothing is put in place any more.
            host::interrupt::abandon();
            crate::util::say!("error: {error:#}");
            if error.downcast_ref::<release::Drift>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn dispatch(command: Command, root: &project::Root) -> anyhow::Result<()> {
    match command {
        Command::Image(args) => args.run(root),
        Command::Fetch(args) => args.run(root),
        Command::Channel(args) => args.run(root),
        Command::Validate(args) => args.run(&root.path),
        Command::ReleaseNotes(args) => args.run(&root.path),
        Command::TalosCatalog(args) => args.run(&root.path),
    }
}
