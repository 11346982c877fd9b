//! `referee load`: the profiles against the embedded registry, ferro-oci-server 1.0.0 and
//! docker-registry 2.8.2 (started on 127.0.0.1 by the test support code), the reports (the
//! HTML screenshotted in headless Chromium), the gate (thresholds, baselines, exit code 5),
//! shards and their merge, and Ctrl-C.
//!
//! goose's stop switch is process-wide: the in-process runs here take a lock, one at a time.

mod support;

use referee::load::{self, LoadConfig, LoadReport, Shard};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{browser, external};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn small(profile: &str, dir: &Path) -> LoadConfig {
    LoadConfig {
        users: Some(2),
        iterations: Some(5),
        out_dir: dir.to_path_buf(),
        ..LoadConfig::new(profile)
    }
}

fn run(cfg: LoadConfig) -> load::LoadOutput {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(load::run(cfg)).unwrap_or_else(|e| panic!("load run failed: {e}"))
}

fn series<'a>(r: &'a LoadReport, label: &str) -> &'a load::report::SeriesReport {
    r.series
        .iter()
        .find(|s| s.key.label() == label)
        .unwrap_or_else(|| panic!("no series {label:?}; have {:?}", r.series.iter().map(|s| s.key.label()).collect::<Vec<_>>()))
}

fn referee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_referee"))
}

