//! `referee layout`: a layout exported from the embedded registry passes `referee layout check`
//! with its referrers found by all three conventions; broken layouts give located findings
//! (golden files in tests/fixtures/layout/, the layout's path written as `<layout>`).

use referee::client::{Client, ClientConfig};
use referee::layout::check::{self, Severity};
use referee::layout::write::LayoutWriter;
use referee::oci::{Descriptor, IndexBuilder, ManifestBuilder};
use referee::registry::{EmbeddedRegistry, Mode, RegistryConfig};
use std::path::Path;
use std::process::Command;

fn referee(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_referee")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Pushes an image (tag v1), a signature and an SBOM of it, and a signature of the signature.
async fn seed(client: &Client, repo: &str) -> Vec<referee::oci::Built> {
    let image = ManifestBuilder::image("layout-image").build();
    let sig = ManifestBuilder::artifact("layout-sig", "application/vnd.example.sig").subject(image.descriptor()).annotation("org.example.n", "1").build();
    let sbom = ManifestBuilder::artifact("layout-sbom", "application/spdx+json").subject(image.descriptor()).build();
    let sigsig = ManifestBuilder::artifact("layout-sigsig", "application/vnd.example.sig").subject(sig.descriptor()).build();
    for (b, r) in [(&image, "v1"), (&sig, sig.digest.as_str()), (&sbom, sbom.digest.as_str()), (&sigsig, sigsig.digest.as_str())] {
        assert_eq!(client.push_built(repo, b, r).await.unwrap().status, 201);
    }
    vec![image, sig, sbom, sigsig]
}

async fn export_and_check(mode: Mode) {
    let reg = EmbeddedRegistry::start(RegistryConfig { mode, ..RegistryConfig::default() }, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = Client::new(ClientConfig::new(&reg.url())).unwrap();
    let built = seed(&client, "layout/src").await;
    if mode == Mode::Legacy {
        // A registry without the API holds referrers in the referrers tag, as a client writes it.
        for r in &built[1..] {
            referee::client::referrers_tag::attach(&client, "layout/src", r).await.unwrap().unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("layout");
    let (code, stdout, stderr) = referee(&["layout", "export", "--target", &reg.url(), "--repo", "layout/src", "--ref", "v1", "--to", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("3 referrer(s)"), "{stdout}");
    let found = check::check(&out);
    assert!(found.findings.iter().all(|f| f.severity == Severity::Info), "{:#?}", found.findings);
    for via in ["index.json", "referrers tag", "annotation"] {
        let n = found.referrers.iter().filter(|r| r.via == via).count();
        assert_eq!(n, 3, "3 referrers found via {via}: {:#?}", found.referrers);
    }
    let rep = dir.path().join("rep");
    let (code, stdout, stderr) = referee(&["layout", "check", out.to_str().unwrap(), "--report-dir", rep.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for id in ["M1", "M2", "M3", "M4", "M5"] {
        assert!(stdout.contains(&format!("PASS  {id}")), "{id}\n{stdout}");
    }
    // Nothing is missing, so there is nothing to tolerate.
    assert!(stdout.contains("SKIP  M7") && stdout.contains("nothing to tolerate"), "{stdout}");
    let junit = std::fs::read_to_string(rep.join("layout-junit.xml")).unwrap();
    assert!(junit.contains(r#"name="layout""#), "{junit}");
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_exported_through_the_api_passes_the_check() {
    export_and_check(Mode::Full).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_exported_through_the_referrers_tag_passes_the_check() {
    export_and_check(Mode::Legacy).await;
}

/// A small valid layout: an image tagged v1 with one referrer, written by the library.
fn valid(dir: &Path) -> (referee::oci::Built, referee::oci::Built) {
    let image = ManifestBuilder::image("golden-image").build();
    let sig = ManifestBuilder::artifact("golden-sig", "application/vnd.example.sig").subject(image.descriptor()).build();
    let mut w = LayoutWriter::new(dir).unwrap();
    for b in [&image, &sig] {
        w.blob(&b.digest, &b.bytes).unwrap();
        for blob in &b.blobs {
            w.blob(&blob.digest, &blob.bytes).unwrap();
        }
    }
    w.tag(&image.descriptor(), "v1");
    w.referrer(&sig.referrer_descriptor(), &image.digest);
    w.finish().unwrap();
    (image, sig)
}

fn golden(case: &str, dir: &Path, want_code: i32) {
    let rep = dir.with_extension("rep");
    let (code, _stdout, stderr) = referee(&["layout", "check", dir.to_str().unwrap(), "--report-dir", rep.to_str().unwrap(), "-q"]);
    let findings: String = stderr.lines().filter(|l| l.contains(": error [") || l.contains(": warning [")).map(|l| l.replace(dir.to_str().unwrap(), "<layout>") + "\n").collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/layout/{case}.stderr"));
    if std::env::var_os("REFEREE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &findings).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (REFEREE_BLESS=1 writes it)\n{findings}", path.display()));
    assert_eq!(findings, want, "{case}: findings differ from {}", path.display());
    assert_eq!(code, Some(want_code), "{case}\n{stderr}");
}

#[test]
fn broken_layouts_give_located_findings() {
    let root = tempfile::tempdir().unwrap();
    // A valid one first: nothing to say.
    let ok = root.path().join("ok");
    valid(&ok);
    golden("valid", &ok, 0);
    // A blob whose content does not match its digest.
    let bad = root.path().join("bad-digest");
    let (image, _) = valid(&bad);
    let layer = image.blobs.last().unwrap();
    std::fs::write(bad.join("blobs/sha256").join(layer.digest.encoded()), b"tampered").unwrap();
    golden("bad-digest", &bad, referee::exit::CHECK_FAILED);
    // No oci-layout file.
    let missing = root.path().join("no-oci-layout");
    valid(&missing);
    std::fs::remove_file(missing.join("oci-layout")).unwrap();
    golden("no-oci-layout", &missing, referee::exit::CHECK_FAILED);
    // ref.name on a descriptor inside a nested index.
    let nested = root.path().join("nested-ref-name");
    let image = ManifestBuilder::image("golden-nested").build();
    let mut child = image.descriptor();
    child.annotations.insert("org.opencontainers.image.ref.name".into(), "inner".into());
    let index = IndexBuilder::new().manifest(child).build();
    let mut w = LayoutWriter::new(&nested).unwrap();
    for (d, bytes) in [(&image.digest, &image.bytes), (&index.digest, &index.bytes)] {
        w.blob(d, bytes).unwrap();
    }
    for blob in &image.blobs {
        w.blob(&blob.digest, &blob.bytes).unwrap();
    }
    w.tag(&index.descriptor(), "multi");
    w.finish().unwrap();
    golden("nested-ref-name", &nested, 0);
    // A referrer whose subject is not in the layout.
    let orphan = root.path().join("orphan-referrer");
    let absent = ManifestBuilder::image("golden-absent").build();
    let sig = ManifestBuilder::artifact("golden-orphan", "application/vnd.example.sig").subject(absent.descriptor()).build();
    let mut w = LayoutWriter::new(&orphan).unwrap();
    w.blob(&sig.digest, &sig.bytes).unwrap();
    for blob in &sig.blobs {
        w.blob(&blob.digest, &blob.bytes).unwrap();
    }
    w.referrer(&sig.referrer_descriptor(), &absent.digest);
    w.finish().unwrap();
    golden("orphan-referrer", &orphan, 0);
    // M5: the proposed annotation names another subject than the referrer's own.
    let lying = root.path().join("annotation-disagrees");
    let (image, sig) = valid(&lying);
    let text = std::fs::read_to_string(lying.join("index.json")).unwrap();
    let other = ManifestBuilder::image("golden-other").build();
    let text = text.replacen(&format!("\"org.opencontainers.image.referrer.subject\": \"{}\"", image.digest), &format!("\"org.opencontainers.image.referrer.subject\": \"{}\"", other.digest), 1);
    std::fs::write(lying.join("index.json"), text).unwrap();
    golden("annotation-disagrees", &lying, 0);
    // M3: a referrers tag of the image that lists a manifest whose subject is something else.
    let wrong_tag = root.path().join("referrers-tag-disagrees");
    let (image, _) = valid(&wrong_tag);
    let stray = ManifestBuilder::artifact("golden-stray", "application/vnd.example.sig").subject(other.descriptor()).build();
    let w = LayoutWriter::new(&wrong_tag.join("extra")).unwrap();
    w.blob(&stray.digest, &stray.bytes).unwrap();
    std::fs::rename(wrong_tag.join("extra/blobs/sha256").join(stray.digest.encoded()), wrong_tag.join("blobs/sha256").join(stray.digest.encoded())).unwrap();
    std::fs::remove_dir_all(wrong_tag.join("extra")).unwrap();
    let tag_index = IndexBuilder::new().manifest(sig.referrer_descriptor()).manifest(stray.referrer_descriptor()).build();
    std::fs::write(wrong_tag.join("blobs/sha256").join(tag_index.digest.encoded()), &tag_index.bytes).unwrap();
    let text = std::fs::read_to_string(wrong_tag.join("index.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let old = v["manifests"].as_array().unwrap().iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str().is_some_and(|n| n.starts_with("sha256-"))).unwrap()["digest"].as_str().unwrap().to_string();
    let old_size = v["manifests"].as_array().unwrap().iter().find(|d| d["digest"] == old.as_str()).unwrap()["size"].to_string();
    let text = text.replace(&old, tag_index.digest.as_str()).replace(&format!("\"size\": {old_size},\n      \"annotations\": {{\n        \"org.opencontainers.image.ref.name\": \"sha256-"), &format!("\"size\": {},\n      \"annotations\": {{\n        \"org.opencontainers.image.ref.name\": \"sha256-", tag_index.bytes.len()));
    std::fs::write(wrong_tag.join("index.json"), text).unwrap();
    let _ = image;
    golden("referrers-tag-disagrees", &wrong_tag, 0);
    // Not a directory: an input error, nothing checked.
    let (code, _, stderr) = referee(&["layout", "check", root.path().join("nope").to_str().unwrap()]);
    assert_eq!(code, Some(referee::exit::INVALID_INPUT), "{stderr}");
    let _: Option<Descriptor> = None;
}

mod support;

/// skopeo, a real client, copies the image and its referrers (the referrers-tag index with
/// `--all`) out of a layout exported from the embedded registry into docker-registry 2.8.2,
/// digests preserved: the referrers are then found there the way a client without the API finds
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_exported_layout_into_docker_registry() {
    let Some(skopeo) = support::external::skopeo() else { return };
    let Some(dreg) = support::external::docker_registry() else { return };
    let reg = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = Client::new(ClientConfig::new(&reg.url())).unwrap();
    let built = seed(&client, "layout/src").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("layout");
    referee::layout::export::export(&client, "layout/src", "v1", &out, referee::layout::export::Source::Auto).await.unwrap();
    let host = dreg.url.trim_start_matches("http://").to_string();
    let tag = referee::oci::referrers_tag(built[0].digest.as_str());
    let copy = |src: String, dst: String, all: bool| {
        let mut c = Command::new(&skopeo);
        c.args(["--insecure-policy", "copy", "--dest-tls-verify=false"]);
        c.arg(if all { "--all" } else { "--preserve-digests" });
        let o = c.arg(&src).arg(&dst).output().unwrap();
        assert!(o.status.success(), "skopeo copy {src} {dst}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    };
    // The image with --preserve-digests. The referrers through their referrers-tag index, with
    // --all but without --preserve-digests: skopeo 1.9.3 rewrites an OCI index without the
    // descriptors' `artifactType` (its index type predates the field), so it cannot keep that
    // index's digest — the referrer manifests it copies keep theirs (checked below).
    copy(format!("oci:{}:v1", out.display()), format!("docker://{host}/layout/dst:v1"), false);
    copy(format!("oci:{}:{tag}", out.display()), format!("docker://{host}/layout/dst:{tag}"), true);
    let dst = Client::new(ClientConfig::new(&dreg.url)).unwrap();
    let image = dst.get_manifest("layout/dst", "v1").await.unwrap();
    assert_eq!((image.status, referee::oci::Digest::sha256(&image.body)), (200, built[0].digest.clone()));
    let index = dst.get_manifest("layout/dst", &tag).await.unwrap();
    assert_eq!(index.status, 200, "{}", index.describe());
    let listed: Vec<String> = index.json().unwrap()["manifests"].as_array().unwrap().iter().map(|d| d["digest"].as_str().unwrap().to_string()).collect();
    for r in &built[1..3] {
        assert!(listed.contains(&r.digest.to_string()), "{} not in {listed:?}", r.digest);
        let m = dst.get_manifest("layout/dst", r.digest.as_str()).await.unwrap();
        assert_eq!((m.status, m.body.clone()), (200, r.bytes.clone()), "{}", r.digest);
    }
    // And into a fresh embedded registry: there the referrers API lists what skopeo copied, since
    // the manifests carry their subject.
    let fresh = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let fhost = fresh.url().trim_start_matches("http://").to_string();
    copy(format!("oci:{}:v1", out.display()), format!("docker://{fhost}/layout/back:v1"), false);
    copy(format!("oci:{}:{tag}", out.display()), format!("docker://{fhost}/layout/back:{tag}"), true);
    let back = Client::new(ClientConfig::new(&fresh.url())).unwrap();
    let url = back.referrers_url("layout/back", built[0].digest.as_str(), None, None).unwrap();
    let page = back.referrers_page("layout/back", url, referee::client::Scope::Pull("layout/back".into())).await.unwrap();
    let listed: Vec<String> = page.response.json().unwrap()["manifests"].as_array().unwrap().iter().map(|d| d["digest"].as_str().unwrap().to_string()).collect();
    for r in &built[1..3] {
        assert!(listed.contains(&r.digest.to_string()), "{} not listed by the embedded registry: {listed:?}", r.digest);
    }
    fresh.shutdown().await;
    reg.shutdown().await;
}

/// `referee copy --referrers` from the embedded registry (API) to docker-registry 2.8.2 (no API:
/// the referrers go into its referrers tag) and back to a fresh embedded registry: the same
/// referrers, the same digests; running the copy again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_with_referrers_round_trips_through_a_registry_without_the_api() {
    let Some(dreg) = support::external::docker_registry() else { return };
    let src = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let back = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = Client::new(ClientConfig::new(&src.url())).unwrap();
    let built = seed(&client, "copy/src").await;
    let list = |url: String, repo: &'static str, d: referee::oci::Digest| async move {
        let c = Client::new(ClientConfig::new(&url)).unwrap();
        let r = referee::client::referrers_tag::list_api_or_tag(&c, repo, &d).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.describe());
        let mut v: Vec<(String, Option<String>)> = r.json().unwrap()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["digest"].as_str().unwrap().to_string(), x["artifactType"].as_str().map(str::to_string)))
            .collect();
        v.sort();
        v
    };
    let before = list(src.url(), "copy/src", built[0].digest.clone()).await;
    assert_eq!(before.len(), 2);
    let there = format!("{}/copy/mid:v1", dreg.url);
    for run in 0..2 {
        let (code, out, err) = referee(&["copy", &format!("{}/copy/src:v1", src.url()), &there, "--referrers"]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(run == 1 || (out.contains("added") && out.contains("referrers tag")), "docker-registry has no API: {out}");
    }
    let (code, out, err) = referee(&["copy", &there, &format!("{}/copy/back:v1", back.url()), "--referrers"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("(from the referrers tag)"), "{out}");
    assert_eq!(list(dreg.url.clone(), "copy/mid", built[0].digest.clone()).await, before);
    assert_eq!(list(back.url(), "copy/back", built[0].digest.clone()).await, before);
    // The referrer of a referrer came along, and every manifest kept its bytes.
    assert_eq!(list(back.url(), "copy/back", built[1].digest.clone()).await.len(), 1);
    let b = Client::new(ClientConfig::new(&back.url())).unwrap();
    for m in &built {
        assert_eq!(b.get_manifest("copy/back", m.digest.as_str()).await.unwrap().body, m.bytes);
    }
    // A filter keeps the subject's referrers of that type only.
    let (code, out, err) = referee(&["copy", &format!("{}/copy/src:v1", src.url()), &format!("{}/copy/sbom:v1", back.url()), "--referrers", "--filter", "application/spdx+json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(list(back.url(), "copy/sbom", built[0].digest.clone()).await, vec![(built[2].digest.to_string(), Some("application/spdx+json".into()))]);
    // A digest destination must be the source's digest, and gets no tag.
    let wrong = format!("{}/copy/dg@{}", back.url(), built[1].digest);
    let (code, _, err) = referee(&["copy", &format!("{}/copy/src:v1", src.url()), &wrong]);
    assert_eq!(code, Some(referee::exit::HARNESS_ERROR), "{err}");
    assert!(err.contains("is not the source's") && err.contains("nothing was sent"), "{err}");
    let right = format!("{}/copy/dg@{}", back.url(), built[0].digest);
    let (code, out, err) = referee(&["copy", &format!("{}/copy/src:v1", src.url()), &right]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains(" as copy/dg:"), "no tag was asked for: {out}");
    // Bad input: not a location.
    let (code, _, err) = referee(&["copy", "nope", &there]);
    assert_eq!(code, Some(referee::exit::USAGE), "{err}");
    src.shutdown().await;
    back.shutdown().await;
}

/// Within one registry a copy reads no blob: the layout holds only manifests, and every blob is
/// mounted from the source repository; the copy is whole (bytes and referrers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_within_one_registry_mounts_every_blob() {
    let reg = EmbeddedRegistry::start(RegistryConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = Client::new(ClientConfig::new(&reg.url())).unwrap();
    let built = seed(&client, "same/src").await;
    let (code, out, err) = referee(&["copy", &format!("{}/same/src:v1", reg.url()), &format!("{}/same/dst:v1", reg.url()), "--referrers"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let blobs: std::collections::BTreeSet<String> = built.iter().flat_map(|b| &b.blobs).map(|b| b.digest.to_string()).collect();
    let summary = out.lines().last().unwrap_or_default();
    assert!(summary.contains(" 0 blob(s) read from"), "{out}");
    assert!(summary.contains(&format!("{n} blob(s) ({n} mounted from same/src)", n = blobs.len())), "{out}");
    for m in &built {
        assert_eq!(client.get_manifest("same/dst", m.digest.as_str()).await.unwrap().body, m.bytes);
    }
    for b in &blobs {
        let d = referee::oci::Digest::parse(b).unwrap();
        assert_eq!(client.head_blob("same/dst", &d).await.unwrap().status, 200, "{b}");
    }
    let r = referee::client::referrers_tag::list_api_or_tag(&client, "same/dst", &built[0].digest).await.unwrap();
    assert_eq!(r.json().unwrap()["manifests"].as_array().map(Vec::len), Some(2), "{}", r.describe());
    reg.shutdown().await;
}
