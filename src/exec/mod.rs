//! Running a plan: steps against a registry, expectations, the outcome lattice, cleanup.
//! The main entry point is [`run`]; results are a [`RunReport`] plus a [`RunEvent`] stream.

pub mod expect;
pub mod hooks;
pub mod outcome;
pub mod run;

pub use outcome::{CapabilityStatus, CheckResult, Outcome, Residue, RunEvent, RunReport};
pub use run::{RunOptions, new_run_id, run};
