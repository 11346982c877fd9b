//! `referee graph`: generated artifact graphs run against a registry as scenarios, each case in
//! fresh repositories and cleaned up; the first failure is shrunk (proptest) and the smallest
//! failing graph is written as a scenario file that `referee run --scenarios` replays.
//!
//! The verdicts are `run`'s: each case is a scenario judged by the executor with the profile's
//! declarations, so a MUST broken is a FAIL, a reading a WARN, a capability the registry lacks
//! a SKIP. A case fails (and is shrunk) only on a FAIL.

use super::model::Graph;
use super::scenario::{Mode, to_scenario};
use super::strategy::{GraphParams, graph};
use crate::app::{AppError, load_profile};
use crate::client::{Client, ClientConfig};
use crate::exec::outcome::GraphSummary;
use crate::exec::{self, CapabilityStatus, CheckResult, Outcome, Residue, RunOptions, RunReport};
use crate::registry::{EmbeddedRegistry, RegistryConfig};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which way referrers are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// The API when the registry has it (the probe says), else the referrers tag.
    Auto,
    Api,
    Fallback,
}

/// Everything `referee graph` needs.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// A registry URL; `None` starts the embedded registry (`embedded`) on 127.0.0.1:0.
    pub target: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A registry token (`Authorization: Bearer`), for registries that hand them out.
    pub token: Option<String>,
    pub insecure: bool,
    pub timeout: Duration,
    pub cases: u32,
    pub seed: u64,
    /// A vendor profile (`embedded` without a target, `strict` with one).
    pub profile: Option<String>,
    pub mode: ModeChoice,
    pub embedded: RegistryConfig,
    /// Where graph-junit.xml, graph-results.json and a counterexample go; `None` writes nothing.
    pub report_dir: Option<PathBuf>,
    pub repo_prefix: String,
    pub params: GraphParams,
    /// At most this many shrinking steps (each runs a case).
    pub max_shrink_steps: u32,
    /// What fails a case (and is shrunk, and sets the exit code): a FAIL, or a WARN too.
    pub fail_on: crate::exit::FailOn,
    pub quiet: bool,
    pub handle_signals: bool,
}

impl GraphConfig {
    pub fn new(cases: u32, seed: u64) -> GraphConfig {
        GraphConfig {
            target: None,
            username: None,
            password: None,
            token: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            cases,
            seed,
            profile: None,
            mode: ModeChoice::Auto,
            embedded: RegistryConfig::default(),
            report_dir: None,
            repo_prefix: "referee".into(),
            params: default_params(),
            max_shrink_steps: 400,
            fail_on: crate::exit::FailOn::Fail,
            quiet: true,
            handle_signals: false,
        }
    }
}

/// The graphs `referee graph` makes: up to 12 nodes, a hub with up to 12 extra referrers (so
/// listings page on registries with small pages), groups of up to 8 concurrent pushes.
pub fn default_params() -> GraphParams {
    GraphParams { nodes: 1..=12, fanout: 0..=12, max_group: 8, max_annotation: 2048, indexes: true }
}

/// What a graph run gave.
pub struct GraphOutput {
    pub report: RunReport,
    pub files: Vec<PathBuf>,
    /// The scenario file replaying the shrunk failure, when a case failed.
    pub counterexample: Option<PathBuf>,
}

/// One case's verdicts.
struct CaseRun {
    results: Vec<CheckResult>,
    residue: Vec<Residue>,
    text: String,
}

/// What the cases so far add up to: per check, how many cases ended how, and the result that
/// speaks for it (the first at its worst outcome).
#[derive(Default)]
struct Tally {
    per_check: BTreeMap<String, (CheckResult, u32, BTreeMap<Outcome, u32>)>,
    residue: Vec<Residue>,
    cases_run: u32,
    shrink_steps: u32,
    failing_case: Option<(u32, usize)>,
    runs: u32,
    /// The harness could not run a case (a referee bug in a generated file): the first reason.
    harness_error: Option<String>,
}

