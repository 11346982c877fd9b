//! Real OCI registries as child processes, for integration tests.
//!
//! Each constructor starts one registry on a free loopback port
//! (`127.0.0.1` only), with its storage, configuration and log file in a
//! private temporary directory, and waits until `GET /v2/` answers.
//! The returned [`ExternalRegistry`] kills and reaps the child when
//! dropped, so a test never leaves a process behind (even when it
//! panics).
//!
//! When the registry binary is not installed the constructors print why
//! and return `None`, so the calling test can skip itself:
//!
//! ```ignore
//! let Some(reg) = support::external::docker_registry() else { return };
//! ```
//!
//! Setting `REFEREE_REQUIRE_EXTERNAL=1` (CI does) turns a missing binary
//! into a panic instead, so a broken install fails loudly rather than
//! silently skipping the tests.
//!
//! Binaries are looked up on `PATH`; `ferro-oci-server` is also looked
//! up in `$CARGO_HOME/bin` and `~/.cargo/bin`. `REFEREE_DOCKER_REGISTRY_BIN`
//! and `REFEREE_FERRO_BIN` name a binary explicitly.
//!
//! Only `std`, `tempfile` and `bcrypt` are used: no async runtime.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Env var that makes a missing registry binary a panic instead of a skip.
pub const REQUIRE_ENV: &str = "REFEREE_REQUIRE_EXTERNAL";
/// Env var naming the `docker-registry` binary explicitly.
pub const DOCKER_REGISTRY_BIN_ENV: &str = "REFEREE_DOCKER_REGISTRY_BIN";
/// Env var naming the `ferro-oci-server` binary explicitly.
pub const FERRO_BIN_ENV: &str = "REFEREE_FERRO_BIN";

/// Realm of the htpasswd-protected docker-registry.
pub const HTPASSWD_REALM: &str = "referee-test";
/// bcrypt cost of the generated htpasswd entry (low, to keep tests fast).
pub const HTPASSWD_BCRYPT_COST: u32 = 5;

/// How long a registry may take to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Delay between two readiness probes.
const READY_POLL: Duration = Duration::from_millis(50);
/// Attempts with a fresh port when the child dies during start-up (the
/// port picked by [`free_port`] can be taken by someone else in between).
const START_ATTEMPTS: usize = 3;
/// How much of the log [`ExternalRegistry::log_tail`] returns.
const LOG_TAIL_BYTES: u64 = 8 * 1024;

const LOG_FILE: &str = "registry.log";

/// A registry process running on `127.0.0.1`, owned by the test.
pub struct ExternalRegistry {
    /// Base URL without trailing slash: `http://127.0.0.1:PORT`.
    pub url: String,
    /// Which implementation: `"docker-registry"`, `"docker-registry+htpasswd"`, `"docker-registry+tls"`
    /// or `"ferro-oci-server"`.
    pub name: &'static str,
    /// The loopback port it listens on.
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    config: Option<PathBuf>,
    storage: PathBuf,
    log: PathBuf,
    binary: PathBuf,
    credentials: Option<(String, String)>,
    stopped: bool,
    /// Set by [`ExternalRegistry::offline_hooks`]: where the hooks write the PID of the
    /// registry they started in place of `child`.
    pidfile: Option<PathBuf>,
}

