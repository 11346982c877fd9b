//! referee: a conformance and load-test harness for OCI registries and their reference types.
//!
//! ```text
//! scenario files ──parse──▶ Scenario (typed AST) ──plan──▶ Plan (checks with ids and rules)
//!       ──exec (client ⇄ registry)──▶ RunEvent stream + RunReport ──▶ reporters (terminal, JUnit, JSON)
//! ```
//!
//! Entry points: [`app::run`] (what `referee run` does), [`registry::EmbeddedRegistry`] (the
//! reference registry with fault switches), [`client::Client`] (raw HTTP to any registry).

pub mod app;
pub mod assertions;
pub mod cli;
pub mod client;
pub mod config;
pub mod exec;
pub mod exit;
pub mod graph;
pub mod layout;
pub mod load;
pub mod oci;
pub mod plan;
pub mod profile;
pub mod registry;
pub mod report;
pub mod scenario;
