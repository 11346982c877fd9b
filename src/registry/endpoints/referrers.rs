//! The referrers API: `GET /v2/<name>/referrers/<digest>` with `artifactType` filtering and
//! paging, and every fault of groups B–E that bends the listing or its answer.

use crate::oci::Digest;
use crate::registry::errors::{OciError, err, finish, plain_404, reply, unknown_manifest};
use crate::registry::faults::Faults;
use crate::registry::shared::Shared;
use crate::registry::store::{IMAGE_INDEX, ManifestRecord, Repo, State as StoreState};
use crate::registry::syntax::{QueryParam, param, parse_query, pct_encode};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

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

pub fn referrers(shared: &Shared, name: &str, digest: &str, path: &str, query: &str) -> Response {
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
