//! Judging a referrers listing (the `manifests` of every page read): which names are listed,
//! the descriptors' fields, artifact types, and the pages themselves.

use super::expect::{Names, Observation, check_index};
use crate::oci::{Built, Digest, media};
use crate::scenario::{EntryExpect, Expect, ManifestsExpect, PagesExpect};
use serde_json::Value;
use std::collections::HashSet;

/// The `manifests` of every page read, or why they cannot be read.
fn union(obs: &Observation) -> Result<Vec<Value>, String> {
    let mut all = vec![];
    for (i, p) in obs.pages.iter().enumerate() {
        let v = p.json().map_err(|e| format!("page {}: {e}", i + 1))?;
        match v.get("manifests") {
            Some(Value::Array(a)) => all.extend(a.iter().cloned()),
            _ => return Err(format!("page {} has no `manifests` list", i + 1)),
        }
    }
    Ok(all)
}

fn digest_of(v: &Value) -> Option<&str> {
    v.get("digest").and_then(Value::as_str)
}

pub(super) fn listing_assertions(e: &Expect, obs: &Observation, names: &Names, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    if e.listed {
        match obs.listed {
            Some((true, _)) => {}
            Some((false, ms)) => match obs.response.as_ref().filter(|r| r.status != 200 || r.json().is_err()) {
                Some(r) => fails.push(format!("referrer not listed within {ms} ms of its push: the listing answered {}", r.describe())),
                None => fails.push(format!("referrer not listed within {ms} ms of its push")),
            },
            None => fails.push("`listed` judges only a wait_listed step (scenario error)".into()),
        }
    }
    let needs_list = e.manifests.is_some() || !e.entries.is_empty() || e.descriptors_valid;
    if needs_list {
        if obs.pages.is_empty() {
            fails.push("no referrers listing to judge".into());
        } else {
            match union(obs) {
                Err(why) => fails.push(why),
                Ok(list) => {
                    if let Some(m) = &e.manifests {
                        manifests(m, &list, names, fails);
                        if m.model {
                            model(obs, &list, names, fails, notes);
                        }
                        if m.record_count {
                            notes.push(format!("{} entr{} listed", list.len(), if list.len() == 1 { "y" } else { "ies" }));
                        }
                    }
                    for (name, ee) in &e.entries {
                        if let Some(b) = names.get(name.as_str()) {
                            entry(name, ee, b, &list, fails, notes);
                        }
                    }
                    if e.descriptors_valid {
                        for (i, d) in list.iter().enumerate() {
                            if let Err(why) = valid_descriptor(d) {
                                fails.push(format!("entry {}: {why}", i + 1));
                            }
                        }
                    }
                }
            }
        }
    }
    if e.link_valid {
        for le in &obs.link_errors {
            fails.push(le.clone());
        }
        let first_host = obs.pages.first().map(|p| (p.url.host_str().map(str::to_string), p.url.port_or_known_default()));
        for p in obs.pages.iter().skip(1) {
            let here = (p.url.host_str().map(str::to_string), p.url.port_or_known_default());
            if Some(&here) != first_host.as_ref() {
                notes.push(format!("Link points to another host ({}); clients must not forward credentials there", p.url));
            }
        }
    }
    if let Some(pe) = &e.pages {
        pages(pe, obs, fails, notes);
    }
}

fn manifests(m: &ManifestsExpect, list: &[Value], names: &Names, fails: &mut Vec<String>) {
    let digests: Vec<&str> = list.iter().filter_map(digest_of).collect();
    let label = |d: &str| -> String {
        names.iter().find(|(_, b)| b.digest.as_str() == d).map_or_else(|| d.to_string(), |(n, _)| n.to_string())
    };
    let want = |ns: &[String]| -> Vec<(String, String)> {
        ns.iter().filter_map(|n| names.get(n.as_str()).map(|b| (n.clone(), b.digest.to_string()))).collect()
    };
    if m.empty && !list.is_empty() {
        fails.push(format!("expected no entries, got {}: {}", list.len(), digests.iter().map(|d| label(d)).collect::<Vec<_>>().join(", ")));
    }
    for (n, d) in want(&m.includes) {
        if !digests.contains(&d.as_str()) {
            fails.push(format!("'{n}' ({d}) is not listed"));
        }
    }
    for (n, d) in want(&m.excludes) {
        if digests.contains(&d.as_str()) {
            fails.push(format!("'{n}' ({d}) is listed but must not be"));
        }
    }
    if let Some(ex) = &m.exactly {
        let w = want(ex);
        let wanted: HashSet<&str> = w.iter().map(|(_, d)| d.as_str()).collect();
        for (n, d) in &w {
            if !digests.contains(&d.as_str()) {
                fails.push(format!("'{n}' ({d}) is not listed"));
            }
        }
        for d in &digests {
            if !wanted.contains(d) {
                fails.push(format!("unexpected entry {}", label(d)));
            }
        }
    }
    if m.unique {
        let mut seen = HashSet::new();
        for d in &digests {
            if !seen.insert(*d) {
                fails.push(format!("{} is listed more than once", label(d)));
            }
        }
    }
    if let Some(at) = &m.all_artifact_type {
        for v in list {
            let got = v.get("artifactType").and_then(Value::as_str);
            if got != Some(at.as_str()) {
                let got = got.map_or("no artifactType".to_string(), |g| format!("artifactType {g:?}"));
                fails.push(format!("entry {} has {got}, the filter asked for {at:?}", label(digest_of(v).unwrap_or("?"))));
            }
        }
    }
    if m.only_known {
        for d in &digests {
            if !names.values().any(|b| b.digest.as_str() == *d) {
                fails.push(format!("entry {d} is not a manifest this scenario pushed"));
            }
        }
    }
}

