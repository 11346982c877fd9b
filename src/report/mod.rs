//! Reporters over a finished [`RunReport`](crate::exec::RunReport) (and, for the terminal,
//! the event stream): terminal, JUnit (quick-junit), `results.json` and `report.html`. They never send requests.

pub mod html;
pub mod json;
pub mod junit;
pub mod matrix;
pub mod progress;
pub mod terminal;

pub use terminal::Terminal;

use crate::exec::{CheckResult, Outcome, RunReport};

/// The capability a check requires that the probe found missing: such a check is Skipped for
/// that reason alone (the executor checks capabilities first), so a reporter can say so in a few
/// words instead of repeating the probe's observation.
pub fn lacking_capability(requires: &[crate::scenario::Capability], lacking: &[String]) -> Option<&'static str> {
    requires.iter().map(|c| c.name()).find(|c| lacking.iter().any(|l| l == c))
}

/// The capabilities the probe of `report` found missing.
pub fn lacking(report: &RunReport) -> Vec<String> {
    report.capabilities.iter().filter(|c| !c.supported).map(|c| c.name.clone()).collect()
}

/// The checks by area, areas in the order the library first names them; Disabled checks (left
/// out by `--filter`) are not reported.
pub fn by_area(checks: &[CheckResult]) -> Vec<(&str, Vec<&CheckResult>)> {
    let mut out: Vec<(&str, Vec<&CheckResult>)> = vec![];
    for c in checks.iter().filter(|c| c.outcome != Outcome::Disabled) {
        match out.iter_mut().find(|(a, _)| *a == c.info.area) {
            Some((_, v)) => v.push(c),
            None => out.push((c.info.area.as_str(), vec![c])),
        }
    }
    out
}
