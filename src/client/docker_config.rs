//! Credentials from the docker configuration, found as docker finds them: the file is
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; for a registry host, a
//! `credHelpers` entry names a helper, else `credsStore` names the helper for every host, else
//! the `auths` entry holds them (`auth` = base64 of `user:password`, or `username`/`password`,
//! `identitytoken`, `registrytoken`). A helper is the `docker-credential-<name>` program on
//! PATH, asked with `get` and the host on stdin; it answers `{"Username","Secret"}` (the
//! docker-credential-helpers protocol). Nothing read here is ever printed or written.

use base64::Engine as _;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes read from a helper or the config file.
const MAX_BYTES: usize = 1 << 20;

/// What was found for a host.
#[derive(Clone, PartialEq, Eq)]
pub enum Found {
    /// User name and password (or an identity token with docker's `<token>` user name).
    Basic { username: String, password: String, from: String },
    /// A registry token, sent as `Authorization: Bearer`.
    Token { token: String, from: String },
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            Found::Basic { username, from, .. } => write!(f, "Basic({username}, from {from})"),
            Found::Token { from, .. } => write!(f, "Token(from {from})"),
        }
    }
}

impl Found {
    /// Where the credentials came from, for a message (never the secret).
    pub fn source(&self) -> &str {
        match self {
            Found::Basic { from, .. } | Found::Token { from, .. } => from,
        }
    }
}

/// The docker config file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// `host[:port]` of a registry URL (what docker keys its entries by).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
}

/// An `auths` key as docker writes them (`host`, `https://host/v1/`, …) reduced to its host.
fn key_host(key: &str) -> String {
    host_of(key)
}

/// Docker Hub's registry hosts all use the `https://index.docker.io/v1/` entry.
fn hub(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// The credentials the docker config holds for `url`'s host: `Ok(None)` when there is no config
/// file or nothing for that host; an error when the file or a helper is broken.
pub fn lookup(url: &str) -> Result<Option<Found>, String> {
    let Some(path) = config_path() else { return Ok(None) };
    lookup_in(&path, url)
}

/// [`lookup`] in a given config file.
pub fn lookup_in(path: &Path, url: &str) -> Result<Option<Found>, String> {
    let text = match std::fs::read(path) {
        Ok(t) if t.len() > MAX_BYTES => return Err(format!("{}: larger than {MAX_BYTES} bytes", path.display())),
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let v: Value = serde_json::from_slice(&text).map_err(|e| format!("{}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))?;
    let host = host_of(url);
    let matches = |k: &str| {
        let kh = key_host(k);
        kh == host || (hub(&host) && hub(&kh))
    };
    let helper = v
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(k, _)| matches(k)).and_then(|(_, h)| h.as_str()))
        .or_else(|| v.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty());
    if let Some(h) = helper {
        return helper_get(h, &host);
    }
    let Some((key, entry)) = v.get("auths").and_then(Value::as_object).and_then(|m| m.iter().find(|(k, _)| matches(k))) else {
        return Ok(None);
    };
    let from = format!("{} (auths \"{key}\")", path.display());
    let s = |f: &str| entry.get(f).and_then(Value::as_str).filter(|x| !x.is_empty()).map(str::to_string);
    if let Some(token) = s("registrytoken") {
        return Ok(Some(Found::Token { token, from }));
    }
    let (mut user, mut pass) = (s("username"), s("password"));
    if let Some(auth) = s("auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("{from}: \"auth\" is not base64"))
            .and_then(|b| String::from_utf8(b).map_err(|_| format!("{from}: \"auth\" is not UTF-8")))?;
        let (u, p) = decoded.split_once(':').ok_or_else(|| format!("{from}: \"auth\" is not user:password"))?;
        user = Some(u.to_string());
        pass = Some(p.to_string());
    }
    if let Some(t) = s("identitytoken") {
        // Docker sends an identity token as an OAuth2 refresh token; referee (no refresh-token
        // grant) sends it as the password of the token request, which some registries accept.
        return Ok(Some(Found::Basic { username: user.unwrap_or_else(|| "<token>".into()), password: t, from }));
    }
    Ok(match (user, pass) {
        (Some(username), Some(password)) => Some(Found::Basic { username, password, from }),
        _ => None,
    })
}

