//! The capability probe against the embedded registry (full and legacy) and the real registries
//! the test support starts on 127.0.0.1: the key cells must match what each one really does
//! (notes/real-registries.md).

mod support;

use referee::client::{Client, ClientConfig};
use referee::profile::{Cell, FORMAT_VERSION, ProbeReport, names::*, probe};
use referee::registry::{EmbeddedRegistry, Mode, RegistryConfig};
use std::time::Duration;
use support::external;

async fn probe_url(url: &str) -> ProbeReport {
    let client = Client::new(ClientConfig { timeout: Duration::from_secs(20), ..ClientConfig::new(url) }).expect("client");
    let report = probe(&client, "referee", &referee::exec::new_run_id()).await;
    println!("{}", report.render());
    report
}

async fn probe_embedded(mode: Mode) -> ProbeReport {
    let reg = EmbeddedRegistry::start(RegistryConfig { mode, ..RegistryConfig::default() }, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("embedded registry");
    let report = probe_url(&reg.url()).await;
    reg.shutdown().await;
    report
}

fn cell<'a>(r: &'a ProbeReport, name: &str) -> &'a Cell {
    r.capability(name).unwrap_or_else(|| panic!("no cell {name}:\n{}", r.render()))
}

/// Asserts `supported` and that `observed` contains every fragment.
fn expect(r: &ProbeReport, name: &str, supported: Option<bool>, fragments: &[&str]) {
    let c = cell(r, name);
    assert_eq!(c.supported, supported, "{name}: {}\n{}", c.observed, r.render());
    for f in fragments {
        assert!(c.observed.contains(f), "{name}: {:?} does not contain {f:?}\n{}", c.observed, r.render());
    }
}

