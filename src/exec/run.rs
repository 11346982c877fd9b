//! Running a [`Plan`]: probe the registry, run each scenario's steps in fresh repositories,
//! judge each check on the answers, clean up, and emit [`RunEvent`]s. Never formats text for
//! people; reporters do that.

use super::expect::{Judgement, Names, Observation, judge_declared};
use super::outcome::*;
use crate::client::{Client, ClientError, Exchange, Response, Scope, descriptor_from_json};
use crate::oci::{Algorithm, Built, Digest, IndexBuilder, ManifestBuilder, referrers_tag};
use crate::plan::{CheckInfo, Plan, PlannedScenario};
use crate::scenario::{
    By, Capability, ClientMode, FallbackAdd, Expect, Pages, PushArtifact, ReadMethod, RepoRef, ScopeRef, SessionAction, Step, UploadMethod, WhichBlob,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a run names and bounds things.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Repositories are `<prefix>/<scenario>-<run id>`.
    pub repo_prefix: String,
    /// Most pages a listing may have before the chain is called runaway.
    pub max_pages: usize,
    pub target_label: String,
    pub embedded: bool,
    /// What the vendor profile declares (`declared:` expectations are judged against it).
    pub declares: super::expect::Declares,
    /// The profile's name, for reports.
    pub profile: String,
    /// Lifecycle hooks by name.
    pub hooks: super::hooks::Hooks,
    /// Other registries scenarios may name (`targets:`), with their clients.
    pub mirrors: Vec<(String, Client)>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            repo_prefix: "referee".into(),
            max_pages: 100,
            target_label: String::new(),
            embedded: false,
            declares: Default::default(),
            profile: "strict".into(),
            hooks: Default::default(),
            mirrors: vec![],
        }
    }
}

/// A fresh id for this run: 8 hex characters from the time and the process id.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}-{}", std::process::id());
    Digest::sha256(seed.as_bytes()).encoded()[..8].to_string()
}

/// A repository-name component from free text (lowercase, `[a-z0-9]` runs joined by `-`).
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Runs the plan against the registry behind `client`.
pub async fn run(plan: &Plan, client: &Client, opts: &RunOptions, sink: &mut dyn FnMut(RunEvent)) -> RunReport {
    let started = Instant::now();
    let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let run_id = new_run_id();
    let mut report = RunReport {
        format_version: 1,
        referee_version: env!("CARGO_PKG_VERSION").into(),
        target: opts.target_label.clone(),
        embedded: opts.embedded,
        profile: opts.profile.clone(),
        run_id: run_id.clone(),
        started_unix_ms,
        duration_ms: 0,
        capabilities: vec![],
        checks: vec![],
        residue: vec![],
        run_error: None,
    };
    let prefix = opts.repo_prefix.trim_matches('/').to_string();
    let probe_client = client.fork();
    match probe(&probe_client, &format!("{prefix}/probe-{run_id}"), &mut report.residue).await {
        Ok(caps) => report.capabilities = caps,
        Err(e) => {
            let msg = format!("the capability probe failed, so no check ran: {e}");
            report.run_error = Some(msg.clone());
            for s in &plan.scenarios {
                for info in &s.checks {
                    let r = result(info, Outcome::Errored, msg.clone(), probe_client.take_transcript());
                    sink(RunEvent::CheckFinished(&r));
                    report.checks.push(r);
                }
            }
            report.duration_ms = started.elapsed().as_millis() as u64;
            return report;
        }
    }
    sink(RunEvent::Probed(&report.capabilities));
    for s in &plan.scenarios {
        let repo = format!("{prefix}/{}-{run_id}", slug(&s.id));
        sink(RunEvent::ScenarioStarted { id: &s.id, repository: &repo });
        let results = run_scenario(s, &client.fork(), &repo, &report.capabilities, opts, &mut report.residue).await;
        for r in results {
            sink(RunEvent::CheckFinished(&r));
            report.checks.push(r);
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

fn result(info: &CheckInfo, outcome: Outcome, reason: String, transcript: Vec<Exchange>) -> CheckResult {
    CheckResult {
        info: info.clone(),
        outcome,
        reason,
        notes: vec![],
        measurements: BTreeMap::new(),
        transcript,
        duration_ms: 0,
    }
}

/// Pings, then finds out whether the referrers API exists by pushing a tiny image and asking
/// for its referrers. A 404 there means "no referrers API" (distribution-spec "Listing
/// Referrers": a registry that supports it MUST NOT answer 404); anything else runs the checks.
async fn probe(client: &Client, repo: &str, residue: &mut Vec<Residue>) -> Result<Vec<CapabilityStatus>, ClientError> {
    let ping = client.ping().await?;
    if ping.status == 401 || ping.status == 403 {
        let who = client.config().username.as_deref().map_or("no credentials were given".to_string(), |u| format!("credentials for user '{u}' were rejected"));
        return Err(ClientError::Unauthorized(format!("GET /v2/ answered {} after authentication: {who}", ping.status)));
    }
    // Any other answer is judged by check A1; the pushes below tell whether a registry is there.
    let img = ManifestBuilder::image(&format!("probe-{repo}")).build();
    let pushed = client.push_built(repo, &img, img.digest.as_str()).await?;
    if pushed.status == 401 || pushed.status == 403 {
        return Err(ClientError::Unauthorized(format!("pushing to {repo} answered {}: the credentials may not push", pushed.status)));
    }
    if pushed.status != 201 {
        return Err(ClientError::Other {
            url: pushed.url.to_string(),
            msg: format!("the probe could not push a plain OCI image to {repo}: {}", pushed.describe()),
        });
    }
    // Ask for the referrers of a subject that has one: a registry that answers 404 only for
    // empty lists (a bug C1 catches) must not pass for one without the API.
    let sig = ManifestBuilder::artifact(&format!("probe-sig-{repo}"), "application/vnd.dev.referee.probe+json")
        .subject(img.descriptor())
        .build();
    let sig_push = client.push_built(repo, &sig, sig.digest.as_str()).await?;
    let oci_subject = sig_push.header("oci-subject").map(str::to_string);
    let url = client.referrers_url(repo, img.digest.as_str(), None, None)?;
    let r = client.referrers_page(repo, url.clone(), Scope::Pull(repo.into())).await?.response;
    let api = CapabilityStatus {
        name: Capability::ReferrersApi.name().into(),
        supported: r.status != 404 || oci_subject.is_some(),
        observed: format!(
            "GET {} answered {}; a push with a subject answered {}{}",
            url.path(),
            r.describe(),
            sig_push.status,
            oci_subject.map_or(" without OCI-Subject".into(), |s| format!(" with OCI-Subject: {s}"))
        ),
    };
    let bearer = CapabilityStatus {
        name: Capability::BearerAuth.name().into(),
        supported: client.saw_bearer(),
        observed: if client.saw_bearer() {
            "the registry challenged with WWW-Authenticate: Bearer".into()
        } else {
            "the registry never asked for a Bearer token (anonymous or Basic access)".into()
        },
    };
    cleanup(client, repo, &[img, sig], residue).await;
    Ok(vec![api, bearer])
}

/// A manifest the scenario built, and whether (and where) it was pushed.
#[derive(Clone)]
struct Entry {
    built: Built,
    repo: String,
    /// The tag it was last pushed under, if any.
    tag: Option<String>,
    pushed: bool,
    /// Why it is unusable: (message, whether a check — not setup — failed).
    failure: Option<(String, bool)>,
}

struct Ctx<'a> {
    client: &'a Client,
    main: String,
    other: String,
    fresh: String,
    entries: HashMap<String, Entry>,
    /// Push order, for cleanup.
    order: Vec<(String, Built)>,
    /// Blobs that arrived by mount or upload outside a manifest push, for cleanup.
    extra_blobs: Vec<(String, Digest)>,
    max_pages: usize,
    hooks: &'a super::hooks::Hooks,
    target: String,
    /// A hook that failed or is missing stops the scenario: (why, whether it is a Skip).
    halted: Option<(String, bool)>,
    /// Names whose defining step did not run: why, and whether that is a Skip.
    missing: HashMap<String, (String, bool)>,
    /// Other registries by name.
    mirrors: HashMap<String, Client>,
    /// What was written to other registries, for cleanup: (target, repo, manifest).
    remote_order: Vec<(String, String, Built)>,
    /// Added to every seed, so each client of a `parallel` block builds its own content.
    seed_suffix: String,
}

impl<'a> Ctx<'a> {
    fn repo(&self, r: RepoRef) -> String {
        match r {
            RepoRef::Main => self.main.clone(),
            RepoRef::Other => self.other.clone(),
            RepoRef::Fresh => self.fresh.clone(),
            RepoRef::Limited => format!("{}-ratelimited", self.main),
        }
    }

    fn built(&self, name: &str) -> Option<&Built> {
        self.entries.get(name).map(|e| &e.built)
    }

    /// A context for one client of a `parallel` block: what is known so far, its own client
    /// and seed, nothing pushed yet.
    fn sub<'b>(&self, client: &'b Client, suffix: &str) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            client,
            main: self.main.clone(),
            other: self.other.clone(),
            fresh: self.fresh.clone(),
            entries: self.entries.clone(),
            order: vec![],
            extra_blobs: vec![],
            max_pages: self.max_pages,
            hooks: self.hooks,
            target: self.target.clone(),
            halted: None,
            missing: self.missing.clone(),
            mirrors: self.mirrors.iter().map(|(n, c)| (n.clone(), c.fork())).collect(),
            remote_order: vec![],
            seed_suffix: format!("{}{suffix}", self.seed_suffix),
        }
    }

    /// Takes over what a client's context pushed (for cleanup), a hook failure, and what it
    /// learnt of names known before the block (e.g. one that is gone).
    fn absorb(&mut self, sub: Ctx) {
        for (name, e) in sub.entries {
            if let Some(mine) = self.entries.get_mut(&name)
                && mine.failure.is_none()
                && e.failure.is_some()
            {
                mine.failure = e.failure;
            }
        }
        self.order.extend(sub.order);
        self.extra_blobs.extend(sub.extra_blobs);
        self.remote_order.extend(sub.remote_order);
        if self.halted.is_none() {
            self.halted = sub.halted;
        }
    }
}