impl Tally {
    fn add(&mut self, case: u32, results: Vec<CheckResult>) {
        for r in results {
            let e = self.per_check.entry(r.info.id.clone()).or_insert_with(|| (r.clone(), case, BTreeMap::new()));
            *e.2.entry(r.outcome).or_insert(0) += 1;
            if rank(r.outcome) > rank(e.0.outcome) {
                *e = (r, case, std::mem::take(&mut e.2));
            }
        }
    }
}

/// Which case speaks for a check: a registry's FAIL over the harness's ERROR (a timed-out case
/// must not hide another case's broken MUST), then WARN, SKIP, PASS.
fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Failed => 5,
        Outcome::Errored => 4,
        Outcome::Warned => 3,
        Outcome::Skipped => 2,
        Outcome::Passed => 1,
        Outcome::Disabled => 0,
    }
}

/// Everything a case needs, shared with the blocking proptest loop.
struct Runner {
    client: Client,
    caps: Vec<CapabilityStatus>,
    opts: RunOptions,
    mode: Mode,
    prefix: String,
    run_id: String,
    seed: u64,
    target: String,
}

impl Runner {
    async fn case(&self, g: &Graph, n: u32, comment: &str) -> Result<CaseRun, String> {
        self.case_as(g, n, &format!("{}-{n}", self.seed), comment).await
    }

    async fn case_as(&self, g: &Graph, n: u32, id: &str, comment: &str) -> Result<CaseRun, String> {
        let text = to_scenario(g, self.mode, id, comment);
        let path = PathBuf::from(format!("graph-{id}.yaml"));
        let file = crate::scenario::parse(&path, &text).map_err(|d| format!("a generated scenario does not parse (a referee bug): {d}"))?;
        let loaded = crate::scenario::Loaded { path, text: text.clone(), file };
        let plan = crate::plan::plan(&[loaded], &[])
            .map_err(|d| format!("a generated scenario is invalid (a referee bug): {}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")))?;
        let s = plan.scenarios.first().ok_or("a generated scenario has no checks (a referee bug)")?;
        let repo = format!("{}/graph-{}-{n}", self.prefix, self.run_id);
        let mut residue = vec![];
        let results = exec::run::run_scenario(s, &self.client.fork(), &repo, &self.caps, &self.opts, &mut residue).await;
        Ok(CaseRun { results, residue, text })
    }
}

fn seed_rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"referee!");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// `referee graph`.
pub async fn run(cfg: GraphConfig) -> Result<GraphOutput, AppError> {
    let default_profile = if cfg.target.is_none() { "embedded" } else { "strict" };
    let (profile, hooks) = load_profile(Some(cfg.profile.as_deref().unwrap_or(default_profile)), &[])?;
    let mut declared: Vec<(String, String)> =
        profile.declares.iter().filter(|(_, v)| v.as_str() != "unknown").map(|(k, v)| (k.clone(), v.clone())).collect();
    // The embedded registry referee starts lists every write at once unless a lag fault says
    // otherwise: a fact about it, not a guess, and what keeps shrinking quick.
    if cfg.target.is_none() && cfg.embedded.faults.referrers_lag_ms == 0 && !declared.iter().any(|(k, _)| k == "listing_convergence") {
        declared.push(("listing_convergence".into(), "immediate".into()));
    }
    // A profile that declares indexes are refused gets graphs without them.
    let rejects_indexes = declared.iter().any(|(k, v)| k == "index_referrer" && v.starts_with("reject"));
    let declares = exec::Declares::from_profile(declared);
    let (registry, base) = match &cfg.target {
        Some(t) => (None, t.trim_end_matches('/').to_string()),
        None => {
            let reg = EmbeddedRegistry::start(cfg.embedded.clone(), "127.0.0.1:0".parse().expect("addr"))
                .await
                .map_err(|e| AppError::Harness(format!("cannot start the embedded registry: {e}")))?;
            let url = reg.url();
            (Some(reg), url)
        }
    };
    let client = Client::new(ClientConfig {
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        token: cfg.token.clone(),
        insecure: cfg.insecure,
        timeout: cfg.timeout,
        ..ClientConfig::new(&base)
    })
    .map_err(|e| AppError::Usage(e.to_string()))?;
    let mut cfg = cfg;
    cfg.params.indexes &= !rejects_indexes;
    let out = run_with(&cfg, client, base, registry.is_some(), profile.name.clone(), hooks, declares).await;
    if let Some(r) = registry {
        r.shutdown().await;
    }
    out
}

