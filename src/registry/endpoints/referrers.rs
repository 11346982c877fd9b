//! The referrers API over HTTP: `GET /v2/<name>/referrers/<digest>` around the referrers index.
//!
//! The handler parses the request, asks the referrers index (`referrers_index`) for the page
//! and builds the answer around it, with the faults that bend the answer (digest errors,
//! status, headers, `Link`).

// Helpers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use crate::oci::Digest;
use crate::registry::errors::{OciError, err, finish, plain_404, reply, unknown_manifest};
use crate::registry::faults::Faults;
use crate::registry::referrers_index::{Listing, QueryError, ReferrersQuery};
use crate::registry::shared::{CachedPage, Shared};
use crate::registry::store::IMAGE_INDEX;
use crate::registry::syntax::parse_query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET`/`HEAD /v2/<name>/referrers/<digest>`: parse the request, ask the index for the page,
/// answer it.
pub fn referrers(shared: &Shared, name: &str, digest: &str, path: &str, query: &str) -> Response {
    let faults = &shared.config.faults;
    let subject = match subject_digest(digest, faults) {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let request = match shared.referrers.query(&parse_query(query)) {
        Ok(q) => q,
        Err(QueryError::AmbiguousFilter) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNSUPPORTED",
                "cannot handle artifactType parameter",
            );
        }
        Err(QueryError::BadCursor(key)) => {
            return err(StatusCode::BAD_REQUEST, "UNSUPPORTED", format!("invalid {key} parameter"));
        }
    };

    if shared.fast_listing {
        return fast_page(shared, name, &subject, &request, path, query);
    }
    let st = shared.store.lock();
    if faults.unknown_repo_plain_404 && st.repo(name).is_none() {
        return plain_404();
    }
    let listing = shared.referrers.list(&st, name, &subject, &request);
    drop(st);
    if listing.total == 0 && faults.unknown_subject_404 {
        return unknown_manifest(digest);
    }
    let (listing, repeat) = cached(shared, listing, &format!("{name} {subject} {query}"));
    let (builder, body) = answer_parts(faults, &listing, &request, name, &subject, path, query);
    let mut resp = finish(builder, body);
    if repeat && faults.cache_drops_filters_header {
        resp.headers_mut().remove("OCI-Filters-Applied");
    }
    resp
}

/// The answer of a registry without faults: a page is built once per store generation and
/// served from [`Shared::pages`] until the next write, so reading a page costs the same at every
/// fan-out (no per-request walk over the subject's referrers, no serialization).
fn fast_page(shared: &Shared, name: &str, subject: &Digest, request: &ReferrersQuery, path: &str, query: &str) -> Response {
    // Keyed by what the answer depends on, not the raw query: extra parameters cannot fill the
    // cache with copies of one page.
    let key = format!("{name} {subject} {:?} {:?}", request.filter.as_ref().map(|f| &f.wanted), request.cursor);
    let generation = shared.store.generation();
    if let Some(page) = shared.pages.get(&key, generation) {
        return page.response();
    }
    // The generation is read before the listing is built: a write in between leaves the entry
    // tagged with the older generation, so it is rebuilt, never served stale.
    let listing = {
        let st = shared.store.lock();
        shared.referrers.list(&st, name, subject, request)
    };
    let (builder, body) = answer_parts(&shared.config.faults, &listing, request, name, subject, path, query);
    let page = CachedPage::new(builder, body);
    let resp = page.response();
    shared.pages.put(key, generation, page);
    resp
}

/// The `cache_*` faults' response cache: whether this exact request was answered before, and
/// (under `cache_stale_listing`) the listing it was answered with then.
fn cached(shared: &Shared, fresh: Listing, key: &str) -> (Listing, bool) {
    let faults = &shared.config.faults;
    if !faults.cache_drops_filters_header && !faults.cache_stale_listing {
        return (fresh, false);
    }
    let mut cache = shared.referrers_cache.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: a fault's cache starts over past PageCache::MAX requests.
    if cache.len() >= crate::registry::shared::PageCache::MAX && !cache.contains_key(key) {
        cache.clear();
    }
    match cache.get(key) {
        Some(old) if faults.cache_stale_listing => (old.clone(), true),
        Some(_) => (fresh, true),
        None => {
            cache.insert(key.to_string(), fresh.clone());
            (fresh, false)
        }
    }
}

/// The subject digest of the path: 400 when it is invalid or its algorithm unsupported (or
/// 404, under the faults that say so).
fn subject_digest(digest: &str, faults: &Faults) -> Result<Digest, Response> {
    let subject = match Digest::parse(digest) {
        Ok(d) => d,
        Err(e) if faults.invalid_digest_404 => {
            return Err(OciError::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown")
                .detail(json!(e.to_string()))
                .into_response());
        }
        Err(e) => {
            return Err(OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest")
                .detail(json!(e.to_string()))
                .into_response());
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
        return Err(OciError::new(status, code, "unsupported digest algorithm")
            .detail(json!({ "digest": digest }))
            .into_response());
    }
    Ok(subject)
}

/// The 200 answer carrying one page (image index body, `OCI-Filters-Applied`, `Link`): its
/// status and headers, and its body.
fn answer_parts(
    faults: &Faults,
    listing: &Listing,
    request: &ReferrersQuery,
    name: &str,
    subject: &Digest,
    path: &str,
    query: &str,
) -> (axum::http::response::Builder, String) {
    let body = listing.body(faults.referrers_null_list);
    let json_type = faults.referrers_content_type_json || (faults.later_pages_bad_content_type && request.cursor.is_some());
    let mut resp = reply(StatusCode::OK).header(
        header::CONTENT_TYPE,
        if json_type { "application/json" } else { IMAGE_INDEX },
    );
    if request.filter.is_some() && !faults.omit_filters_header {
        let value = if faults.filters_header_wrong_value {
            "mediaType"
        } else {
            "artifactType"
        };
        resp = resp.header("OCI-Filters-Applied", value);
    }
    let target = match &listing.next_page {
        Some(cursor) if !faults.omit_link => {
            let mut q = Vec::new();
            if let Some(filter) = &request.filter
                && !faults.link_drops_filter
            {
                q.push(format!("artifactType={}", filter.link_value));
            }
            q.push(cursor.clone());
            Some(format!("/v2/{name}/referrers/{subject}?{}", q.join("&")))
        }
        None if faults.link_on_last_page => Some(if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        }),
        _ => None,
    };
    if let Some(target) = target {
        let link = if faults.link_malformed {
            format!("{target}; rel=\"next\"")
        } else {
            format!("<{target}>; rel=\"next\"")
        };
        resp = resp.header(header::LINK, link);
    }
    (resp, body)
}
