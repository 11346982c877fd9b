//! `referee graph` against the embedded registry: generated graphs pass in full and in legacy
//! mode; with a fault on, a case fails, shrinks to a graph of a handful of nodes, and the
//! scenario file written reproduces the failure with `referee run` (and passes without the
//! fault); the counterexamples found that way are committed under tests/graph-regressions/ and
//! replayed here; the reverse walk answers what the model says.

use referee::app::{self, RunConfig};
use referee::exec::{Outcome, RunReport};
use referee::graph::run::{GraphConfig, run};
use referee::registry::{EmbeddedRegistry, Faults, Mode, RegistryConfig};
use std::path::{Path, PathBuf};

fn outcomes(r: &RunReport) -> Vec<(String, Outcome, String)> {
    r.checks.iter().map(|c| (c.info.id.clone(), c.outcome, c.reason.clone())).collect()
}

fn all_pass(r: &RunReport) {
    assert!(r.run_error.is_none(), "{:?}", r.run_error);
    assert!(!r.checks.is_empty());
    for (id, o, why) in outcomes(r) {
        assert_eq!(o, Outcome::Passed, "{id}: {why}");
    }
    assert!(r.residue.is_empty(), "left behind: {:?}", r.residue);
}

/// The Done-when run: 200 generated graphs against the embedded registry with the referrers API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_graphs_pass_in_full_mode() {
    let out = run(GraphConfig::new(200, 20261130)).await.expect("graph run");
    all_pass(&out.report);
    let g = out.report.graph.as_ref().unwrap();
    assert_eq!((g.mode.as_str(), g.cases_run, g.seed), ("api", 200, 20261130));
    let ids: Vec<&str> = out.report.checks.iter().map(|c| c.info.id.as_str()).collect();
    // Every generated check came up: listings, sha512 subjects, filters, deletes, subjects never
    // pushed, the reverse walk.
    assert_eq!(ids, ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]);
}

/// The same in legacy mode (no referrers API): every case goes through the referrers tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_graphs_pass_in_legacy_mode() {
    let cfg = GraphConfig { embedded: RegistryConfig { mode: Mode::Legacy, ..RegistryConfig::default() }, ..GraphConfig::new(200, 20261130) };
    let out = run(cfg).await.expect("graph run");
    all_pass(&out.report);
    let g = out.report.graph.as_ref().unwrap();
    assert_eq!((g.mode.as_str(), g.cases_run), ("fallback", 200));
    let ids: Vec<&str> = out.report.checks.iter().map(|c| c.info.id.as_str()).collect();
    assert_eq!(ids, ["P1", "P2", "P4", "P6"]);
}

fn faulty(fault: &str, page_size: Option<usize>) -> RegistryConfig {
    RegistryConfig {
        faults: Faults::from_names(&[fault]).unwrap(),
        page_size: page_size.unwrap_or(RegistryConfig::default().page_size),
        ..RegistryConfig::default()
    }
}

async fn replay(file: &Path, embedded: RegistryConfig) -> RunReport {
    app::run(RunConfig { embedded, ..RunConfig::new(file) }).await.expect("replay").report
}

