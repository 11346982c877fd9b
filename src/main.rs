//! Thin: parse the command line, call the library, map the outcome to an exit code. The
//! handlers of `layout`, `copy` and `matrix` are in `commands/`.

mod commands;

use referee::app::{self, RunConfig};
use referee::cli::{AdminAction, AdminArgs, Cli, Command, ConnArgs, GraphArgs, LoadArgs, LoadCommand, ProbeArgs, RunArgs, ServeArgs};
use referee::client::{Client, ClientConfig};
use referee::exit;
use referee::registry::{AuthMode, EmbeddedRegistry, Faults, Mode, RegistryConfig};
use std::time::Duration;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // referee.yaml (or --config FILE): its values become the flags' defaults, so a flag beats
    // the environment, which beats the file.
    QUIET.store(args.iter().any(|a| a == "-q" || a == "--quiet"), std::sync::atomic::Ordering::Relaxed);
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let config = match referee::config::find(&args).map(|p| referee::config::ConfigFile::load(&p, &cmd)).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::INVALID_INPUT);
        }
    };
    if let Some(c) = &config {
        cmd = match c.apply(cmd) {
            Ok(cmd) => cmd,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(exit::INVALID_INPUT);
            }
        };
        let quiet = args.iter().any(|a| a == "-q" || a == "--quiet");
        if !quiet {
            eprintln!("defaults from {}", c.path.display());
        }
        let _ = CONFIG.set((c.clone(), args.clone()));
    }
    let parsed = cmd.try_get_matches_from(&args).and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            if let Some(located) = config.as_ref().and_then(|c| c.locate(&e, &args)) {
                eprintln!("error: {located}");
                std::process::exit(exit::INVALID_INPUT);
            }
            let code = if e.use_stderr() { exit::USAGE } else { exit::SUCCESS };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("REFEREE_LOG")).with_writer(std::io::stderr).init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let code = rt.block_on(async {
        match cli.command {
            Command::Run(a) => run(a).await,
            Command::List { scenarios, assertions, markdown } => list(scenarios.as_deref(), assertions, markdown),
            Command::Help { topic } => help(topic.as_deref()),
            Command::Serve(a) => serve(a).await,
            Command::Admin(a) => admin(a).await,
            Command::Probe(a) => probe(a).await,
            Command::Load(a) => load(a).await,
            Command::Graph(a) => graph(a).await,
            Command::Layout(a) => commands::layout::layout(a).await,
            Command::Copy(a) => commands::layout::copy(a).await,
            Command::Matrix(a) => commands::reports::matrix(a),
        }
    });
    std::process::exit(code);
}

/// `-q`/`--quiet` was given: no remark on stderr that is not an error or a warning.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The referee.yaml read and the command line, so that a value the file gave and referee
/// refused is said at the file's line and column.
static CONFIG: std::sync::OnceLock<(referee::config::ConfigFile, Vec<std::ffi::OsString>)> = std::sync::OnceLock::new();

fn usage(msg: String) -> i32 {
    if let Some(located) = CONFIG.get().and_then(|(c, args)| c.locate_message(&msg, args)) {
        eprintln!("error: {located}");
        return exit::INVALID_INPUT;
    }
    eprintln!("error: {msg}");
    exit::USAGE
}

async fn run(mut a: RunArgs) -> i32 {
    a.conn = with_docker_credentials(&a.conn, a.target.as_deref());
    if let Some(t) = &a.target
        && let Err(e) = check_url("--target", t)
    {
        return usage(e);
    }
    for (name, url) in &a.mirrors {
        if let Err(e) = check_url(&format!("--mirror {name}="), url) {
            return usage(e);
        }
    }
    let embedded = match a.embedded.config(a.target.as_ref()) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let fail_on = a.fail_on;
    let cfg = RunConfig {
        target: a.target,
        filter: a.filter,
        report_dir: Some(a.report_dir),
        username: a.conn.username,
        password: a.conn.password,
        token: a.conn.token,
        insecure: a.conn.insecure,
        timeout: Duration::from_secs(a.conn.timeout),
        repo_prefix: a.repo_prefix,
        embedded,
        verbose: a.verbose,
        quiet: a.quiet,
        profile: a.profile,
        hooks: a.hooks,
        mirrors: a.mirrors,
        scenarios: a.scenarios,
        handle_signals: true,
        jobs: a.jobs as usize,
    };
    let quiet = a.quiet;
    match app::run(cfg).await {
        Ok(out) => {
            if quiet {
                referee::report::Terminal::new(false).summary(&out.report, &out.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>());
            }
            commands::reports::job_summary(&out.report);
            if out.report.interrupted { exit::INTERRUPTED } else { exit::for_outcome(out.report.outcome(), fail_on) }
        }
        Err(e) => report_error(&e),
    }
}

