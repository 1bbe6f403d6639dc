//! The `cargo xtask` binary: everything it does is in the library (`lib.rs`).

fn main() -> std::process::ExitCode {
    xtask::run()
}
