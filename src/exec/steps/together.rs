//! `together` blocks: different steps sent at the same moment, each by a client (and a context)
//! of its own that builds the same content it would alone; what they define and delete is taken
//! back into the scenario's context afterwards. Generated graphs push their concurrent groups
//! this way.

use super::super::context::Ctx;
use super::super::measure::Measurement;
use super::super::step::{StepEnv, run_step};
use super::super::verdict::Contribution;
use super::Problem;
use super::parallel::join_all;
use crate::client::Client;
use crate::scenario::{Action, MAX_CLIENTS, Together};
use std::time::Instant;

/// A block's own bounds: not inside another block, no checks on the block itself, 1–64 steps,
/// none of them a block or a hook (a hook acts on the whole registry, not as one client).
pub fn validate(t: &Together, nested: bool, own_checks: Option<&String>) -> Vec<Problem> {
    if nested {
        return vec![Problem::new("together", "a `together` block cannot sit inside another block")];
    }
    let mut out = vec![];
    if let Some(id) = own_checks {
        out.push(Problem::new(id, format!("check '{id}' sits on the `together` step itself; put it on a step inside `steps`")));
    }
    if !(1..=MAX_CLIENTS).contains(&t.steps.len()) {
        out.push(Problem::new("steps", format!("`together` holds 1 to {MAX_CLIENTS} steps, not {}", t.steps.len())));
    }
    for s in &t.steps {
        // A referrers-tag update is a read-modify-write of one tag: two at once lose updates by
        // design (the `parallel` scenarios measure that), and the index it writes is named
        // after the block's own count.
        if matches!(
            s.action,
            Action::Parallel(_) | Action::Together(_) | Action::Hook(_) | Action::Wait(_) | Action::FallbackAdd(_) | Action::FallbackRemove(_)
        ) {
            out.push(Problem::new(s.action.key(), format!("`{}` cannot go inside `together` (each step there is one client's request)", s.action.key())));
        }
    }
    out
}

/// Runs every step at once, each on a forked client, then takes back what each one learnt.
pub async fn run(label: String, t: &Together, ctx: &mut Ctx<'_>, env: &StepEnv<'_>) -> Vec<Contribution> {
    let n = t.steps.len().clamp(1, MAX_CLIENTS);
    let clients: Vec<Client> = (0..n).map(|_| ctx.client.fork()).collect();
    let before: std::collections::HashMap<String, (bool, Option<String>)> = ctx.entries.iter().map(|(k, e)| (k.clone(), (e.pushed, e.tag.clone()))).collect();
    // The same seed as outside the block: a step builds what it would build alone.
    let mut subs: Vec<Ctx> = clients.iter().map(|c| ctx.sub(c, "")).collect();
    let started = Instant::now();
    let runs = subs.iter_mut().zip(&t.steps).enumerate().map(|(i, (sub, step))| {
        let l = format!("{label}, step {} of {n}", i + 1);
        async move { run_step(l, step, sub, env).await }
    });
    let mut out: Vec<Contribution> = join_all(runs.collect()).await.into_iter().flatten().collect();
    let elapsed_ms = started.elapsed().as_millis() as f64;
    for (sub, step) in subs.into_iter().zip(&t.steps) {
        let defined = step.defines().map(|(name, _)| name.to_string());
        ctx.absorb_together(sub, defined.as_deref(), &before);
    }
    for c in &mut out {
        c.measurements.push(Measurement::value("together_steps", n as f64));
        c.measurements.push(Measurement::value("together_elapsed_ms", elapsed_ms));
    }
    out
}
