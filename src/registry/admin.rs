//! The admin API (`/admin/…`) and its client side, [`admin_client_call`].
//!
//! Served when `RegistryConfig::admin` is on (GC, tag locks, the referrers API switch,
//! restart); `referee admin` uses the client side.
//!
//! Every endpoint is a `POST` with a JSON body and answers JSON; errors are
//! `{"error": "<message>"}` with 400 (bad request) or 500 (the operation failed):
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `/admin/gc` | `{}` or `{"repos": [..], "policy": {GcPolicy}, "created_before": RFC 3339, "keep_newest": N}` (all optional; the policy defaults to the configured one, the two retention rules are added to it) | [`super::GcReport`] |
//! | `/admin/lock` | `{"repo", "tag"}` | `{"repo", "tag", "locked": true, "digest": <target or null>}` |
//! | `/admin/unlock` | `{"repo", "tag"}` | `{"repo", "tag", "locked": false, "was_locked": bool}` |
//! | `/admin/referrers-api` | `{"enabled": bool}` | `{"enabled": bool, "previous": bool}` |
//! | `/admin/restart` | none | `{"persisted": bool, "repos", "manifests", "blobs", "dropped_uploads"}` |
//!
//! What a lock forbids is enforced by the manifest endpoints (see `locks`).
// Helpers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use super::gc::{self, GcPolicy};
use super::persist;
use super::shared::Shared;
use super::syntax::{valid_name, valid_tag};
use crate::oci::Digest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Endpoints

/// The admin routes, merged into the registry router when `admin` is on.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/gc", post(gc_endpoint))
        .route("/admin/lock", post(lock_endpoint))
        .route("/admin/unlock", post(unlock_endpoint))
        .route("/admin/referrers-api", post(referrers_api_endpoint))
        .route("/admin/restart", post(restart_endpoint))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn bad_request(msg: impl Into<String>) -> Response {
    answer(StatusCode::BAD_REQUEST, json!({ "error": msg.into() }))
}

