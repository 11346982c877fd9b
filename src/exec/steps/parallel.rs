//! `parallel` blocks: N clients, each with its own context, client and seed, run `each`
//! together while `during` runs over and over beside them; then each runs `then`. Every
//! judgement inside carries the block's size and time as measurements.

use super::super::context::Ctx;
use super::super::measure::Measurement;
use super::super::outcome::Outcome;
use super::super::step::{StepEnv, run_step};
use super::super::verdict::Contribution;
use super::Problem;
use crate::client::Client;
use crate::scenario::{MAX_CLIENTS, MAX_DURING_RUNS, Parallel, Step};
use std::time::Instant;

/// A block's own bounds: no block inside a block, no checks on the block itself, 1–64
/// clients, something to run, and `during` steps that define no names (they run again and
/// again). The steps inside are validated by the plan, in the block's scope.
pub fn validate(p: &Parallel, nested: bool, own_checks: Option<&String>) -> Vec<Problem> {
    if nested {
        return vec![Problem::new("parallel", "a `parallel` block cannot hold another one")];
    }
    let mut out = vec![];
    if let Some(id) = own_checks {
        out.push(Problem::new(
            id,
            format!("check '{id}' sits on the `parallel` step itself; put it on a step inside `each`, `during` or `then`"),
        ));
    }
    if !(1..=MAX_CLIENTS).contains(&p.clients) {
        out.push(Problem::new("clients", format!("`clients` must be between 1 and {MAX_CLIENTS}, not {}", p.clients)));
    }
    if p.each.is_empty() {
        out.push(Problem::new("each", "`each` needs at least one step"));
    }
    if let Some(du) = &p.during {
        if !(1..=MAX_DURING_RUNS).contains(&du.max_runs) {
            out.push(Problem::new("max_runs", format!("`max_runs` must be between 1 and {MAX_DURING_RUNS}, not {}", du.max_runs)));
        }
        if du.steps.is_empty() {
            out.push(Problem::new("during", "`during` needs at least one step"));
        }
        if let Some((name, _)) = du.steps.iter().find_map(|s| s.defines()) {
            out.push(Problem::new(name, format!("'{name}': `during` runs again and again, so its steps cannot define names")));
        }
    }
    out
}

/// `steps` with `{client}` replaced by `k` in every string (through the steps' own serde
/// form; `Err` only if a step does not survive that round trip, a harness bug).
pub fn for_client(steps: &[Step], k: usize) -> Result<Vec<Step>, String> {
    fn walk(v: &mut serde_json::Value, k: &str) {
        match v {
            serde_json::Value::String(s) if s.contains("{client}") => *s = s.replace("{client}", k),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, k)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, k)),
            _ => {}
        }
    }
    steps
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).map_err(|e| format!("cannot write a step for client {k}: {e}"))?;
            walk(&mut v, &k.to_string());
            serde_json::from_value(v).map_err(|e| format!("cannot read back a step for client {k}: {e}"))
        })
        .collect()
}