/// `referee graph`: generated graphs against a registry, or (`--reverse`) one reverse walk.
async fn graph(mut a: GraphArgs) -> i32 {
    a.conn = with_docker_credentials(&a.conn, a.target.as_deref());
    use referee::graph::run::{GraphConfig, ModeChoice};
    if let Some(t) = &a.target
        && let Err(e) = check_url("--target", t)
    {
        return usage(e);
    }
    let embedded = match a.embedded.config(a.target.as_ref()) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let choice = match a.mode.as_str() {
        "api" => ModeChoice::Api,
        "fallback" => ModeChoice::Fallback,
        _ => ModeChoice::Auto,
    };
    let seed = a.seed.unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000));
    let cfg = GraphConfig {
        target: a.target,
        username: a.conn.username,
        password: a.conn.password,
        token: a.conn.token,
        insecure: a.conn.insecure,
        timeout: Duration::from_secs(a.conn.timeout),
        profile: a.profile,
        mode: choice,
        embedded,
        report_dir: Some(a.report_dir),
        repo_prefix: a.repo_prefix,
        max_shrink_steps: a.max_shrink_steps,
        fail_on: a.fail_on,
        quiet: a.quiet,
        handle_signals: true,
        ..GraphConfig::new(a.cases, seed)
    };
    if let Some(digest) = a.reverse {
        let repo = a.repo.unwrap_or_default();
        return match referee::graph::reverse::command(&cfg, &repo, &digest).await {
            Ok(text) => {
                print!("{text}");
                exit::SUCCESS
            }
            Err(e) => report_error(&e),
        };
    }
    if !a.quiet {
        eprintln!("referee graph: {} cases, seed {seed}{}", cfg.cases, cfg.target.as_deref().map_or(String::new(), |t| format!(", against {t}")));
    }
    let (quiet, fail_on) = (a.quiet, a.fail_on);
    match referee::graph::run::run(cfg).await {
        Ok(out) => {
            let term = referee::report::Terminal::new(false);
            if let (Some(e), true) = (&out.report.run_error, out.report.checks.is_empty()) {
                eprintln!("error: {e}");
            }
            if !quiet {
                for c in &out.report.checks {
                    term.event(referee::exec::RunEvent::CheckFinished(c));
                }
            }
            term.summary(&out.report, &out.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>());
            if let Some(g) = &out.report.graph {
                match (&g.replay, g.failing_case) {
                    (Some(replay), Some(case)) => eprintln!(
                        "case {case} of {} failed (seed {seed}); shrunk from {} to {} nodes in {} steps; replay it: {replay}",
                        g.cases,
                        g.original_nodes.unwrap_or(0),
                        g.shrunk_nodes.unwrap_or(0),
                        g.shrink_steps
                    ),
                    _ => eprintln!("{} of {} cases run (seed {seed}, {} mode)", g.cases_run, g.cases, g.mode),
                }
            }
            if out.report.interrupted { exit::INTERRUPTED } else { exit::for_outcome(out.report.outcome(), fail_on) }
        }
        Err(e) => report_error(&e),
    }
}

/// [`app::with_docker_credentials`], quiet as the command line asked.
fn with_docker_credentials(conn: &ConnArgs, url: Option<&str>) -> ConnArgs {
    app::with_docker_credentials(conn, url, QUIET.load(std::sync::atomic::Ordering::Relaxed))
}

