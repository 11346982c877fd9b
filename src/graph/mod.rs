//! Property-based testing of registries with generated artifact graphs (`referee graph`).
//!
//! - `model`: [`Graph`] (nodes whose edges point only at earlier nodes, the push order in
//!   concurrent groups, deletes), [`Model`] (the exact bytes of every node; the referrers a
//!   registry must list, filtered or not; the fallback index; reverse edges) and
//!   `listed_referrers`, the one rule of what a referrers list holds, which the executor's
//!   `manifests: { model: true }` uses too.
//! - `strategy`: proptest strategies for graphs, with fan-out as a parameter of its own.
//! - `scenario`: a graph as a normal scenario file (what each case runs, and the counterexample).
//! - `run`: `referee graph` — cases against a registry, shrinking, the counterexample file.
//! - `reverse`: the reverse walk (who points at a digest) against a registry, and its model.

pub mod model;
pub mod reverse;
pub mod run;
pub mod scenario;
pub mod strategy;

pub use model::{Graph, Model, Node, NodeKind};
pub use strategy::{GraphParams, graph};