impl ExternalRegistry {
    /// The registry's configuration file (docker-registry only; ferro is
    /// configured through its environment and has none).
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The last few KiB of the child's combined stdout/stderr, for
    /// assertion messages.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log, LOG_TAIL_BYTES)
    }

    /// Path of the child's combined stdout/stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `127.0.0.1:PORT`, e.g. for a referee target without scheme.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's storage root (inside the temporary directory).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The private temporary directory (config, storage, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `(user, password)` for registries started with authentication.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// PID of the registry process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        !self.stopped && matches!(self.child.try_wait(), Ok(None))
    }

    /// Runs `docker-registry garbage-collect [--delete-untagged] CONFIG`
    /// against this registry's storage. Upstream recommends running it
    /// while the registry is idle (or read-only); tests should make sure
    /// no request is in flight. Errors for registries without a config
    /// file (ferro).
    pub fn garbage_collect(&self, delete_untagged: bool) -> std::io::Result<Output> {
        let Some(config) = self.config.as_deref() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{} has no garbage-collect command", self.name),
            ));
        };
        let mut cmd = Command::new(&self.binary);
        cmd.arg("garbage-collect");
        if delete_untagged {
            cmd.arg("--delete-untagged");
        }
        cmd.arg(config).stdin(Stdio::null()).output()
    }

    /// Writes a hook script for a registry whose GC must run offline, as distribution's
    /// does, and returns the `gc` and `restart` hook commands:
    ///
    /// - `gc` stops the registry (by PID), runs `garbage-collect --delete-untagged CONFIG`
    ///   and starts it again on the same port;
    /// - `restart` stops it and starts it again.
    ///
    /// Neither waits for the new process to serve: referee waits for `GET /v2/` after a hook.
    /// The PID of the process a hook started is kept in a file, and [`stop`](Self::stop)
    /// kills that process too. docker-registry only.
    pub fn offline_hooks(&mut self) -> (String, String) {
        let config = self.config.clone().expect("offline hooks need docker-registry's config file");
        let pidfile = self.dir.path().join("registry.pid");
        fs::write(&pidfile, format!("{}\n", self.child.id())).expect("write the pid file");
        let script = self.dir.path().join("offline.sh");
        let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let text = format!(
            "# A test-owned docker-registry: stop it, collect garbage (gc), start it again.\n\
             set -u\n\
             pid=$(cat {pidfile})\n\
             kill \"$pid\" 2>/dev/null\n\
             i=0\n\
             # Gone, or a zombie its parent (the test) has not reaped yet.\n\
             while [ -d \"/proc/$pid\" ] && [ \"$(cut -d' ' -f3 \"/proc/$pid/stat\" 2>/dev/null)\" != Z ]; do\n\
             \x20 i=$((i + 1)); if [ \"$i\" -gt 200 ]; then echo \"registry $pid did not stop\" >&2; exit 1; fi\n\
             \x20 sleep 0.05\n\
             done\n\
             rc=0\n\
             if [ \"$1\" = gc ]; then\n\
             \x20 {bin} garbage-collect --delete-untagged {config} || rc=$?\n\
             fi\n\
             # Started again even when the GC failed: later steps need a registry.\n\
             {bin} serve {config} >>{log} 2>&1 </dev/null &\n\
             echo $! > {pidfile}\n\
             exit $rc\n",
            pidfile = q(&pidfile),
            bin = q(&self.binary),
            config = q(&config),
            log = q(&self.log),
        );
        fs::write(&script, text).expect("write the hook script");
        self.pidfile = Some(pidfile);
        let run = |what: &str| format!("sh {} {what}", q(&script));
        (run("gc"), run("restart"))
    }

    /// Kills the child (by PID) and reaps it, and the registry a hook started in its place
    /// (by the PID in its file). Idempotent; also done on drop.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        kill_and_reap(&mut self.child);
        if let Some(pid) = self.pidfile.as_ref().and_then(|p| fs::read_to_string(p).ok()).and_then(|t| t.trim().parse::<u32>().ok())
            && pid != self.child.id()
            // Only if that PID is still a registry (not reused by something else).
            && fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let bin = self.binary.as_os_str().as_encoded_bytes();
                c.windows(bin.len()).any(|w| w == bin)
            })
        {
            kill_pid(pid);
        }
    }
}

impl Drop for ExternalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for ExternalRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalRegistry")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// A port that was free on `127.0.0.1` a moment ago (bind to port 0,
/// read the port, drop the listener).
pub fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// Whether `REFEREE_REQUIRE_EXTERNAL` asks for missing binaries to fail.
pub fn external_required() -> bool {
    match std::env::var(REQUIRE_ENV) {
        Ok(v) => {
            let v = v.trim();
            !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
        }
        Err(_) => false,
    }
}

