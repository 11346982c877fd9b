//! The command line (clap derive). No logic: `main.rs` maps it onto [`crate::app`].

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "referee", version, about = "Conformance harness for OCI registries and their reference types", disable_help_subcommand = true)]
pub struct Cli {
    /// Defaults for flags from a YAML file (keys are long flag names); without it,
    /// `./referee.yaml` when there is one. A flag beats `REFEREE_*`, which beats the file.
    #[arg(long, global = true, env = "REFEREE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the check library against a registry (the embedded one when no --target is given).
    Run(RunArgs),
    /// Print every check with its id, keyword, spec section and rule.
    List {
        /// Scenario files (a file or a directory) instead of the built-in library.
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Print every assertion instead: check, step, assertion keys, and the sentence it
        /// enforces (or the profile key it judges).
        #[arg(long)]
        assertions: bool,
        /// Print the check catalogue as Markdown (what docs/catalogue.md is).
        #[arg(long, conflicts_with = "assertions")]
        markdown: bool,
    },
    /// Run the embedded reference registry standalone.
    Serve(ServeArgs),
    /// Drive a running embedded registry (what the `embedded` profile's hooks call).
    Admin(AdminArgs),
    /// Observe what a registry supports (the capability matrix) and write it as JSON.
    Probe(ProbeArgs),
    /// Load-test a registry's referrers API and fallback with a load profile (goose), or merge
    /// shard results (`referee load merge`).
    Load(LoadArgs),
    /// Property-test a registry with generated artifact graphs checked against a model; a failure
    /// is shrunk and written as a scenario file that `referee run --scenarios` replays.
    Graph(GraphArgs),
    /// OCI image layouts with referrers: `check` a layout (M1–M5, M7), `export` a manifest and
    /// its referrers from a registry into one, `import` one into a registry.
    Layout(LayoutArgs),
    /// Copy a manifest (and, with --referrers, all its referrers) from one registry to another,
    /// digests kept: referrers are read through the source's API or referrers tag and written
    /// through the destination's API or, where it has none, its referrers tag.
    Copy(CopyArgs),
    /// Registries side by side: results.json files of several runs → matrix.html and matrix.md
    /// (one column per run, one row per check by area, reasons on hover or in notes).
    Matrix(MatrixArgs),
    /// Help on a topic: `scenario` prints the scenario language reference (every step, option
    /// and assertion key, with examples from the library); without a topic, this help.
    Help { topic: Option<String> },
}

/// How to reach a registry: credentials, TLS, timeout (shared by `run` and `probe`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    #[arg(long, env = "REFEREE_USERNAME")]
    pub username: Option<String>,
    #[arg(long, env = "REFEREE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A registry token sent as `Authorization: Bearer` (e.g. one a CI system hands out).
    /// Without --username, --password or --token, the docker config's credentials for the
    /// target's host are used (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    #[arg(long, env = "REFEREE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Accept self-signed TLS certificates.
    #[arg(long, env = "REFEREE_INSECURE")]
    pub insecure: bool,
    /// Per-request timeout in seconds (at least 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), env = "REFEREE_TIMEOUT")]
    pub timeout: u64,
}

