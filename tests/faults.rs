//! Every check can fail: for each check a fault switched on in the embedded registry makes it
//! Fail (a MUST check) or Warn (a SHOULD or READING check, which can only warn), and with no
//! fault every check passes. The table names, per check, the fault and the
//! other checks of the same scenario that fail with it.

use referee::app::{self, RunConfig};
use referee::exec::{Outcome, RunReport};
use referee::registry::RegistryConfig;
use std::collections::BTreeSet;

/// (check, fault, other checks of the same scenario that also fail).
const TABLE: &[(&str, &str, &[&str])] = &[
    ("A1", "ping_404", &[]),
    ("A2", "blob_put_no_location", &["A4"]),
    ("A3", "single_post_drops_body", &[]),
    ("A4", "chunk_range_ignored", &[]),
    ("A5", "small_blob_rejected", &[]),
    ("A6", "reserialize_manifests", &["A9", "A11", "A12", "A13"]),
    ("A7", "head_no_digest_header", &[]),
    ("A8", "unknown_content_500", &[]),
    ("A9", "reject_nested_index", &[]),
    ("A10", "reject_empty_config", &["A13"]),
    ("A11", "media_type_allowlist", &["A10", "A13"]),
    ("A12", "reserialize_manifests", &["A6", "A9", "A11", "A13"]),
    ("A13", "reserialize_manifests", &["A6", "A9", "A11", "A12"]),
    ("A14", "trust_reference_digest", &[]),
    ("B1", "omit_oci_subject", &["B2"]),
    ("B2", "oci_subject_true", &["B1"]),
    ("B3", "reject_missing_subject", &[]),
    ("B4", "forget_early_referrers", &[]),
    ("B5", "ignore_index_subject", &[]),
    ("B6", "subject_media_type_allowlist", &["B7"]),
    ("B7", "subject_media_type_allowlist", &["B6"]),
    ("B8", "drop_sha512_referrers", &[]),
    ("B9", "include_transitive_referrers", &[]),
    ("B10", "duplicate_on_repush", &[]),
    ("B11", "drop_mismatched_subject", &[]),
    ("B12", "referrers_ignore_repo", &[]),
    ("C1", "unknown_subject_404", &["C11", "C12"]),
    ("C2", "drop_last_referrer", &["C3", "C6", "C7", "C14"]),
    ("C3", "duplicate_entries", &[]),
    ("C4", "artifact_type_from_config", &[]),
    ("C5", "omit_config_artifact_type", &[]),
    ("C6", "index_artifact_type_empty", &["C15"]),
    ("C7", "drop_annotations", &[]),
    ("C8", "referrers_content_type_json", &[]),
    ("C9", "invalid_digest_404", &[]),
    ("C10", "unknown_algorithm_404", &[]),
    ("C11", "unknown_repo_plain_404", &[]),
    ("C12", "unknown_subject_404", &["C1", "C11"]),
    ("C13", "referrers_require_push_scope", &[]),
    ("C14", "referrers_lag_ms=10000", &["C2", "C3", "C4", "C5", "C6", "C7", "C13"]),
    ("C15", "descriptor_missing_media_type", &["C2"]),
    ("D1", "filter_inverted", &["D4", "D5", "D6"]),
    ("D2", "omit_filters_header", &["D1", "D3"]),
    ("D3", "omit_filters_header", &["D1", "D2"]),
    ("D4", "referrers_null_list", &[]),
    ("D5", "filter_ignores_config_type", &[]),
    ("D6", "no_query_percent_decode", &["D1", "D5"]),
    ("D7", "empty_filter_500", &[]),
    ("D8", "filters_header_wrong_value", &["D1", "D2", "D3", "D4", "D5", "D6"]),
    ("D9", "link_drops_filter", &[]),
    ("E1", "omit_link", &["E2", "D9"]),
    ("E2", "page_duplicates", &["E6"]),
    ("E3", "link_malformed", &["E2", "E6", "D9"]),
    ("E4", "later_pages_bad_content_type", &[]),
    ("E5", "link_on_last_page", &[]),
    ("E6", "unstable_cursor", &[]),
    // A 64-character tag limit (distribution-spec v1.1.1's wording) rejects every referrers tag.
    ("F1", "tag_limit_64", &["F2", "F4", "F8"]),
    ("F2", "fallback_tag_rejected", &["F1", "F4", "F8"]),
    // GitLab's bug: the tag resolves to the subject, so every fallback update reads a non-index.
    ("F3", "tag_resolves_digest", &["F2", "F4", "F8"]),
    ("F4", "reserialize_manifests", &["F1", "F2", "F8"]),
    ("F5", "etag_unstable", &[]),
    ("F6", "fallback_index_listed", &[]),
    ("F8", "reject_empty_index", &[]),
    ("F9", "tag_update_ignored", &[]),
    ("F10", "tags_list_unsorted", &[]),
    ("G1", "referrers_route_missing", &[]),
    ("G2", "referrer_moves_subject_tag", &[]),
    ("G3", "omit_config_artifact_type", &[]),
    ("G4", "strict_subject_fields", &[]),
    ("G5", "get_no_digest_header", &["G2"]),
    ("G6", "cosign_tag_listed", &[]),
    ("F7", "forget_referrers_pushed_while_disabled", &[]),
    ("H1", "delete_keeps_referrer", &["H7"]),
    ("H2", "deleted_subject_referrers_404", &[]),
    ("H3", "subject_delete_412", &["H2"]),
    ("H4", "untag_drops_referrers", &[]),
    ("H5", "delete_disabled_501", &["H1", "H2", "H3", "H4", "H6", "H7", "H8"]),
    ("H6", "tag_delete_keeps_tag", &[]),
    ("H7", "manifest_delete_lazy", &["H1"]),
    ("H8", "delete_unknown_202", &[]),
    ("H9", "blob_delete_lazy", &[]),
    ("H10", "delete_keeps_referrer", &[]),
    ("I1", "mount_without_copy", &["I4", "I5"]),
    ("I2", "mount_session_no_location", &[]),
    ("I3", "false_mount", &["I2"]),
    ("I4", "mount_without_copy", &["I1", "I5"]),
    ("I5", "mount_without_copy", &["I1", "I4"]),
    // Every mount is refused in token mode (the default embedded run uses tokens).
    ("I6", "mount_denied_with_token", &["I1", "I2", "I3", "I4", "I5", "I7"]),
    ("I7", "mount_sha256_only", &[]),
    ("J1", "lock_blocks_referrer_push", &[]),
    // Harbor's answer to a locked tag: 412 PRECONDITION, not a spec code.
    ("J2", "lock=precondition412", &["J4"]),
    ("J3", "locked_same_digest_500", &[]),
    // Quay's answer: 409 TAG_IMMUTABLE.
    ("J4", "lock=tag_immutable409", &["J2"]),
    ("J5", "lock_blocks_referrer_delete", &[]),
    ("K1", "gc.protect=false", &[]),
    // The embedded profile declares orphan_referrer_gc: never; this policy contradicts it.
    ("K2", "gc.orphans=collect_with_subject", &[]),
    ("K3", "gc.pin=false+gc.orphans=collect", &["K2"]),
    ("K4", "gc_sweeps_referrer_blobs", &[]),
    ("K5", "gc_blob_refcount_broken", &[]),
    // The split push (blobs, GC, manifest); `fault_k6_race` proves the race half.
    ("K6", "gc_no_upload_grace", &[]),
    ("K7", "retention_created_inverted", &[]),
    ("K8", "keep_newest_by_push_order", &[]),
    // Eight simultaneous pushes rewrite the subject's list from stale copies.
    ("L1", "referrers_lost_update", &[]),
    // Eight clients move one tag within milliseconds: the last move leaves a torn link.
    ("L2", "tag_torn_write", &[]),
    // Six clients' conditional read-modify-writes of one tag: the ETag is there, the
    // condition ignored, so updates overwrite each other.
    ("L3", "conditional_ignored", &[]),
    // Four simultaneous re-pushes of the same bytes each add an entry.
    ("L4", "duplicate_on_repush", &[]),
    // Four clients close uploads of the same blobs within a second of each other.
    ("L6", "concurrent_blob_put_500", &[]),
    // A referrer whose subject was just deleted is refused with 500.
    ("L5", "deleted_subject_push_500", &[]),
    ("N1", "nonstandard_error_codes", &[]),
    // The source serves other bytes than were pushed, so the copy cannot be exact.
    ("R1", "reserialize_manifests", &[]),
    ("R2", "reject_missing_subject", &[]),
    ("N2", "rate_limit_bad_body", &[]),
    ("N3", "bad_warning_header", &[]),
    ("N4", "redirect_target_missing", &[]),
    ("N5", "sparse_wrong_code", &[]),
    ("N6", "cancel_upload_500", &[]),
];