/// An open docker-registry (distribution 2.8): filesystem storage in a
/// temporary directory, deletes enabled, log level `warn`.
pub fn docker_registry() -> Option<ExternalRegistry> {
    let binary = locate("docker-registry", DOCKER_REGISTRY_BIN_ENV, false)?;
    Some(start_docker_registry(binary, "docker-registry", None, false))
}

/// Like [`docker_registry`], plus `auth.htpasswd` (realm
/// [`HTPASSWD_REALM`]) with one bcrypt entry for `user`/`password`.
/// `GET /v2/` then answers 401 with `WWW-Authenticate: Basic`.
pub fn docker_registry_htpasswd(user: &str, password: &str) -> Option<ExternalRegistry> {
    assert!(
        !user.is_empty() && !user.contains(':') && !user.contains('\n'),
        "htpasswd user must be non-empty and contain neither ':' nor a newline: {user:?}"
    );
    let binary = locate("docker-registry", DOCKER_REGISTRY_BIN_ENV, false)?;
    Some(start_docker_registry(
        binary,
        "docker-registry+htpasswd",
        Some((user.to_owned(), password.to_owned())),
        false,
    ))
}

/// Debian's docker-registry serving HTTPS on `127.0.0.1` with a self-signed certificate
/// (made with the `openssl` command for `IP:127.0.0.1`, valid one day). `url` is `https://…`.
pub fn docker_registry_tls() -> Option<ExternalRegistry> {
    let binary = locate("docker-registry", DOCKER_REGISTRY_BIN_ENV, false)?;
    let openssl = Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
    if !openssl {
        if external_required() {
            panic!("the openssl command is needed for the TLS test ({REQUIRE_ENV} is set)");
        }
        eprintln!("skipping: the openssl command is not installed (needed for a self-signed certificate)");
        return None;
    }
    Some(start_docker_registry(binary, "docker-registry+tls", None, true))
}

/// A self-signed certificate and key for `127.0.0.1` in `dir`: (certificate, key).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// Debian's `skopeo` (a real client, for the layout tests): its path, or `None` (skipped unless
/// `REFEREE_REQUIRE_EXTERNAL` is set).
#[allow(dead_code)]
pub fn skopeo() -> Option<PathBuf> {
    locate("skopeo", "REFEREE_SKOPEO_BIN", false)
}

/// ferro-oci-server: `FERRO_OCI_LISTEN=127.0.0.1:PORT`,
/// `FERRO_OCI_STORAGE_DIR=<tempdir>/storage`. It has no authentication.
pub fn ferro() -> Option<ExternalRegistry> {
    let binary = locate("ferro-oci-server", FERRO_BIN_ENV, true)?;
    let dir = new_tempdir("ferro");
    let storage = dir.path().join("storage");
    fs::create_dir_all(&storage).expect("create ferro storage dir");
    let log = dir.path().join(LOG_FILE);

    for attempt in 1..=START_ATTEMPTS {
        let port = free_port();
        let mut cmd = Command::new(&binary);
        cmd.env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
            .env("FERRO_OCI_STORAGE_DIR", &storage)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        let child = spawn_logged(&mut cmd, &log, "ferro-oci-server");
        match wait_ready(child, port, &log, "ferro-oci-server", attempt, false) {
            Some(child) => {
                return Some(ExternalRegistry {
                    url: format!("http://127.0.0.1:{port}"),
                    name: "ferro-oci-server",
                    port,
                    child,
                    dir,
                    config: None,
                    storage,
                    log,
                    binary,
                    credentials: None,
                    stopped: false,
                    pidfile: None,
                });
            }
            None => continue,
        }
    }
    unreachable!("wait_ready panics on the last attempt")
}