/// `manifests: { model: true }`: the list holds exactly the model's referrers (filtered when the
/// registry announced the filter), each with the descriptor of what was pushed.
fn model(obs: &Observation, list: &[Value], names: &Names, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    let Some(m) = &obs.model else {
        fails.push("`model` judges only a `referrers` or `fallback_read` step (scenario error)".into());
        return;
    };
    let applied = obs.response.as_ref().and_then(|r| r.header("oci-filters-applied")).is_some_and(|h| h.split(',').any(|f| f.trim() == "artifactType"));
    let want: Vec<&(String, Built)> = m
        .referrers
        .iter()
        .filter(|(_, b)| !applied || m.filter.as_deref().is_none_or(|at| b.listed_artifact_type().as_deref() == Some(at)))
        .collect();
    if m.filter.is_some() && !applied {
        let of_type: HashSet<&str> = want
            .iter()
            .filter(|(_, b)| m.filter.as_deref().is_some_and(|at| b.listed_artifact_type().as_deref() == Some(at)))
            .map(|(_, b)| b.digest.as_str())
            .collect();
        let listed: HashSet<&str> = list.iter().filter_map(digest_of).collect();
        // Silent filtering: the answer is exactly the filtered list, and that is not the whole.
        if listed == of_type && of_type.len() < want.len() {
            fails.push(format!(
                "filtered without announcing it: no OCI-Filters-Applied header, yet referrers of other types than {:?} are left out (an answer without the header must be the whole list)",
                m.filter.as_deref().unwrap_or("")
            ));
        } else {
            notes.push("the filter was not announced (no OCI-Filters-Applied: artifactType): judged as the whole list".into());
        }
    }
    let label = |d: &str| -> String {
        names.iter().find(|(_, b)| b.digest.as_str() == d).map_or_else(|| d.to_string(), |(n, _)| format!("'{n}' ({d})"))
    };
    let expected: HashSet<&str> = want.iter().map(|(_, b)| b.digest.as_str()).collect();
    let mut seen = HashSet::new();
    for v in list {
        let Some(d) = digest_of(v) else {
            fails.push(format!("an entry has no digest: {v}"));
            continue;
        };
        if !expected.contains(d) {
            let why = if let Some((n, _, how)) = m.deleted.iter().find(|(_, b, _)| b.digest.as_str() == d) {
                format!("'{n}' ({d}) is still listed, but it was deleted ({how})")
            } else if let Some((n, b)) = m.referrers.iter().find(|(_, b)| b.digest.as_str() == d) {
                let at = b.listed_artifact_type().unwrap_or_else(|| "none".into());
                format!("'{n}' ({d}) is listed, but its artifactType {at} does not match the filter {:?} the registry announced as applied", m.filter.as_deref().unwrap_or(""))
            } else {
                format!("unexpected entry {}: no manifest this scenario pushed to the repository names this digest as its subject", label(d))
            };
            fails.push(why);
        } else if !seen.insert(d) {
            fails.push(format!("{} is listed more than once", label(d)));
        }
    }
    let full = EntryExpect { descriptor: true, artifact_type_rule: true, annotations: true };
    for (name, b) in want {
        entry(name, &full, b, list, fails, notes);
    }
}

