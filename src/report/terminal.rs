//! The terminal reporter: a line per check (id, verdict, reason) as checks finish, then a
//! summary. Colour only when stdout is a terminal.

use crate::exec::{Outcome, RunEvent, RunReport};
use std::io::{IsTerminal, Write};

/// A missing capability is described once, on its probe line: a check it skips only refers to
/// it here (the reports keep the whole observation).
fn short_reason(reason: &str) -> String {
    match reason.split_once(", which the registry lacks: ") {
        Some((requires, _)) if requires.starts_with("requires ") && !requires.contains(';') => {
            let cap = requires.trim_start_matches("requires ");
            format!("{requires}, which the registry lacks (see the probe's {cap} line above)")
        }
        _ => reason.to_string(),
    }
}

pub struct Terminal {
    color: bool,
    verbose: bool,
}

impl Terminal {
    pub fn new(verbose: bool) -> Terminal {
        Terminal { color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(), verbose }
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
                    line.push_str(&format!("\n             {}", short_reason(&r.reason)));
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
            let _ = writeln!(out, "interrupted: the checks not finished are Errored (\"interrupted\"); what the run pushed was deleted, except what is listed below");
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
    use super::short_reason;

    #[test]
    fn a_missing_capability_is_referred_to_not_repeated() {
        let long = "requires referrers-api, which the registry lacks: GET /v2/x/referrers/sha256:1 answered 404 (text/plain) 404 page not found";
        assert_eq!(short_reason(long), "requires referrers-api, which the registry lacks (see the probe's referrers-api line above)");
        assert_eq!(short_reason("step 3 (ping): expected status 200"), "step 3 (ping): expected status 200");
    }
}