/// `referee load` and `referee load merge`.
async fn load(mut a: LoadArgs) -> i32 {
    a.conn = with_docker_credentials(&a.conn, a.target.as_deref());
    use referee::load;
    if let Some(LoadCommand::Merge { reports, thresholds, report_dir }) = a.merge {
        return load_merge(&reports, &thresholds, &report_dir);
    }
    if let Some(t) = &a.target
        && let Err(e) = check_url("--target", t)
    {
        return usage(e);
    }
    let run_time = match a.run_time.as_deref().map(load::profile::parse_duration).transpose() {
        Ok(t) => t,
        Err(e) => return usage(format!("--run-time: {e}")),
    };
    let shard = match a.shard.as_deref().map(load::parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => return usage(format!("--shard {e}")),
    };
    let tolerance = match load::gate::parse_tolerance(&a.tolerance) {
        Ok(t) => t,
        Err(e) => return usage(format!("--tolerance {e}")),
    };
    let cfg = load::LoadConfig {
        target: a.target,
        username: a.conn.username,
        password: a.conn.password,
        token: a.conn.token,
        insecure: a.conn.insecure,
        timeout: Duration::from_secs(a.conn.timeout),
        users: a.users.map(|u| u as usize),
        run_time,
        iterations: a.iterations.map(|i| i as usize),
        fanouts: (!a.fanouts.is_empty()).then_some(a.fanouts),
        thresholds: a.thresholds,
        baseline: a.baseline,
        tolerance,
        shard,
        co_mitigation: a.co_mitigation,
        out_dir: a.report_dir,
        repo_prefix: a.repo_prefix,
        quiet: a.quiet,
        handle_signals: true,
        ..load::LoadConfig::new(a.profile.as_deref().unwrap_or_default())
    };
    match load::run(cfg).await {
        Ok(out) => {
            print!("{}", load_summary(&out.report, &out.files));
            if out.report.interrupted {
                exit::INTERRUPTED
            } else if !out.report.gate_passed() {
                exit::LOAD_THRESHOLD
            } else {
                exit::SUCCESS
            }
        }
        Err(e) => report_error(&e),
    }
}

