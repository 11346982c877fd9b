//! The client against the embedded registry and against docker-registry 2.8.2: uploads in
//! all three forms, manifests by exact bytes, tag paging, and the referrers-tag fallback
//! read-modify-write of "Pushing Manifests with Subject".

mod support;

use referee::client::{Client, ClientConfig};
use referee::oci::{Blob, Digest, ManifestBuilder, media, referrers_tag};
use referee::registry::{EmbeddedRegistry, Mode, RegistryConfig};

fn client(url: &str) -> Client {
    Client::new(ClientConfig::new(url)).unwrap()
}

async fn exercise(c: &Client, repo: &str) {
    assert_eq!(c.ping().await.unwrap().status, 200);
    let blob = Blob::new(media::OCTET_STREAM, (0..2000u32).flat_map(|i| i.to_le_bytes()).collect());
    let r = c.push_blob_chunked(repo, &blob, 3000).await.unwrap();
    assert_eq!(r.status, 201, "chunked upload: {}", r.describe());
    let got = c.get_blob(repo, &blob.digest).await.unwrap();
    assert_eq!(got.body, blob.bytes);
    let single = Blob::new(media::OCTET_STREAM, b"single post".to_vec());
    let r = c.push_blob_single_post(repo, &single).await.unwrap();
    assert!(r.status == 201 || r.status == 202, "single POST: {}", r.describe());
    if r.status == 202 {
        assert_eq!(c.push_blob(repo, &single).await.unwrap().status, 201);
    }
    assert_eq!(c.head_blob(repo, &single.digest).await.unwrap().status, 200);

    // The fallback flow: no index yet → start empty; add two; a duplicate is not added twice.
    let subject = ManifestBuilder::image("client-subject").build();
    assert_eq!(c.push_built(repo, &subject, "v1").await.unwrap().status, 201);
    assert!(c.fallback_read(repo, &subject.digest).await.unwrap().is_none());
    let sig = ManifestBuilder::artifact("client-sig", "application/vnd.example.sig+json")
        .subject(subject.descriptor())
        .annotation("org.example.k", "v")
        .build();
    let sbom = ManifestBuilder::config_typed("client-sbom", "application/vnd.example.cfg+json").subject(subject.descriptor()).build();
    for m in [&sig, &sbom, &sig] {
        assert_eq!(c.push_built(repo, m, m.digest.as_str()).await.unwrap().status, 201);
        let r = c.fallback_add(repo, m).await.unwrap();
        assert!(r.status == 201 || r.status == 200, "fallback add: {}", r.describe());
    }
    let idx = c.fallback_read(repo, &subject.digest).await.unwrap().expect("tag exists");
    let v = idx.json().unwrap();
    let entries = v["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "no duplicate entries: {v}");
    assert_eq!(entries[0]["artifactType"], "application/vnd.example.sig+json");
    assert_eq!(entries[0]["annotations"]["org.example.k"], "v");
    assert_eq!(entries[1]["artifactType"], "application/vnd.example.cfg+json", "config.mediaType pulled up");
    let tags = c.tags_list(repo, None, None).await.unwrap().json().unwrap();
    assert!(tags["tags"].as_array().unwrap().iter().any(|t| t == &serde_json::json!(referrers_tag(subject.digest.as_str()))));
    // Exact bytes come back.
    let got = c.get_manifest(repo, sig.digest.as_str()).await.unwrap();
    assert_eq!(got.body, sig.bytes);
    assert_eq!(Digest::sha256(&got.body), sig.digest);
    for m in [&sig, &sbom, &subject] {
        assert_eq!(c.delete_manifest(repo, m.digest.as_str()).await.unwrap().status, 202);
    }
    assert!(!c.take_transcript().is_empty());
}

#[tokio::test]
async fn client_against_embedded_legacy_registry() {
    let reg = EmbeddedRegistry::start(RegistryConfig { mode: Mode::Legacy, ..Default::default() }, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    exercise(&client(&reg.url()), "client/legacy").await;
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_against_docker_registry() {
    let Some(reg) = support::external::docker_registry() else { return };
    exercise(&client(&reg.url), "client/distribution").await;
}

#[tokio::test]
async fn requests_time_out() {
    // A listener that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let c = Client::new(ClientConfig { timeout: std::time::Duration::from_millis(300), ..ClientConfig::new(&url) }).unwrap();
    let err = c.ping().await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    drop(listener);
}

#[tokio::test]
async fn redirects_are_followed_without_credentials_crossing_hosts() {
    use referee::registry::AuthMode;
    let reg = EmbeddedRegistry::start(
        RegistryConfig { auth: AuthMode::Token { users: vec![("u".into(), "p".into())] }, ..Default::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let c = Client::new(ClientConfig { username: Some("u".into()), password: Some("p".into()), ..ClientConfig::new(&reg.url()) }).unwrap();
    let blob = Blob::new(media::OCTET_STREAM, b"redirected payload".to_vec());
    assert_eq!(c.push_blob("redir/test", &blob).await.unwrap().status, 201);
    let got = c.get_blob("redir/test", &blob.digest).await.unwrap();
    assert_eq!(got.status, 200, "{}", got.describe());
    assert_eq!(got.body, blob.bytes);
    assert_eq!(got.url.host_str(), Some("localhost"), "the blob came from the redirect target");
    // The target refuses credentials: had the client forwarded its token, the GET above failed.
    let leaked = reqwest::Client::new()
        .get(got.url.clone())
        .header("authorization", "Bearer forwarded")
        .send()
        .await
        .unwrap();
    assert_eq!(leaked.status().as_u16(), 400);
    reg.shutdown().await;
}