fn entry(name: &str, ee: &EntryExpect, b: &Built, list: &[Value], fails: &mut Vec<String>, notes: &mut Vec<String>) {
    let Some(v) = list.iter().find(|v| digest_of(v) == Some(b.digest.as_str())) else {
        fails.push(format!("'{name}' ({}) is not listed", b.digest));
        return;
    };
    if ee.descriptor {
        let mt = v.get("mediaType").and_then(Value::as_str);
        if mt != Some(b.media_type.as_str()) {
            fails.push(format!("'{name}': mediaType {:?}, expected {:?}", mt, b.media_type));
        }
        let size = v.get("size").and_then(Value::as_u64);
        if size != Some(b.bytes.len() as u64) {
            fails.push(format!("'{name}': size {:?}, expected {}", v.get("size"), b.bytes.len()));
        }
    }
    if ee.artifact_type_rule {
        let got = v.get("artifactType");
        match (b.listed_artifact_type(), got) {
            (Some(w), Some(Value::String(g))) if *g == w => {}
            (Some(w), Some(g)) => fails.push(format!("'{name}': artifactType {g}, expected {w:?}")),
            (Some(w), None) => fails.push(format!("'{name}': artifactType missing, expected {w:?}")),
            (None, None) => {}
            (None, Some(g)) => fails.push(format!("'{name}' is an index without artifactType: the key MUST be omitted, got {g}")),
        }
    }
    if ee.annotations {
        let got = v.get("annotations").and_then(Value::as_object);
        for (k, want) in &b.annotations {
            match got.and_then(|g| g.get(k)) {
                Some(g) if g == want => {}
                Some(g) => fails.push(format!("'{name}': annotation {k} is {g}, expected {want}")),
                None => fails.push(format!("'{name}': annotation {k} is missing")),
            }
        }
        if let Some(g) = got {
            let extra: Vec<&String> = g.keys().filter(|k| !b.annotations.contains_key(*k)).collect();
            if !extra.is_empty() {
                notes.push(format!("'{name}' carries extra annotations: {extra:?}"));
            }
        }
    }
}

/// RFC 6838 `type/subtype` (restricted-name characters).
pub(super) fn media_type_ok(s: &str) -> bool {
    let restricted = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    let base = s.split(';').next().unwrap_or("").trim();
    matches!(base.split_once('/'), Some((t, st)) if restricted(t) && restricted(st))
}

fn valid_descriptor(d: &Value) -> Result<(), String> {
    match d.get("mediaType").and_then(Value::as_str) {
        Some(m) if media_type_ok(m) => {}
        Some(m) => return Err(format!("mediaType {m:?} is not a valid media type")),
        None => return Err("descriptor has no mediaType".into()),
    }
    match d.get("digest").and_then(Value::as_str) {
        Some(s) if Digest::parse(s).is_ok() => {}
        other => return Err(format!("digest {other:?} is not a valid digest")),
    }
    if d.get("size").and_then(Value::as_u64).is_none() {
        return Err(format!("size {:?} is not a non-negative integer", d.get("size")));
    }
    if let Some(at) = d.get("artifactType") {
        match at.as_str() {
            Some(s) if media_type_ok(s) => {}
            _ => return Err(format!("artifactType {at} is not an RFC 6838 media type")),
        }
    }
    Ok(())
}

/// Clients "SHOULD expect to be able to support manifest pushes of at least 4 megabytes"
/// (distribution-spec "Pushing Manifests"); a bigger page is legal but worth knowing.
const FOUR_MB: usize = 4 * 1024 * 1024;

fn pages(pe: &PagesExpect, obs: &Observation, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    for (i, p) in obs.pages.iter().enumerate() {
        if p.body.len() > FOUR_MB {
            notes.push(format!("page {} is {} bytes, above the 4 MiB a client is only SHOULD-required to accept", i + 1, p.body.len()));
        }
    }
    if let Some(min) = pe.min
        && obs.pages.len() < min
    {
        fails.push(format!("read {} page(s), expected at least {min}", obs.pages.len()));
    }
    if pe.each_index {
        for (i, p) in obs.pages.iter().enumerate() {
            let ct = p.header("content-type").unwrap_or("");
            if ct.split(';').next().unwrap_or("").trim() != media::IMAGE_INDEX {
                fails.push(format!("page {} has Content-Type {ct:?}", i + 1));
            }
            if p.status != 200 {
                fails.push(format!("page {} answered {}", i + 1, p.describe()));
            } else if let Err(why) = check_index(p, &mut vec![]) {
                fails.push(format!("page {}: {why}", i + 1));
            }
        }
    }
    if pe.last_without_link
        && let Some(why) = &obs.chain_error
    {
        fails.push(why.clone());
    }
}

