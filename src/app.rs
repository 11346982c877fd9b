//! The library entry points the binary and the tests share: load → plan → (start the embedded
//! registry) → exec → reporters.

use crate::client::{Client, ClientConfig};
use crate::exec::{self, RunOptions, RunReport};
use crate::plan::{self, Plan};
use crate::exec::hooks::{HookSpec, Hooks};
use crate::profile::{HookName, Profile, ProfileError};
use crate::registry::{AuthMode, EmbeddedRegistry, RegistryConfig};
use crate::report;
use crate::scenario::{self, Diagnostic, LoadError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything `referee run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// A registry URL; `None` starts the embedded registry on 127.0.0.1:0.
    pub target: Option<String>,
    /// Scenario files (a file or a directory) that replace the built-in library; `None` runs
    /// the library built into the binary.
    pub scenarios: Option<PathBuf>,
    pub filter: Vec<String>,
    /// Where junit.xml and results.json go; `None` writes nothing.
    pub report_dir: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A registry token (`Authorization: Bearer`), for registries that hand them out.
    pub token: Option<String>,
    pub insecure: bool,
    pub timeout: Duration,
    pub repo_prefix: String,
    /// The embedded registry's configuration when no target is given. When its auth is
    /// `None`, referee switches on token auth with generated credentials so every run also
    /// exercises the Bearer flow.
    pub embedded: RegistryConfig,
    pub verbose: bool,
    /// No terminal output (tests).
    pub quiet: bool,
    /// A vendor profile: a built-in name or a YAML file (`strict` when absent).
    pub profile: Option<String>,
    /// Hooks given on the command line (`name`, `command`); they override the profile's.
    pub hooks: Vec<(String, String)>,
    /// Other registries (`name`, URL) for multi-registry scenarios. Without a target, a
    /// second embedded registry in legacy mode (no referrers API) is started as `mirror`.
    pub mirrors: Vec<(String, String)>,
    /// Stop cleanly on the first Ctrl-C or SIGTERM (the step in flight finishes, what was
    /// pushed is deleted, reports are written) and at once on the second (the CLI sets it).
    pub handle_signals: bool,
    /// Scenarios run at the same time (`--jobs`); those with a parallel block or a lifecycle
    /// hook run alone.
    pub jobs: usize,
}

impl RunConfig {
    /// A run of the scenarios under `scenarios` (a file or a directory).
    pub fn new(scenarios: impl Into<PathBuf>) -> RunConfig {
        RunConfig { scenarios: Some(scenarios.into()), ..RunConfig::builtin() }
    }

    /// A run of the check library built into the binary.
    pub fn builtin() -> RunConfig {
        RunConfig {
            target: None,
            scenarios: None,
            filter: vec![],
            report_dir: None,
            username: None,
            password: None,
            token: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            repo_prefix: "referee".into(),
            embedded: RegistryConfig::default(),
            verbose: false,
            quiet: true,
            profile: None,
            handle_signals: false,
            hooks: vec![],
            mirrors: vec![],
            jobs: crate::exec::DEFAULT_JOBS,
        }
    }
}

/// Why a run did not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    #[error("{0}")]
    Harness(String),
    /// A profile that does not exist, or a bad hook name: nothing was sent.
    #[error("error: {0}")]
    Profile(String),
    /// A hook the run would call needs a variable the environment lacks: nothing was sent. The
    /// message is whole (one `error:` line per missing variable, then help).
    #[error("{0}")]
    Hooks(String),
    /// A file or directory the command line names cannot be read: nothing was sent.
    #[error("error: {0}")]
    Input(String),
    /// A command-line value that cannot work (a filter that matches nothing, a URL referee
    /// cannot talk to): nothing was sent.
    #[error("error: {0}")]
    Usage(String),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Invalid(_) | AppError::Profile(_) | AppError::Hooks(_) | AppError::Input(_) => crate::exit::INVALID_INPUT,
            AppError::Usage(_) => crate::exit::USAGE,
            AppError::Harness(_) => crate::exit::HARNESS_ERROR,
        }
    }
}

/// Loads and validates scenarios; nothing is sent.
pub fn load_plan(path: &Path, filter: &[String]) -> Result<Plan, AppError> {
    load_library(Some(path), filter)
}

/// Loads and validates the scenarios under `path`, or the built-in library; nothing is sent.
pub fn load_library(path: Option<&Path>, filter: &[String]) -> Result<Plan, AppError> {
    let loaded = match path {
        Some(p) => scenario::load_all(p),
        None => scenario::load_builtin(),
    }
    .map_err(|e| match e {
        LoadError::Invalid(d) => AppError::Invalid(d),
        LoadError::Io { .. } => AppError::Input(e.to_string()),
    })?;
    if loaded.is_empty() {
        let under = path.map_or("the built-in library".to_string(), |p| p.display().to_string());
        return Err(AppError::Input(format!("no scenario files (*.yaml) under {under}")));
    }
    let plan = plan::plan(&loaded, filter).map_err(AppError::Invalid)?;
    if plan.scenarios.is_empty() && !filter.is_empty() {
        return Err(AppError::Usage(format!("--filter {} matches no check (ids like C9, areas like pagination, or scenario ids: see `referee list`)", filter.join(","))));
    }
    Ok(plan)
}

/// The result of a run and the files written.
pub struct RunOutput {
    pub report: RunReport,
    pub files: Vec<PathBuf>,
}

/// Loads the profile (`strict` by default) and merges command-line hooks over its own.
pub fn load_profile(name: Option<&str>, hooks: &[(String, String)]) -> Result<(Profile, Hooks), AppError> {
    let profile = Profile::load(name.unwrap_or("strict")).map_err(|e| match e {
        ProfileError::Invalid(d) => AppError::Invalid(d),
        other => AppError::Profile(other.to_string()),
    })?;
    let mut merged: Hooks = profile
        .hooks
        .iter()
        .map(|(k, h)| {
            let spec = HookSpec { run: h.run.clone(), timeout_s: h.timeout_s, needs_env: h.needs_env.clone() };
            (k.as_str().to_string(), spec)
        })
        .collect();
    for (name, run) in hooks {
        if !HookName::ALL.iter().any(|h| h.as_str() == name) {
            let known: Vec<&str> = HookName::ALL.iter().map(|h| h.as_str()).collect();
            return Err(AppError::Profile(format!("unknown hook '{name}' (hooks: {})", known.join(", "))));
        }
        // It replaces the profile's command, and with it what that command needed.
        let timeout_s = merged.get(name).map_or(120, |h| h.timeout_s);
        merged.insert(name.clone(), HookSpec::new(run.clone(), timeout_s));
    }
    Ok((profile, merged))
}

/// Stops a run before anything is sent when a hook its scenarios will call needs a variable
/// (`needs_env`) that `env` finds unset or empty. Scenarios that send nothing whatever the
/// registry does (every check skipped by a declaration, or a registry nobody gave) are left
/// out, as `exec::run` leaves them out; a scenario whose checks may be skipped for a capability
/// the registry lacks still counts, since that is known only once the registry answers.
pub fn check_hook_env(
    plan: &Plan,
    hooks: &Hooks,
    declares: &crate::exec::Declares,
    mirrors: &[&str],
    profile_arg: Option<&str>,
    profile_name: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), AppError> {
    let mut callers: std::collections::BTreeMap<HookName, Vec<&str>> = Default::default();
    for s in &plan.scenarios {
        let sends_nothing = crate::exec::run::missing_target(s, mirrors).is_some()
            || s.checks.iter().all(|c| crate::exec::run::skipped_by_declaration(c, declares).is_some());
        if !sends_nothing {
            for h in s.hooks() {
                callers.entry(h).or_default().push(&s.id);
            }
        }
    }
    let (mut problems, mut vars, mut needy) = (vec![], vec![], vec![]);
    for (hook, scenarios) in &callers {
        let Some(spec) = hooks.get(hook.as_str()) else { continue };
        for var in spec.unset_env(&env) {
            let state = if env(var).is_some() { "empty" } else { "not set" };
            problems.push(format!(
                "error: the {hook} hook of profile {profile_name} needs {var}, which is {state}; nothing was sent\n  its command: {}\n  the selected scenarios call {hook}: {}",
                spec.run,
                scenarios.join(", ")
            ));
            if !vars.contains(&var) {
                vars.push(var);
            }
            if !needy.contains(hook) {
                needy.push(*hook);
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let assignments: Vec<String> = vars.iter().map(|v| format!("{v}=…")).collect();
    let profile = profile_arg.map(|p| format!(" --profile {p}")).unwrap_or_default();
    let overrides: Vec<String> = needy.iter().map(|h| format!("--hook {h}='<command>'")).collect();
    let (problems, it, assignments, overrides) =
        (problems.join("\n"), if vars.len() == 1 { "it" } else { "them" }, assignments.join(" "), overrides.join(" "));
    Err(AppError::Hooks(format!(
        "{problems}\n  help: set {it} for the run: `{assignments} referee run{profile} …` (or export {it}),\n        give the hook yourself ({overrides}), or leave those scenarios out (--filter)"
    )))
}

/// The first SIGINT or SIGTERM sets `stop` and prints `first` (the caller finishes what is in
/// flight, cleans up and writes its reports); the second prints `second` and ends the process
/// at once. Used by `run` and `load`.
pub async fn watch_signals(stop: std::sync::Arc<std::sync::atomic::AtomicBool>, first: String, second: String) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
    // Bounded: the second signal ends the process.
    for seen in 1..=2 {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        if seen == 1 {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            eprintln!("\n{first}");
        } else {
            eprintln!("{second}");
            std::process::exit(crate::exit::INTERRUPTED);
        }
    }
}

/// `referee run`.
pub async fn run(cfg: RunConfig) -> Result<RunOutput, AppError> {
    let plan = load_library(cfg.scenarios.as_deref(), &cfg.filter)?;
    // The embedded registry comes with its own profile (its hooks drive it); any other
    // registry is judged against `strict` unless told otherwise.
    let default_profile = if cfg.target.is_none() { "embedded" } else { "strict" };
    let (profile, hooks) = load_profile(Some(cfg.profile.as_deref().unwrap_or(default_profile)), &cfg.hooks)?;
    // What the profile leaves out is filled in from referee's defaults (spec_version: main),
    // marked as such so messages do not call it the profile's word.
    let declares = crate::exec::Declares::from_profile(
        profile.declares.iter().filter(|(_, v)| v.as_str() != "unknown").map(|(k, v)| (k.clone(), v.clone())),
    );
    // The other registries scenarios may name: those given, or the embedded `mirror`.
    let mirror_names: Vec<&str> = match (&cfg.target, cfg.mirrors.is_empty()) {
        (None, true) => vec!["mirror"],
        _ => cfg.mirrors.iter().map(|(n, _)| n.as_str()).collect(),
    };
    check_hook_env(&plan, &hooks, &declares, &mirror_names, cfg.profile.as_deref(), &profile.name, |v| {
        std::env::var(v).ok()
    })?;
    let mut embedded_cfg = cfg.embedded.clone();
    let mut username = cfg.username.clone();
    let mut password = cfg.password.clone();
    let (registry, base, embedded) = match &cfg.target {
        Some(t) => (None, t.trim_end_matches('/').to_string(), false),
        None => {
            if matches!(embedded_cfg.auth, AuthMode::None) {
                let user = "referee".to_string();
                let pass = format!("pw-{}", exec::new_run_id());
                embedded_cfg.auth = AuthMode::Token { users: vec![(user.clone(), pass.clone())] };
                username = Some(user);
                password = Some(pass);
            }
            let reg = EmbeddedRegistry::start(embedded_cfg, "127.0.0.1:0".parse().expect("addr"))
                .await
                .map_err(|e| AppError::Harness(format!("cannot start the embedded registry: {e}")))?;
            let url = reg.url();
            (Some(reg), url, true)
        }
    };
    let make_client = |url: &str| {
        Client::new(ClientConfig {
            username: username.clone(),
            password: password.clone(),
            token: cfg.token.clone(),
            insecure: cfg.insecure,
            timeout: cfg.timeout,
            ..ClientConfig::new(url)
        })
        .map_err(|e| AppError::Harness(e.to_string()))
    };
    let client = make_client(&base)?;
    // Other registries: those given, or (embedded runs) a legacy embedded one as `mirror`.
    let mut mirror_registry = None;
    let mut mirrors = vec![];
    for (name, url) in &cfg.mirrors {
        mirrors.push((name.clone(), make_client(url)?));
    }
    if embedded && cfg.mirrors.is_empty() {
        let mirror_cfg = RegistryConfig { mode: crate::registry::Mode::Legacy, auth: AuthMode::None, ..RegistryConfig::default() };
        let reg = EmbeddedRegistry::start(mirror_cfg, "127.0.0.1:0".parse().expect("addr"))
            .await
            .map_err(|e| AppError::Harness(format!("cannot start the embedded mirror registry: {e}")))?;
        mirrors.push(("mirror".to_string(), make_client(&reg.url())?));
        mirror_registry = Some(reg);
    }
    let term = report::Terminal::new(cfg.verbose);
    let opts = RunOptions {
        repo_prefix: cfg.repo_prefix.clone(),
        target_label: if embedded { format!("{base} (embedded)") } else { base.clone() },
        embedded,
        declares,
        profile: profile.name.clone(),
        hooks,
        mirrors,
        ..RunOptions::default()
    };
    let quiet = cfg.quiet;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run_id = exec::new_run_id();
    let left = format!("{}/*-{run_id}", cfg.repo_prefix.trim_matches('/'));
    let watcher = cfg.handle_signals.then(|| {
        let first = "interrupted: finishing the step in flight, then deleting what this run pushed and writing the reports (again to stop at once)".to_string();
        let second = format!("stopped at once: what this run pushed may be left in the repositories {left} (and their -other, -fresh, -ratelimited twins)");
        tokio::spawn(watch_signals(stop.clone(), first, second))
    });
    let progress = report::progress::ScenarioProgress::new(quiet);
    let opts = RunOptions { stop: Some(stop), run_id: Some(run_id), jobs: cfg.jobs, progress: Some(progress.sink()), ..opts };
    let rep = exec::run(&plan, &client, &opts, &mut |ev| {
        // Quiet or not, a run that cannot start says why (once).
        if !quiet || matches!(ev, exec::RunEvent::RunFailed { .. }) {
            progress.suspend(|| term.event(ev))
        }
    })
    .await;
    progress.finish();
    if let Some(w) = watcher {
        w.abort();
    }
    if let Some(r) = registry {
        r.shutdown().await;
    }
    if let Some(r) = mirror_registry {
        r.shutdown().await;
    }
    let mut files = vec![];
    if let Some(dir) = &cfg.report_dir {
        std::fs::create_dir_all(dir).map_err(|e| AppError::Harness(format!("cannot create {}: {e}", dir.display())))?;
        let junit = dir.join("junit.xml");
        report::junit::write(&rep, &junit).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", junit.display())))?;
        let json = dir.join("results.json");
        report::json::write(&rep, &json).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", json.display())))?;
        let html = dir.join("report.html");
        report::html::write_with_load(&rep, "referee run", &html, dir).map_err(|e| AppError::Harness(format!("cannot write {}: {e}", html.display())))?;
        files = vec![junit, json, html];
    }
    if !quiet {
        term.summary(&rep, &files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>());
    }
    Ok(RunOutput { report: rep, files })
}

/// `conn` as given, or — without a password or token from a flag, the environment or
/// referee.yaml — with the credentials the docker config holds for `url`'s host (a warning,
/// not an error, when the docker config is broken: docker itself would stop, but the registry
/// may need no credentials). Says where they came from unless `quiet`; never what they are.
pub fn with_docker_credentials(conn: &crate::cli::ConnArgs, url: Option<&str>, quiet: bool) -> crate::cli::ConnArgs {
    let mut c = conn.clone();
    let Some(url) = url else { return c };
    // A user name alone (say from referee.yaml) is no credential: the docker config may hold them.
    if c.password.is_some() || c.token.is_some() {
        return c;
    }
    use crate::client::docker_config::{Found, host_of, lookup};
    match lookup(url) {
        Ok(Some(found)) => {
            if !quiet {
                eprintln!("credentials for {} from {}", host_of(url), found.source());
            }
            match found {
                Found::Basic { username, password, .. } => (c.username, c.password) = (Some(username), Some(password)),
                Found::Token { token, .. } => c.token = Some(token),
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!("warning: the docker config: {e}; going on without its credentials"),
    }
    c
}
