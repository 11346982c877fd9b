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
    let out = referee().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for id in ["B1", "B12", "C1", "C15", "D1", "D9", "E1", "E6"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{id} "))), "{id} missing from:\n{text}");
    }
    assert_eq!(text.matches("rule: ").count(), referee::app::load_plan(std::path::Path::new("scenarios"), &[]).unwrap().checks().count());
}

#[test]
fn usage_errors_exit_with_the_usage_code() {
    let out = referee().args(["run", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::USAGE));
    let out = referee().args(["run", "--embedded-fault", "no_such_fault"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::USAGE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault"));
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
    assert!(junit.contains("referee.outcome\" value=\"warned\"") && !junit.contains("<failure"), "{junit}");
    let out = referee().args(args).arg(dir.path()).args(["--fail-on", "warn"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::CHECK_FAILED), "{}", String::from_utf8_lossy(&out.stdout));
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
