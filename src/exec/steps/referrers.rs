//! The referrers API as a client reads it: `referrers` (one page or every page by `Link`, with a
//! bound and loop detection, optionally pushing between pages), `wait_listed` (poll until a
//! referrer shows up, bounded in time and count) and `detect` (push a subject and a referrer,
//! then list: what a client sees when it decides whether to fall back).

use super::super::context::{Ctx, new_run_id};
use super::super::expect::{ModelListing, Observation};
use super::Problem;
use super::push::{build_artifact, push, reference};
use crate::client::{ClientError, Response, Scope};
use crate::oci::{Digest, ManifestBuilder};
use crate::scenario::{Pages, PushArtifact, Referrers, RepoRef, ScopeRef, WaitListed};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A `referrers` step names its subject exactly one way.
pub fn validate(r: &Referrers) -> Vec<Problem> {
    let targets = [r.of.is_some(), r.digest.is_some(), r.random, r.blob_of.is_some()].iter().filter(|x| **x).count();
    if targets != 1 {
        return vec![Problem::new("referrers", "referrers needs exactly one of `of`, `digest`, `random`, `blob_of`")];
    }
    vec![]
}

pub async fn referrers(ctx: &mut Ctx<'_>, r: &Referrers) -> Result<Observation, ClientError> {
    let repo = ctx.repo(r.repo);
    let digest = if let Some(of) = &r.of {
        let b = ctx.named(of);
        match r.alg {
            Some(a) => Digest::of(a, &b.bytes).to_string(),
            None => b.digest.to_string(),
        }
    } else if let Some(d) = &r.digest {
        d.clone()
    } else if let Some(of) = &r.blob_of {
        let b = ctx.named(of);
        b.blobs.last().map_or_else(|| b.digest.to_string(), |bl| bl.digest.to_string())
    } else {
        Digest::sha256(format!("referee-random-{}", new_run_id()).as_bytes()).to_string()
    };
    let scope = match r.scope {
        ScopeRef::Default => Scope::Pull(repo.clone()),
        ScopeRef::PullOnly => Scope::PullOnly(repo.clone()),
    };
    let url = ctx.client.referrers_url(&repo, &digest, r.artifact_type.as_deref(), r.raw_query.as_deref())?;
    let mut obs = list(ctx, &repo, url.clone(), scope.clone(), r.pages, r.insert_after_first_page.as_deref()).await?;
    let model = Digest::parse(&digest).ok().map(|d| ModelListing::of(ctx, &repo, &d, r.artifact_type.as_deref()));
    obs.model = model.clone();
    if r.repeat && r.insert_after_first_page.is_none() && matches!(r.repo, RepoRef::Main | RepoRef::Other) {
        let again = list(ctx, &repo, url.clone(), scope.clone(), r.pages, None).await?;
        // A write that changes nothing this listing shows: an image nothing refers to.
        let unrelated = ManifestBuilder::image(&ctx.seed(&format!("unrelated-{}", ctx.order.len()))).build();
        let name = format!("~unrelated-{}", ctx.order.len());
        push(ctx, &name, unrelated.clone(), repo.clone(), unrelated.digest.to_string(), false).await?;
        let after = list(ctx, &repo, url, scope, r.pages, None).await?;
        // Neither read changes what the model lists (the unrelated image names no subject).
        let (again, after) = (Observation { model: model.clone(), ..again }, Observation { model, ..after });
        obs.repeats = vec![("read again".into(), again), ("read again after an unrelated push".into(), after)];
    }
    Ok(obs)
}