/// Per-check accumulation.
struct Acc {
    outcome: Outcome,
    reasons: Vec<String>,
    notes: Vec<String>,
    measurements: BTreeMap<String, f64>,
    transcript: Vec<Exchange>,
}

async fn run_scenario(
    s: &PlannedScenario,
    client: &Client,
    repo: &str,
    caps: &[CapabilityStatus],
    opts: &RunOptions,
    residue: &mut Vec<Residue>,
) -> Vec<CheckResult> {
    let started = Instant::now();
    let missing = |c: &CheckInfo| -> Option<String> {
        let lacks = c.requires.iter().find_map(|c| {
            let st = caps.iter().find(|s| s.name == c.name())?;
            (!st.supported).then(|| format!("requires {}, which the registry lacks: {}", c.name(), st.observed))
        });
        lacks.or_else(|| {
            let s = c.skip_if_declared.as_ref()?;
            let value = opts.declares.get(&s.key)?;
            s.values.contains(value).then(|| format!("the profile declares {}: {value}: {}", s.key, s.reason))
        })
    };
    // A scenario that names a registry nobody gave sends nothing.
    if let Some(t) = s.file.targets.iter().find(|t| !opts.mirrors.iter().any(|(n, _)| n == *t)) {
        let why = format!("needs a second registry named '{t}': give it with --mirror {t}=URL");
        return s.checks.iter().map(|c| result(c, Outcome::Skipped, why.clone(), vec![])).collect();
    }
    // A scenario whose every check lacks a capability sends nothing.
    if s.checks.iter().all(|c| missing(c).is_some()) {
        return s
            .checks
            .iter()
            .map(|c| result(c, Outcome::Skipped, missing(c).unwrap_or_default(), vec![]))
            .collect();
    }
    let mut acc: HashMap<String, Acc> = s
        .checks
        .iter()
        .map(|c| {
            let skip = missing(c);
            let a = Acc {
                outcome: if skip.is_some() { Outcome::Skipped } else { Outcome::Disabled },
                reasons: skip.into_iter().collect(),
                notes: vec![],
                measurements: BTreeMap::new(),
                transcript: vec![],
            };
            (c.id.clone(), a)
        })
        .collect();
    let skipped_for_caps: HashSet<String> =
        s.checks.iter().filter(|c| missing(c).is_some()).map(|c| c.id.clone()).collect();
    let mut ctx = Ctx {
        client,
        main: repo.to_string(),
        other: format!("{repo}-other"),
        fresh: format!("{repo}-fresh"),
        entries: HashMap::new(),
        order: vec![],
        extra_blobs: vec![],
        max_pages: opts.max_pages,
        hooks: &opts.hooks,
        target: client.base().as_str().trim_end_matches('/').to_string(),
        halted: None,
        missing: HashMap::new(),
        mirrors: opts.mirrors.iter().map(|(n, c)| (n.clone(), c.fork())).collect(),
        remote_order: vec![],
        seed_suffix: String::new(),
    };
    let live: HashSet<String> = acc
        .keys()
        .filter(|id| !skipped_for_caps.contains(*id) && !s.disabled.contains(*id))
        .cloned()
        .collect();
    let env = StepEnv { live: &live, declares: &opts.declares };
    for (i, step) in s.file.steps.iter().enumerate() {
        let label = format!("step {} ({})", i + 1, step.actions().first().copied().unwrap_or("?"));
        for c in run_step(label, step, &mut ctx, &env).await {
            add(&mut acc, c);
        }
    }
    cleanup_ctx(&ctx, residue).await;
    let elapsed = started.elapsed().as_millis() as u64;
    s.checks
        .iter()
        .map(|info| {
            let a = acc.remove(&info.id).expect("every check has an accumulator");
            let (outcome, reason) = if a.outcome == Outcome::Disabled {
                (Outcome::Errored, "no step evaluated this check (scenario error)".to_string())
            } else {
                (a.outcome, a.reasons.join("; "))
            };
            let reason = if outcome == Outcome::Failed { format!("{reason} — rule: {}", info.rule) } else { reason };
            CheckResult {
                info: info.clone(),
                outcome,
                reason,
                notes: a.notes,
                measurements: a.measurements,
                transcript: a.transcript,
                duration_ms: elapsed,
            }
        })
        .collect()
}

/// What one evaluation of a step adds to a check's verdict.
struct Contribution {
    id: String,
    outcome: Outcome,
    reason: Option<String>,
    notes: Vec<String>,
    transcript: Vec<Exchange>,
    measurements: Vec<(String, f64)>,
}

impl Contribution {
    fn new(id: &str, outcome: Outcome, reason: Option<String>, notes: Vec<String>, transcript: Vec<Exchange>) -> Self {
        Contribution { id: id.to_string(), outcome, reason, notes, transcript, measurements: vec![] }
    }
}

fn add(acc: &mut HashMap<String, Acc>, c: Contribution) {
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
    for (k, v) in c.measurements {
        // Counts add up over steps and clients; anything else is the latest value.
        if SUMMED.contains(&k.as_str()) {
            *a.measurements.entry(k).or_insert(0.0) += v;
        } else {
            a.measurements.insert(k, v);
        }
    }
}

/// Measurements that are counts: a check reports their sum.
const SUMMED: &[&str] = &["conditional_retries", "lost_updates"];

/// What every step of a scenario judges with: the checks still in play and the profile.
struct StepEnv<'e> {
    live: &'e HashSet<String>,
    declares: &'e super::expect::Declares,
}

type StepFuture<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Contribution>> + 'c>>;

