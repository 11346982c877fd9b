//! From judgements to verdicts: what one evaluation of a step adds to a check
//! ([`Contribution`]) and how a check's contributions add up ([`Acc`]): the highest outcome
//! wins, with the reasons (and quoted rules) of that outcome only; notes, transcripts and
//! measurements gather. A check Skipped because what it tests is not offered (`unsupported_if`,
//! `stop_if`) stays Skipped: nothing judged after that can pass or fail it.

use super::measure::Measurement;
use super::outcome::Outcome;
use crate::client::Exchange;
use std::collections::{BTreeMap, HashMap};

/// What one evaluation of a step adds to a check's verdict.
pub struct Contribution {
    pub id: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub notes: Vec<String>,
    pub transcript: Vec<Exchange>,
    pub measurements: Vec<Measurement>,
    /// For a Failed or Warned judgement: the sentences the failed assertions enforce, as
    /// quoted in the reason.
    pub rules: Vec<String>,
    /// A Skip that ends the check: what it tests is not offered, so later steps do not judge it.
    pub ends_check: bool,
}

impl Contribution {
    pub fn new(id: &str, outcome: Outcome, reason: Option<String>, notes: Vec<String>, transcript: Vec<Exchange>) -> Self {
        Contribution { id: id.to_string(), outcome, reason, notes, transcript, measurements: vec![], rules: vec![], ends_check: false }
    }
}

/// One check's verdict so far.
pub struct Acc {
    pub outcome: Outcome,
    pub reasons: Vec<String>,
    pub notes: Vec<String>,
    pub measurements: BTreeMap<String, f64>,
    pub transcript: Vec<Exchange>,
    /// The sentences behind the current outcome's reasons.
    pub rules: Vec<String>,
    /// Skipped for good (see [`Contribution::ends_check`]).
    pub ended: bool,
}

impl Acc {
    /// A check not judged yet (Disabled), or Skipped up front with `skip` as the reason.
    pub fn new(skip: Option<String>) -> Acc {
        Acc {
            outcome: if skip.is_some() { Outcome::Skipped } else { Outcome::Disabled },
            reasons: skip.into_iter().collect(),
            notes: vec![],
            measurements: BTreeMap::new(),
            transcript: vec![],
            rules: vec![],
            ended: false,
        }
    }

    /// The reason a check ends with: its reasons, then the sentences they break.
    pub fn reason(&self) -> String {
        let reason = self.reasons.join("; ");
        match self.outcome {
            Outcome::Failed | Outcome::Warned if !self.rules.is_empty() => format!("{reason} — rule: {}", self.rules.join(" | ")),
            _ => reason,
        }
    }
}

/// Adds `c` to the verdict of its check (ignored for a check not in `acc`).
pub fn add(acc: &mut HashMap<String, Acc>, c: Contribution) {
    let Some(a) = acc.get_mut(&c.id) else { return };
    if a.ended {
        return;
    }
    if c.ends_check && a.outcome <= Outcome::Passed {
        // What the check tests is not offered: earlier passes do not make it Passed.
        a.outcome = Outcome::Skipped;
        a.reasons.clear();
        a.rules.clear();
        a.ended = true;
    }
    if c.outcome > a.outcome {
        // The verdict rises; reasons of lower outcomes no longer explain it.
        a.reasons.clear();
        a.rules.clear();
        a.outcome = c.outcome;
    }
    if c.outcome == a.outcome {
        if let Some(r) = c.reason
            && !a.reasons.contains(&r)
        {
            a.reasons.push(r);
        }
        for r in c.rules {
            if !a.rules.contains(&r) {
                a.rules.push(r);
            }
        }
    }
    // The same note from several steps, clients or repeated reads is said once.
    for n in c.notes {
        if !a.notes.contains(&n) {
            a.notes.push(n);
        }
    }
    a.transcript.extend(c.transcript);
    for m in c.measurements {
        m.add_to(&mut a.measurements);
    }
}
