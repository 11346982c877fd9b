//! The HTTP surface of the embedded registry: router assembly ([`router`]) and the lifecycle
//! of a served instance ([`EmbeddedRegistry`]: bind, serve in a task, graceful shutdown).

use super::auth;
use super::config::RegistryConfig;
use super::endpoints::blobs;
use super::routing;
use super::shared::Shared;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Uploads are buffered in memory; this bounds a single request body.
const BODY_LIMIT: usize = 128 * 1024 * 1024;

/// How long [`EmbeddedRegistry::shutdown`] waits for open connections before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The registry as an axum router with fresh, empty state, for in-process use. (Only
/// [`EmbeddedRegistry`] loads and saves `storage_dir`; here it is used by `/admin/restart`.)
pub fn router(config: RegistryConfig) -> Router {
    app(Arc::new(Shared::new(config)))
}

fn app(shared: Arc<Shared>) -> Router {
    let mut routes = Router::new()
        .route("/v2/", get(routing::base))
        .route("/v2", get(routing::base))
        .route("/v2/{*rest}", any(routing::dispatch))
        .route("/token", get(auth::token))
        .route("/direct/blobs/{digest}", get(blobs::direct_blob));
    if shared.config.admin {
        routes = routes.merge(super::admin::routes());
    }
    routes
        .fallback(routing::not_found)
        .layer(axum::middleware::from_fn_with_state(shared.config.chaos, super::chaos::middleware))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// A registry served on a local socket until [`shutdown`](EmbeddedRegistry::shutdown) or drop.
#[derive(Debug)]
pub struct EmbeddedRegistry {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl EmbeddedRegistry {
    /// Binds `addr` (port 0 picks a free port) and serves the registry in a background task.
    /// With a `storage_dir`, the store is first loaded from it (an unreadable or corrupt state
    /// is an error; a directory without state is an empty registry).
    pub async fn start(config: RegistryConfig, addr: SocketAddr) -> std::io::Result<EmbeddedRegistry> {
        let shared = Arc::new(Shared::new(config));
        if let Some(dir) = shared.config.storage_dir.clone() {
            let state = tokio::task::spawn_blocking(move || super::persist::load(&dir))
                .await
                .map_err(std::io::Error::other)??;
            *shared.store.lock() = state;
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = app(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender also means stop.
                    let _ = stopped.await;
                })
                .await
        });
        tracing::debug!(%addr, "embedded registry listening");
        Ok(EmbeddedRegistry {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:5000`; an unspecified bind address is reported as
    /// loopback so the URL is always dialable.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}")
    }

    /// Stops accepting connections, lets open ones finish and waits for the server task
    /// (aborting it after a grace period so a stuck client cannot hang the caller); then, with
    /// a `storage_dir`, saves the store there (a failure is logged).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "embedded registry stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "embedded registry task failed"),
                Err(_) => {
                    tracing::warn!("embedded registry did not stop in time; aborting");
                    task.abort();
                }
            }
        }
        if let Some(dir) = self.shared.config.storage_dir.clone() {
            let shared = self.shared.clone();
            let saved = tokio::task::spawn_blocking(move || super::persist::save(&dir, &shared.store.lock())).await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "embedded registry state could not be saved"),
                Err(e) => tracing::error!(error = %e, "embedded registry state save failed"),
            }
        }
    }
}

impl Drop for EmbeddedRegistry {
    /// Signals shutdown without waiting; the task winds down on its own.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    //! End-to-end tests: a real server on a loopback port driven with reqwest.

    use super::*;
    use crate::oci::Digest;
    use crate::registry::{AuthMode, Faults, Mode};
    use reqwest::{Client, StatusCode};
    use serde_json::{Value, json};

    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";

    struct Fixture {
        reg: EmbeddedRegistry,
        c: Client,
        url: String,
    }

    async fn start(config: RegistryConfig) -> Fixture {
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

    fn faulty(names: &[&str]) -> RegistryConfig {
        RegistryConfig {
            faults: Faults::from_names(names).unwrap(),
            ..RegistryConfig::default()
        }
    }

    fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
        r.headers().get(name).map(|v| v.to_str().unwrap())
    }

    impl Fixture {
        async fn push_blob(&self, name: &str, data: &[u8]) -> Digest {
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

        async fn put_manifest(
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
        async fn push_image(&self, name: &str, config_type: &str, extra: Value) -> (Digest, usize) {
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

        async fn referrers(&self, name: &str, subject: &Digest, query: &str) -> reqwest::Response {
            self.c
                .get(format!("{}/v2/{name}/referrers/{subject}{query}", self.url))
                .send()
                .await
                .unwrap()
        }
    }

    fn subject(d: &Digest, size: usize) -> Value {
        json!({ "mediaType": MANIFEST, "digest": d.to_string(), "size": size })
    }

    fn digests(index: &Value) -> Vec<String> {
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .collect()
    }

    /// Follows `Link: <…>; rel="next"` from `first` and returns every page's descriptors.
    async fn all_pages(f: &Fixture, first: &str) -> (Vec<String>, usize) {
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

    #[tokio::test]
    async fn base_and_blobs() {
        let f = start(RegistryConfig::default()).await;
        let r = f.c.get(format!("{}/v2/", f.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "docker-distribution-api-version"), Some("registry/2.0"));

        let d = f.push_blob("a/b", b"hello").await;
        let r = f.c.get(format!("{}/v2/a/b/blobs/{d}", f.url)).send().await.unwrap();
        assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
        let r = f.c.head(format!("{}/v2/a/b/blobs/{d}", f.url)).send().await.unwrap();
        assert_eq!(header(&r, "content-length"), Some("5"));

        // Single POST, bad digest, unknown blob, invalid name.
        let d2 = Digest::sha256(b"one-shot");
        let r =
            f.c.post(format!("{}/v2/a/b/blobs/uploads/?digest={d2}", f.url))
                .body("one-shot")
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "location"), Some(format!("/v2/a/b/blobs/{d2}").as_str()));
        let r =
            f.c.post(format!("{}/v2/a/b/blobs/uploads/?digest={d2}", f.url))
                .body("other")
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "DIGEST_INVALID");
        let r =
            f.c.get(format!("{}/v2/a/b/blobs/{}", f.url, Digest::sha256(b"nope")))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let r = f.c.get(format!("{}/v2/A/blobs/{d}", f.url)).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "NAME_INVALID");

        // Chunked upload with an out-of-order chunk, then mount into another repository.
        let r =
            f.c.post(format!("{}/v2/a/b/blobs/uploads/", f.url))
                .send()
                .await
                .unwrap();
        let loc = format!("{}{}", f.url, header(&r, "location").unwrap());
        let r =
            f.c.patch(&loc)
                .header("content-range", "0-2")
                .body("abc")
                .send()
                .await
                .unwrap();
        assert_eq!((r.status(), header(&r, "range")), (StatusCode::ACCEPTED, Some("0-2")));
        let r =
            f.c.patch(&loc)
                .header("content-range", "5-6")
                .body("xy")
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        let full = Digest::sha256(b"abcdef");
        let r =
            f.c.put(format!("{loc}?digest={full}"))
                .header("content-range", "3-5")
                .body("def")
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = f.c.put(format!("{loc}?digest={full}")).send().await.unwrap();
        assert_eq!(
            r.json::<Value>().await.unwrap()["errors"][0]["code"],
            "BLOB_UPLOAD_UNKNOWN"
        );
        let r =
            f.c.post(format!("{}/v2/c/blobs/uploads/?mount={full}&from=a/b", f.url))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn manifests_exact_bytes_subject_and_tags() {
        let f = start(RegistryConfig::default()).await;
        let config = f.push_blob("r", b"{}").await;
        // Odd whitespace: the registry must hand back exactly these bytes.
        let body = format!(
            "{{ \"schemaVersion\" : 2,\n \"mediaType\":\"{MANIFEST}\", \"config\":{{\"mediaType\":\"application/vnd.x.config\",\"digest\":\"{config}\",\"size\":2}},\"layers\":[] }}"
        );
        let r = f.put_manifest("r", "v1", MANIFEST, body.as_bytes()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let d = Digest::sha256(body.as_bytes());
        assert_eq!(header(&r, "docker-content-digest"), Some(d.as_str()));
        assert_eq!(header(&r, "oci-subject"), None);
        let r = f.c.get(format!("{}/v2/r/manifests/v1", f.url)).send().await.unwrap();
        assert_eq!(header(&r, "content-type"), Some(MANIFEST));
        assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_bytes());

        let (sig, _) = f
            .push_image(
                "r",
                "application/vnd.x.sig",
                json!({ "subject": subject(&d, body.len()) }),
            )
            .await;
        let r =
            f.c.head(format!("{}/v2/r/manifests/{sig}", f.url))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // OCI-Subject is checked on a fresh push of a sha512-addressed referrer too.
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": INDEX, "manifests": [], "subject": subject(&d, body.len()),
        }))
        .unwrap();
        let d512 = Digest::sha512(&referrer);
        let r = f.put_manifest("r", d512.as_str(), INDEX, &referrer).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "oci-subject"), Some(d.as_str()));

        // Missing blobs, bad JSON, unknown repo/manifest, tag list and deletes.
        let bad = json!({ "schemaVersion": 2, "config": { "mediaType": "x", "digest": Digest::sha256(b"gone").to_string(), "size": 4 }, "layers": [] });
        let r = f
            .put_manifest("r", "bad", MANIFEST, &serde_json::to_vec(&bad).unwrap())
            .await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["errors"][0]["code"],
            "MANIFEST_BLOB_UNKNOWN"
        );
        let r = f.put_manifest("r", "bad", MANIFEST, b"{\"schemaVersion\":1}").await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["errors"][0]["code"],
            "MANIFEST_INVALID"
        );
        let r =
            f.c.get(format!("{}/v2/nobody/manifests/v1", f.url))
                .send()
                .await
                .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "NAME_UNKNOWN");
        f.put_manifest("r", "v2", MANIFEST, body.as_bytes()).await;
        f.put_manifest("r", "a0", MANIFEST, body.as_bytes()).await;
        let r = f.c.get(format!("{}/v2/r/tags/list?n=2", f.url)).send().await.unwrap();
        assert_eq!(header(&r, "link"), Some("</v2/r/tags/list?n=2&last=v1>; rel=\"next\""));
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({ "name": "r", "tags": ["a0", "v1"] })
        );
        let r = f.c.get(format!("{}/v2/r/tags/list?n=0", f.url)).send().await.unwrap();
        assert_eq!(header(&r, "link"), None);
        let r = f.c.delete(format!("{}/v2/r/manifests/v2", f.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let r =
            f.c.delete(format!("{}/v2/r/manifests/{d}", f.url))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let r = f.c.get(format!("{}/v2/r/manifests/v1", f.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn referrers_listing_and_filter() {
        let f = start(RegistryConfig::default()).await;
        let (subj, size) = f
            .push_image("r", "application/vnd.oci.image.config.v1+json", json!({}))
            .await;
        let (a, _) = f
            .push_image(
                "r",
                "application/vnd.oci.empty.v1+json",
                json!({
                    "artifactType": "application/vnd.x.sbom+json",
                    "subject": subject(&subj, size),
                    "annotations": { "z": "1", "a": "2" },
                }),
            )
            .await;
        let (b, _) = f
            .push_image("r", "application/vnd.x.sig", json!({ "subject": subject(&subj, size) }))
            .await;
        let idx = serde_json::to_vec(
            &json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [], "subject": subject(&subj, size) }),
        )
        .unwrap();
        let c = Digest::sha256(&idx);
        f.put_manifest("r", c.as_str(), INDEX, &idx).await;
        // Same subject digest in another repository must not leak in.
        f.push_image(
            "other",
            "application/vnd.x.sig",
            json!({ "subject": subject(&subj, size) }),
        )
        .await;

        let r = f.referrers("r", &subj, "").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), Some(INDEX));
        assert_eq!(header(&r, "oci-filters-applied"), None);
        let text = r.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(digests(&v), [a.to_string(), b.to_string(), c.to_string()]);
        let m = &v["manifests"];
        assert_eq!(m[0]["artifactType"], "application/vnd.x.sbom+json");
        assert_eq!(m[1]["artifactType"], "application/vnd.x.sig");
        assert!(m[2].get("artifactType").is_none() && m[2]["mediaType"] == INDEX);
        assert_eq!(
            m[0]["annotations"].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["z", "a"]
        );
        let first = text.find("\"manifests\":[{").unwrap();
        assert!(
            text[first..]
                .starts_with("\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\"")
        );

        // Filtering: %2B must decode to '+'; the config-derived type is matched too.
        let r =
            f.c.get(format!("{}/v2/r/referrers/{subj}", f.url))
                .query(&[("artifactType", "application/vnd.x.sbom+json")])
                .send()
                .await
                .unwrap();
        assert_eq!(header(&r, "oci-filters-applied"), Some("artifactType"));
        assert_eq!(digests(&r.json().await.unwrap()), [a.to_string()]);
        let r = f.referrers("r", &subj, "?artifactType=application/vnd.x.sig").await;
        assert_eq!(digests(&r.json().await.unwrap()), [b.to_string()]);
        let r = f.referrers("r", &subj, "?artifactType=").await;
        assert_eq!(header(&r, "oci-filters-applied"), None);
        assert_eq!(digests(&r.json().await.unwrap()).len(), 3);

        // Empty, invalid and unsupported digests; unknown repository.
        let none = Digest::sha256(b"nothing refers to me");
        let r = f.referrers("r", &none, "").await;
        assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
        let r =
            f.c.get(format!("{}/v2/r/referrers/sha256:zz", f.url))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r =
            f.c.get(format!("{}/v2/r/referrers/foo:bar", f.url))
                .send()
                .await
                .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "DIGEST_INVALID");
        assert_eq!(f.referrers("ghost", &subj, "").await.status(), StatusCode::OK);

        // Deleting a referrer removes it from the list.
        f.c.delete(format!("{}/v2/r/manifests/{b}", f.url))
            .send()
            .await
            .unwrap();
        let r = f.referrers("r", &subj, "").await;
        assert_eq!(digests(&r.json().await.unwrap()), [a.to_string(), c.to_string()]);
        f.reg.shutdown().await;
    }

    async fn push_n_referrers(f: &Fixture, name: &str, subj: &Digest, size: usize, n: usize) -> Vec<String> {
        // A process-wide counter keeps every referrer's bytes (and so its digest) unique.
        static UNIQUE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let mut out = Vec::new();
        for _ in 0..n {
            let i = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    #[tokio::test]
    async fn referrers_pagination_is_stable() {
        let f = start(RegistryConfig {
            page_size: 2,
            ..RegistryConfig::default()
        })
        .await;
        let (subj, size) = f.push_image("p", "application/vnd.x.img", json!({})).await;
        let expected = push_n_referrers(&f, "p", &subj, size, 5).await;
        let (all, pages) = all_pages(&f, &format!("/v2/p/referrers/{subj}")).await;
        assert_eq!((all, pages), (expected.clone(), 3));

        // An insert between pages neither shifts nor duplicates older entries.
        let r = f.referrers("p", &subj, "").await;
        let link = header(&r, "link").unwrap().to_string();
        let later = push_n_referrers(&f, "p", &subj, size, 1).await;
        let next = link.strip_prefix('<').unwrap().split_once('>').unwrap().0.to_string();
        let (rest, _) = all_pages(&f, &next).await;
        let mut expected_rest = expected[2..].to_vec();
        expected_rest.extend(later);
        assert_eq!(rest, expected_rest);

        // The byte limit also cuts pages (one entry per page here); the filter survives paging.
        let f2 = start(RegistryConfig {
            page_bytes: 300,
            ..RegistryConfig::default()
        })
        .await;
        let (subj, size) = f2.push_image("p", "application/vnd.x.img", json!({})).await;
        let expected = push_n_referrers(&f2, "p", &subj, size, 3).await;
        let (all, pages) = all_pages(
            &f2,
            &format!("/v2/p/referrers/{subj}?artifactType=application%2Fvnd.x.sig"),
        )
        .await;
        assert_eq!((all, pages), (expected, 3));
        f.reg.shutdown().await;
        f2.reg.shutdown().await;
    }

    #[tokio::test]
    async fn legacy_mode_has_no_referrers_api() {
        let f = start(RegistryConfig {
            mode: Mode::Legacy,
            ..RegistryConfig::default()
        })
        .await;
        let (subj, size) = f.push_image("l", "application/vnd.x.img", json!({})).await;
        let config = f.push_blob("l", b"{}").await;
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": { "mediaType": "application/vnd.x.sig", "digest": config.to_string(), "size": 2 },
            "layers": [], "subject": subject(&subj, size),
        }))
        .unwrap();
        let r = f.put_manifest("l", "sig", MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "oci-subject"), None);
        let r = f.referrers("l", &subj, "").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&r, "content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text().await.unwrap().trim_end(), "404 page not found");
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn token_flow() {
        let users = vec![("alice".to_string(), "secret".to_string())];
        let f = start(RegistryConfig {
            auth: AuthMode::Token { users },
            ..RegistryConfig::default()
        })
        .await;
        let r = f.c.get(format!("{}/v2/", f.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let host = f.url.strip_prefix("http://").unwrap();
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(format!("Bearer realm=\"http://{host}/token\",service=\"referee-embedded\"").as_str())
        );
        let r = f.c.get(format!("{}/v2/t/manifests/x", f.url)).send().await.unwrap();
        assert!(
            header(&r, "www-authenticate")
                .unwrap()
                .ends_with(",scope=\"repository:t:pull\"")
        );
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "UNAUTHORIZED");

        let token_url = format!("{}/token", f.url);
        let r =
            f.c.get(&token_url)
                .query(&[("service", "referee-embedded"), ("scope", "repository:t:pull")])
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r =
            f.c.get(&token_url)
                .basic_auth("alice", Some("secret"))
                .query(&[("service", "referee-embedded"), ("scope", "repository:t:pull")])
                .send()
                .await
                .unwrap();
        let body: Value = r.json().await.unwrap();
        let token = body["token"].as_str().unwrap().to_string();
        assert_eq!(body["access_token"], body["token"]);
        let r =
            f.c.get(format!("{}/v2/t/manifests/x", f.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // Pull does not allow push, nor another repository.
        let r =
            f.c.post(format!("{}/v2/t/blobs/uploads/", f.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            header(&r, "www-authenticate")
                .unwrap()
                .ends_with("scope=\"repository:t:pull,push\"")
        );
        let r =
            f.c.get(format!("{}/v2/u/tags/list", f.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r =
            f.c.get(format!("{}/v2/", f.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn basic_auth() {
        let users = vec![("u".to_string(), "p".to_string())];
        let f = start(RegistryConfig {
            auth: AuthMode::Basic { users },
            ..RegistryConfig::default()
        })
        .await;
        let r = f.c.get(format!("{}/v2/", f.url)).send().await.unwrap();
        assert_eq!(header(&r, "www-authenticate"), Some("Basic realm=\"referee-embedded\""));
        let r =
            f.c.get(format!("{}/v2/", f.url))
                .basic_auth("u", Some("p"))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r =
            f.c.get(format!("{}/v2/", f.url))
                .basic_auth("u", Some("x"))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn push_faults() {
        let f = start(faulty(&["omit_oci_subject", "reject_missing_subject"])).await;
        let (subj, size) = f.push_image("f", "application/vnd.x.img", json!({})).await;
        let config = f.push_blob("f", b"{}").await;
        let with_subject = |s: Value| {
            serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": MANIFEST,
                "config": { "mediaType": "application/vnd.x.sig", "digest": config.to_string(), "size": 2 },
                "layers": [], "subject": s,
            }))
            .unwrap()
        };
        let r = f
            .put_manifest("f", "ok", MANIFEST, &with_subject(subject(&subj, size)))
            .await;
        assert_eq!((r.status(), header(&r, "oci-subject")), (StatusCode::CREATED, None));
        let r = f
            .put_manifest(
                "f",
                "early",
                MANIFEST,
                &with_subject(subject(&Digest::sha256(b"later"), 5)),
            )
            .await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["errors"][0]["code"],
            "MANIFEST_BLOB_UNKNOWN"
        );
        f.reg.shutdown().await;

        let f = start(faulty(&["oci_subject_true"])).await;
        let (subj, size) = f.push_image("f", "application/vnd.x.img", json!({})).await;
        let config = f.push_blob("f", b"{}").await;
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2, "config": { "mediaType": "x", "digest": config.to_string(), "size": 2 },
            "layers": [], "subject": subject(&subj, size),
        }))
        .unwrap();
        assert_eq!(
            header(&f.put_manifest("f", "t", MANIFEST, &m).await, "oci-subject"),
            Some("true")
        );
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn listing_faults() {
        // null list, inverted filter, dropped newest entry.
        let f = start(faulty(&[
            "referrers_null_list",
            "filter_inverted",
            "drop_last_referrer",
        ]))
        .await;
        let (subj, size) = f.push_image("f", "application/vnd.x.img", json!({})).await;
        let r = f.referrers("f", &subj, "").await;
        assert_eq!(r.json::<Value>().await.unwrap()["manifests"], Value::Null);
        let sigs = push_n_referrers(&f, "f", &subj, size, 2).await;
        let (sbom, _) = f
            .push_image(
                "f",
                "application/vnd.x.sbom",
                json!({ "subject": subject(&subj, size) }),
            )
            .await;
        let r = f.referrers("f", &subj, "").await;
        assert_eq!(digests(&r.json().await.unwrap()), sigs);
        let r = f.referrers("f", &subj, "?artifactType=application/vnd.x.sbom").await;
        assert_eq!(header(&r, "oci-filters-applied"), Some("artifactType"));
        assert_eq!(digests(&r.json().await.unwrap()), sigs[..1]);
        assert!(!sbom.as_str().is_empty());
        f.reg.shutdown().await;

        // Pagination faults: duplicates across pages, a Link on the last page.
        let f = start(RegistryConfig {
            page_size: 2,
            ..faulty(&["page_duplicates", "unstable_cursor", "link_malformed"])
        })
        .await;
        let (subj, size) = f.push_image("f", "application/vnd.x.img", json!({})).await;
        let expected = push_n_referrers(&f, "f", &subj, size, 3).await;
        let r = f.referrers("f", &subj, "").await;
        assert_eq!(
            header(&r, "link"),
            Some(format!("/v2/f/referrers/{subj}?offset=2; rel=\"next\"").as_str())
        );
        assert_eq!(
            digests(&r.json().await.unwrap()),
            [expected[2].clone(), expected[1].clone()]
        );
        let r = f.referrers("f", &subj, "?offset=2").await;
        assert_eq!(
            digests(&r.json().await.unwrap()),
            [expected[1].clone(), expected[0].clone()]
        );
        f.reg.shutdown().await;

        let f = start(faulty(&["link_on_last_page", "unknown_subject_404"])).await;
        let (subj, size) = f.push_image("f", "application/vnd.x.img", json!({})).await;
        let r = f.referrers("f", &subj, "").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        push_n_referrers(&f, "f", &subj, size, 1).await;
        let r = f.referrers("f", &subj, "?artifactType=application%2Fvnd.x.sig").await;
        let own_url = format!("</v2/f/referrers/{subj}?artifactType=application%2Fvnd.x.sig>; rel=\"next\"");
        assert_eq!(header(&r, "link"), Some(own_url.as_str()));
        f.reg.shutdown().await;
    }

    #[tokio::test]
    async fn lag_fault_hides_fresh_referrers() {
        let mut config = faulty(&[]);
        config.faults.referrers_lag_ms = 80;
        let f = start(config).await;
        let (subj, size) = f.push_image("f", "application/vnd.x.img", json!({})).await;
        let pushed = std::time::Instant::now();
        let sig = push_n_referrers(&f, "f", &subj, size, 1).await;
        let r = f.referrers("f", &subj, "").await;
        // Only meaningful if the machine was fast enough to ask within the lag window.
        if pushed.elapsed() < Duration::from_millis(70) {
            assert!(digests(&r.json().await.unwrap()).is_empty());
        }
        tokio::time::sleep(Duration::from_millis(90)).await;
        let r = f.referrers("f", &subj, "").await;
        assert_eq!(digests(&r.json().await.unwrap()), sig);
        f.reg.shutdown().await;
    }

    /// Runs one fixed scenario (token auth, page size 2) that touches every rule a fault can
    /// break, and returns everything a client could observe about the referrers API.
    async fn fault_scenario(config: RegistryConfig) -> Vec<String> {
        let reg = EmbeddedRegistry::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (c, url) = (Client::new(), reg.url());
        let token = |scope: &'static str| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let r = c
                    .get(format!("{url}/token"))
                    .basic_auth("u", Some("p"))
                    .query(&[("scope", scope)]);
                let v: Value = r.send().await.unwrap().json().await.unwrap();
                v["token"].as_str().unwrap().to_string()
            }
        };
        let push = token("repository:s:pull,push repository:t:pull,push").await;
        let pull = token("repository:s:pull repository:t:pull repository:nope:pull").await;
        let mut obs = Vec::new();

        let blob = |repo: &'static str| {
            let (c, url, push) = (c.clone(), url.clone(), push.clone());
            async move {
                let d = Digest::sha256(b"{}");
                let u = format!("{url}/v2/{repo}/blobs/uploads/?digest={d}");
                assert_eq!(
                    c.post(u).bearer_auth(&push).body("{}").send().await.unwrap().status(),
                    StatusCode::CREATED
                );
                d
            }
        };
        let cfg = blob("s").await;
        blob("t").await;
        let image = |config_type: &str, extra: Value| {
            let mut m = json!({ "schemaVersion": 2, "mediaType": MANIFEST,
                "config": { "mediaType": config_type, "digest": cfg.to_string(), "size": 2 }, "layers": [] });
            for (k, v) in extra.as_object().unwrap() {
                m[k] = v.clone();
            }
            serde_json::to_vec(&m).unwrap()
        };
        let put = |repo: &'static str, body: Vec<u8>, ct: &'static str, sha512: bool| {
            let (c, url, push) = (c.clone(), url.clone(), push.clone());
            async move {
                let d = if sha512 {
                    Digest::sha512(&body)
                } else {
                    Digest::sha256(&body)
                };
                let r = c
                    .put(format!("{url}/v2/{repo}/manifests/{d}"))
                    .bearer_auth(&push)
                    .header("content-type", ct);
                let r = r.body(body).send().await.unwrap();
                (d, format!("put {} {:?}", r.status(), header(&r, "oci-subject")))
            }
        };

        let s_body = image("application/vnd.x.img", json!({}));
        let s = Digest::sha256(&s_body);
        let subj =
            |d: &Digest, size: usize, mt: &str| json!({ "mediaType": mt, "digest": d.to_string(), "size": size });
        let s_ref = subj(&s, s_body.len(), MANIFEST);
        // Early referrer (before its subject), the subject, then the other referrers.
        let (_, o) = put(
            "s",
            image("application/vnd.x.early", json!({ "subject": s_ref })),
            MANIFEST,
            false,
        )
        .await;
        obs.push(o);
        put("s", s_body.clone(), MANIFEST, false).await;
        let a_body = image(
            "application/vnd.x.cfg",
            json!({ "artifactType": "application/vnd.x.a+json",
            "subject": s_ref, "annotations": { "k": "v" } }),
        );
        let (a, o) = put("s", a_body.clone(), MANIFEST, false).await;
        obs.push(o);
        // Two more of A's type, so the filtered list spans pages.
        for k in ["v2", "v3"] {
            let body = image(
                "application/vnd.x.cfg",
                json!({ "artifactType": "application/vnd.x.a+json",
                "subject": s_ref, "annotations": { "k": k } }),
            );
            obs.push(put("s", body, MANIFEST, false).await.1);
        }
        let index = |subject: Value| {
            serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [], "subject": subject }))
                .unwrap()
        };
        obs.push(put("s", index(s_ref.clone()), INDEX, false).await.1);
        obs.push(
            put(
                "s",
                image(
                    "application/vnd.x.m",
                    json!({ "subject": subj(&s, s_body.len() + 1, MANIFEST) }),
                ),
                MANIFEST,
                false,
            )
            .await
            .1,
        );
        obs.push(
            put(
                "s",
                image(
                    "application/vnd.x.r2",
                    json!({ "subject": subj(&a, a_body.len(), MANIFEST) }),
                ),
                MANIFEST,
                false,
            )
            .await
            .1,
        );
        obs.push(
            put(
                "t",
                image("application/vnd.x.other", json!({ "subject": s_ref })),
                MANIFEST,
                false,
            )
            .await
            .1,
        );
        obs.push(put("s", a_body, MANIFEST, false).await.1);
        let q_body = image("application/vnd.x.q", json!({ "annotations": { "q": "1" } }));
        let (q, _) = put("s", q_body.clone(), MANIFEST, true).await;
        obs.push(
            put(
                "s",
                image(
                    "application/vnd.x.z",
                    json!({ "subject": subj(&q, q_body.len(), MANIFEST) }),
                ),
                MANIFEST,
                false,
            )
            .await
            .1,
        );
        let p_body = index(Value::Null);
        let (p, _) = put("s", p_body.clone(), INDEX, false).await;
        obs.push(
            put(
                "s",
                image(
                    "application/vnd.x.w",
                    json!({ "subject": subj(&p, p_body.len(), INDEX) }),
                ),
                MANIFEST,
                false,
            )
            .await
            .1,
        );

        let lists = [
            format!("/v2/s/referrers/{s}"),
            format!("/v2/s/referrers/{s}?artifactType=application%2Fvnd.x.a%2Bjson"),
            format!("/v2/s/referrers/{s}?artifactType=application%2Fvnd.x.early"),
            format!("/v2/s/referrers/{s}?artifactType=application%2Fvnd.x.cfg"),
            format!("/v2/s/referrers/{s}?artifactType="),
            format!("/v2/s/referrers/{s}?artifactType=a&artifactType=b"),
            format!("/v2/s/referrers/{q}"),
            format!("/v2/s/referrers/{p}"),
            format!("/v2/s/referrers/{}", Digest::sha256(b"none")),
            "/v2/s/referrers/sha256:zz".to_string(),
            "/v2/s/referrers/foo:bar".to_string(),
            format!("/v2/nope/referrers/{s}"),
        ];
        for first in lists {
            let mut next = Some(first);
            for _ in 0..6 {
                let Some(target) = next.take() else { break };
                let r = c.get(format!("{url}{target}")).bearer_auth(&pull).send().await.unwrap();
                let link = header(&r, "link").map(str::to_string);
                obs.push(format!(
                    "{target} {} {:?} {:?} {:?}",
                    r.status(),
                    header(&r, "content-type"),
                    header(&r, "oci-filters-applied"),
                    link
                ));
                obs.push(r.text().await.unwrap());
                next = link.map(|l| {
                    let l = l.trim_start_matches('<');
                    l[..l.find(['>', ';']).unwrap()].to_string()
                });
            }
        }
        reg.shutdown().await;
        obs
    }

    #[tokio::test]
    async fn every_fault_is_observable() {
        let base = RegistryConfig {
            page_size: 2,
            auth: AuthMode::Token {
                users: vec![("u".into(), "p".into())],
            },
            ..RegistryConfig::default()
        };
        let correct = fault_scenario(base.clone()).await;
        // Sanity of the correct run: filtered first page of S, empty list is an empty array.
        assert!(
            correct
                .iter()
                .any(|o| o.contains("%2Bjson 200 OK") && o.contains("Some(\"artifactType\")"))
        );
        assert!(correct.iter().any(|o| o.ends_with("\"manifests\":[]}")));
        // This scenario exercises the referrers API (groups B–E, the first 38 faults); the
        // faults of later groups are proven against the check library in tests/faults.rs.
        let runs = Faults::NAMES.iter().take(38).map(|(name, _)| {
            let mut config = base.clone();
            config.faults.set(name).unwrap();
            async move { (*name, fault_scenario(config).await) }
        });
        let mut handles = Vec::new();
        for run in runs {
            handles.push(tokio::spawn(run));
        }
        for h in handles {
            let (name, observed) = h.await.unwrap();
            assert!(observed != correct, "fault {name} changed nothing observable");
        }
    }
}
