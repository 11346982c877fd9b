//! Every assertion of the check library with the sentence it enforces: what `referee list
//! --assertions` prints, and what the citation rule is checked on — an assertion that can FAIL
//! quotes a MUST or MUST NOT sentence, or judges a profile key.

use crate::plan::{CheckInfo, Plan};
use crate::scenario::{Action, Citation, Expect, Keyword, Step};
use std::fmt;

/// One group of assertions a check makes at one step.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub check: String,
    /// Where: `step 3 (referrers)`, `step 5 (parallel), each 1 (push_image)`.
    pub step: String,
    /// The expectation's keys, e.g. `status, header_present` (`any_of[2].status` for an
    /// alternative).
    pub keys: Vec<String>,
    /// What it enforces: a sentence (with its keyword), or the profile key it judges.
    pub basis: Enforces,
}

#[derive(Debug, Clone)]
pub enum Enforces {
    Sentence(Citation),
    ProfileKey(String),
}

impl Assertion {
    /// Whether a broken assertion FAILs the check (else it WARNs).
    pub fn can_fail(&self) -> bool {
        match &self.basis {
            Enforces::Sentence(c) => c.keyword.fails(),
            Enforces::ProfileKey(_) => true,
        }
    }

    /// The citation rule: a FAIL rests on a MUST / MUST NOT sentence or a profile key.
    pub fn cited(&self) -> bool {
        match &self.basis {
            Enforces::Sentence(c) if c.keyword.fails() => c.rule.contains("MUST"),
            Enforces::Sentence(c) if c.keyword == Keyword::READING => c.reading.as_deref().is_some_and(|r| !r.trim().is_empty()),
            Enforces::Sentence(_) => true,
            Enforces::ProfileKey(k) => crate::profile::vendor::declared_keys().any(|d| d == k),
        }
    }
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4} {} — {}\n     ", self.check, self.step, self.keys.join(", "))?;
        match &self.basis {
            Enforces::Sentence(c) => {
                write!(f, "{} {}", c.keyword.as_str(), c.rule)?;
                if let Some(r) = &c.reading {
                    write!(f, "\n     referee's reading: {r}")?;
                }
                Ok(())
            }
            Enforces::ProfileKey(k) => write!(f, "PROFILE the registry's declared `{k}` must hold"),
        }
    }
}

/// The keys of an expectation that are assertions themselves (not groups, citations or
/// conditions).
fn own_keys(e: &Expect, prefix: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(m)) = serde_json::to_value(e) else { return vec![] };
    let mut keys = vec![];
    for (k, _) in m {
        match k.as_str() {
            "all_of" | "cite" | "declared" | "unsupported_if" => {}
            "any_of" => {
                for (i, alt) in e.any_of.iter().enumerate() {
                    keys.extend(own_keys(alt, &format!("{prefix}any_of[{}].", i + 1)));
                }
            }
            _ => keys.push(format!("{prefix}{k}")),
        }
    }
    keys
}

fn walk_expect(check: &str, step: &str, e: &Expect, cite: &Citation, out: &mut Vec<Assertion>) {
    let cite = e.cite.as_ref().unwrap_or(cite);
    let keys = own_keys(e, "");
    if !keys.is_empty() {
        out.push(Assertion { check: check.into(), step: step.into(), keys, basis: Enforces::Sentence(cite.clone()) });
    }
    if let Some(d) = &e.declared {
        let mut keys: Vec<String> = vec![format!("declared: {}", d.key)];
        keys.extend(d.variants.keys().map(|v| format!("{}: {v}", d.key)));
        out.push(Assertion { check: check.into(), step: step.into(), keys, basis: Enforces::ProfileKey(d.key.clone()) });
    }
    for g in &e.all_of {
        walk_expect(check, step, g, cite, out);
    }
}

fn walk_steps(steps: &[Step], at: &str, checks: &[CheckInfo], out: &mut Vec<Assertion>) {
    for (i, s) in steps.iter().enumerate() {
        let here = format!("{at}{} ({})", i + 1, s.action.key());
        for (id, e) in &s.checks {
            let Some(info) = checks.iter().find(|c| &c.id == id) else { continue };
            let cite = Citation { keyword: info.keyword, rule: info.rule.clone(), reading: info.reading.clone() };
            walk_expect(id, &format!("step {here}"), e, &cite, out);
        }
        if let Action::Parallel(p) = &s.action {
            walk_steps(&p.each, &format!("{here}, each "), checks, out);
            if let Some(d) = &p.during {
                walk_steps(&d.steps, &format!("{here}, during "), checks, out);
            }
            walk_steps(&p.then, &format!("{here}, then "), checks, out);
        }
        if let Action::Together(t) = &s.action {
            walk_steps(&t.steps, &format!("{here}, together "), checks, out);
        }
    }
}

/// Every assertion of the plan's checks, scenario by scenario, in step order.
pub fn list(plan: &Plan) -> Vec<Assertion> {
    let mut out = vec![];
    for s in &plan.scenarios {
        walk_steps(&s.file.steps, "", &s.checks, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's own citation rule: every assertion that can FAIL quotes a sentence with
    /// MUST / MUST NOT or judges a profile key; every READING states its reading; every check
    /// has at least one assertion.
    #[test]
    fn every_assertion_that_can_fail_quotes_a_must_or_a_profile_key() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let loaded = crate::scenario::load_all(&dir).expect("library loads");
        let plan = crate::plan::plan(&loaded, &[]).expect("library plans");
        let all = list(&plan);
        let uncited: Vec<String> = all.iter().filter(|a| !a.cited()).map(|a| a.to_string()).collect();
        assert!(uncited.is_empty(), "{} assertions without a MUST sentence or profile key:\n{}", uncited.len(), uncited.join("\n"));
        for c in plan.checks() {
            assert!(all.iter().any(|a| a.check == c.id), "{} has no assertion", c.id);
        }
        assert!(all.iter().any(|a| !a.can_fail()) || all.iter().all(Assertion::can_fail));
    }

    #[test]
    fn a_fail_capable_assertion_without_must_is_caught() {
        let yaml = "id: t\nchecks:\n  X1: { title: t, section: s, keyword: MUST, rule: \"a 200 is returned\" }\n  X2: { title: t, section: s, keyword: READING, rule: \"r\", reading: \"how\" }\nsteps:\n  - ping: {}\n    checks:\n      X1: { status: 200 }\n      X2: { all_of: [ { status: 200 }, { status: 200, cite: { keyword: MUST, rule: \"it MUST be 200\" } } ] }\n";
        let file = crate::scenario::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
        let loaded = crate::scenario::Loaded { path: "t.yaml".into(), text: yaml.into(), file };
        let plan = crate::plan::plan(&[loaded], &[]).unwrap();
        let all = list(&plan);
        let bad: Vec<&Assertion> = all.iter().filter(|a| !a.cited()).collect();
        assert_eq!(bad.len(), 1, "{all:?}");
        assert_eq!(bad[0].check, "X1");
        let x2: Vec<&Assertion> = all.iter().filter(|a| a.check == "X2").collect();
        assert_eq!(x2.len(), 2);
        assert!(!x2[0].can_fail() && x2[1].can_fail() && x2[1].cited());
    }
}
