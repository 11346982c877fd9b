//! `referee matrix`: the results of the embedded registry, docker-registry 2.8.2 and
//! ferro-oci-server 1.0.0 (each run with the binary, as a vendor would) side by side in one
//! table: matrix.md (one column per registry, one row per check, totals per area, reasons as
//! numbered notes) and matrix.html (reasons on hover).

mod support;

use std::path::Path;
use std::process::Command;
use support::external;

fn referee(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_referee")).args(args).env_remove("GITHUB_STEP_SUMMARY").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn run(dir: &Path, name: &str, extra: &[&str]) -> String {
    let out = dir.join(name);
    let mut args = vec!["run", "--report-dir", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = referee(&args);
    assert!(matches!(code, Some(0) | Some(4)), "{name}: exit {code:?}\n{stdout}{stderr}");
    out.join("results.json").display().to_string()
}

#[test]
fn three_registries_side_by_side() {
    let (Some(dreg), Some(ferro)) = (external::docker_registry(), external::ferro()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let embedded = run(dir.path(), "embedded", &[]);
    // (Its profile, distribution-2.8, calls an offline gc hook; the strict default needs none.)
    let docker = run(dir.path(), "docker", &["--target", &dreg.url]);
    let ferro_results = run(dir.path(), "ferro", &["--target", &ferro.url]);
    let out = dir.path().join("matrix");
    let (code, stdout, stderr) = referee(&["matrix", &embedded, &format!("docker-registry 2.8.2={docker}"), &format!("ferro-oci-server 1.0.0={ferro_results}"), "--report-dir", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("3 registries: embedded, docker-registry 2.8.2, ferro-oci-server 1.0.0"), "{stdout}");
    let md = std::fs::read_to_string(out.join("matrix.md")).unwrap();
    assert!(md.contains("| check | embedded | docker-registry 2.8.2 | ferro-oci-server 1.0.0 |"), "{md}");
    // One table: every row has a cell for each of the three.
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    let library = referee::scenario::load_builtin().unwrap();
    let checks = referee::plan::plan(&library, &[]).unwrap().checks().count();
    assert!(rows.len() > checks, "a row per check, per area and the header: {} rows for {checks} checks", rows.len());
    for r in &rows {
        assert_eq!(r.matches(" | ").count(), 3, "four cells: {r}");
    }
    // The embedded registry passes everything; docker-registry (no referrers API) skips the
    // API's checks, each with a numbered reason.
    assert!(md.contains(&format!("| **all** | {checks} PASS |")), "{md}");
    let c1 = rows.iter().find(|r| r.starts_with("| C1 ")).unwrap();
    assert!(c1.contains("| PASS | SKIP ("), "{c1}");
    // One numbered reason for all the checks skipped for the same missing capability.
    let note = md.lines().find(|l| l.contains("SKIP on docker-registry 2.8.2: requires referrers-api, which the registry lacks")).expect("the reason");
    assert!(note.contains("C1, ") && note.ends_with("which the registry lacks"), "{note}");
    let html = std::fs::read_to_string(out.join("matrix.html")).unwrap();
    for label in ["embedded", "docker-registry 2.8.2", "ferro-oci-server 1.0.0"] {
        assert!(html.contains(&format!("<th>{label}</th>")), "{label}");
    }
    assert!(html.contains("title=\"requires referrers-api"), "reasons on hover");
    // A file that is not a results.json is refused, and nothing is written.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let (code, _, stderr) = referee(&["matrix", bad.to_str().unwrap(), "--report-dir", dir.path().join("nothing").to_str().unwrap()]);
    assert_eq!(code, Some(referee::exit::INVALID_INPUT), "{stderr}");
    assert!(stderr.contains("not a referee results.json") && !dir.path().join("nothing").exists(), "{stderr}");
}
