//! From judgements to verdicts: what one evaluation of a step adds to a check
//! ([`Contribution`]) and how a check's contributions add up ([`Acc`]): the highest outcome
//! wins, with the reasons of that outcome only; notes, transcripts and measurements gather.

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
}

impl Contribution {
    pub fn new(id: &str, outcome: Outcome, reason: Option<String>, notes: Vec<String>, transcript: Vec<Exchange>) -> Self {
        Contribution { id: id.to_string(), outcome, reason, notes, transcript, measurements: vec![] }
    }
}

/// One check's verdict so far.
pub struct Acc {
    pub outcome: Outcome,
    pub reasons: Vec<String>,
    pub notes: Vec<String>,
    pub measurements: BTreeMap<String, f64>,
    pub transcript: Vec<Exchange>,
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
        }
    }
}

/// Adds `c` to the verdict of its check (ignored for a check not in `acc`).
pub fn add(acc: &mut HashMap<String, Acc>, c: Contribution) {
    let Some(a) = acc.get_mut(&c.id) else { return };
    if c.outcome > a.outcome {
        // The verdict rises; reasons of lower outcomes no longer explain it.
        a.reasons.clear();
        a.outcome = c.outcome;
    }
    if c.outcome == a.outcome
        && let Some(r) = c.reason
        && !a.reasons.contains(&r)
    {
        a.reasons.push(r);
    }
    a.notes.extend(c.notes);
    a.transcript.extend(c.transcript);
    for m in c.measurements {
        m.add_to(&mut a.measurements);
    }
}
