//! Request semantics of the embedded registry: path parsing and validation, the OCI error
//! body, blob uploads, manifests, tags and the referrers API — including every fault switch
//! (each one is applied at exactly one place, next to the rule it breaks).
//!
//! All `/v2/<name>/…` requests arrive at [`dispatch`], which parses the path by its last
//! structural suffix, validates the repository name, authenticates (see `auth`) and then
//! calls a synchronous handler that works on the locked store.
// Handlers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use super::auth;
use super::errors::{OciError, err, finish, plain_404, reply, unknown_manifest, unknown_name};
use super::faults::Faults;
use super::locks;
use super::shared::Shared;
use super::store::{IMAGE_INDEX, IMAGE_MANIFEST, ManifestRecord, PutOutcome, Repo, State as StoreState};
use super::syntax::{QueryParam, Route, is_referrers_tag, param, parse_query, parse_route, pct_encode, valid_name, valid_tag};
use super::tokens::Access;
use crate::oci::Digest;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header, response::Builder};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn with_api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        header::HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// `GET /v2/`: the API version check (and the place clients first meet a challenge).
pub async fn base(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(resp) = auth::check(&shared, &headers, &uri, None) {
        return with_api_version(resp);
    }
    if shared.config.faults.ping_404 {
        return err(StatusCode::NOT_FOUND, "UNSUPPORTED", "not a registry");
    }
    // distribution-spec "Warnings": registries MAY warn; this one says what it is.
    let warning = if shared.config.faults.bad_warning_header {
        "199 referee-embedded \"in-memory storage: data is lost on restart\" \"Sat, 28 Nov 2026 00:00:00 GMT\""
    } else {
        "299 - \"referee embedded registry: in-memory storage, data is lost on restart\""
    };
    with_api_version(
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json"), (header::WARNING, warning)], "{}").into_response(),
    )
}