/// A fault name, or a policy switch (`gc.protect=false`, `gc.orphans=…`, `gc.pin=false`,
/// `lock=…`, `referrers_lag_ms=…`); several joined with `+`.
fn config(spec: &str) -> RegistryConfig {
    let mut c = RegistryConfig::default();
    for part in spec.split('+') {
        match part.split_once('=') {
            Some(("referrers_lag_ms", ms)) => c.faults.referrers_lag_ms = ms.parse().unwrap(),
            Some(("gc.protect", v)) => c.gc.protect_referrers_of_live_subject = v == "true",
            Some(("gc.orphans", v)) => c.gc.orphan_referrers = v.parse().unwrap(),
            Some(("gc.pin", v)) => c.gc.pin_fallback_listed = v == "true",
            Some(("lock", v)) => c.lock_status = v.parse().unwrap(),
            _ => c.faults.set(part).unwrap(),
        }
    }
    c
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

fn scenario_of(check: &str) -> String {
    let plan = app::load_plan(&scenarios(), &[check.to_string()]).unwrap();
    plan.scenarios[0].id.clone()
}

async fn prove(check: &str) {
    let (_, fault, also) = TABLE.iter().find(|(c, _, _)| *c == check).expect("check in table");
    prove_with(check, fault, also).await;
}

async fn prove_with(check: &str, fault: &str, also: &[&str]) {
    let report = run_embedded(config(fault), vec![scenario_of(check)]).await;
    let got = failed(&report);
    let want: BTreeSet<String> = std::iter::once(check).chain(also.iter().copied()).map(String::from).collect();
    let errored: Vec<_> = report.checks.iter().filter(|c| c.outcome == Outcome::Errored).map(|c| (&c.info.id, &c.reason)).collect();
    assert!(errored.is_empty(), "fault {fault}: errored checks {errored:?}");
    let msgs: Vec<_> = report
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Warned))
        .map(|c| format!("{} {:?}: {}", c.info.id, c.outcome, c.reason))
        .collect();
    assert_eq!(got, want, "fault {fault}: failed checks differ; reasons:\n{}", msgs.join("\n"));
    let target = report.checks.iter().find(|c| c.info.id == check).unwrap();
    // A MUST check is proven by a FAIL. A SHOULD or READING check warns, unless the fault
    // breaks an assertion it cites from a MUST or the profile it is judged against.
    if target.info.keyword == referee::scenario::Keyword::MUST {
        assert_eq!(target.outcome, Outcome::Failed, "fault {fault}: {check} is {:?}: {}", target.outcome, target.reason);
    }
    assert!(target.reason.contains("rule:"), "a failure cites its rule: {}", target.reason);
}