/// Whether a case's verdicts fail it under `fail_on`, and the first reason.
fn failing(results: &[CheckResult], fail_on: crate::exit::FailOn) -> Option<String> {
    let bad = |o: Outcome| o == Outcome::Failed || (fail_on == crate::exit::FailOn::Warn && o == Outcome::Warned);
    results.iter().find(|r| bad(r.outcome)).map(|r| format!("{}: {}", r.info.id, r.reason))
}

#[allow(clippy::too_many_arguments)]
async fn run_with(
    cfg: &GraphConfig,
    client: Client,
    base: String,
    embedded: bool,
    profile: String,
    hooks: exec::hooks::Hooks,
    declares: exec::Declares,
) -> Result<GraphOutput, AppError> {
    let started = Instant::now();
    let run_id = exec::new_run_id();
    let prefix = cfg.repo_prefix.trim_matches('/').to_string();
    let target_label = if embedded { format!("{base} (embedded)") } else { base.clone() };
    let mut report = RunReport::new(target_label.clone(), embedded, profile.clone(), run_id.clone());
    let caps = match exec::run::probe(&client.fork(), &format!("{prefix}/graph-probe-{run_id}"), &mut report.residue).await {
        Ok(caps) => caps,
        Err(e) => {
            // Said once, and written where CI looks.
            report.run_error = Some(format!("the capability probe failed, so no case ran: {e}"));
            report.duration_ms = started.elapsed().as_millis() as u64;
            let files = write_reports(cfg, &report)?;
            return Ok(GraphOutput { report, files, counterexample: None });
        }
    };
    let has_api = caps.iter().any(|c| c.name == crate::scenario::Capability::ReferrersApi.name() && c.supported);
    let mode = match cfg.mode {
        ModeChoice::Api => Mode::Api,
        ModeChoice::Fallback => Mode::Fallback,
        ModeChoice::Auto if has_api => Mode::Api,
        ModeChoice::Auto => Mode::Fallback,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = cfg.handle_signals.then(|| {
        let first = "interrupted: finishing the step in flight, then deleting what this case pushed and writing the reports (again to stop at once)".to_string();
        let second = format!("stopped at once: what this run pushed may be left in the repositories {prefix}/graph-{run_id}-*");
        tokio::spawn(crate::app::watch_signals(stop.clone(), first, second))
    });
    let opts = RunOptions {
        repo_prefix: prefix.clone(),
        target_label: target_label.clone(),
        embedded,
        declares,
        profile: profile.clone(),
        hooks,
        stop: Some(stop.clone()),
        run_id: Some(run_id.clone()),
        ..RunOptions::default()
    };
    let runner = Arc::new(Runner { client, caps: caps.clone(), opts, mode, prefix: prefix.clone(), run_id: run_id.clone(), seed: cfg.seed, target: base.clone() });
    let tally = Arc::new(Mutex::new(Tally::default()));
    let progress = progress_bar(cfg.cases, cfg.quiet);
    let handle = tokio::runtime::Handle::current();
    // proptest shrinks with a quarter of the budget (its own steps on the strategy's choices);
    // the greedy pass over the graph gets the rest.
    let proptest_budget = cfg.max_shrink_steps / 4;
    let (cases, seed, params, fail_on) = (cfg.cases, cfg.seed, cfg.params.clone(), cfg.fail_on);
    let (r2, t2, s2, p2) = (runner.clone(), tally.clone(), stop.clone(), progress.clone());
    // proptest's runner is synchronous: it runs on a blocking thread and drives each case on
    // the runtime.
    let outcome = tokio::task::spawn_blocking(move || {
        // No iteration limit of proptest's own (it would print its own message): the budget is
        // counted here, and past it a candidate is not run and counts as passing, so proptest
        // ends its shrinking at the smallest graph seen failing. The time limit is a backstop.
        // Few regenerations of the push order while shrinking: each would be a real case.
        let config = Config {
            cases,
            max_shrink_iters: u32::MAX,
            max_shrink_time: 30 * 60 * 1000,
            max_flat_map_regens: 2,
            failure_persistence: None,
            ..Config::default()
        };
        let mut prop = TestRunner::new_with_rng(config, seed_rng(seed));
        let failed = AtomicBool::new(false);
        prop.run(&graph(params), |g| {
            if s2.load(Ordering::SeqCst) {
                return Ok(());
            }
            let shrinking = failed.load(Ordering::SeqCst);
            let n = {
                let mut t = t2.lock().expect("tally");
                if shrinking && t.shrink_steps >= proptest_budget {
                    return Ok(());
                }
                t.runs += 1;
                if shrinking {
                    t.shrink_steps += 1;
                } else {
                    t.cases_run += 1;
                }
                t.runs
            };
            if shrinking {
                p2.set_message(format!("shrinking: {} nodes", g.nodes.len()));
            } else {
                p2.set_position(u64::from(n));
            }
            let comment = format!("referee graph, seed {seed}, run {n}");
            // A case the harness could not run says nothing about the registry: rejected, so
            // proptest neither shrinks towards it nor counts it as a failure.
            let case = match handle.block_on(r2.case(&g, n, &comment)) {
                Ok(c) => c,
                Err(why) => {
                    t2.lock().expect("tally").harness_error.get_or_insert_with(|| why.clone());
                    return Err(TestCaseError::reject(why));
                }
            };
            let fail = failing(&case.results, fail_on);
            let mut t = t2.lock().expect("tally");
            t.residue.extend(case.residue);
            if !shrinking {
                t.add(n, case.results);
            }
            match fail {
                Some(why) => {
                    if !shrinking {
                        t.failing_case = Some((n, g.nodes.len()));
                        failed.store(true, Ordering::SeqCst);
                    }
                    Err(TestCaseError::fail(why))
                }
                None => Ok(()),
            }
        })
    })
    .await
    .map_err(|e| AppError::Harness(format!("the case runner stopped: {e}")))?;
    let mut tally = std::mem::take(&mut *tally.lock().expect("tally"));
    let mut summary = GraphSummary {
        seed: cfg.seed,
        cases: cfg.cases,
        cases_run: tally.cases_run,
        mode: mode.name().into(),
        failing_case: tally.failing_case.map(|(n, _)| n),
        original_nodes: tally.failing_case.map(|(_, len)| len),
        shrunk_nodes: None,
        shrink_steps: tally.shrink_steps,
        counterexample: None,
        replay: None,
    };
    let mut counterexample = None;
    let file = cfg.report_dir.as_ref().map(|d| absolute(d).join(format!("graph-{}-counterexample.yaml", cfg.seed)));
    match outcome {
        Ok(()) => {
            // This run found nothing: a counterexample an earlier run of this seed left is not
            // this run's.
            if let Some(f) = file.as_ref().filter(|f| f.exists()) {
                let _ = std::fs::remove_file(f);
            }
        }
        Err(TestError::Abort(why)) => report.run_error = Some(format!("the case runner gave up: {why}")),
        Err(TestError::Fail(why, _)) if tally.failing_case.is_none() => {
            // A harness problem in the first case (the generated file), not a registry verdict.
            report.run_error = Some(why.to_string());
        }
        Err(TestError::Fail(_, minimal)) => {
            // proptest's shrinking works on the strategy's choices; a greedy pass over the graph
            // itself (remove a node, a delete, a concurrent group, a flag) finishes the job.
            let mut minimal = minimal;
            let budget = cfg.max_shrink_steps.saturating_sub(tally.shrink_steps);
            let mut spent = 0u32;
            'shrink: while spent < budget && !stop.load(Ordering::SeqCst) {
                for candidate in minimal.simpler() {
                    if spent >= budget || stop.load(Ordering::SeqCst) {
                        break 'shrink;
                    }
                    spent += 1;
                    tally.runs += 1;
                    progress.set_message(format!("shrinking: {} nodes", candidate.nodes.len()));
                    let comment = format!("referee graph, seed {}, run {}", cfg.seed, tally.runs);
                    let case = match runner.case(&candidate, tally.runs, &comment).await {
                        Ok(c) => c,
                        Err(why) => {
                            tally.harness_error.get_or_insert(why);
                            continue;
                        }
                    };
                    tally.residue.extend(case.residue);
                    if failing(&case.results, cfg.fail_on).is_some() {
                        minimal = candidate;
                        continue 'shrink;
                    }
                }
                break;
            }
            tally.shrink_steps += spent;
            summary.shrink_steps = tally.shrink_steps;
            // Run the smallest failing graph once more: its verdicts and transcript are the
            // report's, and its scenario file is the counterexample.
            let n = tally.runs + 1;
            let (first, len) = tally.failing_case.expect("a failing case");
            let mut replay = match &file {
                Some(f) => format!("referee run --scenarios {}", f.display()),
                None => "referee run --scenarios <this file>".to_string(),
            };
            if embedded {
                replay.push_str(&embedded_flags(&cfg.embedded));
            } else {
                replay.push_str(&format!(" --target {}", runner.target));
            }
            if let Some(p) = &cfg.profile {
                replay.push_str(&format!(" --profile {p}"));
            }
            if cfg.fail_on == crate::exit::FailOn::Warn {
                replay.push_str(" --fail-on warn");
            }
            let comment = format!(
                "referee graph counterexample: seed {}, case {first} of {} ({} mode), against {}\nshrunk from {len} to {} nodes in {} steps\nreplay: {replay}\ngraph: {}",
                cfg.seed,
                cfg.cases,
                mode.name(),
                target_label,
                minimal.nodes.len(),
                tally.shrink_steps,
                serde_json::to_string(&minimal).unwrap_or_default()
            );
            summary.shrunk_nodes = Some(minimal.nodes.len());
            // Run the smallest failing graph once more (not after Ctrl-C): its verdicts are the
            // report's, and its text is the counterexample either way.
            let text = to_scenario(&minimal, mode, &format!("{}-case{first}", cfg.seed), &comment);
            let case = if stop.load(Ordering::SeqCst) {
                Err("interrupted".to_string())
            } else {
                runner.case_as(&minimal, n, &format!("{}-case{first}", cfg.seed), &comment).await
            };
            let case = match case {
                Ok(c) => c,
                Err(why) => {
                    if why != "interrupted" {
                        tally.harness_error.get_or_insert(why);
                    }
                    CaseRun { results: vec![], residue: vec![], text }
                }
            };
            tally.residue.extend(case.residue);
            let reproduced = failing(&case.results, cfg.fail_on).is_some();
            if !reproduced {
                // Said where the verdict is: the file is the last graph seen failing, and this
                // run of it did not fail (timing, or the run was stopped).
                for (r, _, _) in tally.per_check.values_mut().filter(|(r, _, _)| failing(std::slice::from_ref(r), cfg.fail_on).is_some()) {
                    r.notes.push(format!(
                        "the shrunk graph ({} nodes) did not fail when run once more{}: the failure may depend on timing; {} holds the last graph seen failing",
                        minimal.nodes.len(),
                        if stop.load(Ordering::SeqCst) { " (not run: interrupted)" } else { "" },
                        file.as_ref().map_or("the counterexample".to_string(), |f| f.display().to_string())
                    ));
                }
            }
            if let Some(path) = &file {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| AppError::Harness(format!("cannot create {}: {e}", dir.display())))?;
                }
                std::fs::write(path, &case.text).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", path.display())))?;
                summary.counterexample = Some(path.display().to_string());
                counterexample = Some(path.clone());
            }
            summary.replay = Some(replay.clone());
            for r in case.results {
                if failing(std::slice::from_ref(&r), cfg.fail_on).is_none() {
                    continue;
                }
                if let Some(e) = tally.per_check.get_mut(&r.info.id) {
                    let outcome = e.0.outcome.max(r.outcome);
                    let reason = format!(
                        "case {first} of {} (seed {}) failed; shrunk from {len} to {} nodes in {} steps; replay: {replay} — the shrunk case: {}",
                        cfg.cases,
                        cfg.seed,
                        minimal.nodes.len(),
                        tally.shrink_steps,
                        r.reason
                    );
                    e.0 = CheckResult { reason, outcome, ..r };
                }
            }
        }
    }
    progress.finish_and_clear();
    if let Some(w) = watcher {
        w.abort();
    }
    let interrupted = stop.load(Ordering::SeqCst);
    // Every check of the mode is reported: those no case needed, or that a failure stopped
    // before any case needed them, are Skipped with why.
    let mut checks: Vec<CheckResult> = vec![];
    for id in super::scenario::check_ids(mode) {
        match tally.per_check.remove(*id) {
            Some((mut r, case, counts)) => {
                let how: Vec<String> = counts.iter().map(|(o, c)| format!("{c} {}", o.label().to_lowercase())).collect();
                r.notes.insert(0, format!("seed {}: in {} of {} cases run ({})", cfg.seed, counts.values().sum::<u32>(), tally.cases_run, how.join(", ")));
                if r.outcome != Outcome::Passed && !r.reason.starts_with("case ") {
                    r.reason = format!("case {case} (seed {}): {}", cfg.seed, r.reason);
                }
                r.info.scenario = format!("graph/{}", cfg.seed);
                checks.push(r);
            }
            None => {
                let Some(info) = super::scenario::check_info(id, mode, cfg.seed) else { continue };
                let why = match (tally.failing_case, interrupted) {
                    (_, true) => "interrupted before a case needed this check".to_string(),
                    (Some((n, _)), _) => format!("not reached: case {n} failed first and cases stop at the first failure"),
                    _ => format!("none of the {} cases generated what this check needs", tally.cases_run),
                };
                let outcome = if interrupted { Outcome::Errored } else { Outcome::Skipped };
                checks.push(CheckResult { info, outcome, reason: why, notes: vec![], measurements: Default::default(), transcript: vec![], duration_ms: 0 });
            }
        }
    }
    if let (None, Some(why)) = (&report.run_error, &tally.harness_error) {
        report.run_error = Some(format!("a generated case could not run (a referee bug; the case was left out): {why}"));
    }
    tally.residue.splice(0..0, std::mem::take(&mut report.residue));
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.capabilities = caps;
    report.checks = checks;
    report.residue = tally.residue;
    report.interrupted = interrupted;
    report.graph = Some(summary);
    let files = write_reports(cfg, &report)?;
    Ok(GraphOutput { report, files, counterexample })
}

