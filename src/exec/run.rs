//! Running a [`Plan`]: probe the registry, run each scenario's steps (`step`) in fresh
//! repositories, turn the judgements into verdicts (`verdict`), clean up (`cleanup`), and emit
//! [`RunEvent`]s. Never formats text for people; reporters do that.

use super::cleanup::{cleanup, cleanup_ctx};
use super::context::{Ctx, new_run_id, slug};
use super::outcome::*;
use super::step::{StepEnv, run_step};
use super::verdict::{Acc, add};
use crate::client::{Client, ClientError, Exchange, Scope};
use crate::oci::ManifestBuilder;
use crate::plan::{CheckInfo, Plan, PlannedScenario};
use crate::scenario::{Capability, Citation};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

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
    pub declares: super::Declares,
    /// The profile's name, for reports.
    pub profile: String,
    /// Lifecycle hooks by name.
    pub hooks: super::hooks::Hooks,
    /// Other registries scenarios may name (`targets:`), with their clients.
    pub mirrors: Vec<(String, Client)>,
    /// Set when the run is to stop (the first Ctrl-C): the step in flight finishes, its
    /// scenario cleans up, and nothing more is sent.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The run's id (in every repository name); a fresh one when `None`.
    pub run_id: Option<String>,
    /// Scenarios run at the same time (each in repositories of its own); those with a
    /// parallel block or a lifecycle hook run alone.
    pub jobs: usize,
    /// Told as scenarios start and finish, in real time (a progress display).
    pub progress: Option<ProgressSink>,
}

