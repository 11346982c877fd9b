//! Scenario files: the YAML format ([`ScenarioFile`], [`Step`] with one [`Action`], [`Expect`]),
//! loading, and diagnostics that point at `file:line:col`.
//!
//! - `ast`: the file, its checks, [`Step`] and [`Action`] (one variant per step kind).
//! - `actions`: the options of each step kind.
//! - `expect`: what an answer must look like ([`Expect`] and its parts).
//! - `step_serde`: a step's YAML form (one action key beside `checks` and `stop_if`).
//! - `load`, `diag`: reading files (and the library built into the binary), errors with line,
//!   column and a did-you-mean.
//! - `reference`: the language reference generated from this code (`referee help scenario`).

pub mod actions;
pub mod ast;
pub mod diag;
pub mod expect;
pub mod load;
pub mod reference;
mod step_serde;

pub use actions::*;
pub use ast::*;
pub use diag::Diagnostic;
pub use expect::*;
pub use load::{LoadError, Loaded, load_all, load_builtin, parse};
