//! `referee load`: validate everything, reach the registry (or start the embedded one), run
//! the profile's workload step by step, clean up, judge the gate, write the reports.

use super::attack::{self, Drive};
use super::gate::{self, Threshold};
use super::histo::Recorder;
use super::profile::{self, LoadProfile};
use super::report::{LoadReport, Shard};
use super::workloads::{self, Env};
use crate::app::AppError;
use crate::client::{Client, ClientConfig};
use crate::registry::{EmbeddedRegistry, RegistryConfig};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `referee load` was asked to do.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// A built-in profile name or a YAML file.
    pub profile: String,
    /// Registry base URL; the embedded registry without it.
    pub target: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A registry token (`Authorization: Bearer`), for registries that hand them out.
    pub token: Option<String>,
    pub insecure: bool,
    pub timeout: Duration,
    /// Overrides of the profile.
    pub users: Option<usize>,
    pub run_time: Option<Duration>,
    pub iterations: Option<usize>,
    pub fanouts: Option<Vec<u64>>,
    pub thresholds: Vec<String>,
    pub baseline: Option<PathBuf>,
    pub tolerance: f64,
    pub shard: Option<Shard>,
    pub co_mitigation: bool,
    pub out_dir: PathBuf,
    pub repo_prefix: String,
    pub quiet: bool,
    pub handle_signals: bool,
    pub embedded: RegistryConfig,
    /// How long a list may take to show what was pushed.
    pub convergence: Duration,
}

