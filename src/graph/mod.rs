//! Property-based testing of registries with generated artifact graphs (issue 12; in progress).
//!
//! - `model`: [`Graph`] (nodes whose edges point only at earlier nodes, the push order in
//!   concurrent groups, deletes) and [`Model`] (the exact bytes of every node; the referrers a
//!   registry must list, filtered or not; the fallback index; reverse edges).
//! - `strategy`: proptest strategies for graphs, with fan-out as a parameter of its own.
//!
//! Not yet built: `referee graph` (running a case against a registry, shrinking, writing the
//! counterexample as a scenario file) and the reverse walk against a registry.

pub mod model;
pub mod strategy;

pub use model::{Graph, Model, Node, NodeKind};
pub use strategy::{GraphParams, graph};
