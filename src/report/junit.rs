//! JUnit XML through quick-junit, valid against the Jenkins JUnit schema every CI reader
//! accepts (`tests/fixtures/junit/jenkins-junit.xsd`): one testsuite per catalogue area in the
//! library's order (the classname), one testcase per check with its time and `status` (referee's verdict:
//! `passed`, `warned`, …); `<failure>` for Failed, `<skipped>reason</skipped>` for Skipped,
//! `<error>` for Errored; a Warned check (a broken SHOULD or reading) passes, with `WARN:
//! reason` first in its system-out. The schema allows properties only on a testsuite, so the
//! run's (target, run id, profile) and each check's (`<id>.keyword`, `<id>.spec_section`,
//! `<id>.since`, `<id>.scenario`, `<id>.referee.outcome`, `<id>.measurement.<name>`) are there;
//! the rule and the HTTP transcript are in the testcase's system-out.

use crate::exec::{CheckResult, Outcome, RunReport};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;
use std::time::Duration;

pub fn build(report: &RunReport) -> Report {
    let mut r = Report::new("referee");
    r.set_time(Duration::from_millis(report.duration_ms));
    let mut suites: Vec<TestSuite> = vec![];
    for (area, checks) in super::by_area(&report.checks) {
        let mut suite = suite_for(report, area);
        for c in checks {
            if let Some(tc) = testcase(c) {
                suite.add_properties(check_properties(c));
                suite.add_test_case(tc);
            }
        }
        suites.push(suite);
    }
    let mut residue = String::new();
    for res in &report.residue {
        residue.push_str(&format!("left behind: {} {}@{}: {}\n", res.kind, res.repository, res.reference, res.why));
    }
    if let Some(e) = &report.run_error {
        residue.push_str(&format!("run error: {e}\n"));
    }
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

/// An area's testsuite, with the run's properties.
fn suite_for(report: &RunReport, area: &str) -> TestSuite {
    let mut s = TestSuite::new(area.to_string());
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
    match c.outcome {
        // The schema's <skipped> takes text only, no attributes.
        Outcome::Skipped => {
            status.set_description(message.clone());
        }
        Outcome::Failed | Outcome::Errored => {
            status.set_message(message.clone());
        }
        _ => {}
    }
    if c.outcome == Outcome::Failed {
        status.set_type(format!("{} {}", c.info.keyword_str(), c.info.section));
        status.set_description(format!("{message}\nrule ({} {}): {}", c.info.section, c.info.keyword_str(), c.info.rule));
    }
    let mut tc = TestCase::new(format!("{} {}", c.info.id, c.info.title), status);
    tc.set_classname(c.info.area.clone());
    tc.set_time(Duration::from_millis(c.duration_ms));
    tc.extra.insert("status".into(), outcome_name(c.outcome).into());
    let mut out = String::new();
    if c.outcome == Outcome::Warned {
        out.push_str(&format!("WARN: {}\n", c.reason));
    }
    out.push_str(&format!("{} {} — {} (since {})\nrule: {}\n", c.info.id, c.info.keyword_str(), c.info.section, c.info.since, c.info.rule));
    if let Some(r) = &c.info.reading {
        out.push_str(&format!("referee's reading: {r}\n"));
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

/// A check's metadata as properties of its testsuite, named `<check id>.<key>`.
fn check_properties(c: &CheckResult) -> Vec<Property> {
    let id = &c.info.id;
    let mut p = vec![
        Property::new(format!("{id}.keyword"), c.info.keyword_str()),
        Property::new(format!("{id}.spec_section"), c.info.section.clone()),
        Property::new(format!("{id}.since"), c.info.since.clone()),
        Property::new(format!("{id}.scenario"), c.info.scenario.clone()),
        Property::new(format!("{id}.referee.outcome"), outcome_name(c.outcome)),
    ];
    for (k, v) in &c.measurements {
        p.push(Property::new(format!("{id}.measurement.{k}"), v.to_string()));
    }
    p
}

/// The verdict as results.json spells it.
fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The XML: quick-junit's, less the `skipped` count on `<testsuites>`, which the Jenkins schema
/// does not allow there (every `<testsuite>` keeps its own).
pub fn to_xml(report: &RunReport) -> std::io::Result<String> {
    let xml = build(report).to_string().map_err(std::io::Error::other)?;
    let Some(start) = xml.find("<testsuites") else { return Ok(xml) };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else { return Ok(xml) };
    let close = tag[at + 10..].find('"').map_or(tag.len(), |q| at + 10 + q + 1);
    Ok(format!("{}{}{}{}", &xml[..start], &tag[..at], &tag[close..], &xml[end..]))
}

pub fn write(report: &RunReport, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, to_xml(report)?)
}