/// Runs one step (a `parallel` block with everything in it) and judges it for every live check
/// it names. Boxed: a block runs steps itself.
fn run_step<'c, 'a: 'c>(label: String, step: &'c Step, ctx: &'c mut Ctx<'a>, env: &'c StepEnv<'c>) -> StepFuture<'c> {
    Box::pin(async move {
        let mut out = vec![];
        let all = step.all_checks();
        let active: Vec<(&String, Option<&Expect>)> =
            all.into_iter().filter(|id| env.live.contains(*id)).map(|id| (id, step.checks.get(id))).collect();
        // Steps that only serve filtered-out or capability-skipped checks are not sent.
        if !step.all_checks().is_empty() && active.is_empty() && step_defines(step).is_none() {
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
        if let Some(p) = &step.parallel {
            return run_parallel(label, p, ctx, env).await;
        }
        let active: Vec<(&String, &Expect)> = active.into_iter().filter_map(|(id, e)| e.map(|e| (id, e))).collect();
        let dep = dependency_failure(step, ctx);
        let obs = match &dep {
            Some(_) => Err(None),
            None => exec_step(step, ctx).await.map_err(Some),
        };
        let transcript = ctx.client.take_transcript();
        match (&dep, &obs) {
            (Some((why, by_check)), _) => {
                let outcome = if *by_check { Outcome::Skipped } else { Outcome::Errored };
                for (id, _) in &active {
                    out.push(Contribution::new(id, outcome, Some(why.clone()), vec![], transcript.clone()));
                }
                mark_failed(step, ctx, why.clone(), *by_check);
            }
            (None, Err(Some(e))) => {
                let why = format!("{label}: {e}");
                for (id, _) in &active {
                    out.push(Contribution::new(id, Outcome::Errored, Some(why.clone()), vec![], transcript.clone()));
                }
                mark_failed(step, ctx, format!("setup failed: {why}"), false);
            }
            (None, Err(None)) => unreachable!("no dependency failure without a reason"),
            (None, Ok(obs)) => {
                let names: Names = ctx.entries.iter().map(|(k, v)| (k.as_str(), &v.built)).collect();
                // A precondition of the whole scenario does not hold: stop here, as Skipped.
                if let Some(u) = &step.stop_if
                    && let Judgement::Pass(_) = judge_declared(&u.when, obs, &names, env.declares)
                {
                    let why = format!("{label}: {}", u.reason);
                    for (id, _) in &active {
                        out.push(Contribution::new(id, Outcome::Skipped, Some(why.clone()), vec![], transcript.clone()));
                    }
                    drop(names);
                    ctx.halted = Some((format!("{why}; the steps after it were not run"), true));
                    return out;
                }
                for (id, e) in &active {
                    let (outcome, reason, notes) = match judge_declared(e, obs, &names, env.declares) {
                        Judgement::Pass(n) => (Outcome::Passed, None, n),
                        Judgement::Fail(f) => (Outcome::Failed, Some(format!("{label}: {}", f.join("; "))), vec![]),
                        Judgement::Skip(r) => (Outcome::Skipped, Some(r), vec![]),
                    };
                    let mut c = Contribution::new(id, outcome, reason, notes, transcript.clone());
                    if let Some((_, ms)) = obs.listed {
                        c.measurements.push(("visibility_lag_ms".into(), ms as f64));
                    }
                    c.measurements.extend(obs.measurements.iter().cloned());
                    out.push(c);
                }
                drop(names);
                note_consequences(step, ctx, obs, &label, !active.is_empty());
            }
        }
        out
    })
}

/// What an answer means for later steps: content that is gone, a delete that did not happen,
/// a push that did not succeed.
fn note_consequences(step: &Step, ctx: &mut Ctx, obs: &Observation, label: &str, judged: bool) {
    // Content that is gone (e.g. collected) cannot be judged by later steps.
    if let (Some(g), Some(r)) = (&step.get_manifest, &obs.response)
        && let Some(name) = g.of.as_deref()
        && r.status == 404
        && let Some(en) = ctx.entries.get_mut(name)
    {
        en.failure = Some((format!("'{name}' is no longer stored (GET answered 404)"), true));
    }
    // A delete that did not happen leaves the name in a state later steps cannot judge.
    if let (Some(d), Some(r)) = (&step.delete_manifest, &obs.response)
        && let Some(name) = d.of.as_deref()
        && r.status != 202
        && let Some(en) = ctx.entries.get_mut(name)
    {
        let why = format!("depends on deleting '{name}', which answered {}", r.describe());
        en.failure = Some((why, judged));
    }
    // Blobs that did not all arrive leave the manifest push that should follow with nothing
    // to stand on.
    if let (Some(p), Some(r)) = (&step.push, &obs.response)
        && p.blobs_only
        && r.status != 201
        && let Some(en) = ctx.entries.get_mut(&p.name)
    {
        let why = format!("uploading the blobs of '{}' answered {}", p.name, r.describe());
        let why = if judged { format!("depends on '{}', whose blobs did not all arrive ({why})", p.name) } else { format!("setup failed: {why}") };
        en.failure = Some((why, judged));
    }
    // A push that did not succeed leaves its name unusable for later steps.
    if let (Some(name), Some(r)) = (step_defines(step).or(step.push.as_ref().map(|p| p.name.as_str())), &obs.response)
        && obs.pushed.is_some()
        && r.status != 201
        && obs.followup.as_ref().is_none_or(|f| f.status != 201)
    {
        let why = format!("{label} answered {}", r.describe());
        let why = if judged {
            format!("depends on '{name}', whose push failed ({why})")
        } else {
            format!("setup failed: {why}")
        };
        if let Some(en) = ctx.entries.get_mut(name) {
            en.failure = Some((why, judged));
            en.pushed = false;
        }
    }
}

fn step_defines(step: &Step) -> Option<&str> {
    step.defines().map(|(n, _)| n)
}

/// The first unusable name a step depends on, in its action or in what it judges.
fn dependency_failure(step: &Step, ctx: &Ctx) -> Option<(String, bool)> {
    let own = step_defines(step);
    let action = step.uses().into_iter().map(|n| (n, true));
    let judged = step.judged_names().into_iter().filter(|n| Some(*n) != own).map(|n| (n, false));
    action.chain(judged).find_map(|(n, needed)| match ctx.entries.get(n) {
        Some(e) => e.failure.clone(),
        // Defined by an earlier step (validated) that did not run or did not create it.
        None => ctx.missing.get(n).cloned().or_else(|| {
            needed.then(|| (format!("depends on '{n}', which an earlier step did not create"), true))
        }),
    })
}

fn mark_failed(step: &Step, ctx: &mut Ctx, why: String, by_check: bool) {
    // A push of a name defined earlier (`push:`) that could not be sent leaves it unusable too.
    if let Some(name) = step_defines(step).or(step.push.as_ref().map(|p| p.name.as_str())) {
        match ctx.entries.get_mut(name) {
            Some(e) => e.failure = Some((why, by_check)),
            None => {
                ctx.missing.insert(name.to_string(), (why, by_check));
            }
        }
    }
}

fn seed(ctx: &Ctx, name: &str) -> String {
    format!("{}/{name}{}", ctx.main, ctx.seed_suffix)
}

