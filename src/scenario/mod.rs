//! Scenario files: the YAML format ([`ScenarioFile`]), loading, and diagnostics that point at
//! `file:line:col`.

pub mod ast;
pub mod diag;
pub mod load;

pub use ast::*;
pub use diag::Diagnostic;
pub use load::{LoadError, Loaded, load_all, parse};