/// A fault is found, shrunk to at most `max_nodes`, written, and the file replays it: P1 fails
/// with the fault and passes without it.
async fn found_shrunk_and_replayed(fault: &str, page_size: Option<usize>, max_nodes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GraphConfig { embedded: faulty(fault, page_size), report_dir: Some(dir.path().into()), ..GraphConfig::new(100, 3) };
    let out = run(cfg).await.expect("graph run");
    let g1 = out.report.checks.iter().find(|c| c.info.id == "P1").unwrap();
    assert_eq!(g1.outcome, Outcome::Failed, "{fault}: {}", g1.reason);
    let g = out.report.graph.clone().unwrap();
    let shrunk = g.shrunk_nodes.unwrap();
    assert!(shrunk <= max_nodes, "{fault}: shrunk only to {shrunk} nodes (from {:?})", g.original_nodes);
    let file = out.counterexample.expect("a counterexample file");
    assert_eq!(g.counterexample.as_deref(), Some(file.to_str().unwrap()));
    assert!(g1.reason.contains("seed 3") && g1.reason.contains("referee run --scenarios"), "{}", g1.reason);
    // The JUnit names the seed and the file.
    let junit = std::fs::read_to_string(dir.path().join("graph-junit.xml")).unwrap();
    assert!(junit.contains(r#"name="graph_seed" value="3""#) && junit.contains("graph_counterexample"), "{junit}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# referee graph counterexample: seed 3"), "{text}");
    let with = replay(&file, faulty(fault, page_size)).await;
    let g1 = with.checks.iter().find(|c| c.info.id == "P1").unwrap();
    assert_eq!(g1.outcome, Outcome::Failed, "replayed with {fault}: {}", g1.reason);
    let without = replay(&file, RegistryConfig { page_size: page_size.unwrap_or(256), ..RegistryConfig::default() }).await;
    all_pass(&without);
    eprintln!("{fault}: shrunk from {:?} to {shrunk} nodes in {} steps\n{text}", g.original_nodes, g.shrink_steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_of_an_index_subject_dropped_is_found_and_shrunk() {
    found_shrunk_and_replayed("ignore_index_subject", None, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_second_page_is_found_and_shrunk() {
    found_shrunk_and_replayed("skip_second_page", Some(2), 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_referrers_lost_are_found_and_shrunk() {
    found_shrunk_and_replayed("referrers_lost_update", None, 5).await;
}

/// Counterexamples `referee graph` found and shrank, committed: each fails P1 with its fault and
/// passes without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_counterexamples_still_fail_with_their_fault_and_pass_without() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/graph-regressions");
    let cases: &[(&str, &str, Option<usize>)] = &[
        ("ignore_index_subject.yaml", "ignore_index_subject", None),
        ("skip_second_page.yaml", "skip_second_page", Some(2)),
        ("referrers_lost_update.yaml", "referrers_lost_update", None),
    ];
    for (file, fault, page) in cases {
        let path = dir.join(file);
        let with = replay(&path, faulty(fault, *page)).await;
        let g1 = with.checks.iter().find(|c| c.info.id == "P1").unwrap();
        assert_eq!(g1.outcome, Outcome::Failed, "{file}: {}", g1.reason);
        all_pass(&replay(&path, RegistryConfig { page_size: page.unwrap_or(256), ..RegistryConfig::default() }).await);
    }
}

/// `referee graph --reverse` walks a registry from its tags: an image's referrers (and a
/// referrer of a referrer's subject), the index that lists it, and what points at its layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reverse_walk_finds_who_points_at_a_manifest_and_a_blob() {
    use referee::client::{Client, ClientConfig};
    use referee::oci::{IndexBuilder, ManifestBuilder};
    let reg = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = Client::new(ClientConfig::new(&reg.url())).unwrap();
    let repo = "walk/me";
    let image = ManifestBuilder::image("walk-image").build();
    let sig = ManifestBuilder::artifact("walk-sig", "application/vnd.example.sig").subject(image.descriptor()).build();
    let sigsig = ManifestBuilder::artifact("walk-sigsig", "application/vnd.example.sig").subject(sig.descriptor()).build();
    let index = IndexBuilder::new().manifest(image.descriptor()).build();
    let lonely = ManifestBuilder::image("walk-untagged").build();
    for (b, r) in [(&image, "v1"), (&sig, sig.digest.as_str()), (&sigsig, sigsig.digest.as_str()), (&index, "multi"), (&lonely, lonely.digest.as_str())] {
        assert_eq!(client.push_built(repo, b, r).await.unwrap().status, 201);
    }
    let bin = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_referee")).arg("graph").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let url = reg.url();
    let (code, out, err) = bin(&["--target", &url, "--repo", repo, "--reverse", image.digest.as_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&format!("2 manifest(s) of {repo} point at {}", image.digest)), "{out}");
    assert!(out.contains(&format!("{}  subject", sig.digest)) && out.contains(&format!("{}  index child", index.digest)), "{out}");
    let layer = image.blobs.last().unwrap().digest.clone();
    let (_, out, _) = bin(&["--target", &url, "--repo", repo, "--reverse", layer.as_str()]);
    assert!(out.starts_with("1 manifest(s)") && out.contains(&format!("{}  layer", image.digest)), "{out}");
    // The walk agrees with the model: the untagged image nothing refers to is out of reach.
    let present = [("image", &image, true), ("sig", &sig, false), ("sigsig", &sigsig, false), ("index", &index, true), ("lonely", &lonely, false)];
    let want: Vec<&str> = referee::graph::reverse::expected(&present, &image.digest).into_iter().map(|(n, _)| n).collect();
    assert_eq!(want.len(), 2, "{want:?}");
    assert!(want.contains(&"sig") && want.contains(&"index"), "{want:?}");
    let lonely_layer = lonely.blobs.last().unwrap().digest.clone();
    assert!(referee::graph::reverse::expected(&present, &lonely_layer).is_empty());
    let (_, out, _) = bin(&["--target", &url, "--repo", repo, "--reverse", lonely_layer.as_str()]);
    assert!(out.starts_with("0 manifest(s)"), "{out}");
    // Bad input: not a digest; no target.
    let (code, _, err) = bin(&["--target", &url, "--repo", repo, "--reverse", "nope"]);
    assert_eq!(code, Some(referee::exit::USAGE), "{err}");
    assert!(err.contains("is not a digest"), "{err}");
    let (code, _, err) = bin(&["--repo", repo, "--reverse", image.digest.as_str()]);
    assert_eq!(code, Some(referee::exit::USAGE), "{err}");
    reg.shutdown().await;
}

/// Every generated check can fail (a MUST) or warn (a reading) under a fault of the embedded
/// registry; P1's three faults are proven above. `--fail-on warn` so a reading stops the run
/// too; no shrinking, it is not what is proven here. The seeds are those whose first failing
/// case needs the check (P5 needs a subject never pushed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_generated_check_breaks_under_a_fault() {
    let cases: &[(&str, &str, u64, Outcome)] = &[
        ("P2", "drop_sha512_referrers", 1, Outcome::Failed),
        ("P3", "filter_inverted", 1, Outcome::Warned),
        ("P4", "delete_keeps_referrer", 1, Outcome::Warned),
        ("P5", "forget_early_referrers", 5, Outcome::Warned),
        ("P6", "ignore_index_subject", 1, Outcome::Warned),
        ("P7", "omit_filters_header", 1, Outcome::Failed),
    ];
    for (id, fault, seed, want) in cases {
        let cfg = GraphConfig {
            embedded: faulty(fault, None),
            fail_on: referee::exit::FailOn::Warn,
            max_shrink_steps: 0,
            ..GraphConfig::new(60, *seed)
        };
        let out = run(cfg).await.expect("graph run");
        let c = out.report.checks.iter().find(|c| c.info.id == *id).unwrap();
        assert_eq!(c.outcome, *want, "{id} under {fault} (seed {seed}): {}", c.reason);
    }
}
