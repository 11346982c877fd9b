//! Routing of `/v2/…` requests ([`dispatch`]), `GET /v2/`, the fallback 404, the version header.
//!
//! Every `/v2/<name>/…` request arrives at [`dispatch`], which parses the path by its last
//! structural suffix (`syntax::parse_route`), validates the repository name, authenticates
//! (see `auth`), applies the rate limit and then calls the synchronous endpoint that works on
//! the locked store (`endpoints`). The faults that bend every content read act here, on the
//! endpoint's answer.
// Handlers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use super::auth;
use super::endpoints::{blobs, manifests, referrers, tags, uploads};
use super::errors::{OciError, err, finish, plain_404, reply, unknown_manifest};
use super::shared::Shared;
use super::syntax::{Route, parse_route, valid_name};
use super::tokens::Access;
use crate::oci::Digest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

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
        (Route::UploadStart { name }, _) => uploads::start_upload(&shared, name, query, body),
        (Route::Upload { name, uuid }, &Method::PATCH) => uploads::patch_upload(&shared, name, uuid, &headers, body),
        (Route::Upload { name, uuid }, &Method::PUT) => uploads::put_upload(&shared, name, uuid, query, &headers, body),
        (Route::Upload { name, uuid }, &Method::DELETE) => uploads::delete_upload(&shared, name, uuid),
        (Route::Upload { name, uuid }, _) => uploads::upload_status(&shared, name, uuid),
        (Route::Blob { name, digest }, &Method::DELETE) => blobs::delete_blob(&shared, name, digest),
        (Route::Blob { name, digest }, &Method::GET) if shared.config.redirect_blobs => {
            blobs::redirect_blob(&shared, name, digest, &headers).unwrap_or_else(|| blobs::get_blob(&shared, name, digest))
        }
        (Route::Blob { name, digest }, _) => blobs::get_blob(&shared, name, digest),
        (Route::Manifest { name, reference }, &Method::PUT) if faults.referrers_lost_update => {
            manifests::put_manifest_lost_update(&shared, name, reference, &headers, body).await
        }
        (Route::Manifest { name, reference }, &Method::PUT) => manifests::put_manifest(&shared, name, reference, &headers, body),
        (Route::Manifest { name, reference }, &Method::DELETE) => manifests::delete_manifest(&shared, name, reference),
        (Route::Manifest { name, reference }, _) if faults.conditional_ignored && Digest::parse(reference).is_err() => {
            // Read now, answer 50 ms later: clients that race read the same version.
            let resp = manifests::get_manifest(&shared, name, reference);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            resp
        }
        (Route::Manifest { name, reference }, _) => manifests::get_manifest(&shared, name, reference),
        (Route::Tags { name }, _) => tags::list_tags(&shared, name, query),
        (Route::Referrers { name, digest }, _) => referrers::referrers(&shared, name, digest, uri.path(), query),
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