/// `steps` with `{client}` replaced by `k` in every string (through the steps' own serde
/// form; `Err` only if a step does not survive that round trip, a harness bug).
fn for_client(steps: &[Step], k: usize) -> Result<Vec<Step>, String> {
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
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
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

/// A `parallel` block: `clients` contexts run `each` together (after a common start) while
/// `during` runs beside them until they are done (at least once, at most `max_runs`); then each
/// client runs `then`. Every judgement carries the block's numbers as measurements.
async fn run_parallel(label: String, p: &crate::scenario::Parallel, ctx: &mut Ctx<'_>, env: &StepEnv<'_>) -> Vec<Contribution> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let n = p.clients.clamp(1, crate::scenario::MAX_CLIENTS);
    let clients: Vec<Client> = (0..n).map(|_| ctx.client.fork()).collect();
    let beside_client = ctx.client.fork();
    let templated = (1..=n)
        .map(|k| Ok((for_client(&p.each, k)?, for_client(&p.then, k)?)))
        .collect::<Result<Vec<(Vec<Step>, Vec<Step>)>, String>>();
    let (each, then): (Vec<Vec<Step>>, Vec<Vec<Step>>) = match templated {
        Ok(t) => t.into_iter().unzip(),
        Err(why) => {
            let step = Step { parallel: Some(p.clone()), ..Default::default() };
            return step
                .all_checks()
                .into_iter()
                .filter(|id| env.live.contains(*id))
                .map(|id| Contribution::new(id, Outcome::Errored, Some(format!("{label}: {why}")), vec![], vec![]))
                .collect();
        }
    };
    let mut subs: Vec<Ctx> = clients.iter().enumerate().map(|(k, c)| ctx.sub(c, &format!("#{}", k + 1))).collect();
    let mut beside = ctx.sub(&beside_client, "#during");
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
        let Some(d) = &p.during else { return (vec![], 0usize) };
        barrier.wait().await;
        let (mut out, mut runs) = (vec![], 0usize);
        while runs < d.max_runs.clamp(1, crate::scenario::MAX_DURING_RUNS) && (runs == 0 || running.load(Ordering::SeqCst)) {
            runs += 1;
            for (i, s) in d.steps.iter().enumerate() {
                let l = format!("{label}, during run {runs} step {}", i + 1);
                out.extend(run_step(l, s, &mut beside, env).await);
            }
            if beside.halted.is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        (out, runs)
    };
    let (client_outs, (mut out, runs)) = tokio::join!(clients_done, beside_runs);
    let elapsed_ms = started.elapsed().as_millis() as f64;
    out.extend(client_outs);
    // What `during` broke (a failed hook) stops the `then` steps too.
    if let Some(h) = &beside.halted {
        for sub in &mut subs {
            sub.halted.get_or_insert_with(|| h.clone());
        }
    }
    let then_outs = clients_run(&label, "then step", &mut subs, &then, env).await;
    out.extend(then_outs);
    for sub in subs {
        ctx.absorb(sub);
    }
    ctx.absorb(beside);
    for c in &mut out {
        c.measurements.push(("parallel_clients".into(), n as f64));
        if p.during.is_some() {
            c.measurements.push(("during_runs".into(), runs as f64));
        }
        c.measurements.push(("parallel_elapsed_ms".into(), elapsed_ms));
    }
    out
}

fn subject_descriptor(ctx: &Ctx, name: &str, alg: Option<Algorithm>, delta: i64) -> crate::oci::Descriptor {
    let b = ctx.built(name).expect("validated: defined earlier");
    let mut d = match alg {
        Some(a) => b.descriptor_with(a),
        None => b.descriptor(),
    };
    d.size = (d.size as i64 + delta).max(0) as u64;
    d
}

fn build_artifact(ctx: &Ctx, p: &PushArtifact) -> Built {
    let sd = seed(ctx, &p.name);
    let mut b = match &p.config_media_type {
        Some(cmt) => ManifestBuilder::config_typed(&sd, cmt).artifact_type(p.artifact_type.clone()),
        None => ManifestBuilder::artifact(&sd, "").artifact_type(p.artifact_type.clone()),
    };
    if let Some(s) = &p.subject {
        b = b.subject(subject_descriptor(ctx, s, p.subject_alg, p.subject_size_delta));
    }
    for (k, v) in &p.annotations {
        b = b.annotation(k, v);
    }
    if p.annotation_bytes > 0 {
        b = b.annotation("dev.referee.padding", &"p".repeat(p.annotation_bytes));
    }
    if let Some(mt) = &p.layer_media_type {
        b = b.layer_media_type(mt);
    }
    for (k, v) in &p.extra_fields {
        b = b.extra_field(k, v.clone());
    }
    for (k, v) in &p.subject_extra {
        b = b.subject_extra(k, v.clone());
    }
    b.layer_data(p.layer_data).build()
}

/// The reference to push under (digest or tag).
fn reference(built: &Built, by: By, tag: &Option<String>, name: &str) -> String {
    match by {
        By::Digest => built.digest.to_string(),
        By::Tag => tag.clone().unwrap_or_else(|| slug(name)),
    }
}

async fn push(ctx: &mut Ctx<'_>, name: &str, built: Built, repo: String, reference: String, build_only: bool) -> Result<Observation, ClientError> {
    let tag = Digest::parse(&reference).is_err().then(|| reference.clone());
    ctx.entries.insert(name.to_string(), Entry { built: built.clone(), repo: repo.clone(), tag, pushed: false, failure: None });
    if build_only {
        return Ok(Observation::default());
    }
    let r = ctx.client.push_built(&repo, &built, &reference).await?;
    if r.status == 201
        && let Some(e) = ctx.entries.get_mut(name)
    {
        e.pushed = true;
    }
    // Even a rejected push may have left blobs behind: clean them up too.
    ctx.order.push((repo, built.clone()));
    Ok(Observation { response: Some(r), pushed: Some(built), ..Default::default() })
}