fn load_merge(reports: &[std::path::PathBuf], thresholds: &[String], dir: &std::path::Path) -> i32 {
    use referee::load;
    let mut read = vec![];
    for p in reports {
        match load::LoadReport::read(p) {
            Ok(r) => read.push(r),
            Err(e) => return usage(e),
        }
    }
    let mut merged = match load::merge(&read) {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let mut parsed = vec![];
    for t in thresholds {
        match load::gate::Threshold::parse(t) {
            Ok(t) => parsed.push(t),
            Err(e) => return usage(format!("--threshold {t:?}: {e}")),
        }
    }
    merged.gate = load::gate::thresholds(&parsed, &merged.series_map());
    match merged.write_all(dir) {
        Ok(files) => {
            print!("{}", load_summary(&merged, &files));
            if merged.gate_passed() { exit::SUCCESS } else { exit::LOAD_THRESHOLD }
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::HARNESS_ERROR
        }
    }
}

/// What `referee load` prints at the end: one line per series, the gate, the files.
fn load_summary(r: &referee::load::LoadReport, files: &[std::path::PathBuf]) -> String {
    use referee::load::gate::show_us;
    let mut s = String::new();
    for x in &r.series {
        let errors: u64 = x.errors.values().sum();
        s += &format!(
            "{:<44} {:>8} req {:>9.1}/s  p50 {:>8}  p99 {:>8}  p99.9 {:>8}{}\n",
            x.key.label(),
            x.requests,
            x.rps,
            show_us(x.p50_us as f64),
            show_us(x.p99_us as f64),
            show_us(x.p999_us as f64),
            if errors > 0 { format!("  errors {errors}") } else { String::new() }
        );
    }
    for n in &r.notes {
        s += &format!("note: {n}\n");
    }
    if let Some(k) = r.knee_users {
        s += &format!("knee: throughput stopped growing after {k} users\n");
    }
    for g in &r.gate {
        s += &format!("{} {}: {}\n", if g.passed { "PASS" } else { "FAIL" }, g.name, g.message);
    }
    for res in &r.residue {
        s += &format!("left behind: {} {} {} ({})\n", res.repository, res.kind, res.reference, res.why);
    }
    if r.interrupted {
        s += "interrupted: the figures cover what ran before Ctrl-C\n";
    }
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    s += &format!("reports: {}\n", files.join(", "));
    s
}

/// `referee help [scenario]`.
fn help(topic: Option<&str>) -> i32 {
    use clap::CommandFactory;
    use std::io::Write;
    match topic {
        None => {
            let _ = Cli::command().print_help();
            println!();
            exit::SUCCESS
        }
        Some("scenario") => {
            let library = referee::scenario::load_builtin().unwrap_or_default();
            let _ = std::io::stdout().lock().write_all(referee::scenario::reference::markdown(&library).as_bytes());
            exit::SUCCESS
        }
        Some(other) => usage(format!("no help on {other:?}: try `referee help scenario`")),
    }
}

fn list(path: Option<&std::path::Path>, assertions: bool, markdown: bool) -> i32 {
    match app::load_library(path, &[]) {
        Ok(plan) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if markdown {
                let _ = out.write_all(referee::plan::catalogue_markdown(&plan).as_bytes());
                return exit::SUCCESS;
            }
            if assertions {
                for a in referee::assertions::list(&plan) {
                    if out.write_all(format!("{a}\n").as_bytes()).is_err() {
                        break;
                    }
                }
                return exit::SUCCESS;
            }
            for c in plan.checks() {
                // A closed pipe (`referee list | head`) ends the listing quietly.
                let line = format!(
                    "{:<4} {:<6} {:<22} {}  [{}; {}]\n     rule: {}\n",
                    c.id,
                    c.keyword_str(),
                    c.area,
                    c.title,
                    c.section,
                    c.scenario,
                    c.rule
                );
                if out.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            exit::SUCCESS
        }
        Err(e) => report_error(&e),
    }
}

/// Prints an error (ending its last line) and gives its exit code.
fn report_error(e: &app::AppError) -> i32 {
    let text = e.to_string();
    // A usage problem with a value referee.yaml gave is the file's: said there, exit 2.
    if matches!(e, app::AppError::Usage(_))
        && let Some(located) = CONFIG.get().and_then(|(c, args)| c.locate_message(text.trim_start_matches("error: "), args))
    {
        eprintln!("error: {located}");
        return exit::INVALID_INPUT;
    }
    eprint!("{text}");
    if !text.ends_with('\n') {
        eprintln!();
    }
    e.exit_code()
}

/// A registry URL referee can talk to: `http` or `https` with a host.
fn check_url(what: &str, url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Err(format!("{what}: credentials in the URL would be written into every report: give them with --username and REFEREE_PASSWORD, or the docker config"))
        }
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(u) => Err(format!("{what} {url:?}: referee talks to registries over http:// or https://, not {}:", u.scheme())),
        Err(e) => Err(format!("{what} {url:?} is not a URL ({e}); write it as http://host:port or https://host")),
    }
}

async fn serve(a: ServeArgs) -> i32 {
    if a.list_faults {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (name, what) in Faults::NAMES {
            // A closed pipe (`| head`) ends the listing quietly.
            if writeln!(out, "{name:<32} {what}").is_err() {
                break;
            }
        }
        return exit::SUCCESS;
    }
    let mode: Mode = match a.mode.parse() {
        Ok(m) => m,
        Err(e) => return usage(format!("--mode: {e}")),
    };
    let faults = match Faults::from_names(&a.faults) {
        Ok(f) => f,
        Err(e) => return usage(format!("--fault: {e}")),
    };
    let mut users = vec![];
    for u in &a.token_users {
        match u.split_once(':') {
            Some((n, p)) => users.push((n.to_string(), p.to_string())),
            None => return usage(format!("--token-user {u:?}: expected user:password")),
        }
    }
    let addr = match a.addr.parse() {
        Ok(a) => a,
        Err(e) => return usage(format!("--addr {}: {e}", a.addr)),
    };
    let auth = if users.is_empty() { AuthMode::None } else { AuthMode::Token { users } };
    // The admin API (GC, locks, restart) has no authentication: it is served only when the
    // registry listens on loopback.
    let admin = std::net::SocketAddr::ip(&addr).is_loopback();
    if !admin {
        eprintln!("note: {addr} is not a loopback address, so the unauthenticated admin API is off");
    }
    let cfg = RegistryConfig { mode, auth, page_size: a.page_size.max(1), faults, admin, ..RegistryConfig::default() };
    match EmbeddedRegistry::start(cfg, addr).await {
        Ok(reg) => {
            println!("referee embedded registry listening on {} ({:?} mode)", reg.url(), mode);
            let _ = tokio::signal::ctrl_c().await;
            reg.shutdown().await;
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            exit::HARNESS_ERROR
        }
    }
}

