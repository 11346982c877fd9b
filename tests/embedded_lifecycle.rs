//! Lifecycle features of the embedded registry over real HTTP: garbage collection under each
//! policy, tag locks with each refusal style, the referrers API switched off and on (with the
//! F7 fault), and persistence across a shutdown/start and across `POST /admin/restart`.

use referee::client::{Client, ClientConfig, Scope};
use referee::oci::{Blob, Built, Descriptor, Digest, ManifestBuilder, media};
use referee::registry::{
    AuthMode, EmbeddedRegistry, Faults, GcPolicy, LockStatus, Mode, OrphanPolicy, RegistryConfig,
    UntaggedPolicy, admin_client_call,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const CREATED: &str = "org.opencontainers.image.created";
const SIG: &str = "application/vnd.example.sig";

struct Reg {
    reg: EmbeddedRegistry,
    c: Client,
    url: String,
}

async fn start(cfg: RegistryConfig) -> Reg {
    let reg = EmbeddedRegistry::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = reg.url();
    let c = Client::new(ClientConfig::new(&url)).unwrap();
    Reg { reg, c, url }
}

impl Reg {
    async fn admin(&self, path: &str, body: Value) -> Value {
        admin_client_call(&self.url, path, body)
            .await
            .unwrap_or_else(|e| panic!("admin {path}: {e}"))
    }

    /// Pushes blobs and manifest under `reference` (a tag, or the digest when `None`).
    async fn push(&self, repo: &str, built: &Built, tag: Option<&str>) {
        let reference = tag.unwrap_or(built.digest.as_str());
        let r = self.c.push_built(repo, built, reference).await.unwrap();
        assert_eq!(r.status, 201, "push {reference}: {}", r.describe());
    }

    async fn exists(&self, repo: &str, d: &Digest) -> bool {
        let status = self.c.head_manifest(repo, d.as_str()).await.unwrap().status;
        assert!(status == 200 || status == 404, "HEAD {d}: {status}");
        status == 200
    }

    async fn blob_exists(&self, repo: &str, d: &Digest) -> bool {
        self.c.head_blob(repo, d).await.unwrap().status == 200
    }

    /// The digests the referrers API lists for `subject` (one page is enough here).
    async fn referrers(&self, repo: &str, subject: &Digest) -> Vec<String> {
        let url = self
            .c
            .referrers_url(repo, subject.as_str(), None, None)
            .unwrap();
        let page = self
            .c
            .referrers_page(repo, url, Scope::Pull(repo.into()))
            .await
            .unwrap();
        assert_eq!(
            page.response.status,
            200,
            "referrers: {}",
            page.response.describe()
        );
        page.response.json().unwrap()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .collect()
    }
}

fn sig(seed: &str, subject: Descriptor) -> Built {
    ManifestBuilder::artifact(seed, SIG)
        .subject(subject)
        .build()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn set(ds: &[&Digest]) -> BTreeSet<String> {
    ds.iter().map(|d| d.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// GC

/// The manifests of the GC scenario in repository `gc`.
struct GcScene {
    subject: Built,
    live_referrer: Built,
    untagged: Built,
    early_orphan: Built,
    deleted_subject: Built,
    dead_orphan: Built,
    pinned: Built,
    fallback_index: Digest,
}

/// `subject` tagged v1 with an untagged referrer; an untagged image; a referrer pushed before
/// its (never pushed) subject; a referrer whose subject was deleted; and a referrer of an
/// absent subject that is listed in that subject's referrers-tag index.
async fn gc_scene(r: &Reg) -> GcScene {
    let subject = ManifestBuilder::image("subject").build();
    r.push("gc", &subject, Some("v1")).await;
    let live_referrer = sig("live", subject.descriptor());
    r.push("gc", &live_referrer, None).await;
    let untagged = ManifestBuilder::image("untagged").build();
    r.push("gc", &untagged, None).await;
    let early_orphan = sig(
        "early",
        ManifestBuilder::image("never pushed").build().descriptor(),
    );
    r.push("gc", &early_orphan, None).await;
    let deleted_subject = ManifestBuilder::image("deleted").build();
    r.push("gc", &deleted_subject, None).await;
    let dead_orphan = sig("dead", deleted_subject.descriptor());
    r.push("gc", &dead_orphan, None).await;
    assert_eq!(
        r.c.delete_manifest("gc", deleted_subject.digest.as_str())
            .await
            .unwrap()
            .status,
        202
    );
    let pinned = sig(
        "pinned",
        ManifestBuilder::image("also never pushed")
            .build()
            .descriptor(),
    );
    r.push("gc", &pinned, None).await;
    let idx = r.c.fallback_add("gc", &pinned).await.unwrap();
    assert_eq!(idx.status, 201);
    let fallback_index = Digest::parse(idx.header("docker-content-digest").unwrap()).unwrap();
    GcScene {
        subject,
        live_referrer,
        untagged,
        early_orphan,
        deleted_subject,
        dead_orphan,
        pinned,
        fallback_index,
    }
}

/// Runs the scene under `policy` (sent with the request when `in_body`, else configured) and
/// checks the collected manifests, their absence, and that everything else survived.
async fn gc_case(policy: GcPolicy, in_body: bool, collected: impl Fn(&GcScene) -> Vec<&Digest>) {
    // No grace: the blobs of the deleted subject, which no manifest claims any more, go now.
    let policy = GcPolicy { upload_grace_s: 0, ..policy };
    let cfg = RegistryConfig {
        gc: if in_body {
            GcPolicy::default()
        } else {
            policy.clone()
        },
        ..RegistryConfig::default()
    };
    let r = start(cfg).await;
    let s = gc_scene(&r).await;
    let body = if in_body {
        json!({ "policy": policy })
    } else {
        json!({})
    };
    let report = r.admin("gc", body).await;
    let want = collected(&s);
    assert_eq!(
        strings(&report["repos"]["gc"]["manifests"]),
        set(&want),
        "{policy:?}: {report}"
    );
    assert_eq!(report["manifests"], json!(want.len()));
    let all = [
        &s.subject.digest,
        &s.live_referrer.digest,
        &s.untagged.digest,
        &s.early_orphan.digest,
        &s.dead_orphan.digest,
        &s.pinned.digest,
        &s.fallback_index,
    ];
    for d in all {
        assert_eq!(
            r.exists("gc", d).await,
            !want.contains(&d),
            "{policy:?}: {d}"
        );
    }
    // Listing follows the store: a collected referrer leaves the list.
    let listed = r.referrers("gc", &s.subject.digest).await;
    assert_eq!(
        listed.contains(&s.live_referrer.digest.to_string()),
        !want.contains(&&s.live_referrer.digest)
    );
    // Blobs of the deleted subject go whatever the policy; those of the untagged image only
    // with it. The empty config every artifact shares stays while one artifact is kept.
    let blobs = strings(&report["repos"]["gc"]["blobs"]);
    for b in &s.deleted_subject.blobs {
        assert!(blobs.contains(b.digest.as_str()));
        assert!(!r.blob_exists("gc", &b.digest).await);
    }
    for b in &s.untagged.blobs {
        assert_eq!(
            blobs.contains(b.digest.as_str()),
            want.contains(&&s.untagged.digest)
        );
    }
    for b in &s.subject.blobs {
        assert!(
            r.blob_exists("gc", &b.digest).await,
            "tagged image's blob collected"
        );
    }
    // A second run finds nothing more.
    let again = r
        .admin(
            "gc",
            if in_body {
                json!({ "policy": policy })
            } else {
                json!(null)
            },
        )
        .await;
    assert_eq!(
        (again["manifests"].clone(), again["blobs"].clone()),
        (json!(0), json!(0)),
        "{again}"
    );
    r.reg.shutdown().await;
}

#[tokio::test]
async fn gc_default_policy_collects_untagged_and_keeps_referrers() {
    gc_case(GcPolicy::default(), false, |s| vec![&s.untagged.digest]).await;
}

#[tokio::test]
async fn gc_unprotected_referrers_of_live_subjects_are_collected() {
    let policy = GcPolicy {
        protect_referrers_of_live_subject: false,
        ..GcPolicy::default()
    };
    gc_case(policy, true, |s| {
        vec![&s.untagged.digest, &s.live_referrer.digest]
    })
    .await;
}

#[tokio::test]
async fn gc_orphan_policies() {
    // Collect: both orphans, but the fallback-listed one is pinned.
    let policy = GcPolicy {
        orphan_referrers: OrphanPolicy::Collect,
        ..GcPolicy::default()
    };
    gc_case(policy, false, |s| {
        vec![
            &s.untagged.digest,
            &s.early_orphan.digest,
            &s.dead_orphan.digest,
        ]
    })
    .await;
    // CollectWithSubject: only the referrer whose subject was deleted.
    let policy = GcPolicy {
        orphan_referrers: OrphanPolicy::CollectWithSubject,
        ..GcPolicy::default()
    };
    gc_case(policy, true, |s| {
        vec![&s.untagged.digest, &s.dead_orphan.digest]
    })
    .await;
}

#[tokio::test]
async fn gc_fallback_listed_pin_can_be_switched_off() {
    let policy = GcPolicy {
        orphan_referrers: OrphanPolicy::Collect,
        pin_fallback_listed: false,
        ..GcPolicy::default()
    };
    gc_case(policy, true, |s| {
        vec![
            &s.untagged.digest,
            &s.early_orphan.digest,
            &s.dead_orphan.digest,
            &s.pinned.digest,
        ]
    })
    .await;
    // Keeping untagged manifests keeps everything (only the deleted subject's blobs go).
    let policy = GcPolicy {
        untagged_manifests: UntaggedPolicy::Keep,
        ..GcPolicy::default()
    };
    gc_case(policy, false, |_| vec![]).await;
}

/// A blob uploaded but not yet claimed by a manifest survives GC within the grace window (a
/// push on its way), so the manifest that follows is accepted; with no grace, or with the
/// `gc_no_upload_grace` fault, it is collected and the manifest refused.
#[tokio::test]
async fn gc_keeps_fresh_uploads_within_the_grace_window() {
    for (policy, faults, kept) in [
        (GcPolicy::default(), Faults::default(), true),
        (GcPolicy { upload_grace_s: 0, ..GcPolicy::default() }, Faults::default(), false),
        (GcPolicy::default(), Faults::from_names(&["gc_no_upload_grace"]).unwrap(), false),
    ] {
        let r = start(RegistryConfig { gc: policy.clone(), faults, ..RegistryConfig::default() }).await;
        r.push("fresh", &ManifestBuilder::image("fresh/base").build(), Some("base")).await;
        let img = ManifestBuilder::image("fresh/late").build();
        for b in &img.blobs {
            assert_eq!(r.c.push_blob("fresh", b).await.unwrap().status, 201);
        }
        r.admin("gc", json!({})).await;
        for b in &img.blobs {
            assert_eq!(r.blob_exists("fresh", &b.digest).await, kept, "{policy:?}");
        }
        let put = r.c.put_manifest("fresh", "late", &img.media_type, &img.bytes).await.unwrap();
        assert_eq!(put.status, if kept { 201 } else { 400 }, "{policy:?}: {}", put.describe());
    }
}

#[tokio::test]
async fn gc_retention_by_created_date_and_keep_newest() {
    let dated = |seed: &str, subject: &Built, created: &str| {
        ManifestBuilder::artifact(seed, SIG)
            .subject(subject.descriptor())
            .annotation(CREATED, created)
            .build()
    };
    for (policy, configured) in [
        (
            GcPolicy {
                created_before: Some("2021-06-01T00:00:00+00:00".into()),
                untagged_manifests: UntaggedPolicy::Keep,
                ..GcPolicy::default()
            },
            false,
        ),
        (
            GcPolicy {
                keep_newest: Some(2),
                ..GcPolicy::default()
            },
            true,
        ),
    ] {
        let cfg = RegistryConfig {
            gc: if configured {
                policy.clone()
            } else {
                GcPolicy::default()
            },
            ..RegistryConfig::default()
        };
        let r = start(cfg).await;
        let subject = ManifestBuilder::image("s").build();
        r.push("ret", &subject, Some("latest")).await;
        let old = dated("2020", &subject, "2020-01-01T00:00:00Z");
        let y2021 = dated("2021", &subject, "2021-01-01T10:00:00.5Z");
        // Pushed before the older ones: the annotation orders, not the push.
        let y2023 = dated("2023", &subject, "2023-01-01T00:00:00Z");
        let y2022 = dated("2022", &subject, "2022-01-01T00:00:00-05:00");
        for b in [&y2023, &old, &y2021, &y2022] {
            r.push("ret", b, None).await;
        }
        // Tagged: a root, never collected by retention, but it counts among the newest N.
        let tagged = dated("tagged", &subject, "2019-01-01T00:00:00Z");
        r.push("ret", &tagged, Some("keep-me")).await;
        let old_image = ManifestBuilder::image("old")
            .annotation(CREATED, "2020-06-01T00:00:00Z")
            .build();
        let new_image = ManifestBuilder::image("new")
            .annotation(CREATED, "2024-06-01T00:00:00Z")
            .build();
        let undated = ManifestBuilder::image("undated").build();
        for b in [&old_image, &new_image, &undated] {
            r.push("ret", b, None).await;
        }
        let body = if configured {
            json!({})
        } else {
            json!({ "policy": policy, "repos": ["ret", "nope"] })
        };
        let report = r.admin("gc", body).await;
        let want = if configured {
            // Newest two of (2023, 2022, 2021, 2020, tagged 2019) survive; the untagged images
            // have no subject and go by the default untagged policy.
            set(&[
                &y2021.digest,
                &old.digest,
                &old_image.digest,
                &new_image.digest,
                &undated.digest,
            ])
        } else {
            set(&[&old.digest, &y2021.digest, &old_image.digest])
        };
        assert_eq!(
            strings(&report["repos"]["ret"]["manifests"]),
            want,
            "{policy:?}: {report}"
        );
        assert!(report["repos"].get("nope").is_none());
        assert!(r.exists("ret", &tagged.digest).await);
        let listed: BTreeSet<String> = r
            .referrers("ret", &subject.digest)
            .await
            .into_iter()
            .collect();
        let all = set(&[
            &old.digest,
            &y2021.digest,
            &y2022.digest,
            &y2023.digest,
            &tagged.digest,
        ]);
        assert_eq!(listed, all.difference(&want).cloned().collect());
        r.reg.shutdown().await;
    }
    // An invalid cutoff is a 400 with a reason, and nothing is collected.
    let r = start(RegistryConfig::default()).await;
    let err = admin_client_call(
        &r.url,
        "/admin/gc",
        json!({ "policy": { "created_before": "yesterday" } }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("400") && err.contains("RFC 3339"), "{err}");
    let err = admin_client_call(&r.url, "gc", json!({ "policy": { "keep_newst": 1 } }))
        .await
        .unwrap_err();
    assert!(err.contains("400") && err.contains("keep_newst"), "{err}");
    r.reg.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Tag locks

#[tokio::test]
async fn locked_tags_refuse_moves_and_deletes_with_each_status() {
    for status in LockStatus::ALL {
        let r = start(RegistryConfig {
            lock_status: status,
            ..RegistryConfig::default()
        })
        .await;
        let a = ManifestBuilder::image("a").build();
        let b = ManifestBuilder::image("b").build();
        r.push("l", &a, Some("v1")).await;
        let locked = r.admin("lock", json!({ "repo": "l", "tag": "v1" })).await;
        assert_eq!(locked["digest"], json!(a.digest.as_str()));

        // Moving the tag is refused with the configured status and code.
        let moved = r.c.push_built("l", &b, "v1").await.unwrap();
        assert_eq!(
            moved.status,
            status.http_status(),
            "{status}: {}",
            moved.describe()
        );
        assert_eq!(
            moved.error_code().as_deref(),
            Some(status.code()),
            "{status}"
        );
        let got = r.c.get_manifest("l", "v1").await.unwrap();
        assert_eq!(got.body, a.bytes);
        // The same digest again is fine; so is a new manifest whose subject is locked.
        r.push("l", &a, Some("v1")).await;
        let referrer = sig("on-locked", a.descriptor());
        r.push("l", &referrer, None).await;
        assert_eq!(
            r.referrers("l", &a.digest).await,
            [referrer.digest.to_string()]
        );
        // Deleting the tag, or its target by digest, is refused the same way.
        for reference in ["v1", a.digest.as_str()] {
            let d = r.c.delete_manifest("l", reference).await.unwrap();
            assert_eq!(
                (d.status, d.error_code()),
                (status.http_status(), Some(status.code().to_string())),
                "{reference}"
            );
        }
        assert!(r.exists("l", &a.digest).await);
        // Other manifests are unaffected.
        r.push("l", &b, Some("other")).await;
        assert_eq!(r.c.delete_manifest("l", "other").await.unwrap().status, 202);

        // A lock on a tag that does not exist yet takes effect at its creation.
        r.admin("lock", json!({ "repo": "l", "tag": "future" }))
            .await;
        r.push("l", &b, Some("future")).await;
        assert_eq!(
            r.c.push_built("l", &a, "future").await.unwrap().status,
            status.http_status()
        );

        // Unlocked, the tag moves and deletes again.
        let unlocked = r.admin("unlock", json!({ "repo": "l", "tag": "v1" })).await;
        assert_eq!(unlocked["was_locked"], json!(true));
        r.push("l", &b, Some("v1")).await;
        assert_eq!(r.c.delete_manifest("l", "v1").await.unwrap().status, 202);
        r.reg.shutdown().await;
    }
    // Bad requests, and no admin API at all when it is switched off.
    let r = start(RegistryConfig::default()).await;
    let err = admin_client_call(&r.url, "lock", json!({ "repo": "l" }))
        .await
        .unwrap_err();
    assert!(err.contains("400"), "{err}");
    let err = admin_client_call(&r.url, "lock", json!({ "repo": "L", "tag": "x" }))
        .await
        .unwrap_err();
    assert!(err.contains("invalid repository name"), "{err}");
    r.reg.shutdown().await;
    let r = start(RegistryConfig {
        admin: false,
        ..RegistryConfig::default()
    })
    .await;
    let err = admin_client_call(&r.url, "gc", json!({}))
        .await
        .unwrap_err();
    assert!(err.contains("404"), "{err}");
    r.reg.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The referrers API switch (distribution-spec "Enabling the Referrers API")

/// Switches the API off, pushes a referrer the way a client does then (the fallback tag),
/// switches it on and returns what the API lists, plus a check of the API while off.
async fn enable_later(cfg: RegistryConfig) -> (Vec<String>, Built, Built) {
    let starts_on = cfg.mode == Mode::Full;
    let r = start(cfg).await;
    let subject = ManifestBuilder::image("s").build();
    r.push("sw", &subject, Some("v1")).await;
    let off = r.admin("referrers-api", json!({ "enabled": false })).await;
    assert_eq!(off, json!({ "enabled": false, "previous": starts_on }));

    // Off: a plain 404 route and no OCI-Subject, like a pre-1.1 registry.
    let url =
        r.c.referrers_url("sw", subject.digest.as_str(), None, None)
            .unwrap();
    let page =
        r.c.referrers_page("sw", url, Scope::Pull("sw".into()))
            .await
            .unwrap();
    assert_eq!(page.response.status, 404);
    assert!(
        page.response
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let early = sig("while-off", subject.descriptor());
    let pushed =
        r.c.push_built("sw", &early, early.digest.as_str())
            .await
            .unwrap();
    assert_eq!((pushed.status, pushed.header("oci-subject")), (201, None));
    assert_eq!(r.c.fallback_add("sw", &early).await.unwrap().status, 201);

    let on = r
        .admin("/admin/referrers-api", json!({ "enabled": true }))
        .await;
    assert_eq!(on["previous"], json!(false));
    let later = sig("while-on", subject.descriptor());
    let pushed =
        r.c.push_built("sw", &later, later.digest.as_str())
            .await
            .unwrap();
    assert_eq!(pushed.header("oci-subject"), Some(subject.digest.as_str()));
    let listed = r.referrers("sw", &subject.digest).await;
    r.reg.shutdown().await;
    (listed, early, later)
}

#[tokio::test]
async fn referrers_pushed_while_the_api_was_off_are_listed_once_it_is_on() {
    let (listed, early, later) = enable_later(RegistryConfig::default()).await;
    assert_eq!(listed, [early.digest.to_string(), later.digest.to_string()]);

    // The F7 fault forgets what was pushed while the API was off (here from legacy mode).
    let cfg = RegistryConfig {
        mode: Mode::Legacy,
        faults: Faults::from_names(&["forget_referrers_pushed_while_disabled"]).unwrap(),
        ..RegistryConfig::default()
    };
    let (listed, _, later) = enable_later(cfg).await;
    assert_eq!(listed, [later.digest.to_string()]);
}

// ---------------------------------------------------------------------------------------------
// Persistence and restart

/// A subject with exact (odd) bytes, a sha512-addressed referrer, a locked tag, a deleted
/// manifest and an open upload session.
struct Saved {
    subject_bytes: Vec<u8>,
    subject: Digest,
    referrer: Built,
    /// The session's path (the port changes across a shutdown/start).
    upload: String,
}

async fn fill(r: &Reg) -> Saved {
    let config = Blob::new("application/vnd.example.config", b"{\"x\":1}".to_vec());
    assert_eq!(r.c.push_blob("p/q", &config).await.unwrap().status, 201);
    let subject_bytes = format!(
        "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"{}\",\n  \"config\": {{ \"mediaType\": \"application/vnd.example.config\", \"digest\": \"{}\", \"size\": 7 }},\n  \"layers\": []\n}}\n",
        media::IMAGE_MANIFEST,
        config.digest
    )
    .into_bytes();
    let subject = Digest::sha256(&subject_bytes);
    let put =
        r.c.put_manifest("p/q", "v1", media::IMAGE_MANIFEST, &subject_bytes)
            .await
            .unwrap();
    assert_eq!(put.status, 201, "{}", put.describe());
    let desc = Descriptor {
        media_type: media::IMAGE_MANIFEST.into(),
        digest: subject.clone(),
        size: subject_bytes.len() as u64,
        artifact_type: None,
        annotations: Default::default(),
    };
    let referrer = sig("persisted", desc.clone());
    for b in &referrer.blobs {
        assert_eq!(r.c.push_blob("p/q", b).await.unwrap().status, 201);
    }
    let d512 = Digest::sha512(&referrer.bytes);
    let put =
        r.c.put_manifest("p/q", d512.as_str(), media::IMAGE_MANIFEST, &referrer.bytes)
            .await
            .unwrap();
    assert_eq!(put.status, 201);
    let gone = ManifestBuilder::image("gone").build();
    r.push("p/q", &gone, None).await;
    assert_eq!(
        r.c.delete_manifest("p/q", gone.digest.as_str())
            .await
            .unwrap()
            .status,
        202
    );
    r.admin("lock", json!({ "repo": "p/q", "tag": "v1" })).await;
    let up = r.c.start_upload("p/q").await.unwrap();
    assert_eq!(up.status, 202);
    let upload = up.header("location").unwrap().to_string();
    assert_eq!(
        r.c.upload_status("p/q", r.c.resolve(&upload).unwrap())
            .await
            .unwrap()
            .status,
        204
    );
    Saved {
        subject_bytes,
        subject,
        referrer,
        upload,
    }
}

/// Everything [`fill`] stored is there, byte for byte; the upload session is not.
async fn check(r: &Reg, s: &Saved) {
    let got = r.c.get_manifest("p/q", "v1").await.unwrap();
    assert_eq!(got.body, s.subject_bytes);
    assert_eq!(got.header("content-type"), Some(media::IMAGE_MANIFEST));
    let d512 = Digest::sha512(&s.referrer.bytes);
    assert_eq!(
        r.c.get_manifest("p/q", d512.as_str()).await.unwrap().body,
        s.referrer.bytes
    );
    assert_eq!(r.referrers("p/q", &s.subject).await, [d512.to_string()]);
    for b in &s.referrer.blobs {
        assert!(r.blob_exists("p/q", &b.digest).await);
    }
    let tags =
        r.c.tags_list("p/q", None, None)
            .await
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(tags["tags"], json!(["v1"]));
    // Still locked.
    let other = ManifestBuilder::image("other").build();
    assert_eq!(
        r.c.push_built("p/q", &other, "v1").await.unwrap().status,
        403,
        "the default lock status is 403 DENIED"
    );
    assert_eq!(
        r.c.upload_status("p/q", r.c.resolve(&s.upload).unwrap())
            .await
            .unwrap()
            .status,
        404
    );
}

#[tokio::test]
async fn state_survives_shutdown_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RegistryConfig {
        storage_dir: Some(dir.path().to_path_buf()),
        ..RegistryConfig::default()
    };
    let r = start(cfg.clone()).await;
    let saved = fill(&r).await;
    r.reg.shutdown().await;
    assert!(dir.path().join("state.json").is_file());
    assert!(
        dir.path()
            .join("blobs/sha512")
            .join(Digest::sha512(&saved.referrer.bytes).encoded())
            .is_file()
    );
    assert!(
        dir.path()
            .join("blobs/sha256")
            .join(saved.subject.encoded())
            .is_file()
    );

    let r = start(cfg.clone()).await;
    check(&r, &saved).await;
    // New pushes continue the sequence: the next referrer is listed after the persisted one.
    let desc = r.c.head_manifest("p/q", "v1").await.unwrap();
    assert_eq!(desc.status, 200);
    let later = sig(
        "later",
        Descriptor {
            media_type: media::IMAGE_MANIFEST.into(),
            digest: saved.subject.clone(),
            size: saved.subject_bytes.len() as u64,
            artifact_type: None,
            annotations: Default::default(),
        },
    );
    r.push("p/q", &later, None).await;
    let listed = r.referrers("p/q", &saved.subject).await;
    assert_eq!(
        listed,
        [
            Digest::sha512(&saved.referrer.bytes).to_string(),
            later.digest.to_string()
        ]
    );
    // GC'd content stays gone after the next restart (its files are pruned too).
    r.admin("unlock", json!({ "repo": "p/q", "tag": "v1" }))
        .await;
    assert_eq!(r.c.delete_manifest("p/q", "v1").await.unwrap().status, 202);
    let report = r
        .admin("gc", json!({ "policy": { "orphan_referrers": "collect" } }))
        .await;
    assert_eq!(report["manifests"], json!(3), "{report}");
    r.reg.shutdown().await;
    assert!(
        !dir.path()
            .join("blobs/sha256")
            .join(saved.subject.encoded())
            .exists()
    );
    let r = start(cfg).await;
    assert_eq!(
        r.c.get_manifest("p/q", saved.subject.as_str())
            .await
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        r.c.tags_list("p/q", None, None)
            .await
            .unwrap()
            .json()
            .unwrap()["tags"],
        json!([])
    );
    r.reg.shutdown().await;

    // A corrupt state is an error at start, not an empty registry.
    std::fs::write(dir.path().join("state.json"), b"{").unwrap();
    let cfg = RegistryConfig {
        storage_dir: Some(dir.path().to_path_buf()),
        ..RegistryConfig::default()
    };
    assert!(
        EmbeddedRegistry::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn admin_restart_keeps_content_and_drops_sessions_and_tokens() {
    // With a storage directory, and with tokens to lose.
    let dir = tempfile::tempdir().unwrap();
    let users = vec![("u".to_string(), "p".to_string())];
    let cfg = RegistryConfig {
        storage_dir: Some(dir.path().to_path_buf()),
        auth: AuthMode::Token { users },
        ..RegistryConfig::default()
    };
    let reg = EmbeddedRegistry::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = reg.url();
    let mut cc = ClientConfig::new(&url);
    cc.username = Some("u".into());
    cc.password = Some("p".into());
    let r = Reg {
        c: Client::new(cc).unwrap(),
        reg,
        url,
    };
    let saved = fill(&r).await;

    let http = reqwest::Client::new();
    let token: Value = http
        .get(format!(
            "{}/token?service=x&scope=repository:p/q:pull",
            r.url
        ))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let tags = |t: String| {
        let (http, url) = (http.clone(), r.url.clone());
        async move {
            http.get(format!("{url}/v2/p/q/tags/list"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(tags(token.clone()).await, 200);

    assert!(!dir.path().join("state.json").exists());
    let summary = r.admin("restart", json!(null)).await;
    assert_eq!(summary["persisted"], json!(true));
    assert_eq!(summary["dropped_uploads"], json!(1));
    assert!(dir.path().join("state.json").is_file());
    assert_eq!(tags(token).await, 401);
    // The client fetches new tokens on its own.
    check(&r, &saved).await;
    r.reg.shutdown().await;

    // Without a storage directory the content survives a restart too (only sessions go).
    let r = start(RegistryConfig::default()).await;
    let saved = fill(&r).await;
    let summary = r.admin("restart", json!({})).await;
    assert_eq!(
        (summary["persisted"].clone(), summary["manifests"].clone()),
        (json!(false), json!(2))
    );
    check(&r, &saved).await;
    r.reg.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The referrers page cache (no faults): a page is served from memory until the next write.

/// Every write is seen by the next read of the same page: a push, a delete, and a push that
/// lands between the reads of a cached answer. A cache not invalidated by writes fails here.
#[tokio::test]
async fn cached_referrers_pages_follow_every_write() {
    let r = start(RegistryConfig::default()).await;
    let repo = "cache/pages";
    let subject = ManifestBuilder::image("cache-subject").build();
    r.push(repo, &subject, Some("v1")).await;
    assert!(r.referrers(repo, &subject.digest).await.is_empty());
    // Read twice: the second answer comes from the cache.
    assert!(r.referrers(repo, &subject.digest).await.is_empty());
    let a = sig("cache-a", subject.descriptor());
    r.push(repo, &a, None).await;
    assert_eq!(r.referrers(repo, &subject.digest).await, vec![a.digest.to_string()], "a push after a cached read");
    let b = sig("cache-b", subject.descriptor());
    r.push(repo, &b, None).await;
    let listed: BTreeSet<String> = r.referrers(repo, &subject.digest).await.into_iter().collect();
    assert_eq!(listed, set(&[&a.digest, &b.digest]));
    let del = r.c.delete_manifest(repo, a.digest.as_str()).await.unwrap();
    assert_eq!(del.status, 202, "{}", del.describe());
    assert_eq!(r.referrers(repo, &subject.digest).await, vec![b.digest.to_string()], "a delete after a cached read");
    r.reg.shutdown().await;
}
