//! Reports: JUnit round-trips through quick-junit's reader with failures, skips and
//! properties; results.json is complete; no password or token reaches a report file; the
//! Bearer flow works and wrong credentials end as Errored "unauthorized".

mod support;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use referee::app::{self, RunConfig};
use referee::exec::Outcome;
use referee::registry::{AuthMode, EmbeddedRegistry, Faults, Mode, RegistryConfig};

fn scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[tokio::test]
async fn junit_round_trips_with_failures_and_properties() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig {
        report_dir: Some(dir.path().to_path_buf()),
        filter: vec!["subject-push".into(), "C8".into()],
        embedded: RegistryConfig { faults: Faults::from_names(&["omit_oci_subject"]).unwrap(), ..Default::default() },
        ..RunConfig::new(scenarios())
    };
    let out = app::run(cfg).await.unwrap();
    assert_eq!(out.report.outcome(), Outcome::Failed);
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).expect("quick-junit reads what referee wrote");
    let cases: Vec<_> = report.test_suites.iter().flat_map(|s| s.test_cases.iter().map(move |c| (s, c))).collect();
    assert_eq!(cases.len(), out.report.checks.len());
    let b1 = cases.iter().find(|(_, c)| c.name.as_str().starts_with("B1 ")).expect("B1 testcase").1;
    match &b1.status {
        TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, message, .. } => {
            assert!(message.as_ref().unwrap().as_str().contains("OCI-Subject"));
        }
        other => panic!("B1 should be a <failure>: {other:?}"),
    }
    assert_eq!(b1.classname.as_ref().unwrap().as_str(), "subject-push");
    // The Jenkins schema allows properties only on a testsuite: the check's are there, by id.
    let suite = cases.iter().find(|(_, c)| c.name.as_str().starts_with("B1 ")).unwrap().0;
    let props: Vec<(String, String)> = suite.properties.iter().map(|p| (p.name.as_str().to_string(), p.value.as_str().to_string())).collect();
    assert!(props.contains(&("B1.keyword".into(), "MUST".into())), "{props:?}");
    assert!(props.contains(&("B1.referee.outcome".into(), "failed".into())), "{props:?}");
    assert!(props.iter().any(|(k, v)| k == "B1.spec_section" && v.contains("Pushing Manifests with Subject")));
    assert_eq!(b1.extra.get("status").map(|v| v.as_str()), Some("failed"));
    assert!(b1.system_out.as_ref().unwrap().as_str().contains("PUT "), "transcript in system-out");
    let c8 = cases.iter().find(|(_, c)| c.name.as_str().starts_with("C8 ")).unwrap().1;
    assert!(matches!(c8.status, TestCaseStatus::Success { .. }));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(json["format_version"], 1);
    assert!(json["checks"].as_array().unwrap().iter().any(|c| c["id"] == "B1" && c["outcome"] == "failed" && c["rule"].as_str().unwrap().contains("OCI-Subject")));
}

#[tokio::test]
async fn legacy_registry_skips_api_checks_with_the_reason_in_junit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig {
        report_dir: Some(dir.path().to_path_buf()),
        embedded: RegistryConfig { mode: Mode::Legacy, ..Default::default() },
        ..RunConfig::new(scenarios())
    };
    let out = app::run(cfg).await.unwrap();
    let r = &out.report;
    assert_eq!(r.outcome(), Outcome::Passed, "{:?}", r.checks.iter().filter(|c| c.outcome > Outcome::Passed).collect::<Vec<_>>());
    let b3 = r.checks.iter().find(|c| c.info.id == "B3").unwrap();
    assert_eq!(b3.outcome, Outcome::Passed, "B3 needs no referrers API");
    let c1 = r.checks.iter().find(|c| c.info.id == "C1").unwrap();
    assert_eq!(c1.outcome, Outcome::Skipped);
    assert!(c1.reason.contains("referrers-api") && c1.reason.contains("404"), "{}", c1.reason);
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    let skipped = report.test_suites.iter().flat_map(|s| &s.test_cases).filter(|c| matches!(c.status, TestCaseStatus::Skipped { .. })).count();
    assert_eq!(skipped, r.count(Outcome::Skipped));
    assert!(xml.contains("<skipped>requires referrers-api"), "skipped carries its reason as text: {xml}");
}