#[test]
fn referrers_read_against_the_embedded_registry_writes_reports_and_chromium_shows_both_plots() {
    let _one = lock();
    let dir = tempfile::tempdir().unwrap();
    let out = run(LoadConfig { fanouts: Some(vec![0, 10, 300]), ..small("referrers-read", dir.path()) });
    let r = &out.report;
    // 3 fan-outs × (unfiltered, filtered) × (first byte, whole list).
    assert_eq!(r.series.len(), 12, "{:?}", r.series.iter().map(|s| s.key.label()).collect::<Vec<_>>());
    for s in &r.series {
        assert_eq!(s.requests, 10, "{}: 2 users × 5 iterations", s.key.label());
        assert!(s.errors.is_empty(), "{}: {:?}", s.key.label(), s.errors);
        assert!(s.p99_us >= s.p50_us && s.p50_us > 0);
    }
    assert!(r.residue.is_empty(), "{:?}", r.residue);
    assert!(r.notes.is_empty(), "the embedded registry lists every seeded referrer: {:?}", r.notes);
    for ext in ["json", "md", "html"] {
        let p = dir.path().join(format!("referrers-read.{ext}"));
        assert!(p.is_file(), "{} missing", p.display());
    }
    let back = LoadReport::read(&dir.path().join("referrers-read.json")).unwrap();
    assert_eq!(back.series.len(), 12);
    let md = std::fs::read_to_string(dir.path().join("referrers-read.md")).unwrap();
    assert!(md.contains("| referrers-read fanout=300 filtered |"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("referrers-read.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(!html.contains("<script"), "no JavaScript in the report");
    // A run whose report directory holds load reports shows their plots in report.html too.
    let rd = tempfile::tempdir().unwrap();
    std::fs::create_dir(rd.path().join("load")).unwrap();
    std::fs::copy(dir.path().join("referrers-read.json"), rd.path().join("load/referrers-read.json")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = referee::app::RunConfig {
        report_dir: Some(rd.path().to_path_buf()),
        filter: vec!["C1".into()],
        quiet: true,
        ..referee::app::RunConfig::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
    };
    rt.block_on(referee::app::run(cfg)).unwrap();
    let page = std::fs::read_to_string(rd.path().join("report.html")).unwrap();
    assert!(page.contains("<h2>Load: referrers-read</h2>") && page.matches("<svg").count() == 2, "the load plots in report.html");

    let Some(chromium) = browser::chromium() else { return };
    let shot = dir.path().join("shot.png");
    browser::screenshot(&chromium, &dir.path().join("referrers-read.html"), &shot, (1400, 900));
    // Each plot has a background colour of its own: most of its 640×400 pixels show it when
    // the plot is on screen.
    let bg = |c: plotters::style::RGBColor| (c.0, c.1, c.2);
    let (fanout, size) = browser::count_color(&shot, bg(load::report::FANOUT_BG));
    let (percentile, _) = browser::count_color(&shot, bg(load::report::PERCENTILE_BG));
    assert!(fanout > 100_000, "latency-by-fan-out plot not visible in the {size:?} screenshot ({fanout} pixels of its background)");
    assert!(percentile > 100_000, "percentile plot not visible in the {size:?} screenshot ({percentile} pixels of its background)");
    if let Ok(keep) = std::env::var("REFEREE_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
}

#[test]
fn referrers_read_against_ferro() {
    let Some(ferro) = external::ferro() else { return };
    let _one = lock();
    let dir = tempfile::tempdir().unwrap();
    let out = run(LoadConfig { target: Some(ferro.url.clone()), fanouts: Some(vec![1, 20]), ..small("referrers-read", dir.path()) });
    let r = &out.report;
    for label in ["referrers-read fanout=1", "referrers-list fanout=20 filtered"] {
        let s = series(r, label);
        assert_eq!(s.requests, 10, "{label}");
        assert!(s.errors.is_empty(), "{label}: {:?}", s.errors);
    }
    assert!(r.residue.is_empty(), "{:?}", r.residue);
    assert!(dir.path().join("referrers-read.html").is_file());
}

#[test]
fn fallback_profiles_against_docker_registry() {
    let Some(reg) = external::docker_registry() else { return };
    let _one = lock();
    let dir = tempfile::tempdir().unwrap();
    let read = run(LoadConfig { target: Some(reg.url.clone()), fanouts: Some(vec![1, 10]), ..small("fallback-read", dir.path()) });
    let r = &read.report;
    let probe = series(r, "fallback-probe fanout=10");
    assert_eq!(probe.counters.get("answered-404"), Some(&10), "docker-registry 2.8 has no referrers API: {:?}", probe.counters);
    let tag = series(r, "fallback-tag-get fanout=10");
    assert_eq!((tag.requests, tag.errors.len()), (10, 0), "{:?}", tag.errors);
    assert!(r.residue.is_empty(), "{:?}", r.residue);

    // referrers-read has nothing to measure there: it says so, and a threshold on it fails.
    let none = run(LoadConfig {
        target: Some(reg.url.clone()),
        fanouts: Some(vec![1]),
        thresholds: vec!["referrers-read p99 < 10s".into()],
        ..small("referrers-read", dir.path())
    });
    assert!(none.report.series.is_empty(), "{:?}", none.report.series.iter().map(|s| s.key.label()).collect::<Vec<_>>());
    assert!(none.report.notes.iter().any(|n| n.contains("no referrers API")), "{:?}", none.report.notes);
    assert!(!none.report.gate_passed());
    assert!(none.report.residue.is_empty(), "{:?}", none.report.residue);

    let push = run(LoadConfig { target: Some(reg.url.clone()), users: Some(4), ..small("fallback-push", dir.path()) });
    let r = &push.report;
    for label in ["fallback-push", "fallback-push-if-match"] {
        let s = series(r, label);
        assert_eq!(s.requests, 20, "{label}: 4 users × 5 iterations");
        let written = s.counters.get("written").copied().unwrap_or(0);
        let errors: u64 = s.errors.values().sum();
        assert_eq!(written + errors, 20, "{label}: every update is written or an error: {:?} {:?}", s.counters, s.errors);
        let lost = s.counters.get("lost-updates").copied().expect("lost updates are counted");
        assert!(lost <= written, "{label}: {lost} lost of {written}");
    }
    assert!(r.residue.is_empty(), "{:?}", r.residue);
    // Nothing is left behind, whatever became of each tag update: distribution keeps a
    // revision link per manifest stored in a repository, and a DELETE removes it.
    let mut links = vec![];
    collect_links(&reg.storage_dir().join("docker/registry/v2/repositories"), &mut links);
    assert!(links.is_empty(), "manifests left in docker-registry: {links:?}");
}

/// `_manifests/revisions/<alg>/<hex>/link` files under `dir`.
fn collect_links(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_links(&p, out);
        } else if p.file_name().is_some_and(|n| n == "link") && p.to_string_lossy().contains("/_manifests/revisions/") {
            out.push(p);
        }
    }
}

#[test]
fn fallback_push_with_if_match_loses_no_update_on_the_embedded_registry() {
    let _one = lock();
    let dir = tempfile::tempdir().unwrap();
    let r = run(LoadConfig { users: Some(4), ..small("fallback-push", dir.path()) }).report;
    let s = series(&r, "fallback-push-if-match");
    assert_eq!(s.counters.get("written"), Some(&20), "{:?} {:?}", s.counters, s.errors);
    assert_eq!(s.counters.get("lost-updates"), Some(&0), "the embedded registry honours If-Match: {:?}", r.notes);
    assert!(series(&r, "fallback-push").counters.contains_key("lost-updates"));
}

#[test]
fn a_threshold_that_cannot_be_met_exits_5_with_a_failed_junit_testcase() {
    let dir = tempfile::tempdir().unwrap();
    let out = referee()
        .args(["load", "-q", "--profile", "referrers-read", "--fanouts", "10", "--iterations", "3", "--users", "1"])
        .args(["--threshold", "referrers-read p99 < 1us", "--threshold", "referrers-list p50 < 10s"])
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(referee::exit::LOAD_THRESHOLD), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("FAIL referrers-read fanout=10: p99 < 1µs"), "{stdout}");
    assert!(stdout.contains("PASS referrers-list fanout=10: p50 < 10000.00ms"), "{stdout}");
    let junit = std::fs::read_to_string(dir.path().join("referrers-read-junit.xml")).unwrap();
    assert!(junit.contains("<failure") && junit.contains("p99 &lt; 1µs"), "{junit}");
}

/// A copy of `report` whose latencies are `factor` times its own (and request rate 1/factor).
fn scaled(report: &LoadReport, factor: f64) -> LoadReport {
    let mut r = report.clone();
    for s in &mut r.series {
        for b in &mut s.buckets {
            b[0] = ((b[0] as f64 * factor) as u64).max(1);
        }
        s.window_ms *= factor;
    }
    let map = r.series_map();
    r.set_series(&map);
    r
}

#[test]
fn a_baseline_twice_as_fast_fails_the_gate_and_a_slow_one_passes() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["load", "-q", "--profile", "referrers-read", "--fanouts", "10", "--iterations", "20", "--users", "2"];
    let first = referee().args(args).arg("--report-dir").arg(dir.path()).output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let measured = LoadReport::read(&dir.path().join("referrers-read.json")).unwrap();
    for (factor, code, what) in [(0.5, referee::exit::LOAD_THRESHOLD, "twice as fast"), (20.0, 0, "twenty times slower")] {
        let baseline = dir.path().join(format!("baseline-{factor}.json"));
        std::fs::write(&baseline, serde_json::to_string(&scaled(&measured, factor)).unwrap()).unwrap();
        let out_dir = dir.path().join(format!("out-{factor}"));
        let out = referee().args(args).arg("--baseline").arg(&baseline).arg("--report-dir").arg(&out_dir).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "a baseline {what}: {stdout}");
        assert!(stdout.contains("vs baseline"), "{stdout}");
        let junit = std::fs::read_to_string(out_dir.join("referrers-read-junit.xml")).unwrap();
        assert_eq!(junit.contains("<failure"), code != 0, "{junit}");
    }
}