/// A repository of a registry, and how to reach it (`layout export`, `layout import`).
#[derive(Debug, clap::Args)]
pub struct RepoTarget {
    /// Registry base URL, e.g. http://127.0.0.1:5000.
    #[arg(long, env = "REFEREE_TARGET")]
    pub target: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The repository, e.g. team/app.
    #[arg(long)]
    pub repo: String,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Registry base URL, e.g. http://127.0.0.1:5000. Without it the embedded registry runs.
    #[arg(long, env = "REFEREE_TARGET")]
    pub target: Option<String>,
    /// A scenario file or a directory of them, run instead of the check library built into
    /// the binary (which is what runs without it).
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// Run only these checks: ids (C9), areas (pagination) or scenario ids; comma-separated or repeated.
    #[arg(long, value_delimiter = ',', env = "REFEREE_FILTER")]
    pub filter: Vec<String>,
    /// Where junit.xml, results.json and report.html are written.
    #[arg(long, default_value = "reports", env = "REFEREE_REPORT_DIR")]
    pub report_dir: PathBuf,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Repositories are named <prefix>/<scenario>-<run id>.
    #[arg(long, default_value = "referee", env = "REFEREE_REPO_PREFIX")]
    pub repo_prefix: String,
    /// Vendor profile: a built-in name (see profiles/) or a YAML file. Default: `embedded`
    /// without --target, `strict` with one.
    #[arg(long, env = "REFEREE_PROFILE")]
    pub profile: Option<String>,
    /// A lifecycle hook as name=command (gc, lock_tag, unlock_tag, restart, enable_referrers_api,
    /// disable_referrers_api); overrides the profile's.
    #[arg(long = "hook", value_parser = parse_hook)]
    pub hooks: Vec<(String, String)>,
    /// Another registry for multi-registry scenarios, as name=URL (e.g. mirror=http://127.0.0.1:5001).
    #[arg(long = "mirror", value_parser = parse_mirror)]
    pub mirrors: Vec<(String, String)>,
    #[command(flatten)]
    pub embedded: EmbeddedArgs,
    /// Print notes and scenario repositories.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// No progress and no line per check: the summary (and any error) only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Which verdicts make the exit code 4: `fail` (a broken MUST; the default) or `warn`
    /// (a broken SHOULD or reading too).
    #[arg(long, value_enum, default_value = "fail", env = "REFEREE_FAIL_ON")]
    pub fail_on: crate::exit::FailOn,
    /// Scenarios run at the same time, each in repositories of its own (those with a parallel
    /// block or a lifecycle hook run alone); reports keep the library's order.
    #[arg(long, default_value_t = crate::exec::DEFAULT_JOBS as u64, value_parser = clap::value_parser!(u64).range(1..=64), env = "REFEREE_JOBS")]
    pub jobs: u64,
}

