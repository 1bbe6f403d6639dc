//! What the tool does with the machine it runs on, whatever it builds: files written
//! atomically and durably, HTTP with retries and bounds, progress on a terminal, and signals
//! that cancel a run cleanly.

pub mod fsutil;
pub mod http;
pub mod interrupt;
pub mod os;
pub mod progress;