async fn exec_step(step: &Step, ctx: &mut Ctx<'_>) -> Result<Observation, ClientError> {
    if let Some(p) = &step.push_image {
        let sd = seed(ctx, &p.name);
        let built = if p.docker { ManifestBuilder::docker_image(&sd).build() } else { ManifestBuilder::image(&sd).build() };
        let reference = reference(&built, p.by, &p.tag, &p.name);
        let repo = ctx.repo(p.repo);
        if let Some(t) = p.target.as_deref().filter(|t| *t != "main") {
            return push_remote(ctx, t, &p.name, built, repo, &reference, false).await;
        }
        return push(ctx, &p.name, built, repo, reference, p.build_only).await;
    }
    if let Some(p) = &step.push_artifact {
        let built = build_artifact(ctx, p);
        let mut reference = reference(&built, p.by, &p.tag, &p.name);
        if let Some(of) = &p.tag_referrers_of {
            reference = format!("{}{}", referrers_tag(ctx.built(of).expect("validated").digest.as_str()), p.tag_suffix);
        }
        if let Some(t) = p.target.as_deref().filter(|t| *t != "main") {
            let repo = ctx.repo(p.repo);
            return push_remote(ctx, t, &p.name, built, repo, &reference, true).await;
        }
        let repo = ctx.repo(p.repo);
        return push(ctx, &p.name, built, repo, reference, p.build_only).await;
    }
    if let Some(p) = &step.push_index {
        let mut b = IndexBuilder::new().artifact_type(p.artifact_type.clone());
        for m in &p.manifests {
            b = b.manifest(ctx.built(m).expect("validated").descriptor());
        }
        if let Some(s) = &p.subject {
            b = b.subject(subject_descriptor(ctx, s, None, 0));
        }
        for (k, v) in &p.annotations {
            b = b.annotation(k, v);
        }
        let built = b.build();
        let reference = reference(&built, p.by, &p.tag, &p.name);
        let repo = ctx.repo(p.repo);
        return push(ctx, &p.name, built, repo, reference, false).await;
    }
    if let Some(p) = &step.push {
        let e = ctx.entries.get(&p.name).expect("validated");
        let built = e.built.clone();
        let repo = p.repo.map_or_else(|| e.repo.clone(), |r| ctx.repo(r));
        let mut reference = reference(&built, p.by, &p.tag, &p.name);
        if let Some(r) = &p.reference {
            reference = r.clone();
        }
        if p.wrong_digest {
            reference = Digest::sha256(format!("not-{}", built.digest).as_bytes()).to_string();
        }
        if p.blobs_only {
            // The first half of a push: what a client uploads before its manifest.
            let mut last = None;
            for blob in &built.blobs {
                let r = ctx.client.push_blob(&repo, blob).await?;
                let ok = r.status == 201;
                last = Some(r);
                if !ok {
                    break;
                }
            }
            ctx.order.push((repo, built.clone()));
            return Ok(Observation { response: last, ..Default::default() });
        }
        if p.manifest_only || p.reference.is_some() || p.wrong_digest {
            let r = ctx.client.put_manifest(&repo, &reference, &built.media_type, &built.bytes).await?;
            ctx.order.push((repo, built.clone()));
            return Ok(Observation { response: Some(r), pushed: Some(built), ..Default::default() });
        }
        return push(ctx, &p.name, built, repo, reference, false).await;
    }
    if let Some(r) = &step.referrers {
        let repo = ctx.repo(r.repo);
        let digest = if let Some(of) = &r.of {
            let b = ctx.built(of).expect("validated");
            match r.alg {
                Some(a) => Digest::of(a, &b.bytes).to_string(),
                None => b.digest.to_string(),
            }
        } else if let Some(d) = &r.digest {
            d.clone()
        } else if let Some(of) = &r.blob_of {
            let b = ctx.built(of).expect("validated");
            b.blobs.last().map_or_else(|| b.digest.to_string(), |bl| bl.digest.to_string())
        } else {
            Digest::sha256(format!("referee-random-{}", new_run_id()).as_bytes()).to_string()
        };
        let scope = match r.scope {
            ScopeRef::Default => Scope::Pull(repo.clone()),
            ScopeRef::PullOnly => Scope::PullOnly(repo.clone()),
        };
        let url = ctx.client.referrers_url(&repo, &digest, r.artifact_type.as_deref(), r.raw_query.as_deref())?;
        return list(ctx, &repo, url, scope, r.pages, r.insert_after_first_page.as_deref()).await;
    }
    if let Some(w) = &step.wait_listed {
        let subject = ctx.built(&w.of).expect("validated").digest.to_string();
        let want = ctx.built(&w.referrer).expect("validated").digest.to_string();
        let repo = ctx.entries.get(&w.referrer).map_or(ctx.main.clone(), |e| e.repo.clone());
        let started = Instant::now();
        let bound = Duration::from_millis(w.within_ms);
        let mut last = None;
        // Bounded by time and by count.
        for _ in 0..10_000 {
            let url = ctx.client.referrers_url(&repo, &subject, None, None)?;
            let obs = list(ctx, &repo, url, Scope::Pull(repo.clone()), Pages::All, None).await?;
            let found = obs.pages.iter().any(|p| {
                p.json().ok().and_then(|v| v.get("manifests").cloned()).and_then(|m| m.as_array().cloned()).is_some_and(|a| {
                    a.iter().any(|d| d.get("digest").and_then(|x| x.as_str()) == Some(want.as_str()))
                })
            });
            let ms = started.elapsed().as_millis() as u64;
            if found {
                return Ok(Observation { listed: Some((true, ms)), ..obs });
            }
            // A listing that is not an index will not become one by waiting.
            let unusable = obs.pages.iter().any(|p| p.status != 200 || p.json().map_or(true, |v| !v["manifests"].is_array()));
            if unusable || obs.chain_error.is_some() {
                return Ok(Observation { listed: Some((false, ms)), ..obs });
            }
            last = Some(obs);
            if started.elapsed() >= bound {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let obs = last.unwrap_or_default();
        return Ok(Observation { listed: Some((false, w.within_ms)), ..obs });
    }
    if step.detect.is_some() {
        let repo = ctx.main.clone();
        let subject = ManifestBuilder::image(&seed(ctx, "detect-subject")).build();
        push(ctx, "detect-subject", subject.clone(), repo.clone(), subject.digest.to_string(), false).await?;
        let sig = ManifestBuilder::artifact(&seed(ctx, "detect-sig"), "application/vnd.dev.referee.detect+json")
            .subject(subject.descriptor())
            .build();
        let pushed = push(ctx, "detect-sig", sig.clone(), repo.clone(), sig.digest.to_string(), false).await?;
        let url = ctx.client.referrers_url(&repo, subject.digest.as_str(), None, None)?;
        let listing = ctx.client.referrers_page(&repo, url, Scope::Pull(repo.clone())).await?.response;
        return Ok(Observation { response: Some(listing), followup: pushed.response, ..Default::default() });
    }
    if let Some(b) = &step.burst {
        let repo = ctx.repo(b.repo);
        let mut last = None;
        // Bounded: at most `count` requests (capped at 1000) and one retry.
        for _ in 0..b.count.min(1000) {
            let r = ctx.client.tags_list(&repo, None, None).await?;
            if r.status == 429 {
                let wait = r.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(1).min(10);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                let again = ctx.client.tags_list(&repo, None, None).await?;
                return Ok(Observation { response: Some(r), followup: Some(again), ..Default::default() });
            }
            last = Some(r);
        }
        return Ok(Observation { response: last, ..Default::default() });
    }
    if let Some(c) = &step.copy {
        return copy_with_referrers(ctx, c).await;
    }
    if let Some(l) = &step.list_on {
        let client = target_client(ctx, &l.target)?;
        let repo = ctx.repo(l.repo);
        let digest = ctx.built(&l.of).expect("validated").digest.clone();
        let r = list_any(&client, &repo, &digest).await?;
        let _ = client.take_transcript();
        return Ok(listing_observation(r));
    }
    if let Some(h) = &step.hook {
        let Some(spec) = ctx.hooks.get(h.name.as_str()).cloned() else {
            ctx.halted = Some((
                format!(
                    "no `{}` hook: give one with --hook {}='<command>' or a profile that has it; the steps after it were not run",
                    h.name.as_str(),
                    h.name.as_str()
                ),
                true,
            ));
            return Ok(Observation::default());
        };
        let entry = h.of.as_deref().and_then(|n| ctx.entries.get(n));
        let env = super::hooks::HookEnv {
            target: ctx.target.clone(),
            repo: entry.map_or_else(|| ctx.main.clone(), |e| e.repo.clone()),
            tag: h.tag.clone().or_else(|| entry.and_then(|e| e.tag.clone())).unwrap_or_default(),
            digest: entry.map(|e| e.built.digest.to_string()).unwrap_or_default(),
            extra: h.env.iter().map(|(k, v)| (k.0.clone(), v.clone())).collect(),
        };
        match super::hooks::run(h.name.as_str(), &spec, &env).await {
            Ok(_) => {
                // A hook may have stopped and restarted the registry (an offline GC): go on
                // only once it answers again.
                if let Err(why) = await_registry(ctx.client, h.name.as_str()).await {
                    ctx.halted = Some((why.clone(), false));
                    return Err(ClientError::Other { url: format!("hook {}", h.name.as_str()), msg: why });
                }
                return Ok(Observation::default());
            }
            Err(why) => {
                ctx.halted = Some((why.clone(), false));
                return Err(ClientError::Other { url: format!("hook {}", h.name.as_str()), msg: why });
            }
        }
    }
    if let Some(w) = &step.wait {
        tokio::time::sleep(w.duration()).await;
        return Ok(Observation::default());
    }
    if step.ping.is_some() {
        let r = ctx.client.ping().await?;
        return Ok(Observation { response: Some(r), ..Default::default() });
    }
    if let Some(p) = &step.push_blob {
        let blob = if p.empty {
            crate::oci::Blob::empty()
        } else {
            let seed = seed(ctx, &p.name);
            let bytes: Vec<u8> = seed.bytes().cycle().take(p.size.max(1)).collect();
            let mut b = crate::oci::Blob::new(crate::oci::media::OCTET_STREAM, bytes);
            if let Some(alg) = p.alg {
                b.digest = Digest::of(alg, &b.bytes);
            }
            b
        };
        let repo = ctx.main.clone();
        let (r, followup) = match p.method {
            UploadMethod::PostPut => (ctx.client.push_blob(&repo, &blob).await?, None),
            UploadMethod::Chunked => (ctx.client.push_blob_chunked(&repo, &blob, p.chunk).await?, None),
            UploadMethod::SinglePost => {
                let r = ctx.client.push_blob_single_post(&repo, &blob).await?;
                let followup = if r.status == 202 {
                    match r.header("location").and_then(|l| r.url.join(l).ok()) {
                        Some(mut url) => {
                            url.query_pairs_mut().append_pair("digest", blob.digest.as_str());
                            Some(ctx.client.put_upload(&repo, url, blob.bytes.clone()).await?)
                        }
                        None => None,
                    }
                } else {
                    None
                };
                (r, followup)
            }
        };
        ctx.extra_blobs.push((repo.clone(), blob.digest.clone()));
        // A blob is addressable like a manifest by name: its bytes, digest and itself as blob.
        let built = Built {
            media_type: blob.media_type.clone(),
            bytes: blob.bytes.clone(),
            digest: blob.digest.clone(),
            blobs: vec![blob],
            subject: None,
            artifact_type: None,
            config_media_type: None,
            annotations: Default::default(),
            is_index: false,
        };
        ctx.entries.insert(p.name.clone(), Entry { built: built.clone(), repo, tag: None, pushed: true, failure: None });
        return Ok(Observation { response: Some(r), followup, pushed: Some(built), ..Default::default() });
    }
    if let Some(u) = &step.upload_session {
        let repo = ctx.main.clone();
        let start = ctx.client.start_upload(&repo).await?;
        let Some(url) = start.header("location").and_then(|l| start.url.join(l).ok()) else {
            return Ok(Observation { response: Some(start), ..Default::default() });
        };
        let r = match u.action {
            SessionAction::OutOfOrder => ctx.client.patch_upload(&repo, url.clone(), 5, b"abcde".to_vec()).await?,
            SessionAction::Status => ctx.client.upload_status(&repo, url.clone()).await?,
            SessionAction::Cancel => ctx.client.cancel_upload(&repo, url.clone()).await?,
        };
        if u.action != SessionAction::Cancel {
            // Leave no open session behind.
            let _ = ctx.client.cancel_upload(&repo, url).await;
        }
        return Ok(Observation { response: Some(r), ..Default::default() });
    }
    if let Some(f) = &step.fallback_add {
        return fallback_update(ctx, f, true).await;
    }
    if let Some(f) = &step.fallback_remove {
        return fallback_update(ctx, f, false).await;
    }
    if let Some(f) = &step.fallback_read {
        let b = ctx.built(&f.of).expect("validated");
        let digest = match f.alg {
            Some(a) => Digest::of(a, &b.bytes),
            None => b.digest.clone(),
        };
        let repo = ctx.entries.get(&f.of).map_or(ctx.main.clone(), |e| e.repo.clone());
        let r = ctx.client.get_manifest(&repo, &referrers_tag(digest.as_str())).await?;
        let mut measurements = vec![];
        if !f.count_missing.is_empty() {
            let listed: HashSet<String> = r
                .json()
                .ok()
                .and_then(|v| v.get("manifests").and_then(|m| m.as_array().cloned()))
                .unwrap_or_default()
                .iter()
                .filter_map(|d| d.get("digest").and_then(|d| d.as_str()).map(str::to_string))
                .collect();
            let missing = f
                .count_missing
                .iter()
                .filter_map(|n| ctx.built(n))
                .filter(|b| !listed.contains(b.digest.as_str()))
                .count();
            measurements.push(("lost_updates".to_string(), missing as f64));
        }
        return Ok(Observation { measurements, ..listing_observation(r) });
    }
    if let Some(g) = &step.get_manifest {
        let repo = ctx.repo(g.repo);
        let reference = manifest_reference(ctx, g.of.as_deref(), g.by, &g.tag, g.referrers_tag_of.as_deref(), g.random);
        let r = match (g.method, &g.accept) {
            (ReadMethod::Get, Some(a)) => ctx.client.get_manifest_accept(&repo, &reference, a).await?,
            (ReadMethod::Get, None) => ctx.client.get_manifest(&repo, &reference).await?,
            (ReadMethod::Head, _) => ctx.client.head_manifest(&repo, &reference).await?,
        };
        return Ok(listing_observation(r));
    }
    if let Some(d) = &step.delete_manifest {
        let repo = ctx.repo(d.repo);
        let reference = manifest_reference(ctx, d.of.as_deref(), d.by, &d.tag, None, d.random);
        let r = ctx.client.delete_manifest(&repo, &reference).await?;
        let followup = match (d.then, r.status) {
            (Some(ReadMethod::Get), 202) => Some(ctx.client.get_manifest(&repo, &reference).await?),
            (Some(ReadMethod::Head), 202) => Some(ctx.client.head_manifest(&repo, &reference).await?),
            _ => None,
        };
        return Ok(Observation { response: Some(r), followup, ..Default::default() });
    }
    if let Some(t) = &step.tags_list {
        let repo = ctx.repo(t.repo);
        let r = ctx.client.tags_list(&repo, None, None).await?;
        return Ok(Observation { response: Some(r), ..Default::default() });
    }
    if let Some(m) = &step.mount {
        let into = ctx.repo(m.into);
        let from = (!m.anonymous).then(|| ctx.repo(m.from));
        let (digest, bytes) = match &m.blob_of {
            Some(n) => {
                let b = pick_blob(ctx.built(n).expect("validated"), m.which);
                (b.digest.clone(), b.bytes.clone())
            }
            None => {
                let bytes = format!("referee-unmountable-{}", new_run_id()).into_bytes();
                (Digest::sha256(&bytes), bytes)
            }
        };
        let r = ctx.client.mount_blob(&into, &digest, from.as_deref()).await?;
        ctx.extra_blobs.push((into.clone(), digest.clone()));
        // An upload session instead of a mount: finish it, so the Location is shown usable.
        let followup = if r.status == 202 {
            match r.header("location").and_then(|l| r.url.join(l).ok()) {
                Some(mut url) => {
                    url.query_pairs_mut().append_pair("digest", digest.as_str());
                    Some(ctx.client.put_upload(&into, url, bytes).await?)
                }
                None => None,
            }
        } else {
            None
        };
        return Ok(Observation { response: Some(r), followup, ..Default::default() });
    }
    if let Some(d) = &step.delete_blob {
        let repo = ctx.repo(d.repo);
        let digest = pick_blob(ctx.built(&d.blob_of).expect("validated"), d.which).digest.clone();
        let r = ctx.client.delete_blob(&repo, &digest).await?;
        let followup = match (d.then, r.status) {
            (Some(ReadMethod::Get), 202) => Some(ctx.client.get_blob(&repo, &digest).await?),
            (Some(ReadMethod::Head), 202) => Some(ctx.client.head_blob(&repo, &digest).await?),
            _ => None,
        };
        return Ok(Observation { response: Some(r), followup, ..Default::default() });
    }
    if let Some(g) = &step.get_blob {
        let repo = ctx.repo(g.repo);
        let digest = match &g.blob_of {
            Some(n) => pick_blob(ctx.built(n).expect("validated"), g.which).digest.clone(),
            None => Digest::sha256(format!("referee-absent-blob-{}", new_run_id()).as_bytes()),
        };
        let r = match g.method {
            ReadMethod::Get => ctx.client.get_blob(&repo, &digest).await?,
            ReadMethod::Head => ctx.client.head_blob(&repo, &digest).await?,
        };
        return Ok(Observation { response: Some(r), ..Default::default() });
    }
    unreachable!("validated: every step has one action")
}

/// How long referee waits for a registry to answer again after a hook.
const AFTER_HOOK_READY: Duration = Duration::from_secs(30);

/// Waits until `GET /v2/` gets any HTTP answer (bounded by [`AFTER_HOOK_READY`]). Failed
/// attempts leave the transcript (the error of the last one is in the message); the answer
/// that ends the wait stays in it.
async fn await_registry(client: &Client, hook: &str) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    while started.elapsed() < AFTER_HOOK_READY {
        match client.ping().await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        let _ = client.take_transcript();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "after the {hook} hook the registry did not answer GET /v2/ within {} s (last error: {last}); the steps after it were not run",
        AFTER_HOOK_READY.as_secs()
    ))
}