impl LoadConfig {
    pub fn new(profile: &str) -> LoadConfig {
        LoadConfig {
            profile: profile.to_string(),
            target: None,
            username: None,
            password: None,
            token: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            users: None,
            run_time: None,
            iterations: None,
            fanouts: None,
            thresholds: vec![],
            baseline: None,
            tolerance: 0.2,
            shard: None,
            co_mitigation: false,
            out_dir: PathBuf::from("reports/load"),
            repo_prefix: "referee".into(),
            quiet: true,
            handle_signals: false,
            embedded: RegistryConfig::default(),
            convergence: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub struct LoadOutput {
    pub report: LoadReport,
    pub files: Vec<PathBuf>,
}

/// Parses `i/N` (i from 1).
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: write a shard as i/N, e.g. 1/4"))?;
    let index: usize = i.trim().parse().map_err(|_| format!("{s:?}: {i:?} is not a number"))?;
    let count: usize = n.trim().parse().map_err(|_| format!("{s:?}: {n:?} is not a number"))?;
    if count == 0 || index == 0 || index > count || count > 10_000 {
        return Err(format!("{s:?}: a shard is i/N with 1 <= i <= N <= 10000"));
    }
    Ok(Shard { index, count })
}

/// The profile with the command line's overrides, validated; and its thresholds.
fn resolve(cfg: &LoadConfig) -> Result<(LoadProfile, Vec<Threshold>), AppError> {
    let mut p = profile::find(&cfg.profile).map_err(|e| match e {
        profile::ProfileError::Invalid(d) => AppError::Invalid(vec![*d]),
        other => AppError::Usage(other.to_string()),
    })?;
    if let Some(u) = cfg.users {
        p.users = u;
    }
    if let Some(f) = &cfg.fanouts {
        p.fanouts = f.clone();
    }
    if cfg.run_time.is_some() || cfg.iterations.is_some() {
        p.run_time = cfg.run_time;
        p.iterations = cfg.iterations;
    }
    let text = serde_yaml_ng::to_string(&p).map_err(|e| harness(e.to_string()))?;
    profile::parse(std::path::Path::new("<profile with command-line overrides>"), &text).map_err(|e| AppError::Usage(e.to_string()))?;
    let mut thresholds = vec![];
    for t in p.thresholds.iter().chain(&cfg.thresholds) {
        let th = Threshold::parse(t).map_err(|e| AppError::Usage(format!("--threshold {t:?}: {e}")))?;
        let kinds = workloads::kinds(p.workload);
        if !kinds.contains(&th.kind.as_str()) {
            return Err(AppError::Usage(format!(
                "--threshold {t:?}: profile {} measures {}, not {:?}",
                p.name,
                kinds.join(", "),
                th.kind
            )));
        }
        thresholds.push(th);
    }
    Ok((p, thresholds))
}

/// `referee load`.
pub async fn run(cfg: LoadConfig) -> Result<LoadOutput, AppError> {
    let (p, thresholds) = resolve(&cfg)?;
    let baseline = match &cfg.baseline {
        Some(path) => Some(LoadReport::read(path).map_err(AppError::Usage)?),
        None => None,
    };
    let mut registry = None;
    let base = match &cfg.target {
        Some(t) => t.trim_end_matches('/').to_string(),
        None => {
            let reg = EmbeddedRegistry::start(cfg.embedded.clone(), "127.0.0.1:0".parse().expect("addr"))
                .await
                .map_err(|e| harness(format!("cannot start the embedded registry: {e}")))?;
            let url = reg.url();
            registry = Some(reg);
            url
        }
    };
    let client = Client::new(ClientConfig {
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        token: cfg.token.clone(),
        insecure: cfg.insecure,
        timeout: cfg.timeout,
        record: false,
        ..ClientConfig::new(&base)
    })
    .map_err(|e| harness(e.to_string()))?;
    let result = measure(&cfg, &p, &thresholds, baseline.as_ref(), &client, &base).await;
    if let Some(r) = registry {
        r.shutdown().await;
    }
    result
}

async fn measure(
    cfg: &LoadConfig,
    p: &LoadProfile,
    thresholds: &[Threshold],
    baseline: Option<&LoadReport>,
    client: &Client,
    base: &str,
) -> Result<LoadOutput, AppError> {
    reachable(client, base).await?;
    // goose's stop switch is process-wide: a switch left on by an earlier run in this process
    // (an interrupted test) must not end this one.
    goose::reset_killswitch();
    let run_id = crate::exec::new_run_id();
    let shard = cfg.shard.map(|s| format!("-s{}", s.index)).unwrap_or_default();
    let repo = format!("{}/load-{}-{run_id}{shard}", cfg.repo_prefix.trim_matches('/'), p.name);
    let stop = Arc::new(AtomicBool::new(false));
    // The first signal sets `stop`; the attack in flight then trips goose's own stop switch.
    let watcher = cfg.handle_signals.then(|| {
        let first = format!("interrupted: stopping the load, then deleting what it pushed to {repo} and writing the reports (again to stop at once)");
        let second = format!("stopped at once: what the load run pushed may be left in {repo}");
        tokio::spawn(crate::app::watch_signals(stop.clone(), first, second))
    });
    // Once an attack has started, goose's own Ctrl-C handler has replaced ours: its stop switch
    // is mirrored into `stop` so seeding and cleanup see it too.
    let mirror = {
        let stop = stop.clone();
        tokio::spawn(async move {
            // Bounded by the run: aborted when it ends.
            loop {
                if attack::interrupted() {
                    stop.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let env = Env {
        client: client.clone(),
        repo: repo.clone(),
        rec: Recorder::new(cfg.co_mitigation),
        stop: stop.clone(),
        host: base.to_string(),
        notes: Arc::default(),
        pushed: Arc::default(),
        step: Arc::new(Mutex::new("seeding".into())),
        convergence: cfg.convergence,
    };
    let drive = Drive {
        users: 0,
        increase_rate: p.increase_rate,
        run_time: p.run_time,
        iterations: p.iterations,
        co_mitigation: cfg.co_mitigation,
        shard: cfg.shard,
    };
    // Each shard starts its users at its share of the rate, so N shards ramp up as one run.
    let rate = p.increase_rate / cfg.shard.map_or(1.0, |s| s.count as f64);
    let drive = Drive { users: drive.share_of(p.users), increase_rate: rate, ..drive };
    let progress = (!cfg.quiet).then(|| progress_line(&env));
    let started_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let outcome = workloads::run(&env, p, &drive).await;
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
    let interrupted = stop.load(Ordering::SeqCst) || attack::interrupted();
    if !cfg.quiet {
        eprintln!("cleaning up: deleting what the load run pushed to {repo}");
    }
    let pushed = std::mem::take(&mut *env.pushed.lock().unwrap_or_else(|e| e.into_inner()));
    let residue = super::seed::cleanup(client, &repo, &pushed).await;
    if let Some(w) = watcher {
        w.abort();
    }
    mirror.abort();
    let series = env.rec.take();
    let mut notes = std::mem::take(&mut *env.notes.lock().unwrap_or_else(|e| e.into_inner()));
    if let Err(e) = &outcome {
        notes.push(format!("error: {e}"));
    }
    let mut report = LoadReport {
        format: super::report::FORMAT.into(),
        referee: env!("CARGO_PKG_VERSION").into(),
        profile: p.name.clone(),
        workload: p.workload,
        description: p.description.clone(),
        target: if cfg.target.is_none() { format!("{base} (embedded)") } else { base.to_string() },
        started_unix,
        users: p.users,
        run_time_ms: p.run_time.map(|d| d.as_millis() as u64),
        iterations: p.iterations,
        co_mitigation: cfg.co_mitigation,
        shard: cfg.shard,
        merged_from: 1,
        series: vec![],
        notes,
        knee_users: None,
        residue,
        gate: vec![],
        interrupted,
    };
    report.set_series(&series);
    report.knee_users = knee(&report);
    report.gate = gate::thresholds(thresholds, &series);
    if let Some(b) = baseline {
        report.gate.extend(gate::baseline(&b.series_map(), &series, cfg.tolerance));
    }
    let files = report.write_all(&cfg.out_dir).map_err(harness)?;
    if let Err(e) = outcome {
        return Err(harness(format!("{e}\n(reports written to {})", cfg.out_dir.display())));
    }
    Ok(LoadOutput { report, files })
}

/// The harness's own trouble (exit code 3), said as an error.
fn harness(msg: String) -> AppError {
    AppError::Harness(format!("error: {msg}"))
}

/// The registry answers `GET /v2/` (any status but a connection error or a non-registry).
async fn reachable(client: &Client, base: &str) -> Result<(), AppError> {
    match client.ping().await {
        Ok(r) if r.status == 200 || r.status == 401 => Ok(()),
        Ok(r) => Err(harness(format!("this does not look like an OCI registry: GET {base}/v2/ answered {}", r.describe()))),
        Err(e) => Err(harness(e.to_string())),
    }
}

/// `mixed`: the users step after which the request rate grew by less than 10 %.
fn knee(r: &LoadReport) -> Option<u64> {
    let mut steps: std::collections::BTreeMap<u64, f64> = Default::default();
    for s in r.series.iter().filter(|s| s.key.kind.starts_with("mixed-") && s.key.kind != "mixed-list") {
        if let Some(u) = s.key.users {
            *steps.entry(u).or_default() += s.rps;
        }
    }
    let steps: Vec<(u64, f64)> = steps.into_iter().collect();
    steps.windows(2).find(|w| w[1].1 < w[0].1 * 1.1).map(|w| w[0].0)
}

/// A spinner on a terminal: the step in flight and the requests so far (indicatif draws
/// nothing when standard error is not a terminal).
fn progress_line(env: &Env) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    let (rec, step, b) = (env.rec.clone(), env.step.clone(), bar.clone());
    let ticker = tokio::spawn(async move {
        let started = std::time::Instant::now();
        // Bounded by the run: aborted when the workload ends.
        loop {
            let n = rec.total();
            let step = step.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let rate = n as f64 / started.elapsed().as_secs_f64().max(0.001);
            b.set_message(format!("{step}: {n} requests so far ({rate:.0}/s overall)"));
            b.tick();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (bar, ticker)
}
