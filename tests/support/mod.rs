//! Shared helpers for the integration tests (`mod support;`).
#![allow(dead_code)]

pub mod browser;
pub mod external;