/// Pushes to another registry of the scenario; with `attach`, a referrer answered without
/// `OCI-Subject` is added to that registry's referrers tag, as a client would.
async fn push_remote(
    ctx: &mut Ctx<'_>,
    target: &str,
    name: &str,
    built: Built,
    repo: String,
    reference: &str,
    attach: bool,
) -> Result<Observation, ClientError> {
    let client = target_client(ctx, target)?;
    ctx.entries.insert(name.to_string(), Entry { built: built.clone(), repo: repo.clone(), tag: None, pushed: false, failure: None });
    let r = client.push_built(&repo, &built, reference).await?;
    ctx.remote_order.push((target.to_string(), repo.clone(), built.clone()));
    if attach && r.status == 201 && built.subject.is_some() && r.header("oci-subject").is_none() {
        match attach_via_tag(&client, &repo, &built).await? {
            Ok(index) => ctx.remote_order.push((target.to_string(), repo.clone(), index)),
            Err(why) if why.is_empty() => {}
            Err(why) => return Err(ClientError::Other { url: target.to_string(), msg: why }),
        }
    }
    let _ = client.take_transcript();
    Ok(Observation { response: Some(r), pushed: Some(built), ..Default::default() })
}

fn target_client(ctx: &Ctx, name: &str) -> Result<Client, ClientError> {
    if name == "main" {
        return Ok(ctx.client.clone());
    }
    ctx.mirrors
        .get(name)
        .cloned()
        .ok_or_else(|| ClientError::Other { url: name.into(), msg: format!("no registry named '{name}' (give --mirror {name}=URL)") })
}

