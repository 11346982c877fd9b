//! Manifests: `PUT`, `GET`/`HEAD`, `DELETE /v2/<name>/manifests/<reference>`, with their faults.
//!
//! A `PUT` is validated (reference, digest, body, subject, blobs), checked against the tag's
//! preconditions and locks, then stored.
// Handlers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use crate::oci::Digest;
use crate::registry::config::RegistryConfig;
use crate::registry::errors::{OciError, err, finish, reply, unknown_manifest, unknown_name};
use crate::registry::faults::Faults;
use crate::registry::locks;
use crate::registry::shared::Shared;
use crate::registry::store::{IMAGE_INDEX, IMAGE_MANIFEST, ManifestFacts, PutOutcome, Repo, State};
use crate::registry::syntax::{is_referrers_tag, valid_tag};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A manifest push that passed every check made before the store is locked.
struct Push {
    digest: Digest,
    /// The bytes to store (re-serialized under `reserialize_manifests`).
    body: Bytes,
    facts: ManifestFacts,
    /// The Content-Type it is served with: the request's, else the manifest's media type.
    content_type: String,
    /// The tag of a push by tag.
    tag: Option<String>,
}

/// `PUT /v2/<name>/manifests/<reference>`: the checks that need no store, then, with the
/// store locked, what the manifest refers to and what its tag allows; then it is stored and
/// answered 201.
pub fn put_manifest(shared: &Shared, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let push = match prepare_push(&shared.config, reference, headers, body) {
        Ok(push) => push,
        Err(resp) => return resp,
    };
    let digest = push.digest.clone();
    let subject = push.facts.subject.as_ref().map(|s| s.digest.to_string());
    let mut st = shared.store.lock();
    let checked = check_references(&shared.config.faults, st.repo(name), &push.facts)
        .and_then(|()| check_tag_rules(shared, &st, name, &push, subject.as_deref(), headers));
    if let Err(resp) = checked {
        return resp;
    }
    let outcome = match store_push(shared, &mut st, name, push, subject.as_deref()) {
        Ok(outcome) => outcome,
        Err(resp) => return resp,
    };
    drop(st);
    tracing::debug!(%name, %digest, repushed = (outcome == PutOutcome::Repushed), "manifest pushed");
    manifest_created(shared, name, &digest, subject)
}

/// Everything about a push that can be judged without the store: the reference, the size,
/// the digest, the body and the faults that refuse bodies.
fn prepare_push(config: &RegistryConfig, reference: &str, headers: &HeaderMap, body: Bytes) -> Result<Push, Response> {
    let faults = &config.faults;
    let ref_digest = check_reference(config, reference, body.len())?;
    let digest = manifest_digest(ref_digest.as_ref(), &body, faults)?;
    let raw_content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    // The spec tells registries to ignore Content-Type parameters when interpreting it.
    let bare_content_type = raw_content_type.split(';').next().unwrap_or("").trim();
    let facts = match ManifestFacts::parse(&body, bare_content_type) {
        Ok(f) => f,
        Err(e) => return Err(err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string())),
    };
    if faults.reject_empty_index
        && facts.is_index
        && serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["manifests"].as_array().is_some_and(Vec::is_empty))
    {
        return Err(err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "index has no manifests"));
    }
    if let Some(why) = rejected_by_fault(faults, &body) {
        return Err(err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", why));
    }
    let body = if faults.reserialize_manifests { reserialized(&body) } else { body };
    if faults.subject_media_type_allowlist
        && let Some(subject) = &facts.subject
        && subject.media_type.as_deref() != Some(IMAGE_MANIFEST)
    {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "subject media type not allowed",
        ));
    }
    let content_type = if raw_content_type.is_empty() {
        facts.media_type.clone()
    } else {
        raw_content_type.to_string()
    };
    let tag = ref_digest.is_none().then(|| reference.to_string());
    Ok(Push {
        digest,
        body,
        facts,
        content_type,
        tag,
    })
}

/// Checks the reference (a digest, or a valid tag) and the body size; the reference's digest,
/// if it is one.
fn check_reference(config: &RegistryConfig, reference: &str, size: usize) -> Result<Option<Digest>, Response> {
    let faults = &config.faults;
    let ref_digest = Digest::parse(reference).ok();
    if ref_digest.is_none() && !valid_tag(reference) {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "reference is neither a tag nor a digest",
        )
        .detail(json!({ "reference": reference }))
        .into_response());
    }
    if ref_digest.is_none() && faults.tag_limit_64 && reference.len() > 64 {
        return Err(err(StatusCode::BAD_REQUEST, "TAG_INVALID", "tag longer than 64 characters"));
    }
    if ref_digest.is_none() && faults.fallback_tag_rejected && is_referrers_tag(reference) {
        return Err(err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "reserved tag name"));
    }
    if size > config.max_manifest_bytes {
        return Err(OciError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", "manifest too large")
            .detail(json!({ "size": size, "limit": config.max_manifest_bytes }))
            .into_response());
    }
    Ok(ref_digest)
}

