//! Running one step and judging it: skip what only filtered-out checks need, stop after a
//! failed hook, carry a failed dependency over, send the action (`steps`), judge each live
//! check's expectation, and note what the answer means for later steps.

use super::context::Ctx;
use super::expect::{Basis, Failure, Judgement, Names, Observation, judge_declared, messages};
use super::measure::Measurement;
use super::outcome::Outcome;
use super::verdict::Contribution;
use crate::scenario::{Action, Citation, Expect, Keyword, Step};
use std::collections::{HashMap, HashSet};

/// What every step of a scenario judges with: the checks still in play, each check's own
/// citation, and the profile.
pub struct StepEnv<'e> {
    pub live: &'e HashSet<String>,
    pub checks: &'e HashMap<String, Citation>,
    pub declares: &'e super::Declares,
}

/// A sentence as a reason quotes it: a MUST as written; other keywords named; a reading stated.
pub fn quote(c: &Citation) -> String {
    match (c.keyword, &c.reading) {
        (Keyword::MUST, _) => c.rule.clone(),
        (Keyword::READING, Some(r)) => format!("{} (referee's reading: {r})", c.rule),
        (k, _) => format!("({}) {}", k.as_str(), c.rule),
    }
}

/// Failed when a failed assertion breaks a MUST or the profile's declaration, else Warned;
/// with the sentences the failed assertions enforce.
fn verdict_of(failures: &[Failure], check: &Citation) -> (Outcome, Vec<String>) {
    let cite = |b: &Basis| -> Citation {
        match b {
            Basis::Cite(c) => c.clone(),
            Basis::Check | Basis::Profile(_) => check.clone(),
        }
    };
    let fails = failures.iter().any(|f| matches!(f.basis, Basis::Profile(_)) || cite(&f.basis).keyword.fails());
    let mut rules: Vec<String> = vec![];
    for f in failures {
        let q = quote(&cite(&f.basis));
        if !rules.contains(&q) {
            rules.push(q);
        }
    }
    (if fails { Outcome::Failed } else { Outcome::Warned }, rules)
}

type StepFuture<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Contribution>> + 'c>>;

/// Runs one step (a `parallel` block with everything in it) and judges it for every live check
/// it names. Boxed: a block runs steps itself.
pub fn run_step<'c, 'a: 'c>(label: String, step: &'c Step, ctx: &'c mut Ctx<'a>, env: &'c StepEnv<'c>) -> StepFuture<'c> {
    Box::pin(async move {
        let mut out = vec![];
        let all = step.all_checks();
        let active: Vec<(&String, Option<&Expect>)> =
            all.into_iter().filter(|id| env.live.contains(*id)).map(|id| (id, step.checks.get(id))).collect();
        // Steps that only serve filtered-out or capability-skipped checks are not sent.
        // (A `together` block always runs: each of its steps decides, and they define names.)
        if !step.all_checks().is_empty() && active.is_empty() && step.defines().is_none() && !matches!(step.action, Action::Together(_)) {
            return out;
        }
        // After a failed or missing hook the registry is not in the state later steps assume.
        if let Some((why, skip)) = &ctx.halted {
            let outcome = if *skip { Outcome::Skipped } else { Outcome::Errored };
            for (id, _) in &active {
                out.push(Contribution::new(id, outcome, Some(why.clone()), vec![], vec![]));
            }
            return out;
        }
        if let Action::Parallel(p) = &step.action {
            return super::steps::parallel::run(label, p, ctx, env).await;
        }
        if let Action::Together(t) = &step.action {
            return super::steps::together::run(label, t, ctx, env).await;
        }
        let active: Vec<(&String, &Expect)> = active.into_iter().filter_map(|(id, e)| e.map(|e| (id, e))).collect();
        if let Some((why, by_check)) = dependency_failure(step, ctx) {
            let transcript = ctx.client.take_transcript();
            let outcome = if by_check { Outcome::Skipped } else { Outcome::Errored };
            for (id, _) in &active {
                out.push(Contribution::new(id, outcome, Some(why.clone()), vec![], transcript.clone()));
            }
            mark_failed(step, ctx, why, by_check);
            return out;
        }
        let (obs, waited) = if step.eventually { converge(step, &active, ctx, env).await } else { (super::steps::exec(&step.action, ctx).await, None) };
        let transcript = ctx.client.take_transcript();
        let obs = obs.map(|mut o| {
            if let Some((ms, reads)) = waited {
                o.measurements.push(Measurement::value("convergence_ms", ms as f64));
                o.measurements.push(Measurement::value("convergence_reads", reads as f64));
            }
            o
        });
        match obs {
            Err(e) => {
                let why = format!("{label}: {e}");
                for (id, _) in &active {
                    out.push(Contribution::new(id, Outcome::Errored, Some(why.clone()), vec![], transcript.clone()));
                }
                mark_failed(step, ctx, format!("setup failed: {why}"), false);
            }
            Ok(obs) => {
                if let Some(stop) = judge_all(&label, step, &active, &obs, ctx, env, transcript, &mut out) {
                    ctx.halted = Some((format!("{stop}; the steps after it were not run"), true));
                    return out;
                }
                note_consequences(step, ctx, &obs, &label, !active.is_empty());
            }
        }
        out
    })
}