fn start_docker_registry(
    binary: PathBuf,
    name: &'static str,
    credentials: Option<(String, String)>,
    tls: bool,
) -> ExternalRegistry {
    let dir = new_tempdir("docker-registry");
    let storage = dir.path().join("storage");
    fs::create_dir_all(&storage).expect("create docker-registry storage dir");
    let log = dir.path().join(LOG_FILE);
    let config = dir.path().join("config.yml");

    let htpasswd = credentials.as_ref().map(|(user, password)| {
        let hash = bcrypt::hash(password, HTPASSWD_BCRYPT_COST).expect("bcrypt hash");
        let path = dir.path().join("htpasswd");
        fs::write(&path, format!("{user}:{hash}\n")).expect("write htpasswd");
        path
    });

    let tls_files = tls.then(|| self_signed(dir.path()));
    for attempt in 1..=START_ATTEMPTS {
        let port = free_port();
        let yaml = docker_registry_config(port, &storage, htpasswd.as_deref(), tls_files.as_ref());
        fs::write(&config, yaml).expect("write docker-registry config");
        let mut cmd = Command::new(&binary);
        cmd.arg("serve").arg(&config);
        let child = spawn_logged(&mut cmd, &log, name);
        if let Some(child) = wait_ready(child, port, &log, name, attempt, tls) {
            let scheme = if tls { "https" } else { "http" };
            return ExternalRegistry {
                url: format!("{scheme}://127.0.0.1:{port}"),
                name,
                port,
                child,
                dir,
                config: Some(config),
                storage,
                log,
                binary,
                credentials,
                stopped: false,
                pidfile: None,
            };
        }
    }
    unreachable!("wait_ready panics on the last attempt")
}

/// The distribution 2.8 YAML configuration. Paths are written as quoted
/// YAML strings (tempdir paths contain no quote or backslash, but be safe).
fn docker_registry_config(port: u16, storage: &Path, htpasswd: Option<&Path>, tls: Option<&(PathBuf, PathBuf)>) -> String {
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n\
         \x20 level: warn\n\
         \x20 formatter: text\n\
         storage:\n\
         \x20 filesystem:\n\
         \x20   rootdirectory: {storage}\n\
         \x20 delete:\n\
         \x20   enabled: true\n\
         \x20 maintenance:\n\
         \x20   uploadpurging:\n\
         \x20     enabled: false\n\
         http:\n\
         \x20 addr: 127.0.0.1:{port}\n\
         \x20 secret: {secret}\n\
         \x20 headers:\n\
         \x20   X-Content-Type-Options: [nosniff]\n",
        storage = yaml_str(storage),
        secret = random_hex(),
    );
    if let Some((cert, key)) = tls {
        // Still under `http:`.
        yaml.push_str(&format!(
            "\x20 tls:\n\
             \x20   certificate: {}\n\
             \x20   key: {}\n",
            yaml_str(cert),
            yaml_str(key)
        ));
    }
    if let Some(path) = htpasswd {
        yaml.push_str(&format!(
            "auth:\n\
             \x20 htpasswd:\n\
             \x20   realm: {HTPASSWD_REALM}\n\
             \x20   path: {}\n",
            yaml_str(path)
        ));
    }
    yaml
}

fn yaml_str(path: &Path) -> String {
    let s = path.to_str().expect("tempdir path is UTF-8");
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Not cryptographic: only an HTTP secret for a throwaway test registry.
fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut x = nanos ^ (u128::from(std::process::id()) << 64);
    let mut out = String::with_capacity(32);
    for _ in 0..32 {
        // xorshift over the 128-bit seed
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(char::from_digit((x & 0xf) as u32, 16).expect("hex digit"));
    }
    out
}

fn new_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("referee-{prefix}-"))
        .tempdir()
        .expect("create tempdir for external registry")
}

/// Starts `cmd` with stdin closed and stdout+stderr appended to `log`.
fn spawn_logged(cmd: &mut Command, log: &Path, name: &str) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open log file {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log file handle");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {name} ({cmd:?}): {e}"))
}