/// Every row is there in order, nothing was left behind, the JSON form round-trips.
fn complete_and_clean(r: &ProbeReport) {
    assert!(r.errors.is_empty(), "harness errors: {:?}\n{}", r.errors, r.render());
    assert!(r.residue.is_empty(), "residue: {:?}", r.residue);
    let names: Vec<&str> = r.cells.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ALL);
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["format_version"], FORMAT_VERSION);
    let back: ProbeReport = serde_json::from_value(json).unwrap();
    assert_eq!(back.cells, r.cells);
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_full_has_every_reference_types_capability() {
    let r = probe_embedded(Mode::Full).await;
    complete_and_clean(&r);
    expect(&r, REFERRERS_API, Some(true), &["200 (application/vnd.oci.image.index.v1+json) image index, 1 entry"]);
    expect(&r, REFERRERS_LISTED, Some(true), &[]);
    expect(&r, REFERRERS_MISSING_SUBJECT, Some(true), &["200", "0 entries"]);
    expect(&r, REFERRERS_BAD_DIGEST, Some(true), &["400", "DIGEST_INVALID"]);
    expect(&r, OCI_SUBJECT, Some(true), &["OCI-Subject: sha256:", "(the subject)"]);
    expect(&r, FILTER_ARTIFACT_TYPE, Some(true), &["OCI-Filters-Applied: artifactType", "(filtered)"]);
    expect(&r, PAGINATION, Some(true), &["Link: <", "2 pages read", "6 referrers"]);
    expect(&r, DELETE_MANIFEST, Some(true), &["202"]);
    expect(&r, DELETE_TAG, Some(true), &["202"]);
    expect(&r, DELETE_BLOB, Some(true), &["202"]);
    expect(&r, MOUNT_WITH_FROM, Some(true), &["201"]);
    expect(&r, SHA512_MANIFEST, Some(true), &["201"]);
    expect(&r, MAX_MANIFEST_SIZE, Some(true), &["largest accepted 8 MiB", "first rejected 16 MiB", "413"]);
    // The conditional-request proposal is on by default in the embedded registry.
    expect(&r, ETAG, Some(true), &["ETag: \"sha256:"]);
    expect(&r, IF_MATCH, Some(true), &["412"]);
    expect(&r, IF_NONE_MATCH, Some(true), &["412"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_legacy_has_no_referrers_api() {
    let r = probe_embedded(Mode::Legacy).await;
    complete_and_clean(&r);
    expect(&r, REFERRERS_API, Some(false), &["404 (text/plain; charset=utf-8) `404 page not found`"]);
    expect(&r, OCI_SUBJECT, Some(false), &["201 without OCI-Subject"]);
    for name in [REFERRERS_LISTED, REFERRERS_MISSING_SUBJECT, REFERRERS_BAD_DIGEST, FILTER_ARTIFACT_TYPE, PAGINATION] {
        assert_eq!(cell(&r, name).supported, None, "{name} does not apply without the API");
    }
    expect(&r, PAGINATION, None, &["skipped: no referrers API (404 text/plain"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_registry_2_8_matrix() {
    let Some(reg) = external::docker_registry() else { return };
    let r = probe_url(&reg.url).await;
    complete_and_clean(&r);
    expect(&r, REFERRERS_API, Some(false), &["404 (text/plain; charset=utf-8)"]);
    expect(&r, OCI_SUBJECT, Some(false), &["201 without OCI-Subject"]);
    expect(&r, FILTER_ARTIFACT_TYPE, None, &["skipped"]);
    expect(&r, PAGINATION, None, &["skipped"]);
    expect(&r, DELETE_MANIFEST, Some(true), &["202"]);
    expect(&r, DELETE_TAG, Some(false), &["400 DIGEST_INVALID"]);
    expect(&r, DELETE_BLOB, Some(true), &["202"]);
    expect(&r, MOUNT_WITH_FROM, Some(true), &["201"]);
    expect(&r, MOUNT_WITHOUT_FROM, Some(false), &["202"]);
    expect(&r, ETAG, Some(true), &["ETag: \"sha256:"]);
    expect(&r, IF_MATCH, Some(false), &["201"]);
    expect(&r, IF_NONE_MATCH, Some(false), &["201"]);
    expect(&r, SHA512_MANIFEST, Some(false), &["400 DIGEST_INVALID"]);
    expect(&r, MAX_MANIFEST_SIZE, Some(true), &["largest accepted 4 MiB (4194304 B", "first rejected 8 MiB (8388608 B) → 400", "(not 413)"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ferro_oci_server_1_0_matrix() {
    let Some(reg) = external::ferro() else { return };
    let r = probe_url(&reg.url).await;
    complete_and_clean(&r);
    expect(&r, REFERRERS_API, Some(true), &["200 (application/vnd.oci.image.index.v1+json)"]);
    expect(&r, REFERRERS_LISTED, Some(true), &[]);
    expect(&r, OCI_SUBJECT, Some(true), &["(the subject)"]);
    expect(&r, FILTER_ARTIFACT_TYPE, Some(true), &["OCI-Filters-Applied: artifactType"]);
    expect(&r, PAGINATION, Some(false), &["no Link: one 200 response"]);
    expect(&r, DELETE_MANIFEST, Some(true), &["202"]);
    expect(&r, DELETE_TAG, Some(false), &["405"]);
}

#[test]
fn cli_unreachable_target_is_a_harness_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.json");
    // A port that was free a moment ago: nothing listens there.
    let url = format!("http://127.0.0.1:{}", external::free_port());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_referee"))
        .args(["probe", "--target", &url, "--timeout", "5", "--out"])
        .arg(&out)
        .env_remove("REFEREE_USERNAME")
        .env_remove("REFEREE_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(referee::exit::HARNESS_ERROR), "{stdout}");
    assert!(stdout.contains("error: GET /v2/: cannot connect"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["cells"].as_array().unwrap().len(), ALL.len());
    assert!(json["cells"][0]["observed"].as_str().unwrap().starts_with("not probed"));
}

#[test]
fn cli_probes_the_embedded_registry_without_a_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested").join("probe.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_referee"))
        .args(["probe", "--embedded-mode", "legacy", "--out"])
        .arg(&out)
        .env_remove("REFEREE_TARGET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("(embedded, Legacy mode)") && stdout.contains("referrers-api"), "{stdout}");
    let report: ProbeReport = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report.capability(REFERRERS_API).unwrap().supported, Some(false));
}
