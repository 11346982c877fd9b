//! Faults over HTTP: pushes and listings under chosen faults, and every fault's observability.
//!
//! One fixed scenario shows that every referrers-API fault changes what a client observes.

use super::support::*;
use crate::oci::Digest;
use crate::registry::{AuthMode, EmbeddedRegistry, Faults, RegistryConfig};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

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

/// A registry for [`fault_scenario`] (token auth) with a push and a pull token, and the config
/// blob every image of the scenario uses, uploaded to both repositories.
struct Scenario {
    reg: EmbeddedRegistry,
    c: Client,
    url: String,
    push: String,
    pull: String,
    cfg: Digest,
}

impl Scenario {
    async fn start(config: RegistryConfig) -> Scenario {
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
        let cfg = Digest::sha256(b"{}");
        let sc = Scenario { reg, c, url, push, pull, cfg };
        sc.upload_config("s").await;
        sc.upload_config("t").await;
        sc
    }

    async fn upload_config(&self, repo: &str) {
        let u = format!("{}/v2/{repo}/blobs/uploads/?digest={}", self.url, self.cfg);
        assert_eq!(
            self.c.post(u).bearer_auth(&self.push).body("{}").send().await.unwrap().status(),
            StatusCode::CREATED
        );
    }

    fn image(&self, config_type: &str, extra: Value) -> Vec<u8> {
        let mut m = json!({ "schemaVersion": 2, "mediaType": MANIFEST,
            "config": { "mediaType": config_type, "digest": self.cfg.to_string(), "size": 2 }, "layers": [] });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        serde_json::to_vec(&m).unwrap()
    }

    /// Pushes `body` by its digest; returns the digest and what the client saw.
    async fn put(&self, repo: &str, body: Vec<u8>, ct: &str, sha512: bool) -> (Digest, String) {
        let d = if sha512 {
            Digest::sha512(&body)
        } else {
            Digest::sha256(&body)
        };
        let r = self
            .c
            .put(format!("{}/v2/{repo}/manifests/{d}", self.url))
            .bearer_auth(&self.push)
            .header("content-type", ct);
        let r = r.body(body).send().await.unwrap();
        (d, format!("put {} {:?}", r.status(), header(&r, "oci-subject")))
    }

    /// Pushes an image manifest by its sha256 digest and returns what the client saw.
    async fn put_image(&self, repo: &str, config_type: &str, extra: Value) -> String {
        self.put(repo, self.image(config_type, extra), MANIFEST, false).await.1
    }

    /// Reads `first` and the pages its `Link`s lead to (at most 6), recording each answer.
    async fn follow(&self, first: String, obs: &mut Vec<String>) {
        let mut next = Some(first);
        for _ in 0..6 {
            let Some(target) = next.take() else { break };
            let r = self
                .c
                .get(format!("{}{target}", self.url))
                .bearer_auth(&self.pull)
                .send()
                .await
                .unwrap();
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
}

fn subj(d: &Digest, size: usize, mt: &str) -> Value {
    json!({ "mediaType": mt, "digest": d.to_string(), "size": size })
}

fn index(subject: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [], "subject": subject })).unwrap()
}

/// Pushes the subject S and its referrers: one pushed before S, three of one artifactType (so
/// a filtered list spans pages), an index, one with a wrong subject size, a referrer of a
/// referrer, one in another repository, and a re-push. Returns S.
async fn push_subject_and_referrers(sc: &Scenario, obs: &mut Vec<String>) -> Digest {
    let s_body = sc.image("application/vnd.x.img", json!({}));
    let s = Digest::sha256(&s_body);
    let s_ref = subj(&s, s_body.len(), MANIFEST);
    // Early referrer (before its subject), the subject, then the other referrers.
    obs.push(sc.put_image("s", "application/vnd.x.early", json!({ "subject": s_ref })).await);
    sc.put("s", s_body.clone(), MANIFEST, false).await;
    let a_body = sc.image(
        "application/vnd.x.cfg",
        json!({ "artifactType": "application/vnd.x.a+json",
        "subject": s_ref, "annotations": { "k": "v" } }),
    );
    let (a, o) = sc.put("s", a_body.clone(), MANIFEST, false).await;
    obs.push(o);
    // Two more of A's type, so the filtered list spans pages.
    for k in ["v2", "v3"] {
        let extra = json!({ "artifactType": "application/vnd.x.a+json", "subject": s_ref, "annotations": { "k": k } });
        obs.push(sc.put_image("s", "application/vnd.x.cfg", extra).await);
    }
    obs.push(sc.put("s", index(s_ref.clone()), INDEX, false).await.1);
    let wrong_size = subj(&s, s_body.len() + 1, MANIFEST);
    obs.push(sc.put_image("s", "application/vnd.x.m", json!({ "subject": wrong_size })).await);
    let of_a = subj(&a, a_body.len(), MANIFEST);
    obs.push(sc.put_image("s", "application/vnd.x.r2", json!({ "subject": of_a })).await);
    obs.push(sc.put_image("t", "application/vnd.x.other", json!({ "subject": s_ref })).await);
    obs.push(sc.put("s", a_body, MANIFEST, false).await.1);
    s
}

/// Pushes two more subjects, each with one referrer: Q, addressed by sha512, and P, an index.
/// Returns (Q, P).
async fn push_other_subjects(sc: &Scenario, obs: &mut Vec<String>) -> (Digest, Digest) {
    let q_body = sc.image("application/vnd.x.q", json!({ "annotations": { "q": "1" } }));
    let (q, _) = sc.put("s", q_body.clone(), MANIFEST, true).await;
    let of_q = subj(&q, q_body.len(), MANIFEST);
    obs.push(sc.put_image("s", "application/vnd.x.z", json!({ "subject": of_q })).await);
    let p_body = index(Value::Null);
    let (p, _) = sc.put("s", p_body.clone(), INDEX, false).await;
    let of_p = subj(&p, p_body.len(), INDEX);
    obs.push(sc.put_image("s", "application/vnd.x.w", json!({ "subject": of_p })).await);
    (q, p)
}

/// Runs one fixed scenario (token auth, page size 2) that touches every rule a fault can
/// break, and returns everything a client could observe about the referrers API.
async fn fault_scenario(config: RegistryConfig) -> Vec<String> {
    let sc = Scenario::start(config).await;
    let mut obs = Vec::new();
    let s = push_subject_and_referrers(&sc, &mut obs).await;
    let (q, p) = push_other_subjects(&sc, &mut obs).await;
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
        sc.follow(first, &mut obs).await;
    }
    sc.reg.shutdown().await;
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
    // This scenario exercises the referrers API (groups B–E, the first 39 faults); the
    // faults of later groups are proven against the check library in tests/faults.rs.
    let runs = Faults::NAMES.iter().take(39).map(|(name, _)| {
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