async fn probe(mut a: ProbeArgs) -> i32 {
    a.conn = with_docker_credentials(&a.conn, a.target.as_deref());
    let mode: Mode = match a.embedded_mode.parse() {
        Ok(m) => m,
        Err(e) => return usage(format!("--embedded-mode: {e}")),
    };
    if let Some(t) = &a.target
        && let Err(e) = check_url("--target", t)
    {
        return usage(e);
    }
    if a.target.is_some() && mode != Mode::Full {
        return usage("--embedded-mode applies only without --target".into());
    }
    let (registry, base) = match &a.target {
        Some(t) => (None, t.trim_end_matches('/').to_string()),
        None => {
            let cfg = RegistryConfig { mode, ..RegistryConfig::default() };
            match EmbeddedRegistry::start(cfg, "127.0.0.1:0".parse().expect("addr")).await {
                Ok(reg) => {
                    let url = reg.url();
                    (Some(reg), url)
                }
                Err(e) => {
                    eprintln!("error: cannot start the embedded registry: {e}");
                    return exit::HARNESS_ERROR;
                }
            }
        }
    };
    let cfg = ClientConfig {
        username: a.conn.username,
        password: a.conn.password,
        token: a.conn.token,
        insecure: a.conn.insecure,
        timeout: Duration::from_secs(a.conn.timeout),
        ..ClientConfig::new(&base)
    };
    let client = match Client::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HARNESS_ERROR;
        }
    };
    let mut report = referee::profile::probe(&client, &a.repo_prefix, &referee::exec::new_run_id()).await;
    if let Some(reg) = registry {
        report.target = format!("{} (embedded, {:?} mode)", report.target, mode);
        reg.shutdown().await;
    }
    // A closed pipe (`referee probe | head`) must not keep the JSON from being written.
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(report.render().as_bytes());
    if let Err(e) = report.write_json(&a.out) {
        eprintln!("error: cannot write {}: {e}", a.out.display());
        return exit::HARNESS_ERROR;
    }
    let _ = writeln!(std::io::stdout().lock(), "wrote {}", a.out.display());
    if report.harness_error() { exit::HARNESS_ERROR } else { exit::SUCCESS }
}

async fn admin(a: AdminArgs) -> i32 {
    let Some(target) = a.target else {
        return usage("admin needs --target (or REFEREE_TARGET)".into());
    };
    let (path, body) = match a.action {
        AdminAction::Gc { created_before, keep_newest } => {
            let mut body = serde_json::Map::new();
            if let Some(c) = created_before {
                body.insert("created_before".into(), c.into());
            }
            if let Some(n) = keep_newest {
                body.insert("keep_newest".into(), n.into());
            }
            ("gc", serde_json::Value::Object(body))
        }
        AdminAction::LockTag { repo, tag } => ("lock", serde_json::json!({ "repo": repo, "tag": tag })),
        AdminAction::UnlockTag { repo, tag } => ("unlock", serde_json::json!({ "repo": repo, "tag": tag })),
        AdminAction::ReferrersApi { state } => ("referrers-api", serde_json::json!({ "enabled": state == "on" })),
        AdminAction::Restart => ("restart", serde_json::json!({})),
    };
    match referee::registry::admin_client_call(&target, path, body).await {
        Ok(v) => {
            println!("{v}");
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: admin {path} failed: {e}");
            exit::HARNESS_ERROR
        }
    }
}