/// The digest the manifest is stored under. A push by digest is hashed with the digest's
/// algorithm, so sha512 manifests work.
fn manifest_digest(ref_digest: Option<&Digest>, body: &Bytes, faults: &Faults) -> Result<Digest, Response> {
    let Some(d) = ref_digest else {
        return Ok(Digest::sha256(body));
    };
    let Some(alg) = d.known_algorithm() else {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "unsupported digest algorithm",
        ));
    };
    let computed = Digest::of(alg, body);
    if computed != *d && faults.trust_reference_digest {
        Ok(d.clone())
    } else if computed != *d {
        Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "manifest digest does not match reference",
        )
        .detail(json!({ "computed": computed.to_string() }))
        .into_response())
    } else {
        Ok(computed)
    }
}

/// What the manifest refers to must be in the repository: its blobs (and, under
/// `reject_missing_subject`, its subject).
fn check_references(faults: &Faults, repo: Option<&Repo>, facts: &ManifestFacts) -> Result<(), Response> {
    if faults.reject_missing_subject
        && let Some(subject) = &facts.subject
        && !repo.is_some_and(|r| r.manifests.contains_key(&subject.digest))
    {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "subject manifest unknown to registry",
        )
        .detail(json!({ "digest": subject.digest.to_string() }))
        .into_response());
    }
    // Image manifests must reference blobs of this repository; index children are not
    // checked, so referrer indexes may point at manifests pushed later.
    let missing: Vec<&Digest> = facts
        .blobs
        .iter()
        .filter(|d| !repo.is_some_and(|r| r.blobs.contains_key(*d)))
        .collect();
    if let Some((first, others)) = missing.split_first() {
        let detail = |d: &Digest| json!({ "digest": d.to_string() });
        if faults.sparse_wrong_code {
            return Err(err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "manifest references unknown blobs"));
        }
        let mut e = OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(detail(first));
        for d in others {
            e = e.and("MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", detail(d));
        }
        return Err(e.into_response());
    }
    Ok(())
}

/// Whether the tag may move to the pushed manifest: conditional-request preconditions and tag
/// locks (and, under `lock_blocks_referrer_push`, a locked subject).
fn check_tag_rules(
    shared: &Shared,
    st: &State,
    name: &str,
    push: &Push,
    subject: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let config = &shared.config;
    let faults = &config.faults;
    if config.conditional_put
        && !faults.conditional_ignored
        && let Some(t) = &push.tag
        && precondition_failed(shared, headers, st.repo(name).and_then(|r| r.tags.get(t)))
    {
        return Err(err(StatusCode::PRECONDITION_FAILED, "DENIED", "precondition failed: the tag changed"));
    }
    if let Some(t) = &push.tag
        && let Some(resp) = locks::tag_move_refused(config.lock_status, faults, st, name, t, &push.digest)
    {
        return Err(resp);
    }
    if faults.lock_blocks_referrer_push
        && let Some(subject) = subject
        && let (Some(locks), Some(r)) = (st.locks.get(name), st.repo(name))
        && locks.iter().any(|t| r.tags.get(t).is_some_and(|d| d.as_str() == subject))
    {
        return Err(err(StatusCode::FORBIDDEN, "DENIED", "the subject is locked"));
    }
    Ok(())
}

