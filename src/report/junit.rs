//! JUnit XML through quick-junit: one testsuite per catalogue area (the classname), one
//! testcase per check; `<failure>` for Failed, `<skipped message=reason>` for Skipped,
//! `<error>` for Errored; a Warned check (a broken SHOULD or reading) passes, with the property
//! `referee.outcome=warned` and its reason in system-out; check id, spec section, keyword,
//! since and `referee.outcome` as properties; the transcript in system-out.

use crate::exec::{CheckResult, Outcome, RunReport};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub fn build(report: &RunReport) -> Report {
    let mut r = Report::new("referee");
    r.set_time(Duration::from_millis(report.duration_ms));
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for c in &report.checks {
        let suite = suites.entry(c.info.area.clone()).or_insert_with(|| {
            let mut s = TestSuite::new(c.info.area.clone());
            s.add_property(Property::new("target", report.target.clone()));
            s.add_property(Property::new("run_id", report.run_id.clone()));
            s.add_property(Property::new("profile", report.profile.clone()));
            if let Some(g) = &report.graph {
                s.add_property(Property::new("graph_seed", g.seed.to_string()));
                s.add_property(Property::new("graph_cases", g.cases.to_string()));
                s.add_property(Property::new("graph_mode", g.mode.clone()));
                if let Some(f) = &g.counterexample {
                    s.add_property(Property::new("graph_counterexample", f.clone()));
                }
            }
            s
        });
        if let Some(tc) = testcase(c) {
            suite.add_test_case(tc);
        }
    }
    let mut residue = String::new();
    for res in &report.residue {
        residue.push_str(&format!("left behind: {} {}@{}: {}\n", res.kind, res.repository, res.reference, res.why));
    }
    if let Some(e) = &report.run_error {
        residue.push_str(&format!("run error: {e}\n"));
    }
    let mut suites: Vec<TestSuite> = suites.into_values().collect();
    // A run that stopped before any check (no checks to error): one errored testcase says why,
    // so CI does not read an empty report as a pass.
    if let (true, Some(e)) = (suites.is_empty(), &report.run_error) {
        let mut s = TestSuite::new("referee");
        s.add_property(Property::new("target", report.target.clone()));
        s.add_property(Property::new("run_id", report.run_id.clone()));
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(e.clone());
        s.add_test_case(TestCase::new("run", status));
        suites.push(s);
    }
    if !residue.is_empty()
        && let Some(s) = suites.first_mut()
    {
        s.set_system_err(residue);
    }
    r.add_test_suites(suites);
    r
}

fn testcase(c: &CheckResult) -> Option<TestCase> {
    let message = if c.reason.is_empty() { c.info.title.clone() } else { c.reason.clone() };
    let mut status = match c.outcome {
        Outcome::Disabled => return None,
        Outcome::Passed | Outcome::Warned => TestCaseStatus::success(),
        Outcome::Skipped => TestCaseStatus::skipped(),
        Outcome::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
        Outcome::Errored => TestCaseStatus::non_success(NonSuccessKind::Error),
    };
    if !matches!(c.outcome, Outcome::Passed | Outcome::Warned) {
        status.set_message(message.clone());
    }
    if c.outcome == Outcome::Failed {
        status.set_type(format!("{} {}", c.info.keyword_str(), c.info.section));
        status.set_description(format!("{message}\nrule ({} {}): {}", c.info.section, c.info.keyword_str(), c.info.rule));
    }
    let mut tc = TestCase::new(format!("{} {}", c.info.id, c.info.title), status);
    tc.set_classname(c.info.area.clone());
    tc.set_time(Duration::from_millis(c.duration_ms));
    tc.add_property(Property::new("check_id", c.info.id.clone()));
    tc.add_property(Property::new("spec_section", c.info.section.clone()));
    tc.add_property(Property::new("keyword", c.info.keyword_str()));
    tc.add_property(Property::new("since", c.info.since.clone()));
    tc.add_property(Property::new("scenario", c.info.scenario.clone()));
    tc.add_property(Property::new("referee.outcome", outcome_name(c.outcome)));
    for (k, v) in &c.measurements {
        tc.add_property(Property::new(format!("measurement.{k}"), v.to_string()));
    }
    let mut out = String::new();
    if c.outcome == Outcome::Warned {
        out.push_str(&format!("WARN: {}\n", c.reason));
    }
    for n in &c.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    for ex in &c.transcript {
        out.push_str(&ex.render());
        out.push('\n');
    }
    if !out.is_empty() {
        tc.set_system_out_lossy(out.as_bytes());
    }
    Some(tc)
}

/// The verdict as results.json spells it.
fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

pub fn write(report: &RunReport, path: &Path) -> std::io::Result<()> {
    let xml = build(report).to_string().map_err(std::io::Error::other)?;
    std::fs::write(path, xml)
}
