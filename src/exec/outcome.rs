//! The outcome lattice and the results the executor emits.

use crate::client::Exchange;
use crate::plan::CheckInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Disabled < Skipped < Passed < Warned < Failed < Errored; a parent is the max of its
/// children. Warned: the registry broke a SHOULD or referee's stated reading, not a MUST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Disabled,
    Skipped,
    Passed,
    Warned,
    Failed,
    Errored,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Disabled => "DISABLED",
            Outcome::Skipped => "SKIP",
            Outcome::Passed => "PASS",
            Outcome::Warned => "WARN",
            Outcome::Failed => "FAIL",
            Outcome::Errored => "ERROR",
        }
    }
}

/// One check's verdict with its evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    #[serde(flatten)]
    pub info: CheckInfo,
    pub outcome: Outcome,
    /// Why it is not Passed (or, for Passed, empty).
    pub reason: String,
    /// Observations worth knowing that do not change the verdict (INFO/WARN).
    pub notes: Vec<String>,
    pub measurements: BTreeMap<String, f64>,
    pub transcript: Vec<Exchange>,
    pub duration_ms: u64,
}

/// Something referee pushed and could not delete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Residue {
    pub repository: String,
    pub reference: String,
    pub kind: String,
    pub why: String,
}

/// What the probe observed about an optional capability.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapabilityStatus {
    pub name: String,
    pub supported: bool,
    pub observed: String,
}

/// Everything a run produced; every reporter reads only this. Versioned for later readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub format_version: u32,
    pub referee_version: String,
    pub target: String,
    pub embedded: bool,
    /// The vendor profile the verdicts were judged against.
    #[serde(default)]
    pub profile: String,
    pub run_id: String,
    pub started_unix_ms: u128,
    pub duration_ms: u64,
    pub capabilities: Vec<CapabilityStatus>,
    pub checks: Vec<CheckResult>,
    pub residue: Vec<Residue>,
    /// A run-wide harness problem (unreachable registry, bad credentials).
    pub run_error: Option<String>,
    /// The run was stopped (Ctrl-C, SIGTERM) before it finished: the checks it did not finish
    /// are Errored with the reason "interrupted", and what it pushed was cleaned up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// For `referee graph`: the seed, the cases, the counterexample written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphSummary>,
}

/// What a `referee graph` run generated, so a failure can be found again: the seed and case
/// count regenerate the same graphs; the counterexample file replays the shrunk one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GraphSummary {
    pub seed: u64,
    pub cases: u32,
    /// Cases run (fewer when interrupted), shrinking steps not counted.
    pub cases_run: u32,
    /// `api` or `fallback`.
    pub mode: String,
    /// The case that failed first (1-based), its graph's size, and the shrunk graph's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_case: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_nodes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk_nodes: Option<usize>,
    /// Shrinking steps run.
    pub shrink_steps: u32,
    /// The scenario file that replays the shrunk counterexample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<String>,
    /// The command that replays it (with the embedded registry's faults, or the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

impl RunReport {
    /// A report of nothing yet: started now, no checks, no capabilities, no residue.
    pub fn new(target: String, embedded: bool, profile: String, run_id: String) -> RunReport {
        RunReport {
            format_version: 1,
            referee_version: env!("CARGO_PKG_VERSION").into(),
            target,
            embedded,
            profile,
            run_id,
            started_unix_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
            duration_ms: 0,
            capabilities: vec![],
            checks: vec![],
            residue: vec![],
            run_error: None,
            interrupted: false,
            graph: None,
        }
    }

    pub fn outcome(&self) -> Outcome {
        let worst = self.checks.iter().map(|c| c.outcome).max().unwrap_or(Outcome::Disabled);
        if self.run_error.is_some() { Outcome::Errored } else { worst }
    }

    pub fn count(&self, o: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == o).count()
    }
}

/// Events as the run goes; reporters that stream (the terminal) consume these.
#[derive(Debug)]
pub enum RunEvent<'a> {
    Probed(&'a [CapabilityStatus]),
    ScenarioStarted { id: &'a str, repository: &'a str },
    CheckFinished(&'a CheckResult),
    /// The harness could not run at all (the registry cannot be reached or used): why, and how
    /// many checks are therefore Errored in the reports.
    RunFailed { error: &'a str, checks: usize },
}
