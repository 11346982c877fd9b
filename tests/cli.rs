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