/// Polls every future until all are done, on this task (the clients' requests overlap; no
/// `'static` bound, so they can borrow their contexts).
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(o) => *out = Some(o),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// Every client runs its own steps, all of them at once.
async fn clients_run(label: &str, phase: &str, subs: &mut [Ctx<'_>], steps: &[Vec<Step>], env: &StepEnv<'_>) -> Vec<Contribution> {
    let runs = subs.iter_mut().zip(steps).enumerate().map(|(k, (sub, steps))| async move {
        let mut out = vec![];
        for (i, s) in steps.iter().enumerate() {
            out.extend(run_step(format!("{label}, client {} {phase} {}", k + 1, i + 1), s, sub, env).await);
        }
        out
    });
    join_all(runs.collect()).await.into_iter().flatten().collect()
}

/// `during`, beside the clients: at least once, then again while they run (at most
/// `max_runs`), stopping at a failed hook. Returns its judgements and how often it ran.
async fn beside(label: &str, p: &Parallel, ctx: &mut Ctx<'_>, env: &StepEnv<'_>, running: &std::sync::atomic::AtomicBool) -> (Vec<Contribution>, usize) {
    use std::sync::atomic::Ordering;
    let Some(d) = &p.during else { return (vec![], 0) };
    let (mut out, mut runs) = (vec![], 0usize);
    while runs < d.max_runs.clamp(1, MAX_DURING_RUNS) && (runs == 0 || running.load(Ordering::SeqCst)) {
        runs += 1;
        for (i, s) in d.steps.iter().enumerate() {
            let l = format!("{label}, during run {runs} step {}", i + 1);
            out.extend(run_step(l, s, ctx, env).await);
        }
        if ctx.halted.is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    (out, runs)
}

/// Runs a block: `clients` contexts run `each` together (after a common start) while `during`
/// runs beside them until they are done; then each client runs `then`.
pub async fn run(label: String, p: &Parallel, ctx: &mut Ctx<'_>, env: &StepEnv<'_>) -> Vec<Contribution> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let n = p.clients.clamp(1, MAX_CLIENTS);
    let clients: Vec<Client> = (0..n).map(|_| ctx.client.fork()).collect();
    let beside_client = ctx.client.fork();
    let templated = (1..=n)
        .map(|k| Ok((for_client(&p.each, k)?, for_client(&p.then, k)?)))
        .collect::<Result<Vec<(Vec<Step>, Vec<Step>)>, String>>();
    let (each, then): (Vec<Vec<Step>>, Vec<Vec<Step>>) = match templated {
        Ok(t) => t.into_iter().unzip(),
        Err(why) => {
            return p
                .all_checks()
                .into_iter()
                .filter(|id| env.live.contains(*id))
                .map(|id| Contribution::new(id, Outcome::Errored, Some(format!("{label}: {why}")), vec![], vec![]))
                .collect();
        }
    };
    let mut subs: Vec<Ctx> = clients.iter().enumerate().map(|(k, c)| ctx.sub(c, &format!("#{}", k + 1))).collect();
    let mut beside_ctx = ctx.sub(&beside_client, "#during");
    // The clients (started together by one join) and `during` start together.
    let barrier = tokio::sync::Barrier::new(1 + usize::from(p.during.is_some()));
    let running = AtomicBool::new(true);
    let started = Instant::now();
    let (barrier, running) = (&barrier, &running);
    let clients_done = async {
        barrier.wait().await;
        let out = clients_run(&label, "step", &mut subs, &each, env).await;
        running.store(false, Ordering::SeqCst);
        out
    };
    let beside_runs = async {
        if p.during.is_some() {
            barrier.wait().await;
        }
        beside(&label, p, &mut beside_ctx, env, running).await
    };
    let (client_outs, (mut out, runs)) = tokio::join!(clients_done, beside_runs);
    let elapsed_ms = started.elapsed().as_millis() as f64;
    out.extend(client_outs);
    // What `during` broke (a failed hook) stops the `then` steps too.
    if let Some(h) = &beside_ctx.halted {
        for sub in &mut subs {
            sub.halted.get_or_insert_with(|| h.clone());
        }
    }
    out.extend(clients_run(&label, "then step", &mut subs, &then, env).await);
    for sub in subs {
        ctx.absorb(sub);
    }
    ctx.absorb(beside_ctx);
    for c in &mut out {
        c.measurements.push(Measurement::value("parallel_clients", n as f64));
        if p.during.is_some() {
            c.measurements.push(Measurement::value("during_runs", runs as f64));
        }
        c.measurements.push(Measurement::value("parallel_elapsed_ms", elapsed_ms));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Action;
    use std::time::Duration;

    /// Every step of the library survives `for_client`'s round trip unchanged when it has no
    /// `{client}`, and `{client}` becomes the number everywhere it appears.
    #[test]
    fn client_templating_round_trips_every_library_step() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let loaded = crate::scenario::load_all(&dir).expect("library loads");
        let mut steps = 0;
        for l in &loaded {
            let all: Vec<Step> = l
                .file
                .steps
                .iter()
                .flat_map(|s| {
                    let mut v = vec![s.clone()];
                    if let Action::Parallel(p) = &s.action {
                        v.extend(p.each.iter().chain(&p.then).cloned());
                    }
                    v
                })
                .collect();
            let plain: Vec<Step> = all.iter().filter(|s| !serde_json::to_string(s).unwrap().contains("{client}")).cloned().collect();
            let back = for_client(&plain, 7).unwrap_or_else(|e| panic!("{}: {e}", l.path.display()));
            for (a, b) in plain.iter().zip(&back) {
                assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap(), "{}", l.path.display());
            }
            steps += plain.len();
        }
        assert!(steps > 300, "{steps} steps");
        let yaml = "- push_image: { name: img, by: tag, tag: \"race-{client}\" }\n  checks: { K6: { status: 201, body_text: \"{client}-{client}\" } }\n";
        let steps: Vec<Step> = serde_yaml_ng::from_str(yaml).unwrap();
        let t = for_client(&steps, 3).unwrap();
        let Action::PushImage(p) = &t[0].action else { panic!("{:?}", t[0].action) };
        assert_eq!(p.tag.as_deref(), Some("race-3"));
        assert_eq!(t[0].checks["K6"].body_text.as_deref(), Some("3-3"));
    }

    #[tokio::test]
    async fn join_all_runs_futures_together_and_keeps_their_order() {
        let barrier = tokio::sync::Barrier::new(3);
        let b = &barrier;
        // Each waits for the others: run one by one, this would never end.
        let out = tokio::time::timeout(
            Duration::from_secs(5),
            join_all((0..3).map(|i| async move {
                b.wait().await;
                i * 10
            }).collect()),
        )
        .await
        .expect("the futures ran together");
        assert_eq!(out, vec![0, 10, 20]);
    }
}
