//! The integration tests, one binary: each module drives the real `cargo xtask` binary against
//! loopback servers (`support`), so `tests/support` is compiled and linked once.
//!
//! Unix only: the tests drive the binary with Unix programs (git, kill, sh, sha256sum, tar,
//! unshare) and signals, and build trees with symlinks and modes. On Windows they are not
//! compiled, and `tests/windows.rs` reports them as ignored; what runs on Windows is the unit
//! tests, and under wine (`.ci/other-platforms`) `validate`, `image --dry-run` and a real release
//! against the loopback factory (`wine::`, below).
#![cfg(unix)]

mod support;

mod air_gap;
mod boot_media;
mod check;
mod hostile;
mod image;
mod lifecycle;
mod operator;
mod ownership;
mod pipeline;
mod provenance;
mod real_registry;
mod release_notes;
mod reliability;
mod signatures;
mod talos_catalog;
mod tidy;
mod tls;
mod untrusted;
mod upgrade;
mod validate;
mod wine;
