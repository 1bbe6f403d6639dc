//! Test support: an in-process Image Factory on 127.0.0.1 that speaks the factory's protocol
//! (`factory`, with the Sigstore bundles of `sigstore`), an OCI registry (`oci`), a scratch copy
//! of the appliance tree for the binary to work on (`tree`), and the processes it runs
//! (`process`).

use sha2::{Digest, Sha256};

mod factory;
mod oci;
mod process;
mod sigstore;
mod tree;

pub use factory::*;
pub use oci::*;
pub use process::*;
pub use sigstore::*;
pub use tree::*;

/// The lowercase hex SHA-256 of `bytes`, as sha256sum prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
