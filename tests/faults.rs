//! Every check can fail: for each check the fault its scenario file names (`proven_by:`)
//! switched on in the embedded registry makes it Fail (a MUST check) or Warn (a SHOULD or
//! READING check, which can only warn unless the fault breaks a MUST it cites), together with
//! exactly the other checks `proven_by.also` names; and with no fault every check passes. A
//! new check is one YAML file: this test reads its proof from there.

use referee::app::{self, RunConfig};
use referee::exec::{Outcome, RunReport};
use referee::registry::RegistryConfig;
use std::collections::BTreeSet;
use std::path::Path;

/// A fault name, or a policy switch (`gc.protect=false`, `gc.orphans=…`, `gc.pin=false`,
/// `lock=…`, `referrers_lag_ms=…`); several joined with `+`.
fn try_config(spec: &str) -> Result<RegistryConfig, String> {
    let mut c = RegistryConfig::default();
    for part in spec.split('+') {
        let bad = |e: String| format!("{part}: {e}");
        match part.split_once('=') {
            Some(("referrers_lag_ms", ms)) => c.faults.referrers_lag_ms = ms.parse().map_err(|e| bad(format!("{e}")))?,
            Some(("gc.protect", v)) => c.gc.protect_referrers_of_live_subject = v == "true",
            Some(("gc.orphans", v)) => c.gc.orphan_referrers = v.parse().map_err(|e| bad(format!("{e:?}")))?,
            Some(("gc.pin", v)) => c.gc.pin_fallback_listed = v == "true",
            Some(("lock", v)) => c.lock_status = v.parse().map_err(|e| bad(format!("{e:?}")))?,
            _ => c.faults.set(part).map_err(bad)?,
        }
    }
    Ok(c)
}

fn config(spec: &str) -> RegistryConfig {
    try_config(spec).unwrap()
}

fn scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

async fn run_embedded(embedded: RegistryConfig, filter: Vec<String>) -> RunReport {
    let cfg = RunConfig { filter, embedded, ..RunConfig::new(scenarios()) };
    app::run(cfg).await.expect("run").report
}

/// The checks the registry's behaviour broke: Failed (a MUST) or Warned (a SHOULD or reading).
fn failed(r: &RunReport) -> BTreeSet<String> {
    r.checks.iter().filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Warned)).map(|c| c.info.id.clone()).collect()
}

/// What keeps `check` from being proven by `fault` (breaking `also` too) in the scenarios
/// under `dir`; `None` when it is proven.
async fn unproven(dir: &Path, check: &str, fault: &str, also: &[String]) -> Option<String> {
    let plan = app::load_plan(dir, &[check.to_string()]).ok()?;
    let scenario = plan.scenarios.first()?.id.clone();
    let embedded = match try_config(fault) {
        Ok(c) => c,
        Err(e) => return Some(format!("{check}: proven_by names no fault or switch: {e}")),
    };
    let cfg = RunConfig { filter: vec![scenario], embedded, ..RunConfig::new(dir) };
    let report = app::run(cfg).await.expect("run").report;
    let got = failed(&report);
    let want: BTreeSet<String> = std::iter::once(check.to_string()).chain(also.iter().cloned()).collect();
    let errored: Vec<_> = report.checks.iter().filter(|c| c.outcome == Outcome::Errored).map(|c| (&c.info.id, &c.reason)).collect();
    if !errored.is_empty() {
        return Some(format!("{check}: fault {fault}: errored checks {errored:?}"));
    }
    if got != want {
        let msgs: Vec<_> = report
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Warned))
            .map(|c| format!("  {} {:?}: {}", c.info.id, c.outcome, c.reason))
            .collect();
        return Some(format!("{check}: fault {fault}: failed {got:?}, expected {want:?}; reasons:\n{}", msgs.join("\n")));
    }
    let target = report.checks.iter().find(|c| c.info.id == check)?;
    // A MUST check is proven by a FAIL. A SHOULD or READING check warns, unless the fault
    // breaks an assertion it cites from a MUST or the profile it is judged against.
    if target.info.keyword == referee::scenario::Keyword::MUST && target.outcome != Outcome::Failed {
        return Some(format!("{check}: fault {fault}: a MUST check is {:?}: {}", target.outcome, target.reason));
    }
    if !target.reason.contains("rule:") {
        return Some(format!("{check}: a failure cites its rule: {}", target.reason));
    }
    None
}

