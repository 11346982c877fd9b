//! Stored blobs: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`, redirects and their target.
//!
//! A `GET` may be redirected to the other loopback host name; the signed target is
//! `/direct/blobs/<digest>`.
// Handlers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use crate::oci::Digest;
use crate::registry::errors::{OciError, err, finish, reply};
use crate::registry::shared::Shared;
use crate::registry::syntax::{param, parse_query};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

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

/// A `307` to the same blob on the other loopback host name (`127.0.0.1` ⇄ `localhost`), as a
/// registry with an object-store backend sends clients elsewhere. `None` when the blob is
/// unknown or the request has no usable `Host`.
pub fn redirect_blob(shared: &Shared, name: &str, digest: &str, headers: &HeaderMap) -> Option<Response> {
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

/// GET and HEAD (axum drops the body of HEAD responses after setting Content-Length).
pub fn get_blob(shared: &Shared, name: &str, digest: &str) -> Response {
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

pub fn delete_blob(shared: &Shared, name: &str, digest: &str) -> Response {
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