/// Stores the push, as bent by the faults that corrupt a write (an ignored tag update, a
/// re-pointed subject tag, a torn tag link, a refused referrer of a deleted subject, an
/// unindexed referrer while the referrers API is off).
fn store_push(shared: &Shared, st: &mut State, name: &str, push: Push, subject: Option<&str>) -> Result<PutOutcome, Response> {
    let faults = &shared.config.faults;
    let Push {
        digest,
        body,
        facts,
        content_type,
        tag,
    } = push;
    let tag = if faults.tag_update_ignored && tag.as_ref().is_some_and(|t| st.repo(name).is_some_and(|r| r.tags.contains_key(t))) {
        None
    } else {
        tag
    };
    if faults.referrer_moves_subject_tag
        && let Some(subject) = subject
        && let (Ok(sd), Some(r)) = (Digest::parse(subject), st.repo_mut(name))
    {
        for target in r.tags.values_mut() {
            if *target == sd {
                *target = digest.clone();
            }
        }
    }
    // The torn-write fault: a tag moved again while its last move is under 50 ms old is left
    // pointing at a digest nothing stored (a half-written link), after answering 201.
    let torn = faults.tag_torn_write
        && tag.as_ref().is_some_and(|t| {
            st.repo(name).is_some_and(|r| {
                r.tags.get(t).is_some_and(|current| *current != digest)
                    && r.tag_times.get(t).is_some_and(|at| at.elapsed() < std::time::Duration::from_millis(50))
            })
        });
    if faults.deleted_subject_push_500
        && let Some(subject) = &facts.subject
        && st.repo(name).is_some_and(|r| r.deleted.contains(&subject.digest) && !r.manifests.contains_key(&subject.digest))
    {
        return Err(err(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "foreign key violation: the subject was deleted"));
    }
    let outcome = st.put_manifest(
        name,
        digest.clone(),
        body,
        content_type,
        facts,
        tag.clone(),
        faults.duplicate_on_repush,
    );
    // F7 fault: a registry that indexes referrers only while its referrers API is on.
    if outcome == PutOutcome::Created
        && faults.forget_referrers_pushed_while_disabled
        && !shared.referrers_api_enabled()
        && let Some(repo) = st.repo_mut(name)
        && let Some(record) = repo.manifests.get(&digest)
        && let Some(subject) = &record.facts.subject
        && let Some(list) = repo.referrers.get_mut(&subject.digest)
    {
        list.remove(&record.seq);
    }
    if torn
        && let Some(t) = &tag
        && let Some(repo) = st.repo_mut(name)
    {
        repo.tags.insert(t.clone(), Digest::sha256(format!("torn:{digest}").as_bytes()));
    }
    Ok(outcome)
}

/// The 201 of a push, with `OCI-Subject` when the manifest has a subject.
fn manifest_created(shared: &Shared, name: &str, digest: &Digest, subject: Option<String>) -> Response {
    let faults = &shared.config.faults;
    let mut resp = reply(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/manifests/{digest}"))
        .header("Docker-Content-Digest", digest.to_string());
    if let Some(subject) = subject
        && shared.referrers_api_enabled()
        && !faults.omit_oci_subject
    {
        let value = if faults.oci_subject_true {
            "true".to_string()
        } else {
            subject
        };
        resp = resp.header("OCI-Subject", value);
    }
    finish(resp, Body::empty())
}

/// The `referrers_lost_update` fault: the subject's referrers list is updated by a
/// read-modify-write with the lock let go in between (like an index file rewritten by each
/// push), so concurrent pushes overwrite each other's entries. The manifests stay stored.
pub async fn put_manifest_lost_update(shared: &Shared, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let subject = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("subject")?.get("digest")?.as_str().and_then(|d| Digest::parse(d).ok()));
    let Some(subject) = subject else {
        return put_manifest(shared, name, reference, headers, body);
    };
    let before = shared.store.lock().repo(name).and_then(|r| r.referrers.get(&subject).cloned()).unwrap_or_default();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let resp = put_manifest(shared, name, reference, headers, body);
    let pushed = resp.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()).and_then(|d| Digest::parse(d).ok());
    if resp.status() == StatusCode::CREATED
        && let Some(digest) = pushed
        && let Some(repo) = shared.store.lock().repo_mut(name)
        && let Some(seq) = repo.manifests.get(&digest).map(|r| r.seq)
    {
        let mut list = before;
        list.insert(seq, digest);
        repo.referrers.insert(subject, list);
    }
    resp
}

/// GET and HEAD.
pub fn get_manifest(shared: &Shared, name: &str, reference: &str) -> Response {
    let st = shared.store.lock();
    let Some(repo) = st.repo(name) else {
        return unknown_name(name);
    };
    let resolved = repo.resolve(reference).or_else(|| {
        // GitLab's bug: a tag `sha256-<hex>` found as the manifest `sha256:<hex>`.
        let (alg, hex) = reference.split_once('-')?;
        (shared.config.faults.tag_resolves_digest && !repo.tags.contains_key(reference))
            .then(|| repo.resolve(&format!("{alg}:{hex}")))
            .flatten()
    });
    match resolved {
        Some((digest, record)) => {
            let mut b = reply(StatusCode::OK)
                .header(header::CONTENT_TYPE, record.content_type.as_str())
                .header("Docker-Content-Digest", digest.to_string());
            if shared.config.conditional_put {
                b = b.header(header::ETAG, etag(shared, digest));
            }
            finish(b, record.bytes.clone())
        }
        None => unknown_manifest(reference),
    }
}

/// The entity tag of a manifest: its digest, quoted (or, with `etag_unstable`, a fresh value).
fn etag(shared: &Shared, digest: &Digest) -> String {
    if shared.config.faults.etag_unstable {
        format!("\"{}\"", shared.store.fresh_id(16))
    } else {
        format!("\"{digest}\"")
    }
}

