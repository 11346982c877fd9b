//! The terminal reporter: a line per check (id, verdict, reason) as checks finish, then a
//! summary. Colour only when stdout is a terminal.

use crate::exec::{Outcome, RunEvent, RunReport};
use std::io::{IsTerminal, Write};

/// A check that needs a capability the probe found missing is Skipped for that reason alone
/// (the executor checks capabilities first): the terminal refers to the probe's line instead of
/// repeating its observation (the reports keep it).
fn lacking_line(requires: &[crate::scenario::Capability], lacking: &[String]) -> Option<String> {
    let cap = super::lacking_capability(requires, lacking)?;
    Some(format!("requires {cap}, which the registry lacks (see the probe's {cap} line above)"))
}

pub struct Terminal {
    color: bool,
    verbose: bool,
    /// The capabilities the probe found missing.
    lacking: std::sync::Mutex<Vec<String>>,
}

impl Terminal {
    pub fn new(verbose: bool) -> Terminal {
        Terminal { color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(), verbose, lacking: Default::default() }
    }

    fn paint(&self, o: Outcome) -> String {
        let label = format!("{:<5}", o.label());
        if !self.color {
            return label;
        }
        let code = match o {
            Outcome::Passed => "32",
            Outcome::Warned => "36",
            Outcome::Skipped | Outcome::Disabled => "33",
            Outcome::Failed => "31",
            Outcome::Errored => "35",
        };
        format!("\x1b[{code}m{label}\x1b[0m")
    }

    pub fn event(&self, ev: RunEvent) {
        let mut out = std::io::stdout().lock();
        match ev {
            RunEvent::Probed(caps) => {
                if let Ok(mut l) = self.lacking.lock() {
                    *l = caps.iter().filter(|c| !c.supported).map(|c| c.name.clone()).collect();
                }
                for c in caps {
                    let _ = writeln!(out, "probe  {:<14} {}  ({})", c.name, if c.supported { "yes" } else { "no" }, c.observed);
                }
            }
            RunEvent::ScenarioStarted { id, repository } => {
                if self.verbose {
                    let _ = writeln!(out, "--- {id} in {repository}");
                }
            }
            RunEvent::RunFailed { error, checks } => {
                let _ = writeln!(std::io::stderr(), "error: {error}\n       no check could run: all {checks} are Errored in the reports");
            }
            RunEvent::CheckFinished(r) => {
                let mut line = format!("{} {:<4} {:<7} {}", self.paint(r.outcome), r.info.id, r.info.keyword_str(), r.info.title);
                if !r.reason.is_empty() && r.outcome != Outcome::Passed {
                    let lacking = self.lacking.lock().map(|l| l.clone()).unwrap_or_default();
                    let short = (r.outcome == Outcome::Skipped).then(|| lacking_line(&r.info.requires, &lacking)).flatten();
                    line.push_str(&format!("\n             {}", short.unwrap_or_else(|| r.reason.clone())));
                }
                let _ = writeln!(out, "{line}");
                if self.verbose {
                    for n in &r.notes {
                        let _ = writeln!(out, "             note: {n}");
                    }
                    if !r.measurements.is_empty() {
                        let m: Vec<String> = r.measurements.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let _ = writeln!(out, "             measured: {}", m.join(", "));
                    }
                }
            }
        }
    }

    pub fn summary(&self, report: &RunReport, files: &[String]) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out);
        // A run that could not start said why once, as it stopped.
        if let Some(e) = &report.run_error
            && report.count(Outcome::Errored) < report.checks.len()
        {
            let _ = writeln!(out, "run error: {e}");
        }
        if report.interrupted {
            let left = if report.residue.is_empty() { "" } else { ", except what is listed below" };
            let _ = writeln!(out, "interrupted: the checks not finished are Errored (\"interrupted\"); what the run pushed was deleted{left}");
        }
        for r in &report.residue {
            let _ = writeln!(out, "left behind: {} {}@{} ({})", r.kind, r.repository, r.reference, r.why);
        }
        let _ = writeln!(
            out,
            "summary: {} checks: {} passed, {} failed, {} warned, {} skipped, {} errored in {:.2} s against {}",
            report.checks.len(),
            report.count(Outcome::Passed),
            report.count(Outcome::Failed),
            report.count(Outcome::Warned),
            report.count(Outcome::Skipped),
            report.count(Outcome::Errored),
            report.duration_ms as f64 / 1000.0,
            report.target
        );
        for f in files {
            let _ = writeln!(out, "wrote {f}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lacking_line;
    use crate::scenario::Capability;

    #[test]
    fn a_missing_capability_is_referred_to_not_repeated() {
        let lacking = vec!["referrers-api".to_string()];
        assert_eq!(
            lacking_line(&[Capability::ReferrersApi], &lacking).as_deref(),
            Some("requires referrers-api, which the registry lacks (see the probe's referrers-api line above)")
        );
        assert_eq!(lacking_line(&[Capability::BearerAuth], &lacking), None);
        assert_eq!(lacking_line(&[], &lacking), None);
    }
}