/// Every check of the scenarios under `dir` with its proof, proven six at a time: what is
/// not proven, and the number of checks.
async fn prove_library(dir: &Path) -> (Vec<String>, usize) {
    let plan = app::load_plan(dir, &[]).expect("library");
    let checks: Vec<_> = plan.checks().map(|c| (c.id.clone(), c.proven_by.clone())).collect();
    let mut problems = vec![];
    for batch in checks.chunks(6) {
        let runs = batch.iter().map(|(id, proof)| async move {
            match proof {
                None => Some(format!("{id}: no proven_by: no fault shows it can fail")),
                Some(p) => unproven(dir, id, &p.fault, &p.also).await,
            }
        });
        problems.extend(referee::exec::steps::parallel::join_all(runs.collect()).await.into_iter().flatten());
    }
    problems.sort();
    (problems, checks.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_fails_under_the_fault_that_proves_it() {
    let (problems, n) = prove_library(&scenarios()).await;
    println!("mutation score: {}/{n} checks proven to fail ({:.0} %)", n - problems.len(), 100.0 * (n - problems.len()) as f64 / n as f64);
    assert!(problems.is_empty(), "{} of {n} checks not proven:\n{}", problems.len(), problems.join("\n"));
}

/// A check added as one YAML file is picked up: proven by a fault that breaks it, reported as
/// unproven with a fault that does not, or with none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_check_is_one_yaml_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |proof: &str| {
        let text = format!(
            "id: mine/ping\nchecks:\n  X1:\n    title: GET /v2/ answers 200\n    section: distribution-spec \"Determining Support\"\n    keyword: MUST\n    rule: \"the response MUST be 200\"\n{proof}steps:\n  - ping: {{}}\n    checks:\n      X1: {{ status: 200 }}\n"
        );
        std::fs::write(dir.path().join("mine.yaml"), text).unwrap();
    };
    write("    proven_by: { fault: ping_404 }\n");
    let (problems, n) = prove_library(dir.path()).await;
    assert_eq!((problems.len(), n), (0, 1), "{problems:?}");
    write("    proven_by: { fault: omit_oci_subject }\n");
    let (problems, _) = prove_library(dir.path()).await;
    assert!(problems.len() == 1 && problems[0].contains("X1: fault omit_oci_subject: failed {}"), "{problems:?}");
    write("");
    let (problems, _) = prove_library(dir.path()).await;
    assert!(problems.len() == 1 && problems[0].contains("no proven_by"), "{problems:?}");
}

#[tokio::test]
async fn every_check_passes_without_faults() {
    let report = run_embedded(RegistryConfig::default(), vec![]).await;
    let not_passed: Vec<_> =
        report.checks.iter().filter(|c| c.outcome != Outcome::Passed).map(|c| format!("{} {:?}: {}", c.info.id, c.outcome, c.reason)).collect();
    assert!(not_passed.is_empty(), "{}", not_passed.join("\n"));
    assert_eq!(report.checks.len(), app::load_plan(&scenarios(), &[]).unwrap().checks().count());
    assert!(report.residue.is_empty(), "residue: {:?}", report.residue);
}

/// K6's race half: a GC that marks, lets go of the lock and sweeps by its stale marks loses
/// tagged content four clients push while it runs over and over (its 200 ms window covers
/// almost every push; the clients' pushes are 60 ms apart).
#[tokio::test]
async fn fault_k6_race() {
    assert_eq!(unproven(&scenarios(), "K6", "gc_sweep_unlocked", &[]).await, None);
}

