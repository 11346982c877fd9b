//! What users see from the binary: golden diagnostics for invalid scenario files (with the
//! documented exit code and no request sent), `referee list`, and usage errors.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

fn referee() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_referee"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn invalid_scenarios_point_at_file_line_col_and_send_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        cases += 1;
        // A listener that would see any request referee sent.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let target = format!("http://{}", listener.local_addr().unwrap());
        let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let out = referee().args(["run", "--scenarios"]).arg(rel).args(["--target", &target]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let golden = std::fs::read_to_string(path.with_extension("stderr")).unwrap();
        assert_eq!(stderr, golden, "stderr of {} differs from its golden file", rel.display());
        assert_eq!(out.status.code(), Some(referee::exit::INVALID_INPUT), "{}", rel.display());
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("{} sent a request: {other:?}", rel.display()),
        }
    }
    assert!(cases >= 4, "golden cases found: {cases}");
}

#[test]
fn list_prints_every_check_with_its_rule() {
    let out = referee().args(["list", "--scenarios", "scenarios"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for id in ["B1", "B12", "C1", "C15", "D1", "D9", "E1", "E6"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{id} "))), "{id} missing from:\n{text}");
    }
    assert_eq!(text.matches("rule: ").count(), referee::app::load_plan(std::path::Path::new("scenarios"), &[]).unwrap().checks().count());
}

/// Exit code 1 (the README's table): the command line is wrong — detected before any request.
#[test]
fn usage_errors_exit_with_the_usage_code() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--no-such-flag"], "unexpected argument"),
        (&["run", "--embedded-fault", "no_such_fault"], "unknown fault"),
        (&["run", "--filter", "Z99"], "--filter Z99 matches no check"),
        (&["run", "--timeout", "0"], "'0' for '--timeout"),
        (&["run", "--mirror", "mirror"], "expected name=URL"),
        (&["probe", "--target", "ftp://127.0.0.1"], "not ftp:"),
    ];
    for (args, says) in cases {
        let out = referee().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(referee::exit::USAGE), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // A target without a scheme is refused before anything is sent to it.
    let out = referee().args(["run", "--target", &format!("127.0.0.1:{port}")]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::USAGE), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write it as http://host:port"));
    assert!(matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock), "a request was sent");
}

