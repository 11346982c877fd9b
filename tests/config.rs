//! Configuration the way the ecosystem layers it: a flag beats `REFEREE_*`, which beats
//! `referee.yaml` (or `--config FILE`), which beats referee's default; a bad file is an error at
//! its line and column before anything is sent. Credentials come from flags, the environment,
//! or the docker config (`auths`, `credHelpers`, `credsStore` through a `docker-credential-*`
//! program on PATH), and no password or token reaches any report file, the HTML included.

use base64::Engine as _;
use referee::registry::{AuthMode, EmbeddedRegistry, RegistryConfig};
use std::path::Path;
use std::process::{Command, Output};

fn referee(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_referee"));
    c.current_dir(dir);
    for v in ["REFEREE_CONFIG", "REFEREE_FILTER", "REFEREE_REPORT_DIR", "REFEREE_TARGET", "REFEREE_USERNAME", "REFEREE_PASSWORD", "REFEREE_TOKEN", "REFEREE_PROFILE", "REFEREE_TIMEOUT", "REFEREE_REPO_PREFIX", "REFEREE_FAIL_ON", "DOCKER_CONFIG", "GITHUB_STEP_SUMMARY"] {
        c.env_remove(v);
    }
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn results(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn ran(dir: &Path) -> Vec<String> {
    results(dir)["checks"].as_array().unwrap().iter().map(|c| c["area"].as_str().unwrap().to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("referee.yaml"), "# defaults for this directory\nfilter: [pagination]\nreport-dir: from-file\nrepo_prefix: from-file-prefix\nfail-on: warn\n").unwrap();
    // The file alone: its filter, report dir and prefix.
    let o = referee(d.path()).args(["run", "-q"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ran(&d.path().join("from-file")), ["pagination"]);
    assert!(std::fs::read_to_string(d.path().join("from-file/results.json")).unwrap().contains("from-file-prefix/pagination-link-"));
    // referee says which file it read.
    let o = referee(d.path()).args(["run", "--filter", "C1", "--report-dir", "said"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("defaults from referee.yaml"), "{}", text(&o));
    // The environment beats the file (filter); the file still gives what the environment does not.
    let o = referee(d.path()).args(["run", "-q"]).env("REFEREE_FILTER", "layout").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ran(&d.path().join("from-file")), ["layout"]);
    // A flag beats both.
    let o = referee(d.path()).args(["run", "-q", "--filter", "C1", "--report-dir", "from-flag"]).env("REFEREE_FILTER", "layout").env("REFEREE_REPORT_DIR", "from-env").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ran(&d.path().join("from-flag")), ["referrers-response"]);
    assert!(!d.path().join("from-env").exists());
    // The environment beats the file for the report dir, too.
    let o = referee(d.path()).args(["run", "-q", "--filter", "C1"]).env("REFEREE_REPORT_DIR", "from-env").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(d.path().join("from-env/results.json").is_file());
    // --config names another file; REFEREE_CONFIG does too.
    std::fs::write(d.path().join("other.yaml"), "filter: E1\nreport-dir: other\n").unwrap();
    let o = referee(d.path()).args(["run", "-q", "--config", "other.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ran(&d.path().join("other")), ["pagination"]);
    assert_eq!(results(&d.path().join("other"))["checks"].as_array().unwrap().iter().filter(|c| c["outcome"] != "disabled").count(), 1);
    // A run key does not reach another command's flag of the same name: `copy --filter` is an
    // artifactType, and the file's `filter` is run's. Other commands' keys go under their name.
    std::fs::write(d.path().join("sections.yaml"), "filter: [pagination]\nlayout:\n  check:\n    report-dir: layout-reports\n").unwrap();
    let o = referee(d.path()).args(["copy", "--config", "sections.yaml", "--help"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("[default: pagination]"), "{}", text(&o));
    let layout = d.path().join("lay");
    std::fs::create_dir(&layout).unwrap();
    let o = referee(d.path()).args(["layout", "check", "lay", "-q", "--config", "sections.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(referee::exit::CHECK_FAILED), "an empty layout breaks M1: {}", text(&o));
    assert!(d.path().join("layout-reports/layout-junit.xml").is_file(), "the section's report-dir: {}", text(&o));
    // Without a file, referee's defaults.
    let empty = tempfile::tempdir().unwrap();
    let o = referee(empty.path()).args(["run", "-q", "--filter", "C1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(empty.path().join("reports/results.json").is_file());
}

#[test]
fn a_bad_file_is_an_error_at_its_line_and_column_and_nothing_is_sent() {
    // Nothing listens on the file's target: the error comes before any request.
    let d = tempfile::tempdir().unwrap();
    for (file, want) in [
        ("target: http://127.0.0.1:9\ntagret: x\n", "referee.yaml:2:1: unknown key 'tagret' (did you mean 'target'?)"),
        ("target: http://127.0.0.1:9\ntimeout:   zero\n", "referee.yaml:2:12: timeout: invalid value 'zero' for '--timeout <TIMEOUT>'"),
        ("fail-on: sometimes\n", "referee.yaml:1:10: fail-on: invalid value 'sometimes'"),
        ("filter: [C1\n", "referee.yaml:2:1:"),
        ("- a list\n", "referee.yaml:1:1: a referee.yaml is a mapping"),
        ("report-dir: r\ntarget:\n", "referee.yaml:2:1: target has no value"),
        ("target: [http://127.0.0.1:9, http://127.0.0.1:10]\n", "referee.yaml:1:9: target takes one value, not a list"),
        ("target: 127.0.0.1:9\n", "referee.yaml:1:9: target: --target \"127.0.0.1:9\""),
        ("filter: [ZZ9]\n", "referee.yaml:1:9: filter: --filter ZZ9 matches no check"),
        ("cases: 5\n", "referee.yaml:1:1: unknown key 'cases'"),
        ("graph:\n  casse: 5\n", "referee.yaml:2:1: unknown key 'casse' (did you mean 'cases'?): not a flag of `referee graph`"),
        ("password: hunter2\n", "referee.yaml:1:11: password: keep secrets out of referee.yaml"),
        ("token: t0k\n", "referee.yaml:1:8: token: keep secrets out of referee.yaml"),
    ] {
        std::fs::write(d.path().join("referee.yaml"), file).unwrap();
        let o = referee(d.path()).args(["run"]).output().unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(referee::exit::INVALID_INPUT), "{file}: {out}");
        assert!(out.contains(want), "{file}: wanted {want:?} in {out}");
        assert!(!out.contains("probe ") && !out.contains("summary:"), "nothing ran: {out}");
    }
}

/// A `docker-credential-referee-test` program on PATH that answers the helper protocol with
/// `user` and `secret` for `host`, and "credentials not found" for any other host.
fn helper(dir: &Path, host: &str, user: &str, secret: &str) {
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r host\nif [ \"$host\" = '{host}' ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$host\"; else echo 'credentials not found in native keychain'; exit 1; fi\n"
    );
    let p = dir.join("docker-credential-referee-test");
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every file under `dir` (reports, the HTML included), searched for each secret.
fn assert_no_secret(dir: &Path, secrets: &[&str]) {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p).unwrap();
        for s in secrets {
            assert!(!t.contains(s), "{} holds a secret", p.display());
        }
        n += 1;
    }
    assert!(n >= 3, "junit.xml, results.json and report.html at least: {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_config_credentials_through_a_helper_a_store_and_auths_and_no_secret_in_any_report() {
    let password = "pw-Known-To-The-Test-4711";
    let reg = EmbeddedRegistry::start(RegistryConfig { auth: AuthMode::Token { users: vec![("alice".into(), password.into())] }, ..Default::default() }, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = reg.url();
    let host = url.trim_start_matches("http://").to_string();
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), &host, "alice", password);
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
    let configs = [
        ("credHelpers", format!(r#"{{"credHelpers": {{"{host}": "referee-test"}}}}"#), "the credential helper docker-credential-referee-test"),
        ("credsStore", r#"{"credsStore": "referee-test"}"#.to_string(), "the credential helper docker-credential-referee-test"),
        ("auths", format!(r#"{{"auths": {{"http://{host}": {{"auth": "{basic}"}}}}}}"#), "(auths \"http://"),
    ];
    for (kind, json, source) in configs {
        let work = tempfile::tempdir().unwrap();
        let docker = work.path().join("docker");
        std::fs::create_dir(&docker).unwrap();
        std::fs::write(docker.join("config.json"), json).unwrap();
        let o = referee(work.path())
            .args(["run", "--target", &url, "--filter", "C1,C13,B1", "--report-dir", "r"])
            .env("PATH", &path)
            .env("DOCKER_CONFIG", &docker)
            .output()
            .unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{kind}: {out}");
        assert!(out.contains(&format!("credentials for {host} from")) && out.contains(source), "{kind}: {out}");
        assert!(out.contains("3 passed"), "{kind}: {out}");
        assert_no_secret(&work.path().join("r"), &[password, &basic]);
    }
    // Credentials in a URL would be written into every report: refused before anything is sent.
    let o = referee(bin.path()).args(["run", "--target", &format!("http://alice:{password}@{host}")]).output().unwrap();
    assert_eq!(o.status.code(), Some(referee::exit::USAGE), "{}", text(&o));
    assert!(!text(&o).contains(password) && text(&o).contains("credentials in the URL"), "{}", text(&o));
    // A flag beats the docker config: wrong credentials given on the command line are used.
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("config.json"), format!(r#"{{"credHelpers": {{"{host}": "referee-test"}}}}"#)).unwrap();
    let o = referee(work.path())
        .args(["run", "--target", &url, "--filter", "C1", "--username", "alice", "--report-dir", "r"])
        .env("REFEREE_PASSWORD", "wrong")
        .env("PATH", &path)
        .env("DOCKER_CONFIG", work.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(referee::exit::HARNESS_ERROR), "{}", text(&o));
    assert!(!text(&o).contains("credentials for"), "{}", text(&o));
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_token_is_sent_and_never_written() {
    let token = "tok-Known-To-The-Test-0815";
    let reg = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    // A failing check, so transcripts are written too.
    let o = referee(work.path())
        .args(["run", "--target", &reg.url(), "--filter", "subject-push,C1", "--report-dir", "r"])
        .env("REFEREE_TOKEN", token)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0) | Some(4)), "{}", text(&o));
    assert_no_secret(&work.path().join("r"), &[token]);
    let html = std::fs::read_to_string(work.path().join("r/report.html")).unwrap();
    assert!(html.contains("authorization: Bearer &lt;redacted&gt;"), "the token was sent, and redacted");
    reg.shutdown().await;
}