#[derive(Debug, clap::Args)]
pub struct MatrixArgs {
    /// results.json files, each optionally labelled: `LABEL=PATH` (default label: the target's
    /// host and port and the profile).
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<String>,
    /// Where matrix.html and matrix.md are written.
    #[arg(long, default_value = "reports", env = "REFEREE_REPORT_DIR")]
    pub report_dir: PathBuf,
    /// The table's title.
    #[arg(long, default_value = "referee: registries side by side")]
    pub title: String,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: String,
    /// full (referrers API) or legacy (behaves like a registry without reference types).
    #[arg(long, default_value = "full")]
    pub mode: String,
    /// Referrers entries per page.
    #[arg(long, default_value_t = 256)]
    pub page_size: usize,
    /// Switch on a fault by name (repeatable).
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Require Bearer tokens; credentials as user:password (repeatable).
    #[arg(long = "token-user")]
    pub token_users: Vec<String>,
    /// Print the fault names and exit.
    #[arg(long)]
    pub list_faults: bool,
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Registry base URL, e.g. http://127.0.0.1:5000. Without it the embedded registry is probed.
    #[arg(long, env = "REFEREE_TARGET")]
    pub target: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The probe works in <prefix>/probe-<run id> and <prefix>/probe-<run id>-mount.
    #[arg(long, default_value = "referee")]
    pub repo_prefix: String,
    /// Where the JSON capability matrix is written.
    #[arg(long, default_value = "reports/probe.json")]
    pub out: PathBuf,
    /// Embedded registry only: full or legacy (no referrers API).
    #[arg(long, default_value = "full")]
    pub embedded_mode: String,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct LoadArgs {
    #[command(subcommand)]
    pub merge: Option<LoadCommand>,
    /// A built-in load profile (referrers-read, referrers-push, fallback-read, fallback-push,
    /// mixed, ceiling) or a profile YAML file.
    #[arg(long, required = true)]
    pub profile: Option<String>,
    /// Registry base URL, e.g. http://127.0.0.1:5000. Without it the embedded registry runs.
    #[arg(long, env = "REFEREE_TARGET")]
    pub target: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Concurrent users (overrides the profile).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub users: Option<u64>,
    /// How long each step runs, e.g. 5s or 1m (overrides the profile).
    #[arg(long, conflicts_with = "iterations")]
    pub run_time: Option<String>,
    /// Iterations per user per step, instead of a run time (overrides the profile).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub iterations: Option<u64>,
    /// Fan-outs to step over, comma-separated (overrides the profile), e.g. 10,1000.
    #[arg(long, value_delimiter = ',')]
    pub fanouts: Vec<u64>,
    /// A threshold, e.g. "referrers-read p99 < 20ms" (repeatable): each is a JUnit testcase,
    /// and one missed makes the exit code 5.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// A previous run's JSON report: p50/p99 may grow and req/s shrink by at most --tolerance.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// How much worse than the baseline still passes, e.g. 20% or 0.2.
    #[arg(long, default_value = "20%")]
    pub tolerance: String,
    /// Run one share of the users: i/N (1 <= i <= N); merge the shards' JSON with
    /// `referee load merge`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Correct for coordinated omission (backfill the requests a stalled user could not send).
    #[arg(long)]
    pub co_mitigation: bool,
    /// Where the reports go.
    #[arg(long, default_value = "reports/load")]
    pub report_dir: PathBuf,
    /// Repositories are named <prefix>/load-<profile>-<run id>.
    #[arg(long, default_value = "referee")]
    pub repo_prefix: String,
    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum LoadCommand {
    /// Merge shard results (JSON reports) into one: histograms and counts add up exactly.
    Merge {
        /// The shards' JSON reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Thresholds judged on the merged result (repeatable).
        #[arg(long = "threshold")]
        thresholds: Vec<String>,
        #[arg(long, default_value = "reports/load")]
        report_dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The embedded registry's base URL.
    #[arg(long, env = "REFEREE_TARGET", global = true)]
    pub target: Option<String>,
    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Run garbage collection now, with the registry's policy plus the retention rules given.
    Gc {
        /// Collect untagged manifests whose `org.opencontainers.image.created` is before this
        /// RFC 3339 instant (a hook step passes it as REFEREE_GC_CREATED_BEFORE).
        #[arg(long, env = "REFEREE_GC_CREATED_BEFORE")]
        created_before: Option<String>,
        /// Keep only the newest N referrers of each subject, by `org.opencontainers.image.created`
        /// (a hook step passes it as REFEREE_GC_KEEP_NEWEST).
        #[arg(long, env = "REFEREE_GC_KEEP_NEWEST")]
        keep_newest: Option<usize>,
    },
    /// Lock a tag (it can no longer move or be deleted).
    LockTag {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        tag: String,
    },
    /// Unlock a tag.
    UnlockTag {
        #[arg(long)]
        repo: String,
        #[arg(long)]
        tag: String,
    },
    /// Switch the referrers API on or off.
    ReferrersApi {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Persist and reload the registry's state (a restart).
    Restart,
}

fn parse_mirror(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, u)) if !n.trim().is_empty() && !u.trim().is_empty() => Ok((n.trim().to_string(), u.trim().to_string())),
        _ => Err(format!("expected name=URL (e.g. mirror=http://127.0.0.1:5001), got {s:?}")),
    }
}

fn parse_hook(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, c)) if !n.trim().is_empty() && !c.trim().is_empty() => Ok((n.trim().to_string(), c.to_string())),
        _ => Err(format!("expected name=command, got {s:?}")),
    }
}

/// The embedded registry's switches (`run`, `graph`): they apply only without --target.
#[derive(Debug, clap::Args)]
pub struct EmbeddedArgs {
    /// Embedded registry only: full or legacy (no referrers API).
    #[arg(long, default_value = "full")]
    pub embedded_mode: String,
    /// Embedded registry only: switch on a fault (see `referee serve --list-faults`).
    #[arg(long = "embedded-fault")]
    pub embedded_faults: Vec<String>,
    /// Embedded registry only: referrers entries per page (default 256).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub embedded_page_size: Option<u64>,
}

impl EmbeddedArgs {
    /// The embedded registry's configuration, or why these switches cannot be used (with a
    /// `--target`, or a mode or fault that does not exist).
    pub fn config(&self, target: Option<&String>) -> Result<crate::registry::RegistryConfig, String> {
        use crate::registry::{Faults, Mode, RegistryConfig};
        let mode: Mode = self.embedded_mode.parse().map_err(|e| format!("--embedded-mode: {e}"))?;
        let faults = Faults::from_names(&self.embedded_faults).map_err(|e| format!("--embedded-fault: {e}"))?;
        if target.is_some() && (!self.embedded_faults.is_empty() || mode != Mode::Full || self.embedded_page_size.is_some()) {
            return Err("--embedded-mode, --embedded-fault and --embedded-page-size apply only without --target".into());
        }
        let page_size = self.embedded_page_size.map_or(RegistryConfig::default().page_size, |p| p as usize);
        Ok(RegistryConfig { mode, faults, page_size, ..RegistryConfig::default() })
    }
}

