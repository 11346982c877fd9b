//! The reverse walk of a content-addressed tree: which manifests of a repository point at a
//! digest — as their `subject`, as an index's child, or as their config or a layer. A registry
//! keeps no reverse index a client can ask for, so the walk starts at the repository's tags and
//! follows index children and referrers (the referrers API, or the referrers tags a client
//! maintains), fetching every manifest it reaches, bounded in manifests and pages. What it cannot
//! reach (an untagged manifest nothing refers to) it cannot report; the model
//! ([`expected`]) says the same.

use crate::client::{Client, ClientError, Scope};
use crate::oci::{Built, Digest, referrers_tag};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most manifests a walk fetches.
pub const MAX_MANIFESTS: usize = 10_000;
/// Most pages of a tag list or a referrers list a walk reads for one request.
const MAX_PAGES: usize = 100;
/// Most requests a walk sends in all.
pub const MAX_REQUESTS: usize = 50_000;
/// Most references waiting to be fetched.
const MAX_QUEUE: usize = 4 * MAX_MANIFESTS;

/// One manifest pointing at the digest, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pointer {
    pub digest: String,
    pub media_type: String,
    /// `subject`, `index child`, `config` or `layer`.
    pub how: &'static str,
}

/// What a walk found.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    pub pointers: Vec<Pointer>,
    /// Manifests fetched.
    pub manifests: usize,
    /// Why the walk stopped early (a bound), if it did.
    pub truncated: Option<String>,
}

/// Walks `repo` and returns the manifests pointing at `target`; referrers from the API, or
/// (`fallback`) from the referrers tags.
pub async fn walk(client: &Client, repo: &str, target: &Digest, fallback: bool) -> Result<Walk, ClientError> {
    let mut walk = Walk::default();
    let mut requests = 0usize;
    let mut queue: VecDeque<String> = tags(client, repo, &mut requests).await?.into_iter().collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut found: BTreeSet<Pointer> = BTreeSet::new();
    // The target's own referrers, whether or not a tag leads to it.
    for r in referrers(client, repo, target.as_str(), fallback, &mut requests).await? {
        queue.push_back(r);
    }
    let mut asked: BTreeSet<String> = [target.to_string()].into();
    // Bounded: every turn takes one reference off the queue, which holds at most MAX_QUEUE, and
    // every request counts against MAX_REQUESTS.
    while let Some(reference) = queue.pop_front() {
        if walk.manifests >= MAX_MANIFESTS || requests >= MAX_REQUESTS {
            walk.truncated = Some(format!("stopped after {} manifests and {requests} requests (bounds {MAX_MANIFESTS}, {MAX_REQUESTS})", walk.manifests));
            break;
        }
        // Marked before fetching: a reference that does not answer 200 is not asked again.
        if !seen.insert(reference.clone()) {
            continue;
        }
        requests += 1;
        let r = client.get_manifest(repo, &reference).await?;
        let _ = client.take_transcript();
        if r.status != 200 {
            continue;
        }
        walk.manifests += 1;
        let digest = match Digest::parse(&reference) {
            Ok(d) => d.to_string(),
            Err(_) => Digest::sha256(&r.body).to_string(),
        };
        seen.insert(digest.clone());
        let Ok(v) = serde_json::from_slice::<Value>(&r.body) else { continue };
        let media_type = v.get("mediaType").and_then(Value::as_str).or(r.header("content-type")).unwrap_or("").to_string();
        let digest_at = |x: &Value| x.get("digest").and_then(Value::as_str).map(str::to_string);
        let mut point = |how: &'static str| {
            found.insert(Pointer { digest: digest.clone(), media_type: media_type.clone(), how });
        };
        if v.get("subject").and_then(digest_at).as_deref() == Some(target.as_str()) {
            point("subject");
        }
        if v.get("config").and_then(digest_at).as_deref() == Some(target.as_str()) {
            point("config");
        }
        let list = |k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        if list("layers").iter().filter_map(digest_at).any(|d| d == target.as_str()) {
            point("layer");
        }
        let children: Vec<String> = list("manifests").iter().filter_map(digest_at).collect();
        if children.iter().any(|d| d == target.as_str()) {
            point("index child");
        }
        let mut next = children;
        if asked.insert(digest.clone()) {
            next.extend(referrers(client, repo, &digest, fallback, &mut requests).await?);
        }
        // Only digests go on (a hostile list's other strings never reach a URL), and only as
        // many as the queue holds.
        for d in next.into_iter().filter(|d| Digest::parse(d).is_ok() && !seen.contains(d)) {
            if queue.len() >= MAX_QUEUE {
                walk.truncated = Some(format!("more than {MAX_QUEUE} references waiting to be fetched"));
                break;
            }
            queue.push_back(d);
        }
    }
    walk.pointers = found.into_iter().collect();
    Ok(walk)
}

/// The repository's tags, every page (bounded).
async fn tags(client: &Client, repo: &str, requests: &mut usize) -> Result<Vec<String>, ClientError> {
    let mut out = vec![];
    let mut last: Option<String> = None;
    for _ in 0..MAX_PAGES {
        *requests += 1;
        let r = client.tags_list(repo, Some(1000), last.as_deref()).await?;
        let _ = client.take_transcript();
        if r.status != 200 {
            break;
        }
        let page: Vec<String> = r
            .json()
            .ok()
            .and_then(|v| v.get("tags").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            // The tag grammar (distribution-spec): a hostile list's other strings are dropped.
            .filter(|t| !t.is_empty() && t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) && !t.starts_with(['.', '-']))
            .collect();
        let more = r.header("link").is_some() && page.last() != last.as_ref() && !page.is_empty();
        last = page.last().cloned();
        out.extend(page);
        if !more {
            break;
        }
    }
    Ok(out)
}

