//! Profiles change verdicts only where the spec leaves room: a declared value the registry
//! contradicts is Failed naming the key; an undeclared one is INFO; a bad profile is a
//! file:line:col error with the documented exit code and no request sent.

use referee::app::{self, RunConfig};
use referee::exec::Outcome;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::process::Command;

fn scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[tokio::test]
async fn a_contradicted_declaration_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cascading.yaml");
    std::fs::write(
        &path,
        "name: cascading\ndescription: claims referrers go with their subject\nextends: strict\ndeclares:\n  on_subject_delete: cascade\n",
    )
    .unwrap();
    let cfg = RunConfig { filter: vec!["H2".into()], profile: Some(path.display().to_string()), ..RunConfig::new(scenarios()) };
    let report = app::run(cfg).await.unwrap().report;
    let h2 = report.checks.iter().find(|c| c.info.id == "H2").unwrap();
    assert_eq!(h2.outcome, Outcome::Failed, "{}", h2.reason);
    assert!(h2.reason.contains("on_subject_delete: cascade"), "names the key and the declared value: {}", h2.reason);
    assert!(h2.reason.contains("observed: on_subject_delete: orphan"), "shows what was observed: {}", h2.reason);
    assert_eq!(report.profile, "cascading");

    // The embedded profile declares what the embedded registry does: it passes.
    let cfg = RunConfig { filter: vec!["H2".into()], profile: Some("embedded".into()), ..RunConfig::new(scenarios()) };
    let report = app::run(cfg).await.unwrap().report;
    assert_eq!(report.checks[0].outcome, Outcome::Passed, "{}", report.checks[0].reason);

    // Undeclared (the strict profile declares nothing optional): INFO, not a verdict.
    let cfg = RunConfig { filter: vec!["H2".into()], profile: Some("strict".into()), ..RunConfig::new(scenarios()) };
    let report = app::run(cfg).await.unwrap().report;
    assert_eq!(report.checks[0].outcome, Outcome::Passed);
    assert!(report.checks[0].notes.iter().any(|n| n.starts_with("INFO: observed on_subject_delete: orphan")), "{:?}", report.checks[0].notes);
}

#[test]
fn a_bad_profile_points_at_its_line_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(&path, "name: typo\ndescription: x\ndeclares:\n  on_subjet_delete: cascade\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_referee"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--target", &format!("http://{}", listener.local_addr().unwrap()), "--profile"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(referee::exit::INVALID_INPUT), "{stderr}");
    assert!(stderr.contains("typo.yaml:4:3"), "{stderr}");
    assert!(stderr.contains("on_subject_delete"), "did-you-mean: {stderr}");
    assert!(matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock), "a request was sent");
    let out = Command::new(env!("CARGO_BIN_EXE_referee")).args(["run", "--profile", "zott"]).output().unwrap();
    assert_eq!(out.status.code(), Some(referee::exit::INVALID_INPUT));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean 'zot'"));
}

/// Docker-Content-Digest on a manifest GET is a MUST on main and a SHOULD in v1.1.x: a registry
/// without it Fails G5 by default (main), and is Skipped with the reason when its profile
/// declares `spec_version: v1.1`.
#[tokio::test]
async fn spec_version_decides_whether_a_main_only_must_applies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.yaml");
    std::fs::write(&path, "name: old\ndescription: implements distribution-spec v1.1.1\nextends: embedded\ndeclares:\n  spec_version: v1.1\n").unwrap();
    let faulty = || referee::registry::RegistryConfig {
        faults: referee::registry::Faults::from_names(&["get_no_digest_header"]).unwrap(),
        ..Default::default()
    };
    let run = |profile: Option<String>| {
        let cfg = RunConfig { filter: vec!["G5".into()], profile, embedded: faulty(), ..RunConfig::new(scenarios()) };
        async move { app::run(cfg).await.unwrap().report }
    };
    let main = run(None).await;
    assert_eq!(main.checks[0].outcome, Outcome::Failed, "{}", main.checks[0].reason);
    // The embedded profile says nothing of spec_version: the reason does not pretend it did.
    assert!(main.checks[0].reason.contains("does not declare spec_version, so referee holds the registry to main"), "{}", main.checks[0].reason);
    let old = run(Some(path.display().to_string())).await;
    assert_eq!(old.checks[0].outcome, Outcome::Skipped, "{}", old.checks[0].reason);
    assert!(old.checks[0].reason.contains("SHOULD in distribution-spec v1.1.x"), "{}", old.checks[0].reason);
    // Without the fault, v1.1 passes too: the header is there and right.
    let cfg = RunConfig { filter: vec!["G5".into()], profile: Some(path.display().to_string()), ..RunConfig::new(scenarios()) };
    assert_eq!(app::run(cfg).await.unwrap().report.checks[0].outcome, Outcome::Passed);
}