/// `dir` made absolute against the working directory (so printed paths work from anywhere).
fn absolute(dir: &std::path::Path) -> PathBuf {
    if dir.is_absolute() { dir.to_path_buf() } else { std::env::current_dir().map_or_else(|_| dir.to_path_buf(), |c| c.join(dir)) }
}

fn write_reports(cfg: &GraphConfig, report: &RunReport) -> Result<Vec<PathBuf>, AppError> {
    let Some(dir) = &cfg.report_dir else { return Ok(vec![]) };
    std::fs::create_dir_all(dir).map_err(|e| AppError::Harness(format!("cannot create {}: {e}", dir.display())))?;
    let junit = dir.join("graph-junit.xml");
    crate::report::junit::write(report, &junit).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", junit.display())))?;
    let json = dir.join("graph-results.json");
    crate::report::json::write(report, &json).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", json.display())))?;
    let html = dir.join("graph-report.html");
    crate::report::html::write(report, "referee graph", &html).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", html.display())))?;
    Ok(vec![junit, json, html])
}

/// The `referee run` flags that give the embedded registry the same faults and page size.
fn embedded_flags(c: &RegistryConfig) -> String {
    let mut out = String::new();
    if c.mode == crate::registry::Mode::Legacy {
        out.push_str(" --embedded-mode legacy");
    }
    for f in c.faults.on() {
        out.push_str(&format!(" --embedded-fault {f}"));
    }
    if c.page_size != RegistryConfig::default().page_size {
        out.push_str(&format!(" --embedded-page-size {}", c.page_size));
    }
    out
}

fn progress_bar(cases: u32, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(u64::from(cases));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} case {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}