/// Exit code 2: a file the command line names cannot be read (a scenario path that does not
/// exist), as well as an invalid scenario or profile file (the golden tests above).
#[test]
fn unreadable_input_exits_with_the_input_code() {
    let out = referee().args(["run", "--scenarios", "no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::INVALID_INPUT));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read no/such/dir"));
    let out = referee().args(["run", "--profile", "no/such/profile.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::INVALID_INPUT), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Exit codes 0, 3 and 4, and the built-in library: from a directory that has no `scenarios/`
/// the library still runs (0); a registry that does not answer is a harness error (3); a
/// broken MUST is a failure (4).
#[test]
fn the_library_runs_from_any_directory_and_outcomes_have_their_codes() {
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_referee")).current_dir(elsewhere.path()).args(args).output().unwrap()
    };
    let out = run(&["run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(referee::exit::SUCCESS), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let count = referee::app::load_library(None, &[]).unwrap().checks().count();
    assert!(stdout.contains(&format!("summary: {count} checks: {count} passed")), "{stdout}");
    assert!(elsewhere.path().join("reports/results.json").is_file());
    let out = run(&["list"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("rule: ").count(), count);
    // Nothing listens on this port once the listener is dropped.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run(&["run", "--target", &format!("http://127.0.0.1:{port}"), "--filter", "A1"]);
    assert_eq!(out.status.code(), Some(referee::exit::HARNESS_ERROR), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["run", "--embedded-fault", "blob_put_no_location", "--filter", "A2"]);
    assert_eq!(out.status.code(), Some(referee::exit::CHECK_FAILED), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A broken reading is a WARN: the run exits 0, unless `--fail-on warn` makes it exit 4.
#[test]
fn fail_on_warn_turns_warnings_into_the_failure_code() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", "--embedded-fault", "duplicate_on_repush", "--filter", "B10", "--report-dir"];
    let out = referee().args(args).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("WARN  B10") && stdout.contains("1 warned"), "{stdout}");
    assert_eq!(out.status.code(), Some(referee::exit::SUCCESS), "{stdout}");
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    assert!(json.contains("\"outcome\": \"warned\""), "{json}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("B10.referee.outcome\" value=\"warned\"") && junit.contains("status=\"warned\"") && !junit.contains("<failure"), "{junit}");
    let out = referee().args(args).arg(dir.path()).args(["--fail-on", "warn"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::CHECK_FAILED), "{}", String::from_utf8_lossy(&out.stdout));
}

/// With `$GITHUB_STEP_SUMMARY` set (GitHub Actions), `run` appends its summary there: totals
/// per area and each check that did not pass, with its reason.
#[test]
fn run_writes_the_github_job_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = referee()
        .args(["run", "--embedded-fault", "omit_oci_subject", "--filter", "subject-push,C8", "--report-dir"])
        .arg(dir.path().join("r"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::CHECK_FAILED), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("earlier step\n## referee run"), "appended: {md}");
    assert!(md.contains("| **subject-push** |") && md.contains("| B1 OCI-Subject on push by digest | FAIL (1) |"), "{md}");
    assert!(md.contains("1. B1 FAIL on embedded: step"), "{md}");
    assert!(!md.contains("| C8 "), "passing checks are only counted: {md}");
}

/// Off a terminal, progress is a plain line on stderr per finished scenario (a terminal gets an
/// indicatif bar); `--quiet` leaves only the summary.
#[test]
fn progress_is_plain_lines_off_a_terminal_and_quiet_leaves_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = referee().args(["run", "--filter", "pagination,layout", "--report-dir"]).arg(dir.path()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("progress: 3/3 scenarios done ("), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no terminal codes off a terminal: {stderr}");
    assert!(stdout.contains("PASS  E1") && stdout.contains("summary: 13 checks"), "{stdout}");
    let out = referee().args(["run", "-q", "--filter", "pagination,layout", "--report-dir"]).arg(dir.path()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!stdout.contains("PASS  E1") && !stdout.contains("probe ") && stdout.contains("summary: 13 checks"), "{stdout}");
}

/// `referee list --assertions` prints every assertion with the sentence it enforces.
#[test]
fn list_assertions_prints_each_assertion_with_its_sentence() {
    let out = referee().args(["list", "--assertions"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("A2   step 2 (push_blob)")), "{text}");
    assert!(text.contains("READING The Docker-Content-Digest header returns the digest of the uploaded blob"), "{text}");
    assert!(text.contains("PROFILE the registry's declared `untagged_referrer_gc` must hold"), "{text}");
}

/// Stdout and stderr of a run that cannot start: the error block is on stderr, said once, at
/// most 5 lines, the cause first; exit 3; the checks are one summary line on stdout.
fn harness_error(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = referee();
    cmd.args(args).arg("--report-dir").arg(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert_eq!(out.status.code(), Some(referee::exit::HARNESS_ERROR), "{stdout}{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
    assert!(stderr.lines().count() <= 5, "{stderr}");
    assert!(!stdout.contains("ERROR "), "no line per check: {stdout}");
    assert!(stdout.contains("errored in"), "{stdout}");
    let results = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    assert!(results.matches("\"outcome\": \"errored\"").count() > 100, "every check Errored in the report");
    (stdout, stderr)
}

#[test]
fn a_run_that_cannot_start_says_why_once() {
    // Connection refused: nothing listens on this port once the listener is dropped.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, err) = harness_error(&["run", "--target", &format!("http://127.0.0.1:{port}")], &[]);
    assert!(err.starts_with("error: cannot connect to") && err.contains("Connection refused"), "{err}");

    // Not a registry: a web server that answers every request with an HTML 404 page.
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = web.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in web.incoming().flatten().take(50) {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<!DOCTYPE html>\n<html>\n<body>\n<h1>Not Found</h1>\n</body>\n</html>\n";
            let _ = write!(s, "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    let (_, err) = harness_error(&["run", "--target", &format!("http://{addr}")], &[]);
    assert!(err.starts_with("error: this does not look like an OCI registry: GET") && err.contains("answered 404 (text/html)"), "{err}");

    // Wrong credentials against a registry that asks for a token.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_referee"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--token-user", "ci:right"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let target = format!("http://127.0.0.1:{port}");
    let result = std::panic::catch_unwind(|| {
        harness_error(&["run", "--target", &target], &[("REFEREE_USERNAME", "ci"), ("REFEREE_PASSWORD", "wrong")])
    });
    let _ = serve.kill();
    let _ = serve.wait();
    let (_, err) = result.unwrap();
    assert!(err.starts_with("error: unauthorized:") && err.contains("refused user 'ci'"), "{err}");
}