#[tokio::test]
async fn no_secret_reaches_a_report_and_bearer_flow_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let password = "s3cret-Pa55word-for-referee";
    let cfg = RunConfig {
        report_dir: Some(dir.path().to_path_buf()),
        username: Some("alice".into()),
        password: Some(password.into()),
        embedded: RegistryConfig { auth: AuthMode::Token { users: vec![("alice".into(), password.into())] }, ..Default::default() },
        ..RunConfig::new(scenarios())
    };
    let out = app::run(cfg).await.unwrap();
    assert_eq!(out.report.outcome(), Outcome::Passed);
    let bearer = out.report.capabilities.iter().find(|c| c.name == "bearer-auth").unwrap();
    assert!(bearer.supported, "the run went through the Bearer challenge");
    let c13 = out.report.checks.iter().find(|c| c.info.id == "C13").unwrap();
    assert_eq!(c13.outcome, Outcome::Passed, "pull-only token check ran: {}", c13.reason);
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
    for f in &out.files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains(password), "{} contains the password", f.display());
        assert!(!text.contains(&basic), "{} contains the Basic credentials", f.display());
        for (i, _) in text.match_indices("Bearer ") {
            let rest = &text[i + 7..(i + 40).min(text.len())];
            assert!(rest.starts_with("<redacted>") || rest.starts_with("&lt;redacted&gt;") || rest.starts_with("realm="), "{} leaks a token: Bearer {rest}", f.display());
        }
        assert!(!text.contains("\"token\":"), "{} contains a token response", f.display());
    }
}

#[tokio::test]
async fn wrong_credentials_end_as_errored_unauthorized() {
    let reg = EmbeddedRegistry::start(
        RegistryConfig { auth: AuthMode::Token { users: vec![("alice".into(), "right".into())] }, ..Default::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let cfg = RunConfig {
        target: Some(reg.url()),
        username: Some("alice".into()),
        password: Some("wrong".into()),
        ..RunConfig::new(scenarios())
    };
    let out = app::run(cfg).await.unwrap();
    assert_eq!(out.report.outcome(), Outcome::Errored);
    assert_eq!(referee::exit::for_outcome(out.report.outcome(), referee::exit::FailOn::Fail), referee::exit::HARNESS_ERROR);
    assert!(out.report.checks.iter().all(|c| c.outcome == Outcome::Errored && c.reason.contains("unauthorized")));
    assert!(out.report.run_error.as_ref().unwrap().contains("alice"), "{:?}", out.report.run_error);
    assert_eq!(out.report.count(Outcome::Failed), 0);
    reg.shutdown().await;
}

/// `--jobs`: scenarios finish in any order, but every report lists checks in the library's
/// order, and a run with many jobs gives the same verdicts as one at a time.
#[tokio::test]
async fn concurrent_scenarios_are_reported_in_library_order() {
    let filter: Vec<String> = ["baseline", "concurrency", "pagination", "subject-push", "gc-retention"].map(String::from).to_vec();
    let plan = app::load_library(Some(&scenarios()), &filter).expect("library");
    let planned: Vec<String> = plan.checks().map(|c| c.id.clone()).collect();
    assert!(plan.scenarios.iter().any(referee::exec::runs_alone), "the filter includes scenarios that run alone");
    let mut verdicts = vec![];
    for jobs in [8, 1] {
        let cfg = RunConfig { filter: filter.clone(), jobs, ..RunConfig::new(scenarios()) };
        let out = app::run(cfg).await.expect("run");
        let ids: Vec<String> = out.report.checks.iter().map(|c| c.info.id.clone()).collect();
        assert_eq!(ids, planned, "--jobs {jobs}");
        verdicts.push(out.report.checks.iter().map(|c| (c.info.id.clone(), c.outcome)).collect::<Vec<_>>());
    }
    assert_eq!(verdicts[0], verdicts[1]);
    assert!(verdicts[0].iter().all(|(_, o)| *o == Outcome::Passed), "{:?}", verdicts[0]);
}

/// `xmllint` (Debian's libxml2-utils, which scripts/test.sh installs), or (with
/// REFEREE_REQUIRE_EXTERNAL=1, as CI sets) a failure.
fn xmllint() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("sh").arg("-c").arg("command -v xmllint").output().ok()?;
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).trim().into());
    }
    assert!(!support::external::external_required(), "xmllint is not installed (scripts/test.sh installs libxml2-utils)");
    eprintln!("skipping: xmllint is not installed");
    None
}

/// Every verdict's JUnit form — `<failure>`, `<skipped>`, `<error>`, a passing testcase with
/// status `warned` — and the properties, validate against the Jenkins JUnit schema that CI
/// readers (Jenkins, GitLab, GitHub test reporters) are written against.
#[tokio::test]
async fn junit_validates_against_the_jenkins_schema() {
    let Some(xmllint) = xmllint() else { return };
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit/jenkins-junit.xsd");
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        // FAIL and WARN (and passes).
        RunConfig {
            filter: vec!["subject-push".into(), "B10".into(), "C8".into()],
            embedded: RegistryConfig { faults: Faults::from_names(&["omit_oci_subject", "duplicate_on_repush"]).unwrap(), ..Default::default() },
            ..RunConfig::new(scenarios())
        },
        // SKIP: no referrers API.
        RunConfig { filter: vec!["referrers-response".into()], embedded: RegistryConfig { mode: Mode::Legacy, ..Default::default() }, ..RunConfig::new(scenarios()) },
        // ERROR: nothing answers.
        RunConfig { target: Some("http://127.0.0.1:1".into()), filter: vec!["C1".into()], ..RunConfig::new(scenarios()) },
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (i, cfg) in runs.into_iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        let report = app::run(RunConfig { report_dir: Some(out.clone()), quiet: true, ..cfg }).await.unwrap().report;
        seen.extend(report.checks.iter().map(|c| c.outcome));
        let junit = out.join("junit.xml");
        let v = std::process::Command::new(&xmllint).arg("--noout").arg("--schema").arg(&xsd).arg(&junit).output().unwrap();
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(v.status.success(), "run {i}: {}\n{}", String::from_utf8_lossy(&v.stderr), &xml[..xml.len().min(3000)]);
    }
    for o in [Outcome::Passed, Outcome::Warned, Outcome::Failed, Outcome::Skipped, Outcome::Errored] {
        assert!(seen.contains(&o), "no {o:?} among the validated reports: {seen:?}");
    }
}

