//! Hostile registries: for every [`Chaos`], a run against the embedded registry ends in time,
//! panics nowhere, does not pass, and names the problem in the reasons of its failed or
//! errored checks (or in the run error). `cargo test --test hostile -- --nocapture` prints
//! what referee reported for each.

use referee::app::{self, RunConfig};
use referee::exec::{Outcome, RunReport};
use referee::registry::{Chaos, RegistryConfig};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

fn scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Panics seen anywhere in the process, by thread name. `#[tokio::test]` runs the registry,
/// the client and every spawned task on the test's own thread, so a test looks up its own.
static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or("?").to_string();
            if let Ok(mut p) = PANICS.lock() {
                p.push((thread, info.to_string()));
            }
            default(info);
        }));
    });
}

fn panics_here() -> Vec<String> {
    let me = std::thread::current().name().unwrap_or("?").to_string();
    PANICS.lock().map(|p| p.iter().filter(|(t, _)| *t == me).map(|(_, m)| m.clone()).collect()).unwrap_or_default()
}

/// The reasons of every failed or errored check, and the run error.
fn reasons(r: &RunReport) -> Vec<String> {
    let mut v: Vec<String> = r.run_error.iter().map(|e| format!("run error: {e}")).collect();
    v.extend(
        r.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Errored))
            .map(|c| format!("{} {:?}: {}", c.info.id, c.outcome, c.reason)),
    );
    v
}

/// Runs the `referrers-response` area (C1–C15) against the embedded registry with `chaos`
/// and checks: the run ends within 60 s, nothing panicked, the outcome is `want` (never
/// Passed), and every fragment of `expect` appears in some reason.
async fn hostile(chaos: Chaos, timeout: Duration, want: Outcome, expect: &[&str]) -> RunReport {
    record_panics();
    let cfg = RunConfig {
        embedded: RegistryConfig { chaos, ..Default::default() },
        filter: vec!["referrers-response".into()],
        timeout,
        ..RunConfig::new(scenarios())
    };
    let started = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(60), app::run(cfg))
        .await
        .unwrap_or_else(|_| panic!("chaos {chaos}: the run did not end within 60 s"))
        .unwrap_or_else(|e| panic!("chaos {chaos}: the run failed to start: {e}"))
        .report;
    let reasons = reasons(&report);
    println!("chaos {chaos}: {:?} in {:?}", report.outcome(), started.elapsed());
    for r in &reasons {
        println!("  {r}");
    }
    let panics = panics_here();
    assert!(panics.is_empty(), "chaos {chaos}: panicked: {panics:#?}");
    assert!(!report.checks.is_empty());
    assert_ne!(want, Outcome::Passed);
    assert_eq!(report.outcome(), want, "chaos {chaos}: {reasons:#?}");
    for fragment in expect {
        assert!(
            reasons.iter().any(|r| r.contains(fragment)),
            "chaos {chaos}: no reason mentions {fragment:?}: {reasons:#?}"
        );
    }
    report
}

/// A transport failure hits the probe's referrers request: the run error names it and every
/// check is Errored with it.
fn errored_by_probe(report: &RunReport, fragment: &str) {
    let e = report.run_error.as_deref().expect("a run error");
    assert!(e.contains("/referrers/") && e.contains(fragment), "{e}");
    assert!(report.checks.iter().all(|c| c.outcome == Outcome::Errored && c.reason == e));
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn truncated_body() {
    let fragment = "end of file before message length reached";
    let r = hostile(Chaos::TruncatedBody, CLIENT_TIMEOUT, Outcome::Errored, &["error decoding response body", fragment]).await;
    errored_by_probe(&r, fragment);
}

#[tokio::test]
async fn wrong_content_length() {
    let fragment = "end of file before message length reached";
    let r = hostile(Chaos::WrongContentLength, CLIENT_TIMEOUT, Outcome::Errored, &["error decoding response body", fragment]).await;
    errored_by_probe(&r, fragment);
}

#[tokio::test]
async fn close_mid_body() {
    let fragment = "unexpected EOF during chunk size line";
    let r = hostile(Chaos::CloseMidBody, CLIENT_TIMEOUT, Outcome::Errored, &["error decoding response body", fragment]).await;
    errored_by_probe(&r, fragment);
}

#[tokio::test]
async fn invalid_json() {
    let r = hostile(Chaos::InvalidJson, CLIENT_TIMEOUT, Outcome::Failed, &["body is not JSON: EOF while parsing a value"]).await;
    // The probe accepts a 200 (the API exists); each listing check then fails on the body.
    assert!(r.run_error.is_none());
    let c1 = r.checks.iter().find(|c| c.info.id == "C1").unwrap();
    assert_eq!(c1.outcome, Outcome::Failed);
    assert!(c1.reason.contains("body is not JSON"), "{}", c1.reason);
}

#[tokio::test]
async fn huge_body() {
    // The client cap (ClientConfig::max_body, 64 MiB) stops the 70 MiB body, not the timeout:
    // the client is given time to read up to the cap.
    let fragment = "exceeds";
    let r = hostile(Chaos::HugeBody, Duration::from_secs(30), Outcome::Errored, &["response body from", fragment]).await;
    errored_by_probe(&r, fragment);
    // The peak memory of the whole test process stays near the cap: the body is neither read
    // completely nor parsed.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()) {
        println!("peak resident memory: {} MiB", kb / 1024);
        assert!(kb < 160 * 1024, "peak resident memory {kb} kB: the huge body was buffered beyond the cap");
    }
}

#[tokio::test]
async fn wrong_content_type() {
    let fragment = r#"Content-Type is "text/html; charset=utf-8", expected "application/vnd.oci.image.index.v1+json""#;
    let r = hostile(Chaos::WrongContentType, CLIENT_TIMEOUT, Outcome::Failed, &[fragment]).await;
    // The checks that look at Content-Type fail; the body itself is the real one.
    let failed: Vec<&str> = r.checks.iter().filter(|c| c.outcome == Outcome::Failed).map(|c| c.info.id.as_str()).collect();
    assert_eq!(failed, ["C1", "C8"]);
}

#[tokio::test]
async fn redirect_loop() {
    let fragment = "too many redirects";
    let r = hostile(Chaos::RedirectLoop, CLIENT_TIMEOUT, Outcome::Errored, &["error following redirect", "?loop=10", fragment]).await;
    errored_by_probe(&r, fragment);
}

#[tokio::test]
async fn slow_response() {
    let started = Instant::now();
    let fragment = "timed out after 2 s";
    let r = hostile(Chaos::SlowResponse, CLIENT_TIMEOUT, Outcome::Errored, &[fragment]).await;
    errored_by_probe(&r, fragment);
    // One timed-out request, and the registry's shutdown did not wait for the stalled one.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn no_chaos_passes() {
    record_panics();
    let cfg = RunConfig {
        embedded: RegistryConfig { chaos: Chaos::None, ..Default::default() },
        filter: vec!["referrers-response".into()],
        timeout: CLIENT_TIMEOUT,
        ..RunConfig::new(scenarios())
    };
    let report = app::run(cfg).await.unwrap().report;
    assert_eq!(report.outcome(), Outcome::Passed, "{:#?}", reasons(&report));
    assert!(panics_here().is_empty());
}