/// The most reads of one `eventually` step.
const MAX_CONVERGENCE_READS: usize = 200;

/// Reads again, every 100 ms within the profile's `listing_convergence` window, until every
/// active check holds; the last read is judged. With the time until then (or until the window
/// ended) and the number of reads. Only the last read's exchanges stay in the transcript.
async fn converge(
    step: &Step,
    active: &[(&String, &Expect)],
    ctx: &mut Ctx<'_>,
    env: &StepEnv<'_>,
) -> (Result<Observation, crate::client::ClientError>, Option<(u64, usize)>) {
    let window = env.declares.convergence_window();
    let started = std::time::Instant::now();
    let mut reads = 0;
    loop {
        reads += 1;
        let obs = match super::steps::exec(&step.action, ctx).await {
            Ok(o) => o,
            Err(e) => return (Err(e), None),
        };
        let names: Names = ctx.entries.iter().map(|(k, v)| (k.as_str(), &v.built)).collect();
        let holds = active.iter().all(|(_, e)| !matches!(judge_declared(e, &obs, &names, env.declares), Judgement::Fail(_)));
        let ms = started.elapsed().as_millis() as u64;
        if holds || started.elapsed() >= window || reads >= MAX_CONVERGENCE_READS {
            return (Ok(obs), Some((ms, reads)));
        }
        let _ = ctx.client.take_transcript();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Judges every active check on `obs`. `Some(why)` when the step's `stop_if` holds: its checks
/// are Skipped and the scenario stops.
#[allow(clippy::too_many_arguments)]
fn judge_all(
    label: &str,
    step: &Step,
    active: &[(&String, &Expect)],
    obs: &Observation,
    ctx: &Ctx,
    env: &StepEnv,
    transcript: Vec<crate::client::Exchange>,
    out: &mut Vec<Contribution>,
) -> Option<String> {
    let names: Names = ctx.entries.iter().map(|(k, v)| (k.as_str(), &v.built)).collect();
    // A precondition of the whole scenario does not hold: stop here, as Skipped.
    if let Some(u) = &step.stop_if
        && let Judgement::Pass(_) = judge_declared(&u.when, obs, &names, env.declares)
    {
        let why = format!("{label}: {}", u.reason);
        for (id, _) in active {
            let mut c = Contribution::new(id, Outcome::Skipped, Some(why.clone()), vec![], transcript.clone());
            c.ends_check = true;
            out.push(c);
        }
        return Some(why);
    }
    for (id, e) in active {
        let first = judge_one(label, id, e, obs, &names, env, transcript.clone());
        let first_skipped = first.outcome == Outcome::Skipped;
        let first_said = first.reason.as_deref().map(|r| r.trim_start_matches(label).to_string());
        out.push(first);
        // The same request again: each answer is judged on its own.
        for (again, o) in &obs.repeats {
            let label = format!("{label}, {again}");
            let mut c = judge_one(&label, id, e, o, &names, env, vec![]);
            // The same verdict for the same reason is said once, with the first answer.
            if c.outcome != Outcome::Passed && c.reason.as_deref().map(|r| r.trim_start_matches(label.as_str()).to_string()) == first_said {
                continue;
            }
            if c.ends_check && !first_skipped {
                // Offered on the first answer, not on the same request again: the registry
                // contradicts itself; that is no reason to skip.
                let check = env.checks.get(id.as_str()).cloned().unwrap_or_else(|| Citation { keyword: Keyword::MUST, rule: String::new(), reading: None });
                let why = c.reason.take().unwrap_or_default();
                c.outcome = if check.keyword.fails() { Outcome::Failed } else { Outcome::Warned };
                c.reason = Some(format!("{label}: the first answer was judged, the same request again was not ({why})"));
                c.rules = vec![quote(&check)];
                c.ends_check = false;
            }
            out.push(c);
        }
    }
    None
}

/// Judges one check's expectation on one observation.
fn judge_one(label: &str, id: &str, e: &Expect, obs: &Observation, names: &Names, env: &StepEnv, transcript: Vec<crate::client::Exchange>) -> Contribution {
    let mut c = Contribution::new(id, Outcome::Passed, None, vec![], transcript);
    match judge_declared(e, obs, names, env.declares) {
        Judgement::Pass(n) => c.notes = n,
        Judgement::Fail(f) => {
            let check = env.checks.get(id).cloned().unwrap_or_else(|| Citation { keyword: Keyword::MUST, rule: String::new(), reading: None });
            (c.outcome, c.rules) = verdict_of(&f, &check);
            c.reason = Some(format!("{label}: {}", messages(&f).join("; ")));
        }
        Judgement::Skip(r) => {
            (c.outcome, c.reason, c.ends_check) = (Outcome::Skipped, Some(r), true);
        }
    }
    if let Some((_, ms)) = obs.listed {
        c.measurements.push(Measurement::value("visibility_lag_ms", ms as f64));
    }
    c.measurements.extend(obs.measurements.iter().cloned());
    c
}

/// The name a step writes: the one it defines, or the earlier one a `push:` sends again.
fn written_name(step: &Step) -> Option<&str> {
    match &step.action {
        Action::Push(p) => Some(p.name.as_str()),
        a => a.defines().map(|(n, _)| n),
    }
}

/// What an answer means for later steps: content that is gone, a delete that did not happen,
/// a push that did not succeed.
fn note_consequences(step: &Step, ctx: &mut Ctx, obs: &Observation, label: &str, judged: bool) {
    let Some(r) = &obs.response else { return };
    match &step.action {
        // Content that is gone (e.g. collected) cannot be judged by later steps.
        Action::GetManifest(g) => {
            if let Some(name) = g.of.as_deref()
                && r.status == 404
                && let Some(en) = ctx.entries.get_mut(name)
            {
                en.failure = Some((format!("'{name}' is no longer stored (GET answered 404)"), true));
            }
        }
        // A delete that did not happen leaves the name in a state later steps cannot judge.
        Action::DeleteManifest(d) => {
            if let Some(name) = d.of.as_deref()
                && r.status != 202
                && let Some(en) = ctx.entries.get_mut(name)
            {
                let why = format!("depends on deleting '{name}', which answered {}", r.describe());
                en.failure = Some((why, judged));
            }
        }
        // Blobs that did not all arrive leave the manifest push that should follow with nothing
        // to stand on.
        Action::Push(p) if p.blobs_only => {
            if r.status != 201
                && let Some(en) = ctx.entries.get_mut(&p.name)
            {
                let why = format!("uploading the blobs of '{}' answered {}", p.name, r.describe());
                let why =
                    if judged { format!("depends on '{}', whose blobs did not all arrive ({why})", p.name) } else { format!("setup failed: {why}") };
                en.failure = Some((why, judged));
            }
        }
        _ => {}
    }
    // A push that did not succeed leaves its name unusable for later steps.
    if let Some(name) = written_name(step)
        && obs.pushed.is_some()
        && r.status != 201
        && obs.followup.as_ref().is_none_or(|f| f.status != 201)
    {
        let why = format!("{label} answered {}", r.describe());
        let why = if judged { format!("depends on '{name}', whose push failed ({why})") } else { format!("setup failed: {why}") };
        if let Some(en) = ctx.entries.get_mut(name) {
            en.failure = Some((why, judged));
            en.pushed = false;
        }
    }
}

/// The first unusable name a step depends on, in its action or in what it judges.
fn dependency_failure(step: &Step, ctx: &Ctx) -> Option<(String, bool)> {
    let own = step.defines().map(|(n, _)| n);
    let action = step.uses().into_iter().map(|n| (n, true));
    let judged = step.judged_names().into_iter().filter(|n| Some(*n) != own).map(|n| (n, false));
    action.chain(judged).find_map(|(n, needed)| match ctx.entries.get(n) {
        Some(e) => e.failure.clone(),
        None if ctx.layouts.contains_key(n) => None,
        // Defined by an earlier step (validated) that did not run or did not create it.
        None => ctx
            .missing
            .get(n)
            .cloned()
            .or_else(|| needed.then(|| (format!("depends on '{n}', which an earlier step did not create"), true))),
    })
}

/// A step that could not be sent leaves the name it writes unusable (or missing).
fn mark_failed(step: &Step, ctx: &mut Ctx, why: String, by_check: bool) {
    if let Some(name) = written_name(step) {
        match ctx.entries.get_mut(name) {
            Some(e) => e.failure = Some((why, by_check)),
            None => {
                ctx.missing.insert(name.to_string(), (why, by_check));
            }
        }
    }
}