/// RFC 9110 preconditions on a tag PUT: `If-Match` must name the tag's current ETag,
/// `If-None-Match: *` requires that the tag does not exist yet.
fn precondition_failed(shared: &Shared, headers: &HeaderMap, current: Option<&Digest>) -> bool {
    let value = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(m) = value(header::IF_MATCH) {
        let ok = match current {
            None => false,
            Some(d) => m == "*" || m.split(',').any(|t| t.trim() == format!("\"{d}\"") && !shared.config.faults.etag_unstable),
        };
        if !ok {
            return true;
        }
    }
    if let Some(n) = value(header::IF_NONE_MATCH) {
        let clash = match current {
            None => false,
            Some(d) => n == "*" || n.split(',').any(|t| t.trim() == format!("\"{d}\"")),
        };
        if clash {
            return true;
        }
    }
    false
}

pub fn delete_manifest(shared: &Shared, name: &str, reference: &str) -> Response {
    let faults = &shared.config.faults;
    if faults.delete_disabled_501 {
        return err(StatusCode::NOT_IMPLEMENTED, "UNSUPPORTED", "manifest deletion is disabled");
    }
    if !shared.config.manifest_delete {
        return err(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "manifest deletion is disabled");
    }
    let mut st = shared.store.lock();
    if let Some(resp) = locks::delete_refused(shared.config.lock_status, faults, &st, name, reference) {
        return resp;
    }
    let Some(repo) = st.repo_mut(name) else {
        return unknown_name(name);
    };
    let deleted = match Digest::parse(reference) {
        Ok(d) => {
            let has_referrers = repo.referrers.get(&d).is_some_and(|l| !l.is_empty());
            if faults.subject_delete_412 && repo.manifests.contains_key(&d) && has_referrers {
                return err(StatusCode::PRECONDITION_FAILED, "PRECONDITION", "manifest has referrers");
            }
            let has_subject = repo.manifests.get(&d).is_some_and(|r| r.facts.subject.is_some());
            if faults.manifest_delete_lazy || (faults.delete_keeps_referrer && has_subject) {
                let known = repo.manifests.contains_key(&d);
                if faults.delete_keeps_referrer && has_subject {
                    repo.tags.retain(|_, t| *t != d);
                }
                known
            } else {
                // Deleting by digest removes the manifest, its tags and thus its referrers entries.
                repo.delete_manifest(&d)
            }
        }
        Err(_) if faults.tag_delete_keeps_tag => repo.tags.contains_key(reference),
        Err(_) => match repo.tags.remove(reference) {
            Some(target) => {
                if faults.untag_drops_referrers {
                    repo.referrers.remove(&target);
                }
                true
            }
            None => false,
        },
    };
    if deleted || faults.delete_unknown_202 {
        finish(reply(StatusCode::ACCEPTED), Body::empty())
    } else {
        unknown_manifest(reference)
    }
}

/// The A-group faults that refuse otherwise valid manifests.
fn rejected_by_fault(faults: &Faults, body: &Bytes) -> Option<&'static str> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if faults.strict_subject_fields
        && let Some(subject) = v.get("subject").and_then(Value::as_object)
        && subject.keys().any(|k| !["mediaType", "digest", "size", "annotations", "artifactType", "urls", "data"].contains(&k.as_str()))
    {
        return Some("unknown field in subject");
    }
    let config_type = v.pointer("/config/mediaType").and_then(Value::as_str);
    if faults.reject_empty_config && config_type == Some("application/vnd.oci.empty.v1+json") {
        return Some("empty config not allowed");
    }
    if faults.reject_nested_index
        && v["manifests"].as_array().is_some_and(|m| m.iter().any(|d| d["mediaType"] == IMAGE_INDEX))
    {
        return Some("nested index not allowed");
    }
    if faults.media_type_allowlist {
        const KNOWN: &[&str] = &[
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.empty.v1+json",
            "application/vnd.docker.container.image.v1+json",
            "application/spdx+json",
            "application/vnd.dev.sigstore.bundle.v0.3+json",
        ];
        let at = v.get("artifactType").and_then(Value::as_str);
        if [config_type, at].into_iter().flatten().any(|t| !KNOWN.contains(&t)) {
            return Some("unknown media type");
        }
    }
    None
}

/// The same JSON with every object's keys sorted (what a registry that re-serializes stores).
fn reserialized(body: &Bytes) -> Bytes {
    fn sort(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut pairs: Vec<(String, Value)> = m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(pairs.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sort).collect()),
            other => other,
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Bytes::from(serde_json::to_vec_pretty(&sort(v)).unwrap_or_else(|_| body.to_vec())),
        Err(_) => body.clone(),
    }
}
