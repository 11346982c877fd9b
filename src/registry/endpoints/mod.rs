//! The `/v2/<name>/…` endpoint families, one module each.
//!
//! Every endpoint is a synchronous function that `routing::dispatch` calls after parsing, validation and authentication; it
//! works on the locked store and applies its faults next to the rules they break.

pub mod blobs;
pub mod manifests;
pub mod referrers;
pub mod tags;
pub mod uploads;
