//! Lifecycle hooks: commands a scenario asks for (`hook: gc`) that a profile or the command
//! line defines — trigger a GC, lock a tag, restart, enable the referrers API. Each runs
//! under `sh -c` with a timeout, with `REFEREE_TARGET`, `REFEREE_REPO`, `REFEREE_TAG`,
//! `REFEREE_DIGEST` and `REFEREE_BIN` in its environment; its output is kept (bounded) for
//! the report. A failing or timed-out hook makes the checks that needed it Errored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A hook command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSpec {
    pub run: String,
    pub timeout_s: u64,
    /// Variables the user must set for it (the profile's `needs_env`; none for a hook given on
    /// the command line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_env: Vec<String>,
}

impl HookSpec {
    /// A command with no variables it needs from the user.
    pub fn new(run: impl Into<String>, timeout_s: u64) -> HookSpec {
        HookSpec { run: run.into(), timeout_s, needs_env: vec![] }
    }

    /// The variables of `needs_env` that `lookup` finds unset or empty.
    pub fn unset_env(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<&str> {
        self.needs_env.iter().map(String::as_str).filter(|v| lookup(v).is_none_or(|x| x.is_empty())).collect()
    }
}

/// Hooks by name (`gc`, `lock_tag`, `unlock_tag`, `restart`, `enable_referrers_api`).
pub type Hooks = BTreeMap<String, HookSpec>;

/// What the hook is about.
#[derive(Debug, Clone, Default)]
pub struct HookEnv {
    pub target: String,
    pub repo: String,
    pub tag: String,
    pub digest: String,
    /// Variables the scenario step adds (`hook: { env: { REFEREE_GC_KEEP_NEWEST: "2" } }`),
    /// validated at load time to be `REFEREE_…` names that do not shadow the ones above.
    pub extra: Vec<(String, String)>,
}

/// The variables referee sets for every hook (see [`run`]).
pub const SET_FOR_EVERY_HOOK: [&str; 5] = ["REFEREE_TARGET", "REFEREE_REPO", "REFEREE_TAG", "REFEREE_DIGEST", "REFEREE_BIN"];

/// Variables a step's `env` may not set: those every hook gets from referee, and those referee
/// itself reads (credentials, profile, the config file, flags' defaults, log filter), which a `referee admin …` hook would pick
/// up. The `REFEREE_GC_*` variables `referee admin gc` reads are what steps are for.
pub const RESERVED_VARS: [&str; 19] = [
    "REFEREE_CONFIG",
    "REFEREE_TOKEN",
    "REFEREE_FILTER",
    "REFEREE_REPORT_DIR",
    "REFEREE_INSECURE",
    "REFEREE_TIMEOUT",
    "REFEREE_REPO_PREFIX",
    "REFEREE_FAIL_ON",
    "REFEREE_JOBS",
    "REFEREE_TARGET",
    "REFEREE_REPO",
    "REFEREE_TAG",
    "REFEREE_DIGEST",
    "REFEREE_BIN",
    "REFEREE_REGISTRY_CONFIG",
    "REFEREE_USERNAME",
    "REFEREE_PASSWORD",
    "REFEREE_PROFILE",
    "REFEREE_LOG",
];

/// A finished hook.
#[derive(Debug, Clone)]
pub struct HookRun {
    pub status: Option<i32>,
    pub output: String,
    pub elapsed_ms: u64,
}

const MAX_OUTPUT: usize = 16 * 1024;
/// How long output is still read once the hook's shell has exited.
const AFTER_EXIT_READ: Duration = Duration::from_millis(500);

/// Runs `spec` to completion or until its timeout (then kills it). `Err` says why the hook
/// failed, with its output.
pub async fn run(name: &str, spec: &HookSpec, env: &HookEnv) -> Result<HookRun, String> {
    let started = std::time::Instant::now();
    let bin = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "referee".into());
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&spec.run)
        .env("REFEREE_TARGET", &env.target)
        .env("REFEREE_REPO", &env.repo)
        .env("REFEREE_TAG", &env.tag)
        .env("REFEREE_DIGEST", &env.digest)
        .env("REFEREE_BIN", referee_bin(&bin))
        .envs(env.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout stops what the hook started too.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("hook {name}: cannot start `sh -c {:?}`: {e}", spec.run))?;
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    // Both pipes are read by tasks of their own, at once (a full stderr pipe cannot stall
    // stdout) and up to a bound (a chatty hook cannot grow memory). They keep draining after
    // the hook is done: something it started in the background (a restarted registry) may
    // still write there, and must not meet a closed pipe.
    let (a, b) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let mut readers = [tokio::spawn(drain(out, a.clone())), tokio::spawn(drain(err, b.clone()))];
    let waited = tokio::time::timeout(Duration::from_secs(spec.timeout_s.max(1)), child.wait()).await;
    if waited.is_ok() {
        // Done: what it wrote before exiting is in the pipes; read it, briefly.
        let _ = tokio::time::timeout(AFTER_EXIT_READ, async {
            for r in &mut readers {
                let _ = r.await;
            }
        })
        .await;
    }
    let output = {
        let (a, b) = (a.lock().expect("hook output"), b.lock().expect("hook output"));
        format!("{}{}", String::from_utf8_lossy(&a), String::from_utf8_lossy(&b))
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match waited {
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill().await;
            Err(format!("hook {name} timed out after {} s: `{}`", spec.timeout_s, spec.run))
        }
        Ok(status) => {
            let status = status.map_err(|e| format!("hook {name}: {e}"))?;
            let run = HookRun { status: status.code(), output: output.trim().to_string(), elapsed_ms };
            if status.success() {
                Ok(run)
            } else {
                let how = status.code().map_or("was killed by a signal".to_string(), |c| format!("exited with status {c}"));
                Err(format!("hook {name} {how}: `{}`\n{}", spec.run, run.output))
            }
        }
    }
}