/// Anything outside `/v2` and `/token`.
pub async fn not_found() -> Response {
    err(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint")
}

/// Every other `/v2/…` request.
pub async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rest = uri.path().strip_prefix("/v2/").unwrap_or("");
    let Some(route) = parse_route(rest) else {
        return with_api_version(err(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint"));
    };
    // A pre-1.1 registry has no referrers route at all, so not even auth runs.
    if matches!(route, Route::Referrers { .. })
        && (!shared.referrers_api_enabled() || shared.config.faults.referrers_route_missing)
    {
        return plain_404();
    }
    if !valid_name(route.name()) {
        let e = OciError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", "invalid repository name")
            .detail(json!({ "name": route.name() }));
        return with_api_version(e.into_response());
    }
    if !route.allowed_methods().contains(&method) {
        let allow: Vec<&str> = route.allowed_methods().iter().map(Method::as_str).collect();
        let mut resp = err(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "method not allowed");
        if let Ok(v) = header::HeaderValue::from_str(&allow.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return with_api_version(resp);
    }
    let mut access = match method {
        Method::GET | Method::HEAD => Access::Pull,
        Method::DELETE => Access::Delete,
        _ => Access::Push,
    };
    if shared.config.faults.referrers_require_push_scope && matches!(route, Route::Referrers { .. }) {
        access = Access::Push;
    }
    if let Err(resp) = auth::check(&shared, &headers, &uri, Some((route.name(), access))) {
        return with_api_version(resp);
    }
    let query = uri.query().unwrap_or("");
    let faults = &shared.config.faults;
    if let Some(resp) = rate_limited(&shared, route.name()) {
        return with_api_version(resp);
    }
    if faults.deleted_subject_referrers_404
        && let Route::Referrers { name, digest } = &route
        && let Ok(d) = Digest::parse(digest)
        && shared.store.lock().repo(name).is_some_and(|r| r.deleted.contains(&d))
    {
        return with_api_version(unknown_manifest(digest));
    }
    let reads_content = matches!(route, Route::Blob { .. } | Route::Manifest { .. }) && matches!(method, Method::GET | Method::HEAD);
    let mut resp = match (&route, &method) {
        (Route::UploadStart { name }, _) => start_upload(&shared, name, query, body),
        (Route::Upload { name, uuid }, &Method::PATCH) => patch_upload(&shared, name, uuid, &headers, body),
        (Route::Upload { name, uuid }, &Method::PUT) => put_upload(&shared, name, uuid, query, &headers, body),
        (Route::Upload { name, uuid }, &Method::DELETE) => delete_upload(&shared, name, uuid),
        (Route::Upload { name, uuid }, _) => upload_status(&shared, name, uuid),
        (Route::Blob { name, digest }, &Method::DELETE) => delete_blob(&shared, name, digest),
        (Route::Blob { name, digest }, &Method::GET) if shared.config.redirect_blobs => {
            redirect_blob(&shared, name, digest, &headers).unwrap_or_else(|| get_blob(&shared, name, digest))
        }
        (Route::Blob { name, digest }, _) => get_blob(&shared, name, digest),
        (Route::Manifest { name, reference }, &Method::PUT) if faults.referrers_lost_update => {
            put_manifest_lost_update(&shared, name, reference, &headers, body).await
        }
        (Route::Manifest { name, reference }, &Method::PUT) => put_manifest(&shared, name, reference, &headers, body),
        (Route::Manifest { name, reference }, &Method::DELETE) => delete_manifest(&shared, name, reference),
        (Route::Manifest { name, reference }, _) if faults.conditional_ignored && Digest::parse(reference).is_err() => {
            // Read now, answer 50 ms later: clients that race read the same version.
            let resp = get_manifest(&shared, name, reference);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            resp
        }
        (Route::Manifest { name, reference }, _) => get_manifest(&shared, name, reference),
        (Route::Tags { name }, _) => list_tags(&shared, name, query),
        (Route::Referrers { name, digest }, _) => referrers(&shared, name, digest, uri.path(), query),
    };
    if reads_content && faults.unknown_content_500 && resp.status() == StatusCode::NOT_FOUND {
        resp = err(StatusCode::INTERNAL_SERVER_ERROR, "UNSUPPORTED", "internal error");
    }
    if reads_content && faults.head_no_digest_header && method == Method::HEAD {
        resp.headers_mut().remove("Docker-Content-Digest");
    }
    if reads_content && faults.get_no_digest_header && method == Method::GET && matches!(route, Route::Manifest { .. }) {
        resp.headers_mut().remove("Docker-Content-Digest");
    }
    if faults.nonstandard_error_codes && resp.status() == StatusCode::NOT_FOUND && reads_content {
        resp = err(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    }
    if faults.blob_put_no_location
        && matches!(route, Route::Upload { .. })
        && method == Method::PUT
        && resp.status() == StatusCode::CREATED
    {
        resp.headers_mut().remove(header::LOCATION);
    }
    with_api_version(resp)
}

// ---------------------------------------------------------------------------------------------
// Blobs and uploads

fn blob_location(name: &str, digest: &Digest) -> String {
    format!("/v2/{name}/blobs/{digest}")
}

fn upload_location(name: &str, uuid: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{uuid}")
}

/// `Range: 0-<last byte>`; an empty upload reports `0-0` as distribution does.
fn range_value(len: usize) -> String {
    format!("0-{}", len.saturating_sub(1))
}

/// Parses a digest supplied by the client and insists we can compute it.
fn client_digest(s: Option<&str>) -> Result<Digest, Response> {
    let s = s.ok_or_else(|| err(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "missing digest parameter"))?;
    let d = Digest::parse(s).map_err(|e| {
        OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest")
            .detail(json!(e.to_string()))
            .into_response()
    })?;
    if !d.is_supported() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "unsupported digest algorithm",
        ));
    }
    Ok(d)
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    finish(
        reply(StatusCode::CREATED)
            .header(header::LOCATION, blob_location(name, digest))
            .header("Docker-Content-Digest", digest.to_string()),
        Body::empty(),
    )
}

fn digest_mismatch(expected: &Digest) -> Response {
    OciError::new(
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
        "provided digest did not match uploaded content",
    )
    .detail(json!({ "digest": expected.to_string() }))
    .into_response()
}

fn start_upload(shared: &Shared, name: &str, query: &str, body: Bytes) -> Response {
    let params = parse_query(query);
    if let Some(mount) = param(&params, "mount") {
        let digest = match client_digest(Some(mount)) {
            Ok(d) => d,
            Err(resp) => return resp,
        };
        let faults = &shared.config.faults;
        if faults.mount_denied_with_token && matches!(shared.config.auth, super::config::AuthMode::Token { .. }) {
            return err(StatusCode::FORBIDDEN, "DENIED", "mount denied");
        }
        if faults.mount_sha256_only && digest.algorithm() != "sha256" {
            return err(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "only sha256 blobs can be mounted");
        }
        let mut st = shared.store.lock();
        // Without `from` we may mount from anywhere (the spec allows it).
        let found = match param(&params, "from") {
            Some(from) => st.repo(from).and_then(|r| r.blobs.get(&digest)).cloned(),
            None => st.repos.values().find_map(|r| r.blobs.get(&digest)).cloned(),
        };
        let faults = &shared.config.faults;
        if let Some(bytes) = found {
            let repo = st.repo_or_create(name);
            if !faults.mount_without_copy {
                repo.put_blob(digest.clone(), bytes);
            }
            return blob_created(name, &digest);
        }
        if faults.false_mount {
            st.repo_or_create(name);
            return blob_created(name, &digest);
        }
        if faults.mount_session_no_location {
            let uuid = shared.store.fresh_id(32);
            st.repo_or_create(name).uploads.insert(uuid.clone(), Vec::new());
            return finish(reply(StatusCode::ACCEPTED).header("Docker-Upload-UUID", uuid), Body::empty());
        }
        // Not mountable: fall through to an ordinary upload session (202).
    } else if let Some(d) = param(&params, "digest") {
        let digest = match client_digest(Some(d)) {
            Ok(d) => d,
            Err(resp) => return resp,
        };
        if !digest.verify(&body) {
            return digest_mismatch(&digest);
        }
        if shared.config.faults.small_blob_rejected && body.len() < 3 {
            return err(StatusCode::BAD_REQUEST, "SIZE_INVALID", "blob too small");
        }
        let mut st = shared.store.lock();
        let repo = st.repo_or_create(name);
        if !shared.config.faults.single_post_drops_body {
            repo.put_blob(digest.clone(), body);
        }
        return blob_created(name, &digest);
    }
    let uuid = shared.store.fresh_id(32);
    shared
        .store
        .lock()
        .repo_or_create(name)
        .uploads
        .insert(uuid.clone(), Vec::new());
    finish(
        reply(StatusCode::ACCEPTED)
            .header(header::LOCATION, upload_location(name, &uuid))
            .header(header::RANGE, "0-0")
            .header("Docker-Upload-UUID", uuid),
        Body::empty(),
    )
}

fn unknown_upload(uuid: &str) -> Response {
    OciError::new(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
    )
    .detail(json!({ "uuid": uuid }))
    .into_response()
}

fn upload_progress(status: StatusCode, name: &str, uuid: &str, len: usize) -> Builder {
    reply(status)
        .header(header::LOCATION, upload_location(name, uuid))
        .header(header::RANGE, range_value(len))
        .header("Docker-Upload-UUID", uuid)
}

/// Start offset of a `Content-Range: <start>-<end>` header (a `bytes` unit is tolerated).
fn content_range_start(headers: &HeaderMap) -> Option<Result<usize, ()>> {
    let v = headers.get(header::CONTENT_RANGE)?;
    let s = v.to_str().map_err(|_| ()).map(str::trim);
    Some(s.and_then(|s| {
        let s = s
            .strip_prefix("bytes")
            .map(|r| r.trim_start_matches([' ', '=']))
            .unwrap_or(s);
        let (a, b) = s.split_once('-').ok_or(())?;
        let a: usize = a.trim().parse().map_err(|_| ())?;
        let _: usize = b.trim().split('/').next().unwrap_or("").parse().map_err(|_| ())?;
        Ok(a)
    }))
}

/// Checks the chunk's start against the bytes received so far (416 when out of order).
fn check_chunk_start(headers: &HeaderMap, name: &str, uuid: &str, len: usize) -> Result<(), Response> {
    match content_range_start(headers) {
        None => Ok(()),
        Some(Err(())) => Err(err(
            StatusCode::BAD_REQUEST,
            "BLOB_UPLOAD_INVALID",
            "invalid content-range",
        )),
        Some(Ok(start)) if start == len => Ok(()),
        Some(Ok(start)) => {
            let e = OciError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                "chunk out of order",
            )
            .detail(json!({ "expected_start": len, "got_start": start }));
            let mut resp = e.into_response();
            let progress = upload_progress(StatusCode::RANGE_NOT_SATISFIABLE, name, uuid, len);
            if let Some(h) = progress.headers_ref() {
                for (k, v) in h {
                    resp.headers_mut().insert(k, v.clone());
                }
            }
            Err(resp)
        }
    }
}