/// `reverse`: the walk from the tags (`graph::reverse::walk`), and what the model says it finds.
pub async fn reverse(ctx: &mut Ctx<'_>, r: &crate::scenario::Reverse) -> Result<Observation, ClientError> {
    let target = ctx.named(&r.of).digest.clone();
    let repo = ctx.repo_of(&r.of);
    let w = crate::graph::reverse::walk(ctx.client, &repo, &target, r.fallback).await?;
    let present: Vec<(&str, &crate::oci::Built, bool)> =
        ctx.entries.iter().filter(|(_, e)| e.pushed && e.repo == repo).map(|(n, e)| (n.as_str(), &e.built, e.tag.is_some())).collect();
    let want = crate::graph::reverse::expected(&present, &target).into_iter().map(|(n, d)| (n.to_string(), d)).collect();
    let found = w.pointers.iter().map(|p| p.digest.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    Ok(Observation { walk: Some(super::super::expect::WalkObservation { found, expected: want, truncated: w.truncated }), ..Default::default() })
}

/// Whether any page lists `digest`.
fn lists(obs: &Observation, digest: &str) -> bool {
    obs.pages.iter().any(|p| {
        p.json().ok().and_then(|v| v.get("manifests").cloned()).and_then(|m| m.as_array().cloned()).is_some_and(|a| {
            a.iter().any(|d| d.get("digest").and_then(|x| x.as_str()) == Some(digest))
        })
    })
}

pub async fn wait_listed(ctx: &mut Ctx<'_>, w: &WaitListed) -> Result<Observation, ClientError> {
    let subject = ctx.named(&w.of).digest.to_string();
    let want = ctx.named(&w.referrer).digest.to_string();
    let repo = ctx.repo_of(&w.referrer);
    let started = Instant::now();
    let bound = Duration::from_millis(w.within_ms);
    let mut last = None;
    // Bounded by time and by count.
    for _ in 0..10_000 {
        let url = ctx.client.referrers_url(&repo, &subject, None, None)?;
        let obs = list(ctx, &repo, url, Scope::Pull(repo.clone()), Pages::All, None).await?;
        let ms = started.elapsed().as_millis() as u64;
        if lists(&obs, &want) {
            return Ok(Observation { listed: Some((true, ms)), ..obs });
        }
        // A listing that is not an index will not become one by waiting.
        let unusable = obs.pages.iter().any(|p| p.status != 200 || p.json().map_or(true, |v| !v["manifests"].is_array()));
        if unusable || obs.chain_error.is_some() {
            return Ok(Observation { listed: Some((false, ms)), ..obs });
        }
        last = Some(obs);
        if started.elapsed() >= bound {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let obs = last.unwrap_or_default();
    Ok(Observation { listed: Some((false, w.within_ms)), ..obs })
}

pub async fn detect(ctx: &mut Ctx<'_>) -> Result<Observation, ClientError> {
    let repo = ctx.main.clone();
    let subject = ManifestBuilder::image(&ctx.seed("detect-subject")).build();
    push(ctx, "detect-subject", subject.clone(), repo.clone(), subject.digest.to_string(), false).await?;
    let sig = ManifestBuilder::artifact(&ctx.seed("detect-sig"), "application/vnd.dev.referee.detect+json")
        .subject(subject.descriptor())
        .build();
    let pushed = push(ctx, "detect-sig", sig.clone(), repo.clone(), sig.digest.to_string(), false).await?;
    let url = ctx.client.referrers_url(&repo, subject.digest.as_str(), None, None)?;
    let listing = ctx.client.referrers_page(&repo, url, Scope::Pull(repo.clone())).await?.response;
    Ok(Observation { response: Some(listing), followup: pushed.response, ..Default::default() })
}

/// Reads a referrers listing, following `Link` when asked, with a bound on pages and a check
/// for loops.
async fn list(
    ctx: &mut Ctx<'_>,
    repo: &str,
    url: reqwest::Url,
    scope: Scope,
    pages: Pages,
    insert: Option<&PushArtifact>,
) -> Result<Observation, ClientError> {
    let mut obs = Observation::default();
    let mut seen = HashSet::new();
    let mut next = Some(url);
    while let Some(u) = next.take() {
        if !seen.insert(u.to_string()) {
            obs.chain_error = Some(format!("Link loop: page {} points back to {u}, already read", obs.pages.len()));
            break;
        }
        if obs.pages.len() >= ctx.max_pages {
            obs.chain_error = Some(format!("more than {} pages; the Link chain does not end", ctx.max_pages));
            break;
        }
        let page = ctx.client.referrers_page(repo, u, scope.clone()).await?;
        if let Some(e) = &page.link_error {
            obs.link_errors.push(format!("page {}: {e}", obs.pages.len() + 1));
        }
        let ok = page.response.status == 200;
        if obs.response.is_none() {
            obs.response = Some(page.response.clone());
        }
        obs.pages.push(page.response);
        if pages == Pages::All && ok {
            next = page.next;
        }
        if obs.pages.len() == 1
            && let Some(p) = insert
        {
            let built = build_artifact(ctx, p);
            let reference = reference(&built, p.by, &p.tag, &p.name);
            let r = push(ctx, &p.name, built, repo.to_string(), reference, false).await?;
            if r.response.as_ref().is_none_or(|r: &Response| r.status != 201) {
                obs.chain_error =
                    Some(format!("the insert between pages failed: {}", r.response.map_or("no answer".into(), |r| r.describe())));
            }
        }
    }
    Ok(obs)
}