/// Keeps the first [`MAX_OUTPUT`] bytes of `r` in `keep` and discards the rest until its end.
async fn drain<R: tokio::io::AsyncRead + Unpin>(mut r: R, keep: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut k = keep.lock().expect("hook output");
                let room = MAX_OUTPUT.saturating_sub(k.len());
                k.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// The `referee` binary for hooks: the running binary when it is referee, else `referee` on
/// PATH (tests run inside a test harness binary).
fn referee_bin(current: &str) -> String {
    if std::path::Path::new(current).file_name().is_some_and(|f| f == "referee") {
        return current.to_string();
    }
    // Integration tests: cargo puts the binary beside the test's deps directory.
    if let Some(dir) = std::path::Path::new(current).parent().and_then(|d| d.parent()) {
        let candidate = dir.join("referee");
        if candidate.is_file() {
            return candidate.display().to_string();
        }
    }
    "referee".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `REFEREE_*` variable the command line reads is reserved, except the gc rules.
    #[test]
    fn variables_referee_reads_are_reserved() {
        let cli = include_str!("../cli.rs");
        for part in cli.split("env = \"").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(RESERVED_VARS.contains(&name) || name.starts_with("REFEREE_GC_"), "{name} is read by referee but not reserved");
        }
        assert!(RESERVED_VARS.contains(&"REFEREE_LOG"));
        assert!(SET_FOR_EVERY_HOOK.iter().all(|v| RESERVED_VARS.contains(v)));
    }

    #[test]
    fn unset_env_names_what_is_missing_or_empty() {
        let spec = HookSpec { needs_env: vec!["A".into(), "B".into(), "C".into()], ..HookSpec::new("true", 1) };
        let env = |v: &str| match v {
            "A" => Some("x".to_string()),
            "B" => Some(String::new()),
            _ => None,
        };
        assert_eq!(spec.unset_env(env), ["B", "C"]);
        assert!(HookSpec::new("true", 1).unset_env(|_| None).is_empty());
    }

    #[tokio::test]
    async fn runs_with_env_and_reports_failure_and_timeout() {
        let env = HookEnv {
            target: "http://127.0.0.1:1".into(),
            repo: "r".into(),
            tag: "t".into(),
            digest: "d".into(),
            extra: vec![("REFEREE_GC_KEEP_NEWEST".into(), "2".into())],
        };
        let ok = run("gc", &HookSpec::new("echo $REFEREE_REPO:$REFEREE_TAG:$REFEREE_GC_KEEP_NEWEST", 5), &env)
            .await
            .unwrap();
        assert_eq!(ok.output, "r:t:2");
        // 100 KiB on stderr before stdout closes: read both at once, keep the bound.
        let loud = run("gc", &HookSpec::new("head -c 102400 /dev/zero | tr '\\0' e >&2; echo done", 5), &env)
            .await
            .unwrap();
        assert!(loud.output.starts_with("done") && loud.output.len() <= 2 * MAX_OUTPUT, "{}", loud.output.len());
        let bad = run("gc", &HookSpec::new("echo nope >&2; exit 3", 5), &env).await.unwrap_err();
        assert!(bad.contains("exited with status 3") && bad.contains("nope"), "{bad}");
        let slow = run("gc", &HookSpec::new("sleep 5", 1), &env).await.unwrap_err();
        assert!(slow.contains("timed out"), "{slow}");
        // A hook may leave something running in the background that keeps its output open
        // (a registry it restarted): it is done when its shell is, not when the output ends.
        let started = std::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done");
        let cmd = format!("(sleep 1; echo still here; echo more >&2; touch '{}') & echo restarted", done.display());
        let bg = run("restart", &HookSpec::new(cmd, 10), &env).await.unwrap();
        assert_eq!(bg.output, "restarted");
        assert!(started.elapsed() < Duration::from_millis(900), "waited for the background job: {:?}", started.elapsed());
        // It writes after the hook ended, and is not killed by a closed pipe for it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(done.exists(), "the background job died writing to the hook's output");
        // What a timed-out hook started is stopped with it.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 30 & echo $! > '{}'; wait", pidfile.display());
        let err = run("gc", &HookSpec::new(cmd, 1), &env).await.unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        std::thread::sleep(Duration::from_millis(200));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty() || stat.split(' ').nth(2) == Some("Z"), "the hook's child {pid} still runs: {stat}");
    }
}