/// The digests listed as referrers of `digest`: the API's pages, or the referrers tag's index.
async fn referrers(client: &Client, repo: &str, digest: &str, fallback: bool, requests: &mut usize) -> Result<Vec<String>, ClientError> {
    let digests = |v: &Value| -> Vec<String> {
        v.get("manifests").and_then(Value::as_array).map_or(vec![], |a| a.iter().filter_map(|d| d.get("digest").and_then(Value::as_str).map(str::to_string)).collect())
    };
    *requests += 1;
    if fallback {
        let r = client.get_manifest(repo, &referrers_tag(digest)).await?;
        let _ = client.take_transcript();
        return Ok(if r.status == 200 { r.json().map(|v| digests(&v)).unwrap_or_default() } else { vec![] });
    }
    let mut out = vec![];
    let mut next = Some(client.referrers_url(repo, digest, None, None)?);
    let mut read = BTreeSet::new();
    while let Some(url) = next.take() {
        if read.len() >= MAX_PAGES || !read.insert(url.to_string()) {
            break;
        }
        *requests += 1;
        let page = client.referrers_page(repo, url, Scope::Pull(repo.into())).await?;
        let _ = client.take_transcript();
        if page.response.status != 200 {
            break;
        }
        out.extend(page.response.json().map(|v| digests(&v)).unwrap_or_default());
        next = page.next;
    }
    Ok(out)
}

/// What the model says a walk finds: among `present` manifests (name, manifest, tagged), those
/// reachable from a tag through index children and referrers (and the target's own
/// referrers), that point at `target`. Sorted digests, with names.
pub fn expected<'a>(present: &[(&'a str, &'a Built, bool)], target: &Digest) -> Vec<(&'a str, String)> {
    let by_digest: BTreeMap<&str, &(&str, &Built, bool)> = present.iter().map(|p| (p.1.digest.as_str(), p)).collect();
    let children = |b: &Built| -> Vec<String> {
        serde_json::from_slice::<Value>(&b.bytes)
            .ok()
            .and_then(|v| v.get("manifests").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.get("digest").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let referrers_of = |d: &str| -> Vec<String> {
        present.iter().filter(|p| p.1.subject.as_ref().is_some_and(|s| s.digest.as_str() == d)).map(|p| p.1.digest.to_string()).collect()
    };
    let mut reach: BTreeSet<String> = present.iter().filter(|p| p.2).map(|p| p.1.digest.to_string()).collect();
    let mut queue: Vec<String> = reach.iter().cloned().collect();
    queue.extend(referrers_of(target.as_str()));
    // Bounded: each digest enters `reach` once.
    while let Some(d) = queue.pop() {
        reach.insert(d.clone());
        let Some(p) = by_digest.get(d.as_str()) else { continue };
        for next in children(p.1).into_iter().chain(referrers_of(&d)) {
            if by_digest.contains_key(next.as_str()) && !reach.contains(&next) {
                reach.insert(next.clone());
                queue.push(next);
            }
        }
    }
    let mut out: Vec<(&str, String)> = present
        .iter()
        .filter(|p| reach.contains(p.1.digest.as_str()))
        .filter(|p| {
            let b = p.1;
            b.subject.as_ref().is_some_and(|s| &s.digest == target)
                || b.blobs.iter().any(|bl| &bl.digest == target)
                || children(b).iter().any(|c| c == target.as_str())
        })
        .map(|p| (p.0, p.1.digest.to_string()))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

/// `referee graph --reverse DIGEST --repo NAME`: the walk, as text.
pub async fn command(cfg: &super::run::GraphConfig, repo: &str, digest: &str) -> Result<String, crate::app::AppError> {
    use crate::app::AppError;
    let target = Digest::parse(digest).map_err(|e| AppError::Usage(format!("--reverse {digest:?} is not a digest: {e}")))?;
    let Some(base) = cfg.target.as_deref() else {
        return Err(AppError::Usage("--reverse walks a registry you name: give --target URL".into()));
    };
    let client = Client::new(crate::client::ClientConfig {
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        token: cfg.token.clone(),
        insecure: cfg.insecure,
        timeout: cfg.timeout,
        ..crate::client::ClientConfig::new(base)
    })
    .map_err(|e| AppError::Usage(e.to_string()))?;
    let mut fallback = cfg.mode == super::run::ModeChoice::Fallback;
    let mut said = String::new();
    if cfg.mode == super::run::ModeChoice::Auto {
        // The API when it answers; the referrers tags when it says 404 (no API).
        let url = client.referrers_url(repo, target.as_str(), None, None).map_err(|e| AppError::Usage(e.to_string()))?;
        let page = client.referrers_page(repo, url, Scope::Pull(repo.into())).await.map_err(|e| AppError::Harness(e.to_string()))?;
        if page.response.status == 404 {
            fallback = true;
            said = "the referrers API answered 404, so ".into();
        }
    }
    let w = walk(&client, repo, &target, fallback).await.map_err(|e| AppError::Harness(e.to_string()))?;
    let mut out = format!(
        "{} manifest(s) of {repo} point at {target} ({} fetched, {said}referrers from {}):\n",
        w.pointers.len(),
        w.manifests,
        if fallback { "the referrers tags" } else { "the referrers API" }
    );
    for p in &w.pointers {
        out.push_str(&format!("  {}  {}  ({})\n", p.digest, p.how, p.media_type));
    }
    if let Some(t) = &w.truncated {
        out.push_str(&format!("the walk {t}: there may be more\n"));
    }
    Ok(out)
}
