//! Running a plan: steps against a registry, expectations, the outcome lattice, cleanup.
//! The main entry point is [`run`]; results are a [`RunReport`] plus a [`RunEvent`] stream.
//!
//! - `run`: the run and each scenario (probe, fresh repositories, verdicts, cleanup).
//! - `step`: one step — dependencies, sending (`steps`), judging, consequences for later steps.
//! - `steps`: one module per family of step kinds, validation next to execution.
//! - `context`: what a scenario knows while it runs ([`context::Ctx`]).
//! - `expect`: judging one observation against one expectation; `listing`: its listing part.
//! - `verdict`, `measure`: how judgements and measurements add up to a check's verdict.
//! - `declares`: the profile's declarations and referee's defaults.
//! - `hooks`: running lifecycle hooks; `cleanup`: deleting what a run pushed; `outcome`: results.

pub mod cleanup;
pub mod context;
pub mod declares;
pub mod expect;
pub mod hooks;
pub mod listing;
pub mod measure;
pub mod outcome;
pub mod run;
pub mod step;
pub mod steps;
pub mod verdict;

pub use context::new_run_id;
pub use declares::Declares;
pub use outcome::{CapabilityStatus, CheckResult, Outcome, Residue, RunEvent, RunReport};
pub use run::{DEFAULT_JOBS, Progress, ProgressSink, RunOptions, run, runs_alone};