/// Disabled deletion is allowed (400/405): the deletion checks are Passed or Skipped with the
/// reason, never Failed, and nothing that depends on a delete that did not happen is judged.
#[tokio::test]
async fn disabled_deletion_is_skipped_not_failed() {
    let cfg = RunConfig {
        filter: vec!["deletion".into(), "L5".into()],
        embedded: RegistryConfig { manifest_delete: false, ..RegistryConfig::default() },
        ..RunConfig::new(scenarios())
    };
    let report = app::run(cfg).await.expect("run").report;
    let by_id = |id: &str| report.checks.iter().find(|c| c.info.id == id).unwrap();
    // L5 stops before its race (`stop_if`): there is no delete to race.
    for id in ["H1", "H2", "H4", "H7", "H8", "L5"] {
        assert_eq!(by_id(id).outcome, Outcome::Skipped, "{id}: {}", by_id(id).reason);
        assert!(by_id(id).reason.contains("disabled"), "{id}: {}", by_id(id).reason);
    }
    for id in ["H3", "H5", "H6", "H9"] {
        assert_eq!(by_id(id).outcome, Outcome::Passed, "{id}: {}", by_id(id).reason);
    }
}

/// A registry whose referrers index lags behind its pushes is stale, not lossy: L1's read
/// (`eventually`) is made again within the profile's window (2 s by default) and passes,
/// measuring how long it took; a lag beyond the window still fails it.
#[tokio::test]
async fn a_lagging_listing_converges_within_the_window() {
    let report = run_embedded(config("referrers_lag_ms=500"), vec!["L1".into()]).await;
    let l1 = report.checks.iter().find(|c| c.info.id == "L1").unwrap();
    assert_eq!(l1.outcome, Outcome::Passed, "{}", l1.reason);
    let waited = l1.measurements.get("convergence_ms").copied().unwrap_or_default();
    assert!(waited >= 300.0, "converged after {waited} ms: {:?}", l1.measurements);
    let report = run_embedded(config("referrers_lag_ms=10000"), vec!["L1".into()]).await;
    let l1 = report.checks.iter().find(|c| c.info.id == "L1").unwrap();
    assert_eq!(l1.outcome, Outcome::Failed, "{}", l1.reason);
    assert!(l1.measurements.get("convergence_ms").copied().unwrap_or_default() >= 2000.0, "{:?}", l1.measurements);
}

/// Response-cache bugs are caught because every listing is read again: a cache that drops
/// OCI-Filters-Applied on an identical repeat fails the D checks; one that is never
/// invalidated fails C2 (a referrer pushed after a read is never listed) and warns D1.
#[tokio::test]
async fn response_cache_faults_are_caught() {
    let report = run_embedded(config("cache_drops_filters_header"), vec!["filtering".into(), "referrers-response".into()]).await;
    let by_id = |r: &RunReport, id: &str| r.checks.iter().find(|c| c.info.id == id).map(|c| (c.outcome, c.reason.clone())).unwrap();
    for id in ["D2", "D3", "D4", "D8"] {
        let (o, why) = by_id(&report, id);
        assert_eq!(o, Outcome::Failed, "{id}: {why}");
    }
    assert!(by_id(&report, "D2").1.contains("read again"), "{}", by_id(&report, "D2").1);
    let report = run_embedded(config("cache_stale_listing"), vec!["filtering".into(), "referrers-response".into()]).await;
    let (o, why) = by_id(&report, "C2");
    assert_eq!(o, Outcome::Failed, "C2: {why}");
    assert!(why.contains("'later'") && why.contains("is not listed"), "{why}");
    assert_eq!(by_id(&report, "D1").0, Outcome::Warned, "{}", by_id(&report, "D1").1);
}

/// What the spec allows is not failed: without an ETag on manifests, F5's conditional update
/// is Skipped (and its later read does not judge it); without Docker-Content-Digest on a blob
/// upload's 201, A2 and A5 pass (the header is required on GET and HEAD, not there).
#[tokio::test]
async fn allowed_omissions_are_not_failures() {
    let report = run_embedded(RegistryConfig { conditional_put: false, ..RegistryConfig::default() }, vec!["F5".into()]).await;
    let f5 = report.checks.iter().find(|c| c.info.id == "F5").unwrap();
    assert_eq!(f5.outcome, Outcome::Skipped, "{}", f5.reason);
    assert!(f5.reason.contains("ETag"), "{}", f5.reason);
    let report = run_embedded(RegistryConfig { upload_digest_header: false, ..RegistryConfig::default() }, vec!["A2".into(), "A5".into()]).await;
    for c in &report.checks {
        assert_eq!(c.outcome, Outcome::Passed, "{}: {}", c.info.id, c.reason);
    }
    assert_eq!(report.checks.len(), 2);
}