#[tokio::test]
async fn every_check_passes_without_faults() {
    let report = run_embedded(RegistryConfig::default(), vec![]).await;
    let not_passed: Vec<_> =
        report.checks.iter().filter(|c| c.outcome != Outcome::Passed).map(|c| format!("{} {:?}: {}", c.info.id, c.outcome, c.reason)).collect();
    assert!(not_passed.is_empty(), "{}", not_passed.join("\n"));
    assert_eq!(report.checks.len(), TABLE.len());
    assert!(report.residue.is_empty(), "residue: {:?}", report.residue);
}

#[test]
fn mutation_score_is_complete() {
    let plan = app::load_plan(&scenarios(), &[]).unwrap();
    let all: Vec<String> = plan.checks().map(|c| c.id.clone()).collect();
    let proven: Vec<&String> = all.iter().filter(|id| TABLE.iter().any(|(c, _, _)| c == id)).collect();
    println!("mutation score: {}/{} checks proven to fail ({:.0} %)", proven.len(), all.len(), 100.0 * proven.len() as f64 / all.len() as f64);
    assert_eq!(proven.len(), all.len(), "checks without a fault test: {:?}", all.iter().filter(|id| !proven.contains(id)).collect::<Vec<_>>());
    for (_, fault, _) in TABLE {
        let _ = config(fault);
    }
}