#[test]
fn two_shards_merged_give_the_request_count_and_histogram_of_one_run() {
    let _one = lock();
    let dir = tempfile::tempdir().unwrap();
    let cfg = |shard: Option<Shard>, sub: &str| LoadConfig {
        users: Some(4),
        fanouts: Some(vec![10]),
        shard,
        ..small("referrers-read", &dir.path().join(sub))
    };
    let whole = run(cfg(None, "whole")).report;
    let a = run(cfg(Some(Shard { index: 1, count: 2 }), "a")).report;
    let b = run(cfg(Some(Shard { index: 2, count: 2 }), "b")).report;
    let merged = load::merge(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(merged.series.len(), whole.series.len());
    for w in &whole.series {
        let label = w.key.label();
        let m = series(&merged, &label);
        assert_eq!(w.requests, 20, "{label}: 4 users × 5 iterations");
        assert_eq!(m.requests, w.requests, "{label}: merged shards count as one run");
        assert_eq!(series(&a, &label).requests, 10);
        // The merged histogram is the two shards' histograms added bucket by bucket.
        let mut sum = series(&a, &label).series();
        sum.merge(&series(&b, &label).series());
        assert_eq!(m.buckets, sum.buckets(), "{label}");
        assert_eq!(m.buckets.iter().map(|b| b[1]).sum::<u64>(), w.buckets.iter().map(|b| b[1]).sum::<u64>(), "{label}");
        assert_eq!(m.p99_us, sum.quantile_us(0.99), "{label}: percentiles from the merged histogram");
    }
    // The command line does the same from the shards' files.
    let out_dir = dir.path().join("merged");
    let out = referee()
        .args(["load", "merge"])
        .arg(dir.path().join("a/referrers-read-shard-1-of-2.json"))
        .arg(dir.path().join("b/referrers-read-shard-2-of-2.json"))
        .arg("--report-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let from_cli = LoadReport::read(&out_dir.join("referrers-read-merged.json")).unwrap();
    assert_eq!(from_cli.merged_from, 2);
    assert_eq!(series(&from_cli, "referrers-read fanout=10").requests, 20);
}

#[test]
fn ctrl_c_stops_the_load_cleans_up_and_exits_130() {
    let Some(ferro) = external::ferro() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut child = referee()
        .args(["load", "-q", "--profile", "referrers-read", "--fanouts", "10,100", "--run-time", "30s", "--target", &ferro.url])
        .arg("--report-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first measured step (its seeding is over once a request is recorded).
    std::thread::sleep(Duration::from_secs(4));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("referee load did not stop within 30 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(referee::exit::INTERRUPTED), "{}", String::from_utf8_lossy(&out.stderr));
    let r = LoadReport::read(&dir.path().join("referrers-read.json")).unwrap();
    assert!(r.interrupted);
    assert!(r.residue.is_empty(), "{:?}", r.residue);
}