fn patch_upload(shared: &Shared, name: &str, uuid: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let mut st = shared.store.lock();
    let Some(upload) = st.repo_mut(name).and_then(|r| r.uploads.get_mut(uuid)) else {
        return unknown_upload(uuid);
    };
    if !shared.config.faults.chunk_range_ignored
        && let Err(resp) = check_chunk_start(headers, name, uuid, upload.len())
    {
        return resp;
    }
    upload.extend_from_slice(&body);
    finish(
        upload_progress(StatusCode::ACCEPTED, name, uuid, upload.len()),
        Body::empty(),
    )
}

fn put_upload(shared: &Shared, name: &str, uuid: &str, query: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let params = parse_query(query);
    let mut st = shared.store.lock();
    let Some(repo) = st.repo_mut(name) else {
        return unknown_upload(uuid);
    };
    let Some(upload) = repo.uploads.get_mut(uuid) else {
        return unknown_upload(uuid);
    };
    let digest = match client_digest(param(&params, "digest")) {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    if !body.is_empty()
        && let Err(resp) = check_chunk_start(headers, name, uuid, upload.len())
    {
        return resp;
    }
    let before = upload.len();
    upload.extend_from_slice(&body);
    if !digest.verify(upload) {
        // Keep the session as it was so the client can still fix its last chunk.
        upload.truncate(before);
        return digest_mismatch(&digest);
    }
    if shared.config.faults.small_blob_rejected && upload.len() < 3 {
        upload.truncate(before);
        return err(StatusCode::BAD_REQUEST, "SIZE_INVALID", "blob too small");
    }
    if shared.config.faults.concurrent_blob_put_500
        && repo.blob_times.get(&digest).is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1))
    {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "duplicate key: the blob is being written by another upload");
    }
    let data = repo.uploads.remove(uuid).unwrap_or_default();
    repo.put_blob(digest.clone(), Bytes::from(data));
    blob_created(name, &digest)
}