/// K6's race half: a GC that marks, lets go of the lock and sweeps by its stale marks loses
/// tagged content four clients push while it runs over and over (its 200 ms window covers
/// almost every push; the clients' pushes are 60 ms apart).
#[tokio::test]
async fn fault_k6_race() {
    prove_with("K6", "gc_sweep_unlocked", &[]).await;
}

macro_rules! prove {
    ($($name:ident => $id:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                prove($id).await;
            }
        )*
    };
}

prove! {
    fault_a1 => "A1", fault_a2 => "A2", fault_a3 => "A3", fault_a4 => "A4", fault_a5 => "A5", fault_a6 => "A6",
    fault_a7 => "A7", fault_a8 => "A8", fault_a9 => "A9", fault_a10 => "A10", fault_a11 => "A11", fault_a12 => "A12",
    fault_a13 => "A13", fault_a14 => "A14",
    fault_b1 => "B1", fault_b2 => "B2", fault_b3 => "B3", fault_b4 => "B4", fault_b5 => "B5", fault_b6 => "B6",
    fault_b7 => "B7", fault_b8 => "B8", fault_b9 => "B9", fault_b10 => "B10", fault_b11 => "B11", fault_b12 => "B12",
    fault_c1 => "C1", fault_c2 => "C2", fault_c3 => "C3", fault_c4 => "C4", fault_c5 => "C5", fault_c6 => "C6",
    fault_c7 => "C7", fault_c8 => "C8", fault_c9 => "C9", fault_c10 => "C10", fault_c11 => "C11", fault_c12 => "C12",
    fault_c13 => "C13", fault_c14 => "C14", fault_c15 => "C15",
    fault_d1 => "D1", fault_d2 => "D2", fault_d3 => "D3", fault_d4 => "D4", fault_d5 => "D5", fault_d6 => "D6",
    fault_d7 => "D7", fault_d8 => "D8", fault_d9 => "D9",
    fault_e1 => "E1", fault_e2 => "E2", fault_e3 => "E3", fault_e4 => "E4", fault_e5 => "E5", fault_e6 => "E6",
    fault_f1 => "F1", fault_f2 => "F2", fault_f3 => "F3", fault_f4 => "F4", fault_f5 => "F5", fault_f6 => "F6", fault_f8 => "F8",
    fault_f9 => "F9", fault_f10 => "F10",
    fault_g1 => "G1", fault_g2 => "G2", fault_g3 => "G3", fault_g4 => "G4", fault_g5 => "G5", fault_g6 => "G6",
    fault_h1 => "H1", fault_h2 => "H2", fault_h3 => "H3", fault_h4 => "H4", fault_h5 => "H5", fault_h6 => "H6", fault_h7 => "H7",
    fault_h8 => "H8", fault_h9 => "H9", fault_h10 => "H10",
    fault_i1 => "I1", fault_i2 => "I2", fault_i3 => "I3", fault_i4 => "I4", fault_i5 => "I5", fault_i6 => "I6", fault_i7 => "I7",
    fault_f7 => "F7",
    fault_j1 => "J1", fault_j2 => "J2", fault_j3 => "J3", fault_j4 => "J4", fault_j5 => "J5",
    fault_k1 => "K1", fault_k2 => "K2", fault_k3 => "K3", fault_k4 => "K4", fault_k5 => "K5", fault_k6 => "K6", fault_k7 => "K7", fault_k8 => "K8",
    fault_l1 => "L1", fault_l2 => "L2", fault_l3 => "L3", fault_l4 => "L4", fault_l5 => "L5", fault_l6 => "L6",
    fault_r1 => "R1", fault_r2 => "R2",
    fault_n1 => "N1", fault_n2 => "N2", fault_n3 => "N3", fault_n4 => "N4", fault_n5 => "N5", fault_n6 => "N6",
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