/// `referee graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Registry base URL, e.g. http://127.0.0.1:5000. Without it the embedded registry runs.
    #[arg(long, env = "REFEREE_TARGET")]
    pub target: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// How many graphs to generate and check (each in fresh repositories, cleaned up).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cases: u32,
    /// The seed the graphs derive from: the same seed and --cases give the same graphs. A new
    /// one each run when absent (reports name it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Vendor profile: a built-in name or a YAML file. Default: `embedded` without --target,
    /// `strict` with one.
    #[arg(long, env = "REFEREE_PROFILE")]
    pub profile: Option<String>,
    /// How referrers are read: `api`, `fallback` (the referrers tag a client maintains), or
    /// `auto` (the API when the registry has it).
    #[arg(long, default_value = "auto", value_parser = ["auto", "api", "fallback"])]
    pub mode: String,
    /// Most shrinking steps after a failure (each runs a case).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub max_shrink_steps: u32,
    /// Instead of generating graphs: list which manifests of --repo point at this digest (as
    /// subject, index child, config or layer), walking from the repository's tags through
    /// index children and referrers (the API, or the referrers tags with --mode fallback).
    #[arg(long, requires = "repo")]
    pub reverse: Option<String>,
    /// The repository --reverse walks.
    #[arg(long, requires = "reverse")]
    pub repo: Option<String>,
    /// What fails a case (and is shrunk, and makes the exit code 4): `fail` (a broken MUST; the
    /// default) or `warn` (a broken reading too, e.g. a deleted referrer still listed).
    #[arg(long, value_enum, default_value = "fail")]
    pub fail_on: crate::exit::FailOn,
    /// Where graph-junit.xml, graph-results.json and a counterexample scenario go.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Repositories are named <prefix>/graph-<run id>-<case>.
    #[arg(long, default_value = "referee")]
    pub repo_prefix: String,
    #[command(flatten)]
    pub embedded: EmbeddedArgs,
    /// No progress line and no per-check lines (the summary and exit code remain).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `referee layout`.
#[derive(Debug, clap::Args)]
pub struct LayoutArgs {
    #[command(subcommand)]
    pub command: LayoutCommand,
}

/// `referee copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The source, URL/REPO:TAG or URL/REPO@DIGEST (e.g. http://127.0.0.1:5000/team/app:v1).
    pub src: String,
    /// The destination, URL/REPO:TAG or URL/REPO@DIGEST.
    pub dst: String,
    /// Copy every referrer too, recursively (referrers of referrers).
    #[arg(long)]
    pub referrers: bool,
    /// With --referrers: only the subject's referrers of this artifactType (and all of theirs).
    #[arg(long, requires = "referrers")]
    pub filter: Option<String>,
    /// Credentials and TLS, for both registries.
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
pub enum LayoutCommand {
    /// Check an OCI image layout: its structure and blobs (M1), ref.name placement (M2), and its
    /// referrers by each convention (M3 referrers tag, M4 untagged in index.json, M5 proposed
    /// annotations); missing blobs are allowed (M7). Findings point at file:line:col.
    Check {
        /// The layout's directory.
        dir: PathBuf,
        /// Where layout-junit.xml and layout-results.json go.
        #[arg(long, default_value = "reports")]
        report_dir: PathBuf,
        /// Only the findings and the summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Export a manifest (with its blobs and children) and all its referrers, recursively,
    /// from a registry into an OCI image layout, writing all three referrer conventions.
    Export {
        #[command(flatten)]
        at: RepoTarget,
        /// A tag or a digest.
        #[arg(long = "ref")]
        reference: String,
        /// The layout's directory (created if needed).
        #[arg(long)]
        to: PathBuf,
        /// How referrers are read: `api`, `fallback` (the referrers tag), or `auto` (the API,
        /// the tag where the API answers 404).
        #[arg(long, default_value = "auto", value_parser = ["auto", "api", "fallback"])]
        mode: String,
    },
    /// Import an OCI image layout into a registry, digests kept: every manifest index.json
    /// names (with its blobs and children), tags from ref.name, referrers through the API or,
    /// where the registry answers without OCI-Subject, its referrers tag.
    Import {
        /// The layout's directory.
        dir: PathBuf,
        #[command(flatten)]
        at: RepoTarget,
    },
}