/// What a progress display is told. Unlike [`RunEvent`]s, which follow the library's order,
/// these come as it happens, from the scenarios running at the same time.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Planned { scenarios: usize },
    Started { id: &'a str },
    Finished { id: &'a str },
}

/// Where [`Progress`] goes.
#[derive(Clone)]
pub struct ProgressSink(pub std::sync::Arc<dyn Fn(Progress<'_>) + Send + Sync>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// The default of `--jobs`.
pub const DEFAULT_JOBS: usize = 8;

impl RunOptions {
    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Why a check has no verdict when the run was stopped.
const INTERRUPTED: &str = "interrupted: the run was stopped before this check finished";

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
            stop: None,
            run_id: None,
            jobs: 1,
            progress: None,
        }
    }
}

/// A scenario pushing this many bytes of manifests or more runs alone (see [`runs_alone`]).
pub const HEAVY_BYTES: usize = 1_000_000;

/// Whether `s` must have the registry to itself: a lifecycle hook (garbage collection, a
/// restart, switching the referrers API) acts on every repository; a parallel block measures
/// races that other traffic would blur; and a scenario pushing [`HEAVY_BYTES`] of manifests
/// slows every other scenario on a registry whose listing reads its whole storage (seen on
/// ferro-oci-server 1.0.0: the library took 22 s beside the pagination scenario's ten 900 KB
/// referrers, 5 s without).
pub fn runs_alone(s: &PlannedScenario) -> bool {
    let heavy: usize = s
        .file
        .steps
        .iter()
        .map(|st| match &st.action {
            crate::scenario::Action::PushArtifact(a) => a.annotation_bytes,
            _ => 0,
        })
        .sum();
    heavy >= HEAVY_BYTES
        || s.file.steps.iter().any(|st| {
            matches!(st.action, crate::scenario::Action::Hook(_) | crate::scenario::Action::Parallel(_) | crate::scenario::Action::Together(_))
        })
}

/// Runs the plan against the registry behind `client`.
pub async fn run(plan: &Plan, client: &Client, opts: &RunOptions, sink: &mut dyn FnMut(RunEvent)) -> RunReport {
    let started = Instant::now();
    let run_id = opts.run_id.clone().unwrap_or_else(new_run_id);
    let mut report = RunReport::new(opts.target_label.clone(), opts.embedded, opts.profile.clone(), run_id.clone());
    let prefix = opts.repo_prefix.trim_matches('/').to_string();
    let probe_client = client.fork();
    match probe(&probe_client, &format!("{prefix}/probe-{run_id}"), &mut report.residue).await {
        Ok(caps) => report.capabilities = caps,
        Err(e) => {
            // The harness cannot run at all: said once (RunFailed), every check Errored in the
            // reports with the same reason.
            let msg = format!("the capability probe failed, so no check ran: {e}");
            report.run_error = Some(msg.clone());
            let transcript = probe_client.take_transcript();
            for s in &plan.scenarios {
                for info in &s.checks {
                    report.checks.push(result(info, Outcome::Errored, msg.clone(), transcript.clone()));
                }
            }
            sink(RunEvent::RunFailed { error: &e.to_string(), checks: report.checks.len() });
            report.duration_ms = started.elapsed().as_millis() as u64;
            return report;
        }
    }
    sink(RunEvent::Probed(&report.capabilities));
    let tell = |p: Progress| {
        if let Some(s) = &opts.progress {
            (s.0)(p)
        }
    };
    tell(Progress::Planned { scenarios: plan.scenarios.len() });
    let caps = report.capabilities.clone();
    let (prefix, run_id, caps) = (&prefix, &run_id, &caps);
    let one = |i: usize| async move {
        let s = &plan.scenarios[i];
        if opts.stopped() {
            return (i, None);
        }
        let repo = format!("{prefix}/{}-{run_id}", slug(&s.id));
        let mut residue = vec![];
        tell(Progress::Started { id: &s.id });
        let results = run_scenario(s, &client.fork(), &repo, caps, opts, &mut residue).await;
        tell(Progress::Finished { id: &s.id });
        (i, Some((repo, results, residue)))
    };
    // Scenarios that need the registry to themselves run first, one at a time; then the others,
    // up to `jobs` at a time, the costliest first so the longest one does not start last.
    // Results are reported in the library's order whatever order they finish in.
    let (alone, shared): (Vec<usize>, Vec<usize>) = (0..plan.scenarios.len()).partition(|&i| runs_alone(&plan.scenarios[i]));
    let mut shared = shared;
    shared.sort_by_key(|&i| std::cmp::Reverse(cost(&plan.scenarios[i])));
    let mut slots: Vec<Option<Option<ScenarioRun>>> = (0..plan.scenarios.len()).map(|_| None).collect();
    let mut emitted = 0;
    for i in alone {
        let (i, out) = one(i).await;
        slots[i] = Some(out);
        emit_ready(plan, &mut slots, &mut emitted, &mut report, opts, sink);
    }
    let mut done = futures::stream::iter(shared.into_iter().map(one)).buffer_unordered(opts.jobs.max(1));
    while let Some((i, out)) = done.next().await {
        slots[i] = Some(out);
        emit_ready(plan, &mut slots, &mut emitted, &mut report, opts, sink);
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

/// What one scenario gave: its repository, its results, what it could not delete (`None`
/// when the run was stopped before it started).
type ScenarioRun = (String, Vec<CheckResult>, Vec<Residue>);

/// Reports every finished scenario whose predecessors in the library are all reported.
fn emit_ready(
    plan: &Plan,
    slots: &mut [Option<Option<ScenarioRun>>],
    emitted: &mut usize,
    report: &mut RunReport,
    opts: &RunOptions,
    sink: &mut dyn FnMut(RunEvent),
) {
    while *emitted < slots.len() {
        let Some(out) = slots[*emitted].take() else { return };
        let s = &plan.scenarios[*emitted];
        *emitted += 1;
        let Some((repo, results, residue)) = out else {
            report.interrupted = true;
            for info in &s.checks {
                let r = result(info, Outcome::Errored, INTERRUPTED.into(), vec![]);
                sink(RunEvent::CheckFinished(&r));
                report.checks.push(r);
            }
            continue;
        };
        sink(RunEvent::ScenarioStarted { id: &s.id, repository: &repo });
        for r in results {
            sink(RunEvent::CheckFinished(&r));
            report.checks.push(r);
        }
        report.residue.extend(residue);
        report.interrupted |= opts.stopped();
    }
}

/// A rough cost, to start the longest scenarios first: its steps, a step pushing a large
/// manifest counting as many (a 900 KB annotation as ten steps).
fn cost(s: &PlannedScenario) -> usize {
    s.file
        .steps
        .iter()
        .map(|st| match &st.action {
            crate::scenario::Action::PushArtifact(a) => 1 + a.annotation_bytes / 90_000,
            _ => 1,
        })
        .sum()
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
pub async fn probe(client: &Client, repo: &str, residue: &mut Vec<Residue>) -> Result<Vec<CapabilityStatus>, ClientError> {
    let ping = client.ping().await?;
    if ping.status == 401 || ping.status == 403 {
        let who = client.config().username.as_deref().map_or("no credentials were given".to_string(), |u| format!("credentials for user '{u}' were rejected"));
        return Err(ClientError::Unauthorized(format!("GET /v2/ answered {} after authentication: {who}", ping.status)));
    }
    // Any other answer is judged by check A1; the pushes below tell whether a registry is there.
    let not_a_registry = |what: String| {
        let url = ping.url.to_string();
        match ping.status {
            200 => ClientError::Other { url, msg: what },
            _ => ClientError::NotARegistry(format!("GET {url} answered {}, and {what}", ping.describe())),
        }
    };
    let img = ManifestBuilder::image(&format!("probe-{repo}")).build();
    let pushed = match client.push_built(repo, &img, img.digest.as_str()).await {
        Ok(r) => r,
        Err(e) if ping.status != 200 => return Err(not_a_registry(format!("pushing an image failed: {e}"))),
        Err(e) => return Err(e),
    };
    if pushed.status == 401 || pushed.status == 403 {
        return Err(ClientError::Unauthorized(format!("pushing to {repo} answered {}: the credentials may not push", pushed.status)));
    }
    if pushed.status != 201 && ping.status != 200 {
        let ct = pushed.header("content-type").unwrap_or("no content-type");
        return Err(not_a_registry(format!("pushing an image answered {} ({ct})", pushed.status)));
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

/// Why the profile's declarations alone skip `c` (`skip_if_declared`), known before anything is
/// sent.
pub fn skipped_by_declaration(c: &CheckInfo, declares: &super::Declares) -> Option<String> {
    let s = c.skip_if_declared.as_ref()?;
    let value = declares.get(&s.key)?;
    s.values.contains(value).then(|| format!("the profile declares {}: {value}: {}", s.key, s.reason))
}

/// The first other registry `s` names that is not among `mirrors` (the scenario then sends
/// nothing).
pub fn missing_target<'s>(s: &'s PlannedScenario, mirrors: &[&str]) -> Option<&'s String> {
    s.file.targets.iter().find(|t| !mirrors.contains(&t.as_str()))
}

pub async fn run_scenario(
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
        lacks.or_else(|| skipped_by_declaration(c, &opts.declares))
    };
    // A scenario that names a registry nobody gave sends nothing.
    let mirrors: Vec<&str> = opts.mirrors.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(t) = missing_target(s, &mirrors) {
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
    let mut acc: HashMap<String, Acc> = s.checks.iter().map(|c| (c.id.clone(), Acc::new(missing(c)))).collect();
    let skipped_for_caps: HashSet<String> =
        s.checks.iter().filter(|c| missing(c).is_some()).map(|c| c.id.clone()).collect();
    let mut ctx = Ctx::new(client, repo, opts);
    let live: HashSet<String> = acc
        .keys()
        .filter(|id| !skipped_for_caps.contains(*id) && !s.disabled.contains(*id))
        .cloned()
        .collect();
    let mut live = live;
    let cites: HashMap<String, Citation> = s
        .checks
        .iter()
        .map(|c| (c.id.clone(), Citation { keyword: c.keyword, rule: c.rule.clone(), reading: c.reading.clone() }))
        .collect();
    let mut interrupted = false;
    for (i, step) in s.file.steps.iter().enumerate() {
        // Stopped: the step in flight has finished; clean up and judge no further.
        if opts.stopped() {
            interrupted = true;
            break;
        }
        let label = format!("step {} ({})", i + 1, step.action.key());
        let env = StepEnv { live: &live, checks: &cites, declares: &opts.declares };
        let out = run_step(label, step, &mut ctx, &env).await;
        for c in out {
            // A check Skipped because what it tests is not offered is judged no further.
            if c.ends_check {
                live.remove(&c.id);
            }
            add(&mut acc, c);
        }
    }
    cleanup_ctx(&ctx, residue).await;
    let elapsed = started.elapsed().as_millis() as u64;
    s.checks
        .iter()
        .map(|info| {
            let a = acc.remove(&info.id).expect("every check has an accumulator");
            let (outcome, reason) = if interrupted && a.outcome < Outcome::Failed {
                (Outcome::Errored, INTERRUPTED.to_string())
            } else if a.outcome == Outcome::Disabled {
                (Outcome::Errored, "no step evaluated this check (scenario error)".to_string())
            } else {
                (a.outcome, a.reason())
            };
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
