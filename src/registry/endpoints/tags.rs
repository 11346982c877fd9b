//! Tag listing: `GET /v2/<name>/tags/list` with `n`/`last` paging.

use crate::registry::errors::{err, finish, reply, unknown_name};
use crate::registry::shared::Shared;
use crate::registry::syntax::{param, parse_query, pct_encode};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::json;

pub fn list_tags(shared: &Shared, name: &str, query: &str) -> Response {
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