/// Asks `docker-credential-<helper> get` for `host`'s credentials.
fn helper_get(helper: &str, host: &str) -> Result<Option<Found>, String> {
    if !helper.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(format!("credential helper name {helper:?} is not a plain name"));
    }
    let program = format!("docker-credential-{helper}");
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new(&program)
        // Its own process group, so a helper that hangs goes with whatever it started.
        .process_group(0)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program} (the docker config's credential helper for {host}): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    // Bounded: the helper gets HELPER_TIMEOUT, then it is killed.
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > HELPER_TIMEOUT => {
                let _ = Command::new("kill").arg("-KILL").arg(format!("-{}", child.id())).stderr(Stdio::null()).status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} get did not answer within {} s", HELPER_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{program}: {e}")),
        }
    };
    let mut out = vec![];
    if let Some(o) = child.stdout.take() {
        let _ = o.take(MAX_BYTES as u64).read_to_end(&mut out);
    }
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        // The protocol's answer for "nothing stored for this host".
        if text.contains("credentials not found") {
            return Ok(None);
        }
        let mut err = String::new();
        if let Some(e) = child.stderr.take() {
            let _ = e.take(4096).read_to_string(&mut err);
        }
        // (The helper's own words, never its output, which could hold a secret.)
        return Err(format!("{program} get failed for {host} ({status}){}", if err.trim().is_empty() { String::new() } else { format!(": {}", err.trim()) }));
    }
    let v: Value = serde_json::from_str(text.trim()).map_err(|_| format!("{program} get answered something that is not the helper protocol's JSON"))?;
    let user = v.get("Username").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(secret) = v.get("Secret").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string) else {
        return Ok(None);
    };
    let from = format!("the credential helper {program}");
    Ok(Some(Found::Basic { username: if user.is_empty() { "<token>".into() } else { user }, password: secret, from }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(&p, json).unwrap();
        (d, p)
    }

    #[test]
    fn auths_entries_by_host_in_each_form_docker_writes() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw:with:colons");
        let (_d, p) = file(&format!(
            r#"{{"auths": {{"https://127.0.0.1:5000/v1/": {{"auth": "{auth}"}}, "reg.example:443": {{"username": "bob", "password": "pw2"}}, "https://index.docker.io/v1/": {{"identitytoken": "idt"}}, "tok.example": {{"registrytoken": "rt"}}}}}}"#
        ));
        assert!(matches!(lookup_in(&p, "http://127.0.0.1:5000").unwrap(), Some(Found::Basic { username, password, .. }) if username == "alice" && password == "pw:with:colons"));
        assert!(matches!(lookup_in(&p, "https://reg.example:443/").unwrap(), Some(Found::Basic { username, .. }) if username == "bob"));
        assert!(matches!(lookup_in(&p, "https://registry-1.docker.io").unwrap(), Some(Found::Basic { username, password, .. }) if username == "<token>" && password == "idt"));
        assert!(matches!(lookup_in(&p, "https://tok.example").unwrap(), Some(Found::Token { token, .. }) if token == "rt"));
        assert_eq!(lookup_in(&p, "http://127.0.0.1:5001").unwrap(), None, "another port is another registry");
        let (_d, p) = file("{not json");
        assert!(lookup_in(&p, "http://x").unwrap_err().contains("config.json:1:2: not JSON"));
        assert_eq!(lookup_in(Path::new("/nonexistent/config.json"), "http://x").unwrap(), None);
    }

    #[test]
    fn a_missing_helper_is_an_error_that_names_it_and_no_secret_is_debug_printed() {
        let (_d, p) = file(r#"{"credHelpers": {"127.0.0.1:5000": "referee-no-such-helper"}}"#);
        let e = lookup_in(&p, "http://127.0.0.1:5000").unwrap_err();
        assert!(e.contains("docker-credential-referee-no-such-helper"), "{e}");
        let f = Found::Basic { username: "u".into(), password: "hunter2".into(), from: "x".into() };
        assert!(!format!("{f:?}").contains("hunter2"));
        let (_d, p) = file(r#"{"credsStore": "../evil"}"#);
        assert!(lookup_in(&p, "http://h").unwrap_err().contains("not a plain name"));
    }
}