/// `report.html` is one self-contained page: opened in headless Chromium, the summary and the
/// failed check's HTTP transcript are on screen.
#[tokio::test]
async fn report_html_shows_the_summary_and_a_failed_checks_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig {
        report_dir: Some(dir.path().to_path_buf()),
        filter: vec!["subject-push".into(), "referrers-response".into()],
        quiet: true,
        embedded: RegistryConfig { faults: Faults::from_names(&["omit_oci_subject"]).unwrap(), ..Default::default() },
        ..RunConfig::new(scenarios())
    };
    let out = app::run(cfg).await.unwrap();
    assert_eq!(out.report.outcome(), Outcome::Failed);
    let page = dir.path().join("report.html");
    assert!(out.files.contains(&page), "{:?}", out.files);
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch.
    for fetch in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
    assert!(html.contains("id=\"summary\"") && html.contains("Failed and errored"), "summary and failures");
    let failed = out.report.checks.iter().find(|c| c.outcome == Outcome::Failed).unwrap();
    let at = html.find(&format!("id=\"failed-{}\"", failed.info.id)).expect("the failed check is listed first");
    let transcript = html[at..].find("<pre class=\"transcript\">").map(|t| &html[at + t..]).unwrap();
    assert!(transcript.contains("&gt; PUT "), "the PUT is in its transcript");
    for (cls, label) in [("fail", "FAIL"), ("pass", "PASS"), ("warn", "WARN"), ("skip", "SKIP"), ("error", "ERROR")] {
        assert!(html.contains(&format!("value=\"{cls}\" checked> {label}")), "a filter for {label}");
    }
    let Some(chromium) = support::browser::chromium() else { return };
    let shot = dir.path().join("report.png");
    support::browser::screenshot(&chromium, &page, &shot, (1400, 1000));
    // The summary box and the transcripts each have a background of their own.
    let (summary, size) = support::browser::count_color(&shot, (0xe8, 0xf0, 0xfe));
    let (exchange, _) = support::browser::count_color(&shot, (0xf6, 0xf8, 0xfa));
    assert!(summary > 20_000, "the summary is not on screen in the {size:?} screenshot ({summary} pixels of its background)");
    assert!(exchange > 20_000, "no transcript on screen in the {size:?} screenshot ({exchange} pixels of its background)");
    if let Ok(keep) = std::env::var("REFEREE_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
}

/// `referee matrix` without outside registries: the embedded registry with and without the
/// referrers API, side by side; identical reasons share one number, and nothing breaks the
/// Markdown table.
#[tokio::test]
async fn matrix_of_two_embedded_runs() {
    use referee::report::matrix::{self, Column};
    let mut cols = vec![];
    for (label, mode) in [("full", Mode::Full), ("legacy|no api\nnewline", Mode::Legacy)] {
        let cfg = RunConfig { filter: vec!["pagination".into(), "C1".into(), "B3".into()], quiet: true, embedded: RegistryConfig { mode, ..Default::default() }, ..RunConfig::new(scenarios()) };
        cols.push(Column { label: label.into(), report: app::run(cfg).await.unwrap().report });
    }
    let md = matrix::markdown(&cols, "two", false);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert!(rows[0].starts_with("| check | full | legacy\\|no api newline |"), "{md}");
    for r in &rows {
        assert_eq!(r.replace("\\|", "").matches(" | ").count(), 2, "three cells: {r}");
    }
    let c1 = rows.iter().find(|r| r.starts_with("| C1 ")).unwrap();
    assert!(c1.contains("| PASS | SKIP (1) |"), "{c1}");
    let e1 = rows.iter().find(|r| r.starts_with("| E1 ")).unwrap();
    assert!(e1.ends_with("| PASS | SKIP (1) |"), "the same reason, the same number: {e1}");
    assert!(md.contains("1. C1, E1, E2, E3, E4, E5, E6 SKIP on legacy\\|no api newline: requires referrers-api, which the registry lacks"), "{md}");
    let html = matrix::html(&cols, "two");
    assert!(html.contains("<th>legacy|no api\nnewline</th>") && html.contains("title=\"requires referrers-api"), "escaped text, reasons on hover");
}
