//! Real clients against the embedded registry. The oras Python SDK (PyPI `oras` 0.2.43, in the
//! virtual environment `scripts/test.sh` creates at `.venv-clients/`) pushes an artifact, then a
//! second whose `subject` is the first, and reads the first's referrers back through the
//! referrers API (tests/clients/oras_roundtrip.py). Whatever a real client does that the
//! embedded registry refuses is a bug in one of them.

mod support;

use referee::registry::{EmbeddedRegistry, RegistryConfig};
use std::path::PathBuf;

/// The virtual environment's python, or `None` (skipped unless REFEREE_REQUIRE_EXTERNAL is set).
fn oras_python() -> Option<PathBuf> {
    let p = std::env::var_os("REFEREE_ORAS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-clients/bin/python"));
    if p.is_file() {
        return Some(p);
    }
    if support::external::external_required() {
        panic!("{} is missing: ./scripts/test.sh creates it (python3 -m venv .venv-clients; pip install oras==0.2.43)", p.display());
    }
    eprintln!("skipping: {} is missing (./scripts/test.sh creates it)", p.display());
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oras_python_sdk_pushes_a_referrer_and_reads_it_back() {
    let Some(python) = oras_python() else { return };
    let reg = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let host = reg.url().trim_start_matches("http://").to_string();
    let work = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/oras_roundtrip.py");
    let out = tokio::process::Command::new(&python).arg(&script).args([host.as_str(), "oras/app"]).arg(work.path()).output().await.unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the oras SDK failed against the embedded registry:\n{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // The SDK computes the subject descriptor by serializing the manifest it pulled again: it
    // matches only because the registry serves the exact bytes it was sent.
    assert_eq!(v["subject_pushed"], v["subject_computed"], "{v}");
    assert_eq!(v["oci_subject"], v["subject_pushed"], "the push with a subject is acknowledged: {v}");
    assert_eq!(v["referrers_status"], 200, "{v}");
    let listed: Vec<&str> = v["referrers"]["manifests"].as_array().unwrap().iter().filter_map(|d| d["digest"].as_str()).collect();
    assert_eq!(listed, [v["referrer"].as_str().unwrap()], "{v}");
    // oras-py sets no artifactType: the list derives it from its config's mediaType.
    assert_eq!(v["referrers"]["manifests"][0]["artifactType"], "application/vnd.unknown.config.v1+json", "{v}");
    reg.shutdown().await;
}