/// The request body as `T`; an empty body or `null` is `None`.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<Option<T>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad_request(format!("body is not JSON: {e}")))?;
    if v.is_null() {
        return Ok(None);
    }
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| bad_request(format!("invalid body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GcRequest {
    /// Repositories to collect in; all when absent.
    repos: Option<Vec<String>>,
    /// Overrides `RegistryConfig::gc` for this run.
    policy: Option<GcPolicy>,
    /// Retention rules added to the policy for this run (what `referee admin gc
    /// --created-before/--keep-newest` sends).
    created_before: Option<String>,
    keep_newest: Option<usize>,
}

async fn gc_endpoint(Extract(shared): Extract<Arc<Shared>>, body: Bytes) -> Response {
    let req: GcRequest = match parse_body(&body) {
        Ok(r) => r.unwrap_or_default(),
        Err(resp) => return resp,
    };
    let mut policy = req.policy.unwrap_or_else(|| shared.config.gc.clone());
    if req.created_before.is_some() {
        policy.created_before = req.created_before;
    }
    if req.keep_newest.is_some() {
        policy.keep_newest = req.keep_newest;
    }
    let faults = &shared.config.faults;
    let result = if faults.gc_sweep_unlocked {
        // The bug: mark, let go of the lock, sweep later by the stale marks.
        let marks = gc::mark(&shared.store.lock(), &policy, req.repos.as_deref(), faults);
        match marks {
            Ok(marks) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(gc::sweep_unmarked(&mut shared.store.lock(), &marks))
            }
            Err(e) => Err(e),
        }
    } else {
        let mut st = shared.store.lock();
        gc::collect(&mut st, &policy, req.repos.as_deref(), faults)
    };
    match result {
        Ok(report) => {
            tracing::debug!(
                manifests = report.manifests,
                blobs = report.blobs,
                "embedded registry GC"
            );
            answer(
                StatusCode::OK,
                serde_json::to_value(&report).unwrap_or(Value::Null),
            )
        }
        Err(e) => bad_request(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockRequest {
    repo: String,
    tag: String,
}

fn lock_request(body: &Bytes) -> Result<LockRequest, Response> {
    let req: LockRequest =
        parse_body(body)?.ok_or_else(|| bad_request("expected {\"repo\": …, \"tag\": …}"))?;
    if !valid_name(&req.repo) {
        return Err(bad_request(format!(
            "invalid repository name {:?}",
            req.repo
        )));
    }
    if !valid_tag(&req.tag) {
        return Err(bad_request(format!("invalid tag {:?}", req.tag)));
    }
    Ok(req)
}

async fn lock_endpoint(Extract(shared): Extract<Arc<Shared>>, body: Bytes) -> Response {
    let req = match lock_request(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut st = shared.store.lock();
    st.locks
        .entry(req.repo.clone())
        .or_default()
        .insert(req.tag.clone());
    let digest = st
        .repo(&req.repo)
        .and_then(|r| r.tags.get(&req.tag))
        .map(Digest::to_string);
    answer(
        StatusCode::OK,
        json!({ "repo": req.repo, "tag": req.tag, "locked": true, "digest": digest }),
    )
}

async fn unlock_endpoint(Extract(shared): Extract<Arc<Shared>>, body: Bytes) -> Response {
    let req = match lock_request(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut st = shared.store.lock();
    let was_locked = st
        .locks
        .get_mut(&req.repo)
        .is_some_and(|tags| tags.remove(&req.tag));
    if st.locks.get(&req.repo).is_some_and(|tags| tags.is_empty()) {
        st.locks.remove(&req.repo);
    }
    answer(
        StatusCode::OK,
        json!({ "repo": req.repo, "tag": req.tag, "locked": false, "was_locked": was_locked }),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferrersApiRequest {
    enabled: bool,
}

async fn referrers_api_endpoint(Extract(shared): Extract<Arc<Shared>>, body: Bytes) -> Response {
    let req: ReferrersApiRequest = match parse_body(&body) {
        Ok(Some(r)) => r,
        Ok(None) => return bad_request("expected {\"enabled\": true|false}"),
        Err(resp) => return resp,
    };
    let previous = shared.referrers_api.swap(req.enabled, Ordering::SeqCst);
    tracing::debug!(
        enabled = req.enabled,
        previous,
        "embedded registry referrers API switched"
    );
    answer(
        StatusCode::OK,
        json!({ "enabled": req.enabled, "previous": previous }),
    )
}

async fn restart_endpoint(Extract(shared): Extract<Arc<Shared>>) -> Response {
    let s = shared.clone();
    match tokio::task::spawn_blocking(move || restart(&s)).await {
        Ok(Ok(summary)) => answer(StatusCode::OK, summary),
        Ok(Err(e)) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": format!("restart failed: {e}") }),
        ),
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": format!("restart failed: {e}") }),
        ),
    }
}

/// A simulated restart: the store is saved (to the storage directory, if any) and reloaded
/// from what was saved; upload sessions, rate-limit windows and tokens are lost. The runtime
/// referrers API switch keeps its position (it stands for the registry's configuration).
pub(super) fn restart(shared: &Shared) -> std::io::Result<Value> {
    let mut st = shared.store.lock();
    let dropped_uploads: usize = st.repos.values().map(|r| r.uploads.len()).sum();
    let fresh = match &shared.config.storage_dir {
        Some(dir) => {
            persist::save(dir, &st)?;
            persist::load(dir)?
        }
        None => persist::roundtrip(&st)?,
    };
    *st = fresh;
    let summary = json!({
        "persisted": shared.config.storage_dir.is_some(),
        "repos": st.repos.len(),
        "manifests": st.repos.values().map(|r| r.manifests.len()).sum::<usize>(),
        "blobs": st.repos.values().map(|r| r.blobs.len()).sum::<usize>(),
        "dropped_uploads": dropped_uploads,
    });
    drop(st);
    shared.tokens.clear();
    tracing::debug!(%summary, "embedded registry restarted");
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Client side

/// `POST <base_url>/admin/<path>` with `body` as JSON, within 30 s. `path` may be given as
/// `gc`, `/gc`, `admin/gc` or `/admin/gc`. Returns the JSON answer (`null` for an empty one);
/// a non-2xx answer is an error carrying the status and the server's `error` message.
pub async fn admin_client_call(base_url: &str, path: &str, body: Value) -> Result<Value, String> {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_prefix("admin/").unwrap_or(rest);
    let url = format!("{}/admin/{rest}", base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
    };
    if status.is_success() {
        Ok(value)
    } else {
        let msg = value
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| text.trim().to_string(), str::to_string);
        Err(format!("POST {url}: {status}: {msg}"))
    }
}
