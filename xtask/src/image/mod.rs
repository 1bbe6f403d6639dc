//! The image domain: what a release is made of and how each part is checked, from the intent
//! and the Talos catalogue (data), through the plan, to the stages that talk to the factory and
//! its registry and write the media. The commands in `release` drive these.

pub mod build;
pub mod bundle;
pub(crate) mod catalog;
pub(crate) mod channel;
pub(crate) mod channel_move;
pub mod digest;
pub mod download;
pub(crate) mod factory;
pub(crate) mod image_ref;
pub(crate) mod intent;
pub(crate) mod manifest;
pub mod plan;
pub(crate) mod registry;
pub(crate) mod release_lock;
pub(crate) mod signature;
pub(crate) mod sigstore_ring;
pub mod talos;
pub(crate) mod trust;
pub(crate) mod upgrade;
pub mod version;
