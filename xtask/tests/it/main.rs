//! The integration tests, one binary: each module drives the real `cargo xtask` binary against
//! loopback servers (`support`), so `tests/support` is compiled and linked once.

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
