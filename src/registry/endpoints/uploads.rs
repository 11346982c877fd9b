//! Blob uploads: upload sessions, single-POST uploads and mounts, with their faults.
//!
//! `POST /v2/<name>/blobs/uploads/` starts one (or uploads, or mounts, at once);
//! `GET`/`PATCH`/`PUT`/`DELETE` of `/v2/<name>/blobs/uploads/<uuid>` work on a session.
// Handlers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use crate::oci::Digest;
use crate::registry::errors::{OciError, err, finish, reply};
use crate::registry::config::AuthMode;
use crate::registry::shared::Shared;
use crate::registry::syntax::{param, parse_query};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header, response::Builder};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

fn blob_created(shared: &Shared, name: &str, digest: &Digest) -> Response {
    let mut b = reply(StatusCode::CREATED).header(header::LOCATION, blob_location(name, digest));
    if shared.config.upload_digest_header {
        b = b.header("Docker-Content-Digest", digest.to_string());
    }
    finish(b, Body::empty())
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

pub fn start_upload(shared: &Shared, name: &str, query: &str, body: Bytes) -> Response {
    let params = parse_query(query);
    if let Some(mount) = param(&params, "mount") {
        let digest = match client_digest(Some(mount)) {
            Ok(d) => d,
            Err(resp) => return resp,
        };
        let faults = &shared.config.faults;
        if faults.mount_denied_with_token && matches!(shared.config.auth, AuthMode::Token { .. }) {
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
            return blob_created(shared, name, &digest);
        }
        if faults.false_mount {
            st.repo_or_create(name);
            return blob_created(shared, name, &digest);
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
        return blob_created(shared, name, &digest);
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

pub fn patch_upload(shared: &Shared, name: &str, uuid: &str, headers: &HeaderMap, body: Bytes) -> Response {
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

pub fn put_upload(shared: &Shared, name: &str, uuid: &str, query: &str, headers: &HeaderMap, body: Bytes) -> Response {
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
    blob_created(shared, name, &digest)
}

pub fn upload_status(shared: &Shared, name: &str, uuid: &str) -> Response {
    let st = shared.store.lock();
    match st.repo(name).and_then(|r| r.uploads.get(uuid)) {
        Some(upload) => finish(
            upload_progress(StatusCode::NO_CONTENT, name, uuid, upload.len()),
            Body::empty(),
        ),
        None => unknown_upload(uuid),
    }
}

pub fn delete_upload(shared: &Shared, name: &str, uuid: &str) -> Response {
    if shared.config.faults.cancel_upload_500 {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "UNSUPPORTED", "cannot cancel");
    }
    let mut st = shared.store.lock();
    match st.repo_mut(name).and_then(|r| r.uploads.remove(uuid)) {
        Some(_) => finish(reply(StatusCode::NO_CONTENT), Body::empty()),
        None => unknown_upload(uuid),
    }
}