fn upload_status(shared: &Shared, name: &str, uuid: &str) -> Response {
    let st = shared.store.lock();
    match st.repo(name).and_then(|r| r.uploads.get(uuid)) {
        Some(upload) => finish(
            upload_progress(StatusCode::NO_CONTENT, name, uuid, upload.len()),
            Body::empty(),
        ),
        None => unknown_upload(uuid),
    }
}

fn delete_upload(shared: &Shared, name: &str, uuid: &str) -> Response {
    if shared.config.faults.cancel_upload_500 {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "UNSUPPORTED", "cannot cancel");
    }
    let mut st = shared.store.lock();
    match st.repo_mut(name).and_then(|r| r.uploads.remove(uuid)) {
        Some(_) => finish(reply(StatusCode::NO_CONTENT), Body::empty()),
        None => unknown_upload(uuid),
    }
}

fn parse_path_digest(s: &str) -> Result<Digest, Response> {
    Digest::parse(s).map_err(|e| {
        OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest")
            .detail(json!(e.to_string()))
            .into_response()
    })
}

fn unknown_blob(digest: &Digest) -> Response {
    OciError::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry")
        .detail(json!({ "digest": digest.to_string() }))
        .into_response()
}

/// GET and HEAD (axum drops the body of HEAD responses after setting Content-Length).
/// Repositories named `…-ratelimited` allow 10 requests a second (a fixed window), so the
/// N2 check can meet a 429 on purpose without slowing anything else down.
fn rate_limited(shared: &Shared, name: &str) -> Option<Response> {
    if !name.ends_with("-ratelimited") {
        return None;
    }
    let mut st = shared.store.lock();
    let now = std::time::Instant::now();
    let window = st.rate_window.entry(name.to_string()).or_insert((now, 0));
    if now.duration_since(window.0) >= std::time::Duration::from_secs(1) {
        *window = (now, 0);
    }
    window.1 += 1;
    if window.1 <= 10 {
        return None;
    }
    Some(if shared.config.faults.rate_limit_bad_body {
        finish(reply(StatusCode::TOO_MANY_REQUESTS).header(header::CONTENT_TYPE, "application/json"), r#"{"error":"slow down"}"#)
    } else {
        let mut r = err(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", "too many requests");
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        r
    })
}

/// A `307` to the same blob on the other loopback host name (`127.0.0.1` ⇄ `localhost`), as a
/// registry with an object-store backend sends clients elsewhere. `None` when the blob is
/// unknown or the request has no usable `Host`.
fn redirect_blob(shared: &Shared, name: &str, digest: &str, headers: &HeaderMap) -> Option<Response> {
    let d = Digest::parse(digest).ok()?;
    shared.store.lock().repo(name)?.blobs.get(&d)?;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let (h, port) = host.rsplit_once(':')?;
    let other = if h == "localhost" { "127.0.0.1" } else { "localhost" };
    let target = if shared.config.faults.redirect_target_missing { Digest::sha256(b"nothing here") } else { d.clone() };
    let location = format!("http://{other}:{port}/direct/blobs/{target}?sig={}", shared.sign(&target));
    Some(finish(reply(StatusCode::TEMPORARY_REDIRECT).header(header::LOCATION, location), Body::empty()))
}

/// The redirect target: serves a blob to whoever holds a valid signature, and refuses
/// credentials — a client that forwards `Authorization` to another host gets a 400.
pub async fn direct_blob(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(digest): axum::extract::Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return err(StatusCode::BAD_REQUEST, "DENIED", "credentials were forwarded to another host");
    }
    let Ok(d) = Digest::parse(&digest) else {
        return err(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest");
    };
    let params = parse_query(uri.query().unwrap_or(""));
    if param(&params, "sig") != Some(shared.sign(&d).as_str()) {
        return err(StatusCode::FORBIDDEN, "DENIED", "bad signature");
    }
    let st = shared.store.lock();
    match st.repos.values().find_map(|r| r.blobs.get(&d)) {
        Some(bytes) => finish(
            reply(StatusCode::OK).header(header::CONTENT_TYPE, "application/octet-stream"),
            bytes.clone(),
        ),
        None => unknown_blob(&d),
    }
}

fn get_blob(shared: &Shared, name: &str, digest: &str) -> Response {
    let digest = match parse_path_digest(digest) {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let st = shared.store.lock();
    match st.repo(name).and_then(|r| r.blobs.get(&digest)) {
        Some(bytes) => finish(
            reply(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header("Docker-Content-Digest", digest.to_string()),
            bytes.clone(),
        ),
        None => unknown_blob(&digest),
    }
}

fn delete_blob(shared: &Shared, name: &str, digest: &str) -> Response {
    let digest = match parse_path_digest(digest) {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let mut st = shared.store.lock();
    let lazy = shared.config.faults.blob_delete_lazy;
    let found = st.repo_mut(name).and_then(|r| if lazy { r.blobs.get(&digest).cloned() } else { r.remove_blob(&digest) });
    match found {
        Some(_) => finish(reply(StatusCode::ACCEPTED), Body::empty()),
        None => unknown_blob(&digest),
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests and tags

fn put_manifest(shared: &Shared, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let config = &shared.config;
    let faults = &config.faults;
    let ref_digest = Digest::parse(reference).ok();
    if ref_digest.is_none() && !valid_tag(reference) {
        return OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "reference is neither a tag nor a digest",
        )
        .detail(json!({ "reference": reference }))
        .into_response();
    }
    if ref_digest.is_none() && faults.tag_limit_64 && reference.len() > 64 {
        return err(StatusCode::BAD_REQUEST, "TAG_INVALID", "tag longer than 64 characters");
    }
    if ref_digest.is_none() && faults.fallback_tag_rejected && is_referrers_tag(reference) {
        return err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "reserved tag name");
    }
    if body.len() > config.max_manifest_bytes {
        return OciError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", "manifest too large")
            .detail(json!({ "size": body.len(), "limit": config.max_manifest_bytes }))
            .into_response();
    }
    // A push by digest is hashed with the digest's algorithm, so sha512 manifests work.
    let digest = match &ref_digest {
        Some(d) => {
            let Some(alg) = d.known_algorithm() else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "unsupported digest algorithm",
                );
            };
            let computed = Digest::of(alg, &body);
            if computed != *d && faults.trust_reference_digest {
                d.clone()
            } else if computed != *d {
                return OciError::new(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "manifest digest does not match reference",
                )
                .detail(json!({ "computed": computed.to_string() }))
                .into_response();
            } else {
                computed
            }
        }
        None => Digest::sha256(&body),
    };
    let raw_content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    // The spec tells registries to ignore Content-Type parameters when interpreting it.
    let bare_content_type = raw_content_type.split(';').next().unwrap_or("").trim();
    let facts = match super::store::ManifestFacts::parse(&body, bare_content_type) {
        Ok(f) => f,
        Err(e) => return err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()),
    };
    if faults.reject_empty_index
        && facts.is_index
        && serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["manifests"].as_array().is_some_and(Vec::is_empty))
    {
        return err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "index has no manifests");
    }
    if let Some(why) = rejected_by_fault(faults, &body) {
        return err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", why);
    }
    let body = if faults.reserialize_manifests { reserialized(&body) } else { body };
    if faults.subject_media_type_allowlist
        && let Some(subject) = &facts.subject
        && subject.media_type.as_deref() != Some(IMAGE_MANIFEST)
    {
        return err(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "subject media type not allowed",
        );
    }

    let mut st = shared.store.lock();
    let repo = st.repo(name);
    if faults.reject_missing_subject
        && let Some(subject) = &facts.subject
        && !repo.is_some_and(|r| r.manifests.contains_key(&subject.digest))
    {
        return OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "subject manifest unknown to registry",
        )
        .detail(json!({ "digest": subject.digest.to_string() }))
        .into_response();
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
            return err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "manifest references unknown blobs");
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
        return e.into_response();
    }

    let subject_header = facts.subject.as_ref().map(|s| s.digest.to_string());
    let stored_content_type = if raw_content_type.is_empty() {
        facts.media_type.clone()
    } else {
        raw_content_type.to_string()
    };
    let tag = ref_digest.is_none().then(|| reference.to_string());
    if config.conditional_put
        && !faults.conditional_ignored
        && let Some(t) = &tag
        && precondition_failed(shared, headers, st.repo(name).and_then(|r| r.tags.get(t)))
    {
        return err(StatusCode::PRECONDITION_FAILED, "DENIED", "precondition failed: the tag changed");
    }
    if let Some(t) = &tag
        && let Some(resp) = locks::tag_move_refused(shared.config.lock_status, faults, &st, name, t, &digest)
    {
        return resp;
    }
    if faults.lock_blocks_referrer_push
        && let Some(subject) = &subject_header
        && let (Some(locks), Some(r)) = (st.locks.get(name), st.repo(name))
        && locks.iter().any(|t| r.tags.get(t).is_some_and(|d| d.as_str() == subject))
    {
        return err(StatusCode::FORBIDDEN, "DENIED", "the subject is locked");
    }
    let tag = if faults.tag_update_ignored && tag.as_ref().is_some_and(|t| st.repo(name).is_some_and(|r| r.tags.contains_key(t))) {
        None
    } else {
        tag
    };
    if faults.referrer_moves_subject_tag
        && let Some(subject) = &subject_header
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
        return err(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "foreign key violation: the subject was deleted");
    }
    let outcome = st.put_manifest(
        name,
        digest.clone(),
        body,
        stored_content_type,
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
    drop(st);
    tracing::debug!(%name, %digest, repushed = (outcome == PutOutcome::Repushed), "manifest pushed");

    let mut resp = reply(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/manifests/{digest}"))
        .header("Docker-Content-Digest", digest.to_string());
    if let Some(subject) = subject_header
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
async fn put_manifest_lost_update(shared: &Shared, name: &str, reference: &str, headers: &HeaderMap, body: Bytes) -> Response {
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
fn get_manifest(shared: &Shared, name: &str, reference: &str) -> Response {
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

fn delete_manifest(shared: &Shared, name: &str, reference: &str) -> Response {
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

fn list_tags(shared: &Shared, name: &str, query: &str) -> Response {
    let params = parse_query(query);
    let n: Option<usize> = match param(&params, "n") {
        None | Some("") => None,
        Some(v) => match v.parse() {
            Ok(n) => Some(n),
            Err(_) => return err(StatusCode::BAD_REQUEST, "UNSUPPORTED", "invalid n parameter"),
        },
    };
    let last = param(&params, "last");
    let st = shared.store.lock();
    let Some(repo) = st.repo(name) else {
        return unknown_name(name);
    };
    let mut remaining = repo.tags.keys().filter(|t| last.is_none_or(|l| t.as_str() > l));
    let limit = n.unwrap_or(usize::MAX);
    let mut tags: Vec<&String> = remaining.by_ref().take(limit).collect();
    if shared.config.faults.tags_list_unsorted {
        tags.reverse();
    }
    let more = limit > 0 && remaining.next().is_some();
    let body = json!({ "name": name, "tags": tags }).to_string();
    let mut resp = reply(StatusCode::OK).header(header::CONTENT_TYPE, "application/json");
    if more && let (Some(n), Some(last_tag)) = (n, tags.last()) {
        resp = resp.header(
            header::LINK,
            format!(
                "</v2/{name}/tags/list?n={n}&last={}>; rel=\"next\"",
                pct_encode(last_tag)
            ),
        );
    }
    finish(resp, body)
}

// ---------------------------------------------------------------------------------------------
// Referrers

const INDEX_PREFIX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":"#;

/// A referrer as listed: where it lives and under which sequence number.
#[derive(Clone, Copy)]
struct Listed<'a> {
    seq: u64,
    repo: &'a str,
    digest: &'a Digest,
    record: &'a ManifestRecord,
}

/// Whether a stored referrer shows up in lists at all (the B-group and lag faults).
fn listable(record: &ManifestRecord, repo: &Repo, subject: &Digest, faults: &Faults, now: Instant) -> bool {
    let facts = &record.facts;
    if faults.referrers_lag_ms > 0
        && now.duration_since(record.pushed_at) < Duration::from_millis(faults.referrers_lag_ms)
    {
        return false;
    }
    if faults.forget_early_referrers && !facts.subject_existed {
        return false;
    }
    if faults.ignore_index_subject && facts.is_index {
        return false;
    }
    if faults.drop_sha512_referrers && subject.algorithm() == "sha512" {
        return false;
    }
    if faults.drop_mismatched_subject
        && let Some(s) = &facts.subject
        && let Some(stored) = repo.manifests.get(&s.digest)
        && stored.bytes.len() as u64 != s.size
    {
        return false;
    }
    true
}

/// Direct referrers of `subject` in `name` (or everywhere, under `referrers_ignore_repo`).
fn direct_referrers<'a>(
    st: &'a StoreState,
    name: &str,
    subject: &Digest,
    faults: &Faults,
    now: Instant,
) -> Vec<Listed<'a>> {
    let repos: Vec<(&'a String, &'a Repo)> = if faults.referrers_ignore_repo {
        st.repos.iter().collect()
    } else {
        st.repos.get_key_value(name).into_iter().collect()
    };
    let mut out = Vec::new();
    for (repo_name, repo) in repos {
        let Some(list) = repo.referrers.get(subject) else {
            continue;
        };
        for (&seq, digest) in list {
            if let Some(record) = repo.manifests.get(digest)
                && listable(record, repo, subject, faults, now)
            {
                out.push(Listed {
                    seq,
                    repo: repo_name,
                    digest,
                    record,
                });
            }
        }
    }
    out.sort_by_key(|l| l.seq);
    out
}

/// Every listed referrer of `subject`, oldest push first.
fn collect_referrers<'a>(st: &'a StoreState, name: &str, subject: &Digest, faults: &Faults) -> Vec<Listed<'a>> {
    let now = Instant::now();
    let mut out = direct_referrers(st, name, subject, faults, now);
    let tags: [(bool, String); 2] = [
        (faults.fallback_index_listed, crate::oci::referrers_tag(subject.as_str())),
        (faults.cosign_tag_listed, format!("{}.sig", crate::oci::referrers_tag(subject.as_str()))),
    ];
    for (on, tag) in tags {
        if on
            && let Some((repo_name, repo)) = st.repos.get_key_value(name)
            && let Some((digest, record)) = repo.resolve(&tag)
        {
            out.push(Listed { seq: record.seq, repo: repo_name, digest, record });
        }
    }
    if faults.include_transitive_referrers {
        // Bounded so a (hash-impossible, but fault-tolerant) cycle cannot spin forever.
        const MAX_DEPTH: usize = 8;
        const MAX_ENTRIES: usize = 10_000;
        let mut seen: HashSet<(&str, u64)> = out.iter().map(|l| (l.repo, l.seq)).collect();
        let mut frontier: Vec<&Digest> = out.iter().map(|l| l.digest).collect();
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for d in frontier {
                for l in direct_referrers(st, name, d, faults, now) {
                    if out.len() < MAX_ENTRIES && seen.insert((l.repo, l.seq)) {
                        next.push(l.digest);
                        out.push(l);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out.sort_by_key(|l| l.seq);
    }
    out
}

/// The descriptor's artifactType per the spec, as bent by the C-group faults.
fn descriptor_artifact_type(record: &ManifestRecord, faults: &Faults) -> Option<String> {
    let facts = &record.facts;
    if faults.artifact_type_from_config && facts.config_media_type.is_some() {
        return facts.config_media_type.clone();
    }
    if let Some(own) = &facts.artifact_type {
        return Some(own.clone());
    }
    if facts.is_index {
        return faults.index_artifact_type_empty.then(String::new);
    }
    if faults.omit_config_artifact_type {
        return None;
    }
    facts.config_media_type.clone()
}

/// Serializes one descriptor: mediaType, digest, size, artifactType, annotations.
fn descriptor_json(l: &Listed<'_>, faults: &Faults) -> String {
    let facts = &l.record.facts;
    let mut m = Map::new();
    if !faults.descriptor_missing_media_type {
        m.insert("mediaType".into(), Value::String(facts.media_type.clone()));
    }
    m.insert("digest".into(), Value::String(l.digest.to_string()));
    m.insert("size".into(), Value::from(facts.size));
    if let Some(at) = descriptor_artifact_type(l.record, faults) {
        m.insert("artifactType".into(), Value::String(at));
    }
    if !faults.drop_annotations
        && let Some(a) = &facts.annotations
    {
        m.insert("annotations".into(), Value::Object(a.clone()));
    }
    Value::Object(m).to_string()
}

/// How a referrers request wants its results filtered.
enum Filter {
    None,
    /// `(value to compare, value to put back into Link)`.
    ArtifactType(String, String),
}

fn referrers(shared: &Shared, name: &str, digest: &str, path: &str, query: &str) -> Response {
    let config = &shared.config;
    let faults = &config.faults;
    let subject = match Digest::parse(digest) {
        Ok(d) => d,
        Err(e) if faults.invalid_digest_404 => {
            return OciError::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown")
                .detail(json!(e.to_string()))
                .into_response();
        }
        Err(e) => {
            return OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest")
                .detail(json!(e.to_string()))
                .into_response();
        }
    };
    if !subject.is_supported() {
        let status = if faults.unknown_algorithm_404 {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        let code = if faults.unknown_algorithm_404 {
            "MANIFEST_UNKNOWN"
        } else {
            "DIGEST_INVALID"
        };
        return OciError::new(status, code, "unsupported digest algorithm")
            .detail(json!({ "digest": digest }))
            .into_response();
    }

    let params = parse_query(query);
    let filter_params: Vec<&QueryParam> = params.iter().filter(|p| p.key == "artifactType").collect();
    // An empty or repeated artifactType is ambiguous; we then answer unfiltered (and without
    // OCI-Filters-Applied) rather than guessing which value was meant.
    let filter = match filter_params.as_slice() {
        [p] if !p.value.is_empty() => {
            if faults.no_query_percent_decode {
                Filter::ArtifactType(p.raw.clone(), p.raw.clone())
            } else {
                Filter::ArtifactType(p.value.clone(), pct_encode(&p.value))
            }
        }
        [] => Filter::None,
        _ if faults.empty_filter_500 => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNSUPPORTED",
                "cannot handle artifactType parameter",
            );
        }
        _ => Filter::None,
    };
    let cursor_key = if faults.unstable_cursor { "offset" } else { "next" };
    let cursor: Option<u64> = match param(&params, cursor_key) {
        None => None,
        Some(v) => match v.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "UNSUPPORTED",
                    format!("invalid {cursor_key} parameter"),
                );
            }
        },
    };

    let st = shared.store.lock();
    if faults.unknown_repo_plain_404 && st.repo(name).is_none() {
        return plain_404();
    }
    let mut entries = collect_referrers(&st, name, &subject, faults);
    if let Filter::ArtifactType(wanted, _) = &filter {
        entries.retain(|l| {
            let facts = &l.record.facts;
            let have = if faults.filter_ignores_config_type {
                facts.artifact_type.as_deref()
            } else {
                facts.effective_artifact_type()
            };
            (have == Some(wanted.as_str())) != faults.filter_inverted
        });
    }
    // Applied to the list as the client would see it (after filtering, before paging).
    if faults.drop_last_referrer {
        entries.pop();
    }
    if faults.duplicate_entries {
        entries = entries.into_iter().flat_map(|l| [l, l]).collect();
    }
    if faults.unstable_cursor {
        entries.reverse();
    }
    if entries.is_empty() && faults.unknown_subject_404 {
        return unknown_manifest(digest);
    }

    // Where this page starts: after the cursor's sequence number (stable under inserts), or,
    // under `unstable_cursor`, at a plain offset.
    let start = match cursor {
        None => 0,
        Some(c) if faults.unstable_cursor => usize::try_from(c).unwrap_or(usize::MAX).min(entries.len()),
        Some(c) => entries.partition_point(|l| l.seq <= c),
    };
    let mut page: Vec<String> = Vec::new();
    let mut bytes = INDEX_PREFIX.len() + "[]}".len();
    let mut end = start;
    while end < entries.len() && page.len() < config.page_size.max(1) {
        let d = descriptor_json(&entries[end], faults);
        let added = d.len() + usize::from(!page.is_empty());
        if !page.is_empty() && bytes + added > config.page_bytes {
            break;
        }
        bytes += added;
        page.push(d);
        end += 1;
    }
    if faults.page_duplicates && cursor.is_some() && start > 0 {
        page.insert(0, descriptor_json(&entries[start - 1], faults));
    }
    let more = end < entries.len();
    let last_seq = end.checked_sub(1).filter(|&i| i >= start).map(|i| entries[i].seq);
    drop(st);

    let body = if page.is_empty() && faults.referrers_null_list {
        format!("{INDEX_PREFIX}null}}")
    } else {
        format!("{INDEX_PREFIX}[{}]}}", page.join(","))
    };
    let json_type = faults.referrers_content_type_json || (faults.later_pages_bad_content_type && cursor.is_some());
    let mut resp = reply(StatusCode::OK).header(
        header::CONTENT_TYPE,
        if json_type { "application/json" } else { IMAGE_INDEX },
    );
    if let Filter::ArtifactType(..) = filter
        && !faults.omit_filters_header
    {
        let value = if faults.filters_header_wrong_value {
            "mediaType"
        } else {
            "artifactType"
        };
        resp = resp.header("OCI-Filters-Applied", value);
    }
    let target = if more && !faults.omit_link {
        let mut q = Vec::new();
        if let Filter::ArtifactType(_, encoded) = &filter
            && !faults.link_drops_filter
        {
            q.push(format!("artifactType={encoded}"));
        }
        if faults.unstable_cursor {
            q.push(format!("offset={end}"));
        } else {
            q.push(format!("next={}", last_seq.unwrap_or(0)));
        }
        Some(format!("/v2/{name}/referrers/{subject}?{}", q.join("&")))
    } else if !more && faults.link_on_last_page {
        Some(if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        })
    } else {
        None
    };
    if let Some(target) = target {
        let link = if faults.link_malformed {
            format!("{target}; rel=\"next\"")
        } else {
            format!("<{target}>; rel=\"next\"")
        };
        resp = resp.header(header::LINK, link);
    }
    finish(resp, body)
}