/// Polls `GET /v2/` every [`READY_POLL`] until it answers 200 or 401.
///
/// Returns `None` when the child exited early and another attempt (with
/// a new port) may be made; panics — after killing the child — on
/// timeout, or when the child exited on the last attempt.
fn wait_ready(
    mut child: Child,
    port: u16,
    log: &Path,
    name: &str,
    attempt: usize,
    tls: bool,
) -> Option<Child> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last: String;
    loop {
        // A failing `try_wait` is treated as "still running"; the probe or
        // the deadline decides.
        if let Ok(Some(status)) = child.try_wait() {
            let tail = read_tail(log, LOG_TAIL_BYTES);
            if attempt < START_ATTEMPTS {
                eprintln!(
                    "{name} exited during start-up on port {port} ({status}); retrying \
                     with another port. Log tail:\n{tail}"
                );
                return None;
            }
            panic!(
                "{name} exited during start-up on 127.0.0.1:{port} ({status}) after \
                 {attempt} attempts. Log tail:\n{tail}"
            );
        }
        match probe_v2(port) {
            Ok(200 | 401) => return Some(child),
            // A TLS server answers plain HTTP with 400: it is up.
            Ok(400) if tls => return Some(child),
            Ok(code) => last = format!("GET /v2/ answered {code}"),
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            kill_and_reap(&mut child);
            panic!(
                "{name} on 127.0.0.1:{port} not ready within {READY_TIMEOUT:?} ({last}). \
                 Log tail:\n{}",
                read_tail(log, LOG_TAIL_BYTES)
            );
        }
        std::thread::sleep(READY_POLL);
    }
}

/// One plain HTTP/1.1 `GET /v2/`; returns the status code of the reply.
fn probe_v2(port: u16) -> Result<u16, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(1))))
        .map_err(|e| format!("set timeout: {e}"))?;
    let request = format!(
        "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: referee-tests\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    // Only the status line is needed.
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 128];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse_status_line(&buf)
}

/// `HTTP/1.x NNN ...` → `NNN`.
fn parse_status_line(buf: &[u8]) -> Result<u16, String> {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = String::from_utf8_lossy(&buf[..line_end]);
    let line = line.trim_end();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") && code.len() == 3 => code
            .parse::<u16>()
            .map_err(|_| format!("bad status line {line:?}")),
        _ => Err(format!("not an HTTP status line: {line:?}")),
    }
}

/// Stops a process that is not our child: SIGTERM, up to 5 s for it to go, then SIGKILL.
fn kill_pid(pid: u32) {
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    let _ = Command::new("kill").arg(pid.to_string()).stderr(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive() {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
    }
}

fn kill_and_reap(child: &mut Child) {
    // `Child::kill` sends SIGKILL to this child's PID only; it errors
    // (harmlessly) when the process has already exited.
    let _ = child.kill();
    let _ = child.wait();
}

fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::from("(log not seekable)");
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // Drop the partial first line.
        match text.find('\n') {
            Some(i) => format!("[...]\n{}", &text[i + 1..]),
            None => text,
        }
    } else if text.is_empty() {
        String::from("(log is empty)")
    } else {
        text
    }
}

/// Finds `name`: `$env_override`, then `PATH`, then (if `cargo_bins`)
/// `$CARGO_HOME/bin` and `~/.cargo/bin`. Returns `None` after explaining,
/// or panics when [`external_required`].
fn locate(name: &str, env_override: &str, cargo_bins: bool) -> Option<PathBuf> {
    let mut searched: Vec<PathBuf> = Vec::new();
    if let Some(explicit) = std::env::var_os(env_override).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        if is_executable(&path) {
            return Some(path);
        }
        searched.push(path);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if cargo_bins {
        if let Some(home) = std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
            dirs.push(PathBuf::from(home).join("bin"));
        }
        if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
        }
    }
    for dir in dirs {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Some(candidate);
        }
        searched.push(candidate);
    }
    let msg = format!(
        "{name} is not installed (looked at ${env_override} and {} path(s): {})",
        searched.len(),
        searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if external_required() {
        panic!("{msg}; {REQUIRE_ENV} is set, so this is an error, not a skip");
    }
    eprintln!("skipping: {msg}; set {REQUIRE_ENV}=1 to make this fail");
    None
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::parse_status_line;

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.1 401 Unauthorized\r\nX: y"),
            Ok(401)
        );
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_status_line(b"").is_err());
    }
}