/// The referrers of `digest` as a client sees them: the API, or the referrers tag on a 404.
async fn list_any(client: &Client, repo: &str, digest: &Digest) -> Result<Response, ClientError> {
    let url = client.referrers_url(repo, digest.as_str(), None, None)?;
    let api = client.referrers_page(repo, url, Scope::Pull(repo.into())).await?.response;
    if api.status != 404 {
        return Ok(api);
    }
    client.get_manifest(repo, &referrers_tag(digest.as_str())).await
}

/// Copies `of` and every referrer the source lists for it to the destination, byte for
/// byte; on a destination without `OCI-Subject` the referrers are attached through its
/// referrers tag (the spec's client steps). Then reads every copied manifest back.
async fn copy_with_referrers(ctx: &mut Ctx<'_>, c: &crate::scenario::Copy) -> Result<Observation, ClientError> {
    let src = target_client(ctx, &c.from)?;
    let dst = target_client(ctx, &c.to)?;
    let (repo, to_repo) = (ctx.repo(c.from_repo), ctx.repo(c.to_repo));
    let subject = ctx.built(&c.of).expect("validated").clone();
    let mut problems = vec![];
    let mut copied: Vec<Built> = vec![];
    let listing = list_any(&src, &repo, &subject.digest).await?;
    let digests: Vec<String> = listing
        .json()
        .ok()
        .and_then(|v| v["manifests"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["digest"].as_str().map(str::to_string))
        .collect();
    if listing.status != 200 {
        problems.push(format!("the source lists no referrers: {}", listing.describe()));
    }
    let mut last = None;
    for (i, built) in std::iter::once(subject.clone())
        .chain(digests.iter().filter_map(|d| ctx.entries.values().find(|e| e.built.digest.as_str() == d).map(|e| e.built.clone())))
        .enumerate()
    {
        // The bytes come from the source, not from memory: what is copied is what it serves.
        let fetched = src.get_manifest(&repo, built.digest.as_str()).await?;
        if fetched.body != built.bytes {
            problems.push(format!("the source serves {} with other bytes than were pushed", built.digest));
        }
        let r = dst.push_built(&to_repo, &built, built.digest.as_str()).await?;
        if r.status != 201 {
            problems.push(format!("copying {} answered {}", built.digest, r.describe()));
        }
        let to = if c.to == "main" { None } else { Some(c.to.clone()) };
        match &to {
            Some(t) => ctx.remote_order.push((t.clone(), to_repo.clone(), built.clone())),
            None => ctx.order.push((to_repo.clone(), built.clone())),
        }
        if i > 0 && r.header("oci-subject").is_none() {
            match attach_via_tag(&dst, &to_repo, &built).await? {
                Ok(index) => match &to {
                    Some(t) => ctx.remote_order.push((t.clone(), to_repo.clone(), index)),
                    None => ctx.order.push((to_repo.clone(), index)),
                },
                Err(why) if why.is_empty() => {}
                Err(why) => problems.push(why),
            }
        }
        copied.push(built);
        last = Some(r);
    }
    if digests.len() + 1 != copied.len() {
        problems.push(format!("{} referrers listed at the source, {} of them known to the scenario", digests.len(), copied.len() - 1));
    }
    for b in &copied {
        let back = dst.get_manifest(&to_repo, b.digest.as_str()).await?;
        if back.body != b.bytes {
            problems.push(format!("{} reads back from the destination with other bytes ({})", b.digest, back.describe()));
        }
    }
    let _ = (src.take_transcript(), dst.take_transcript());
    Ok(Observation { response: last, copy_problems: Some(problems), ..Default::default() })
}

/// Adds `referrer` to its subject's referrers tag on `client` (404 → empty index); returns the
/// index pushed, or why it could not be.
async fn attach_via_tag(client: &Client, repo: &str, referrer: &Built) -> Result<Result<Built, String>, ClientError> {
    let Some(subject) = &referrer.subject else { return Ok(Err("a referrer without subject".into())) };
    let tag = referrers_tag(subject.digest.as_str());
    let current = client.get_manifest(repo, &tag).await?;
    let mut b = IndexBuilder::new();
    if current.status == 200 {
        let list = current.json().ok().and_then(|v| v["manifests"].as_array().cloned()).unwrap_or_default();
        for m in &list {
            match descriptor_from_json(m) {
                // Already listed: nothing to add (an empty reason is no problem).
                Some(d) if d.digest == referrer.digest => return Ok(Err(String::new())),
                Some(d) => b = b.manifest(d),
                None => return Ok(Err(format!("the referrers tag {tag} holds an invalid descriptor"))),
            }
        }
    } else if current.status != 404 {
        return Ok(Err(format!("reading the referrers tag {tag} answered {}", current.describe())));
    }
    let index = b.manifest(referrer.referrer_descriptor()).build();
    let r = client.put_manifest(repo, &tag, &index.media_type, &index.bytes).await?;
    Ok(if r.status == 201 { Ok(index) } else { Err(format!("pushing the referrers tag {tag} answered {}", r.describe())) })
}

fn pick_blob(b: &Built, which: WhichBlob) -> &crate::oci::Blob {
    match which {
        WhichBlob::Config => b.blobs.first().expect("image manifests have a config"),
        WhichBlob::Layer => b.blobs.last().expect("image manifests have blobs"),
    }
}

/// A response that may be an index: listing expectations judge its `manifests`.
fn listing_observation(r: Response) -> Observation {
    let pages = if r.status == 200 && r.json().is_ok_and(|v| v.get("manifests").is_some()) { vec![r.clone()] } else { vec![] };
    Observation { response: Some(r), pages, ..Default::default() }
}

fn manifest_reference(ctx: &Ctx, of: Option<&str>, by: By, tag: &Option<String>, rt_of: Option<&str>, random: bool) -> String {
    if let Some(s) = rt_of {
        return referrers_tag(ctx.built(s).expect("validated").digest.as_str());
    }
    if random || of.is_none() {
        return Digest::sha256(format!("referee-absent-{}", new_run_id()).as_bytes()).to_string();
    }
    let name = of.expect("checked");
    let e = ctx.entries.get(name).expect("validated");
    match by {
        By::Digest => e.built.digest.to_string(),
        By::Tag => tag.clone().or_else(|| e.tag.clone()).unwrap_or_else(|| slug(name)),
    }
}

/// The client side of the referrers tag schema ("Pushing Manifests with Subject" steps 1–6 to
/// add; "Deleting Manifests" steps 1–3 to remove): read the tag (404 → empty index), add or
/// remove the referrer's descriptor without duplicates, push the index under the same tag —
/// as the chosen client does it.
/// A client-side update of the referrers tag; conditional ones retry on 412 as `retries` says
/// (with a short, growing pause) and report how many retries they made.
async fn fallback_update(ctx: &mut Ctx<'_>, f: &FallbackAdd, add: bool) -> Result<Observation, ClientError> {
    let max = f.retries.min(crate::scenario::MAX_FALLBACK_RETRIES);
    let mut retries = 0u32;
    loop {
        let mut obs = fallback_update_once(ctx, f, add).await?;
        let refused = f.conditional && obs.followup.as_ref().is_some_and(|p| p.status == 412);
        if !refused || retries >= max {
            if f.conditional {
                obs.measurements.push(("conditional_retries".into(), f64::from(retries)));
            }
            return Ok(obs);
        }
        retries += 1;
        // Earlier attempts stay in the transcript: they show the 412s.
        tokio::time::sleep(Duration::from_millis(u64::from(retries.min(10)) * 3)).await;
    }
}

async fn fallback_update_once(ctx: &mut Ctx<'_>, f: &FallbackAdd, add: bool) -> Result<Observation, ClientError> {
    let referrer = f.referrer.as_str();
    let e = ctx.entries.get(referrer).expect("validated");
    let (r, repo) = (e.built.clone(), e.repo.clone());
    let Some(subject) = &r.subject else {
        return Err(ClientError::Other { url: repo, msg: format!("'{referrer}' has no subject (scenario error)") });
    };
    let tag = referrers_tag(subject.digest.as_str());
    let current = ctx.client.get_manifest(&repo, &tag).await?;
    let previous = (current.status == 200).then(|| Digest::sha256(&current.body));
    let mut descriptors = vec![];
    match current.status {
        404 => {}
        200 => {
            let parsed = current.json().ok().and_then(|v| v.get("manifests").and_then(|m| m.as_array().cloned()));
            let Some(list) = parsed else {
                // Step 2: "If that pull returns a manifest other than the expected image index,
                // the client SHOULD report a failure and skip the remaining steps."
                return Ok(Observation { response: Some(current), ..Default::default() });
            };
            for m in &list {
                match descriptor_from_json(m) {
                    Some(d) => descriptors.push(d),
                    None => return Ok(Observation { response: Some(current), ..Default::default() }),
                }
            }
        }
        _ => return Ok(Observation { response: Some(current), ..Default::default() }),
    }
    let present = descriptors.iter().any(|d| d.digest == r.digest);
    if add && present {
        return Ok(Observation { response: Some(current), ..Default::default() });
    }
    if add {
        let d = match f.client {
            // ggcr appends the bare descriptor (cosign#4641, ggcr#1997).
            ClientMode::Ggcr => r.descriptor(),
            _ => r.referrer_descriptor(),
        };
        descriptors.push(d);
        if f.client == ClientMode::Ggcr {
            descriptors.sort_by(|a, b| a.digest.cmp(&b.digest));
        }
    } else {
        descriptors.retain(|d| d.digest != r.digest);
    }
    let name = f.r#as.clone().unwrap_or_else(|| format!("{referrer}-fallback-{}", ctx.order.len()));
    // regclient deletes the tag once nothing is left, pushing an empty index only when the
    // registry refuses tag deletion.
    if !add && descriptors.is_empty() && f.client == ClientMode::Regclient {
        let del = ctx.client.delete_manifest(&repo, &tag).await?;
        if del.status == 202 {
            return Ok(Observation { response: Some(del), ..Default::default() });
        }
    }
    let index = descriptors.into_iter().fold(IndexBuilder::new(), |b, d| b.manifest(d)).build();
    let mut obs = if f.conditional {
        // Update what was read (If-Match: its ETag), or create what was absent (If-None-Match: *).
        let condition = match current.status {
            404 => Some(("if-none-match", "*".to_string())),
            _ => current.header("etag").map(|e| ("if-match", e.to_string())),
        };
        ctx.entries.insert(name.clone(), Entry { built: index.clone(), repo: repo.clone(), tag: Some(tag.clone()), pushed: false, failure: None });
        ctx.order.push((repo.clone(), index.clone()));
        let Some(condition) = condition else {
            return Ok(Observation { response: Some(current), ..Default::default() });
        };
        let put = ctx.client.put_manifest_with_headers(&repo, &tag, &index.media_type, &index.bytes, &[condition]).await?;
        if let Some(en) = ctx.entries.get_mut(&name) {
            en.pushed = put.status == 201;
        }
        Observation { response: Some(current), followup: Some(put), pushed: Some(index.clone()), ..Default::default() }
    } else {
        push(ctx, &name, index.clone(), repo.clone(), tag, false).await?
    };
    // oras-go removes the index it replaced (SkipReferrersGC = false), once its own is in.
    let in_place = obs.followup.as_ref().or(obs.response.as_ref()).is_some_and(|r| r.status == 201);
    if f.client == ClientMode::OrasGo
        && in_place
        && let Some(old) = previous
        && old != index.digest
    {
        let del = ctx.client.delete_manifest(&repo, old.as_str()).await?;
        if !matches!(del.status, 202 | 404) {
            obs.followup = Some(del);
        }
    }
    Ok(obs)
}

/// Reads a referrers listing, following `Link` when asked, with a bound on pages and a check
/// for loops.
async fn list(
    ctx: &mut Ctx<'_>,
    repo: &str,
    url: reqwest::Url,
    scope: Scope,
    pages: Pages,
    insert: Option<&PushArtifact>,
) -> Result<Observation, ClientError> {
    let mut obs = Observation::default();
    let mut seen = HashSet::new();
    let mut next = Some(url);
    while let Some(u) = next.take() {
        if !seen.insert(u.to_string()) {
            obs.chain_error = Some(format!("Link loop: page {} points back to {u}, already read", obs.pages.len()));
            break;
        }
        if obs.pages.len() >= ctx.max_pages {
            obs.chain_error = Some(format!("more than {} pages; the Link chain does not end", ctx.max_pages));
            break;
        }
        let page = ctx.client.referrers_page(repo, u, scope.clone()).await?;
        if let Some(e) = &page.link_error {
            obs.link_errors.push(format!("page {}: {e}", obs.pages.len() + 1));
        }
        let ok = page.response.status == 200;
        if obs.response.is_none() {
            obs.response = Some(page.response.clone());
        }
        obs.pages.push(page.response);
        if pages == Pages::All && ok {
            next = page.next;
        }
        if obs.pages.len() == 1
            && let Some(p) = insert
        {
            let built = build_artifact(ctx, p);
            let reference = reference(&built, p.by, &p.tag, &p.name);
            let r = push(ctx, &p.name, built, repo.to_string(), reference, false).await?;
            if r.response.as_ref().is_none_or(|r: &Response| r.status != 201) {
                obs.chain_error = Some(format!(
                    "the insert between pages failed: {}",
                    r.response.map_or("no answer".into(), |r| r.describe())
                ));
            }
        }
    }
    Ok(obs)
}

async fn cleanup_ctx(ctx: &Ctx<'_>, residue: &mut Vec<Residue>) {
    let mut by_repo: Vec<(String, Vec<Built>)> = vec![];
    for (repo, b) in &ctx.order {
        match by_repo.iter_mut().find(|(r, _)| r == repo) {
            Some((_, v)) => v.push(b.clone()),
            None => by_repo.push((repo.clone(), vec![b.clone()])),
        }
    }
    for (repo, built) in by_repo {
        cleanup(ctx.client, &repo, &built, residue).await;
    }
    for (target, repo, built) in ctx.remote_order.iter().rev() {
        if let Some(c) = ctx.mirrors.get(target) {
            cleanup(c, repo, std::slice::from_ref(built), residue).await;
        }
    }
    for (repo, digest) in &ctx.extra_blobs {
        let r = ctx.client.delete_blob(repo, digest).await;
        record_delete(residue, repo, digest, "blob", r);
    }
    let _ = ctx.client.take_transcript();
}

/// Deletes manifests (newest first, so referrers go before subjects) and then blobs. What the
/// registry refuses is recorded as residue, never silently left.
async fn cleanup(client: &Client, repo: &str, pushed: &[Built], residue: &mut Vec<Residue>) {
    let mut done = HashSet::new();
    for b in pushed.iter().rev() {
        if done.insert(b.digest.to_string()) {
            let r = client.delete_manifest(repo, b.digest.as_str()).await;
            record_delete(residue, repo, &b.digest, "manifest", r);
        }
    }
    for blob in pushed.iter().flat_map(|b| &b.blobs) {
        if done.insert(blob.digest.to_string()) {
            let r = client.delete_blob(repo, &blob.digest).await;
            record_delete(residue, repo, &blob.digest, "blob", r);
        }
    }
    let _ = client.take_transcript();
}

/// A delete that did not succeed (202, or 404 for already gone) leaves residue.
fn record_delete(residue: &mut Vec<Residue>, repo: &str, digest: &Digest, kind: &str, r: Result<Response, ClientError>) {
    let why = match r {
        Ok(r) if matches!(r.status, 200 | 202 | 204 | 404) => return,
        Ok(r) => format!("DELETE answered {}", r.describe()),
        Err(e) => e.to_string(),
    };
    residue.push(Residue { repository: repo.into(), reference: digest.to_string(), kind: kind.into(), why });
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    if let Some(p) = &s.parallel {
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
        assert_eq!(t[0].push_image.as_ref().unwrap().tag.as_deref(), Some("race-3"));
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