/// `referee run` against a listener that would see any request: the exit code, stderr, and
/// whether a connection came (every one is dropped at once, so a run that proceeds ends as a
/// harness error instead of waiting for answers).
fn run_against_listener(args: &[&str], config: Option<&str>) -> (Option<i32>, String, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let reports = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_referee"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--target", &format!("http://{}", listener.local_addr().unwrap()), "--timeout", "2", "--report-dir"])
        .arg(reports.path())
        .args(args)
        .env_remove("REFEREE_PROFILE")
        .env_remove("REFEREE_TARGET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    match config {
        Some(v) => cmd.env("REFEREE_REGISTRY_CONFIG", v),
        None => cmd.env_remove("REFEREE_REGISTRY_CONFIG"),
    };
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut accepted = 0;
    let status = loop {
        match listener.accept() {
            Ok((conn, _)) => {
                accepted += 1;
                drop(conn);
                continue;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("referee {args:?} did not end within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr, accepted)
}

/// distribution-2.8's gc hook runs `garbage-collect "$REFEREE_REGISTRY_CONFIG"` and says so
/// (`needs_env`): without the variable, or with it empty, a run whose scenarios call gc stops
/// with exit 2 before any request, naming the variable, the hook and how to set it — not seven
/// Errored checks each carrying garbage-collect's usage text.
#[test]
fn a_hook_needing_an_unset_variable_stops_the_run_before_any_request() {
    for (config, state) in [(None, "not set"), (Some(""), "empty")] {
        let (code, stderr, accepted) = run_against_listener(&["--profile", "distribution-2.8"], config);
        assert_eq!(code, Some(referee::exit::INVALID_INPUT), "{stderr}");
        assert_eq!(accepted, 0, "a request was sent: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: the gc hook of profile distribution-2.8 needs REFEREE_REGISTRY_CONFIG, which is {state}; nothing was sent\n"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("its command: docker-registry garbage-collect --delete-untagged \"$REFEREE_REGISTRY_CONFIG\"\n"), "{stderr}");
        for scenario in ["gc-retention/mark-and-sweep", "gc-retention/keep-newest"] {
            assert!(stderr.contains(scenario), "names the scenarios that call gc ({scenario}): {stderr}");
        }
        // K6's scenario is skipped whole by gc_trigger: offline-cli, so it calls nothing.
        assert!(!stderr.contains("gc-retention/concurrent-push"), "{stderr}");
        assert!(stderr.contains("REFEREE_REGISTRY_CONFIG=… referee run --profile distribution-2.8 …"), "how to set it: {stderr}");
        assert!(stderr.contains("--hook gc='<command>'"), "{stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    }
}

/// With the variable set the same run proceeds (the registry is asked), as it does without it
/// when no selected scenario calls gc, when gc's only caller is skipped by a declaration, or
/// when the command line gives its own gc hook (which replaces the profile's, needs included).
#[test]
fn a_run_proceeds_when_the_hooks_it_calls_have_what_they_need() {
    let cases: [(&[&str], Option<&str>); 4] = [
        (&["--profile", "distribution-2.8", "--filter", "K1"], Some("/etc/docker/registry/config.yml")),
        (&["--profile", "distribution-2.8", "--filter", "A1"], None),
        (&["--profile", "distribution-2.8", "--filter", "K6"], None),
        (&["--profile", "distribution-2.8", "--filter", "K1", "--hook", "gc=true"], None),
    ];
    for (args, config) in cases {
        let (code, stderr, accepted) = run_against_listener(args, config);
        assert!(accepted > 0, "{args:?}: nothing was sent: {stderr}");
        assert_ne!(code, Some(referee::exit::INVALID_INPUT), "{args:?}: {stderr}");
        assert!(!stderr.contains("needs REFEREE_REGISTRY_CONFIG"), "{args:?}: {stderr}");
    }
}

/// K1 tells the three GC behaviours apart, each declared in a profile and played by the
/// embedded registry's GC policy: `protected` (the default policy), `protected-if-listed-in-
/// tagged-index` (referrers not protected by their subject, fallback-listed ones pinned, as
/// distribution v3) and `collected` (neither, as distribution 2.8). The declared one passes;
/// any other fails naming what was observed.
#[tokio::test]
async fn k1_tells_protected_listed_and_collected_apart() {
    let dir = tempfile::tempdir().unwrap();
    let policy = |protect: bool, pin: bool| referee::registry::RegistryConfig {
        gc: referee::registry::GcPolicy {
            protect_referrers_of_live_subject: protect,
            pin_fallback_listed: pin,
            ..Default::default()
        },
        ..Default::default()
    };
    let behaviours = [
        ("protected", policy(true, true)),
        ("protected-if-listed-in-tagged-index", policy(false, true)),
        ("collected", policy(false, false)),
    ];
    for (declared, _) in &behaviours {
        let path = dir.path().join(format!("{declared}.yaml"));
        std::fs::write(&path, format!("name: gc-{declared}\ndescription: x\nextends: embedded\ndeclares:\n  untagged_referrer_gc: {declared}\n")).unwrap();
        for (observed, embedded) in &behaviours {
            let cfg = RunConfig {
                filter: vec!["K1".into()],
                profile: Some(path.display().to_string()),
                embedded: embedded.clone(),
                ..RunConfig::new(scenarios())
            };
            let report = app::run(cfg).await.unwrap().report;
            let k1 = &report.checks[0];
            if declared == observed {
                assert_eq!(k1.outcome, Outcome::Passed, "{declared} on a {observed} GC: {}", k1.reason);
            } else {
                assert_eq!(k1.outcome, Outcome::Failed, "{declared} on a {observed} GC: {}", k1.reason);
                assert!(k1.reason.contains(&format!("the profile declares untagged_referrer_gc: {declared}")), "{}", k1.reason);
                // Each contradicted answer names every behaviour it is consistent with, and the
                // one played is always among them.
                let seen: Vec<&str> = k1.reason.split("observed: untagged_referrer_gc: ").skip(1).map(|r| r.split([';', '—']).next().unwrap()).collect();
                assert!(!seen.is_empty(), "{}", k1.reason);
                for s in seen {
                    assert!(s.trim().split(" or ").any(|v| v == *observed), "{observed} not in '{s}': {}", k1.reason);
                }
            }
        }
    }
}
