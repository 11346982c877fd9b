//! What the end-to-end tests share: a [`Fixture`] (registry and client), pushes and readers.

use crate::oci::Digest;
use crate::registry::{EmbeddedRegistry, Faults, RegistryConfig};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

pub(super) const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub(super) const INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub(super) struct Fixture {
    pub(super) reg: EmbeddedRegistry,
    pub(super) c: Client,
    pub(super) url: String,
}

pub(super) async fn start(config: RegistryConfig) -> Fixture {
    let reg = EmbeddedRegistry::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = reg.url();
    Fixture {
        reg,
        c: Client::new(),
        url,
    }
}

pub(super) fn faulty(names: &[&str]) -> RegistryConfig {
    RegistryConfig {
        faults: Faults::from_names(names).unwrap(),
        ..RegistryConfig::default()
    }
}

pub(super) fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

impl Fixture {
    pub(super) async fn push_blob(&self, name: &str, data: &[u8]) -> Digest {
        let d = Digest::sha256(data);
        let r = self
            .c
            .post(format!("{}/v2/{name}/blobs/uploads/", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let loc = header(&r, "location").unwrap().to_string();
        let r = self
            .c
            .put(format!("{}{loc}", self.url))
            .query(&[("digest", d.to_string())])
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "docker-content-digest"), Some(d.as_str()));
        d
    }

    pub(super) async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        content_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.c
            .put(format!("{}/v2/{name}/manifests/{reference}", self.url))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes an image manifest (config blob included) and returns (digest, size).
    pub(super) async fn push_image(&self, name: &str, config_type: &str, extra: Value) -> (Digest, usize) {
        let config = self.push_blob(name, b"{}").await;
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": { "mediaType": config_type, "digest": config.to_string(), "size": 2 },
            "layers": [],
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        let bytes = serde_json::to_vec(&m).unwrap();
        let d = Digest::sha256(&bytes);
        let r = self.put_manifest(name, d.as_str(), MANIFEST, &bytes).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        (d, bytes.len())
    }

    pub(super) async fn referrers(&self, name: &str, subject: &Digest, query: &str) -> reqwest::Response {
        self.c
            .get(format!("{}/v2/{name}/referrers/{subject}{query}", self.url))
            .send()
            .await
            .unwrap()
    }
}

pub(super) fn subject(d: &Digest, size: usize) -> Value {
    json!({ "mediaType": MANIFEST, "digest": d.to_string(), "size": size })
}

pub(super) fn digests(index: &Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Follows `Link: <…>; rel="next"` from `first` and returns every page's descriptors.
pub(super) async fn all_pages(f: &Fixture, first: &str) -> (Vec<String>, usize) {
    let mut url = format!("{}{first}", f.url);
    let (mut all, mut pages) = (Vec::new(), 0);
    loop {
        let r = f.c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), Some(INDEX));
        let link = header(&r, "link").map(str::to_string);
        all.extend(digests(&r.json::<Value>().await.unwrap()));
        pages += 1;
        match link {
            Some(l) => {
                let target = l
                    .strip_prefix('<')
                    .unwrap()
                    .split_once(">; rel=\"next\"")
                    .unwrap()
                    .0
                    .to_string();
                url = format!("{}{target}", f.url);
            }
            None => return (all, pages),
        }
        assert!(pages < 50, "runaway pagination");
    }
}

pub(super) async fn push_n_referrers(f: &Fixture, name: &str, subj: &Digest, size: usize, n: usize) -> Vec<String> {
    // A process-wide counter keeps every referrer's bytes (and so its digest) unique.
    static UNIQUE: AtomicUsize = AtomicUsize::new(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let i = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let (d, _) = f
            .push_image(
                name,
                "application/vnd.x.sig",
                json!({ "subject": subject(subj, size), "annotations": { "i": i.to_string() } }),
            )
            .await;
        out.push(d.to_string());
    }
    out
}
