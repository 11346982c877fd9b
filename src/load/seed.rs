//! Seeding before a measured step, and removing it afterwards: subjects, referrers (through
//! the API or the referrers tag), listing a subject's referrers whole. Every loop is bounded;
//! pushes and deletes run a few at a time.

use crate::client::{Client, ClientError, Scope};
use crate::exec::Residue;
use crate::exec::cleanup::residue_of;
use crate::oci::{Blob, Built, IndexBuilder, ManifestBuilder, referrers_tag};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Requests in flight while seeding or cleaning up.
pub const IN_FLIGHT: usize = 16;
/// The two artifact types referrers alternate between; a filtered read asks for the first.
pub const TYPE_A: &str = "application/vnd.referee.load.a";
pub const TYPE_B: &str = "application/vnd.referee.load.b";
/// Most `Link` pages followed for one list.
pub const MAX_PAGES: usize = 10_000;

/// What a step pushed, for cleanup: manifests in push order, and the blobs they share.
#[derive(Debug, Default, Clone)]
pub struct Pushed {
    pub manifests: Vec<Built>,
    pub blobs: Vec<Blob>,
}

impl Pushed {
    pub fn add(&mut self, other: Pushed) {
        self.manifests.extend(other.manifests);
        for b in other.blobs {
            if !self.blobs.iter().any(|x| x.digest == b.digest) {
                self.blobs.push(b);
            }
        }
    }
}

fn describe(e: &ClientError) -> String {
    e.to_string()
}

/// Pushes an image to be a subject (by digest) and gives it back.
pub async fn subject(client: &Client, repo: &str, seed: &str, pushed: &mut Pushed) -> Result<Built, String> {
    let built = ManifestBuilder::image(seed).build();
    let r = client.push_built(repo, &built, built.digest.as_str()).await.map_err(|e| describe(&e))?;
    pushed.blobs.extend(built.blobs.iter().cloned());
    if r.status != 201 {
        return Err(format!("pushing the subject to {repo} answered {}", r.describe()));
    }
    pushed.manifests.push(built.clone());
    Ok(built)
}

/// The `i`-th load referrer of `subject`: an artifact of type A (even `i`) or B (odd), unique
/// by an annotation, sharing its blobs with every other load referrer.
pub fn referrer(subject: &Built, i: u64, tag: &str) -> Built {
    let at = if i.is_multiple_of(2) { TYPE_A } else { TYPE_B };
    ManifestBuilder::artifact("load", at)
        .annotation("dev.referee.load.n", &format!("{tag}-{i}"))
        .subject(subject.descriptor())
        .build()
}

/// The blobs every load referrer shares: pushed once per repository.
pub async fn referrer_blobs(client: &Client, repo: &str, subject: &Built, pushed: &mut Pushed) -> Result<(), String> {
    let sample = referrer(subject, 0, "blobs");
    for blob in &sample.blobs {
        let r = client.push_blob(repo, blob).await.map_err(|e| describe(&e))?;
        if r.status != 201 {
            return Err(format!("pushing a blob to {repo} answered {}", r.describe()));
        }
        pushed.blobs.push(blob.clone());
    }
    Ok(())
}

/// Pushes `n` referrers of `subject` by digest, [`IN_FLIGHT`] at a time; stops early when
/// `stop` is set. Returns them in push order.
pub async fn referrers(
    client: &Client,
    repo: &str,
    subject: &Built,
    n: u64,
    tag: &str,
    stop: &AtomicBool,
    pushed: &mut Pushed,
) -> Result<Vec<Built>, String> {
    if n == 0 {
        return Ok(vec![]);
    }
    referrer_blobs(client, repo, subject, pushed).await?;
    let results: Vec<(Built, Result<u16, String>)> = futures::stream::iter(0..n)
        .take_while(|_| futures::future::ready(!stop.load(Ordering::SeqCst)))
        .map(|i| {
            let built = referrer(subject, i, tag);
            async move {
                let r = client.put_manifest(repo, built.digest.as_str(), &built.media_type, &built.bytes).await;
                let r = r.map(|r| r.status).map_err(|e| describe(&e));
                (built, r)
            }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    let mut out = Vec::with_capacity(results.len());
    let mut first_error = None;
    for (built, r) in results {
        // Whatever the answer (a timeout may still have stored it), cleanup deletes it.
        pushed.manifests.push(built.clone());
        match r {
            Ok(201) => out.push(built),
            Ok(s) => {
                first_error.get_or_insert(format!("pushing a referrer to {repo} answered {s}"));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Writes one referrers-tag index listing `referrers` under `subject`'s `sha256-<hex>` tag
/// (seeding the fallback: one write, not a read-modify-write per referrer).
pub async fn fallback_index(client: &Client, repo: &str, subject: &Built, referrers: &[Built], pushed: &mut Pushed) -> Result<Built, String> {
    let mut b = IndexBuilder::new();
    for r in referrers {
        b = b.manifest(r.referrer_descriptor());
    }
    let index = b.build();
    let tag = referrers_tag(subject.digest.as_str());
    let r = client.put_manifest(repo, &tag, &index.media_type, &index.bytes).await.map_err(|e| describe(&e))?;
    if r.status != 201 {
        return Err(format!("writing the referrers tag {tag} answered {}", r.describe()));
    }
    pushed.manifests.push(index.clone());
    Ok(index)
}

/// Every entry of a subject's referrers list, following `Link` (at most [`MAX_PAGES`] pages).
/// `Ok(None)` when the registry has no referrers API (404 on the first page).
pub async fn list_all(client: &Client, repo: &str, subject: &str, filter: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let mut url = client.referrers_url(repo, subject, filter, None).map_err(|e| describe(&e))?;
    let mut digests = vec![];
    for page in 0..MAX_PAGES {
        let p = client.referrers_page(repo, url, Scope::Pull(repo.into())).await.map_err(|e| describe(&e))?;
        if p.response.status == 404 && page == 0 {
            return Ok(None);
        }
        if p.response.status != 200 {
            return Err(format!("listing referrers answered {}", p.response.describe()));
        }
        let v = p.response.json()?;
        for m in v.get("manifests").and_then(|m| m.as_array()).into_iter().flatten() {
            if let Some(d) = m.get("digest").and_then(|d| d.as_str()) {
                digests.push(d.to_string());
            }
        }
        match p.next {
            Some(next) => url = next,
            None => return Ok(Some(digests)),
        }
    }
    Err(format!("the referrers list of {subject} has more than {MAX_PAGES} pages"))
}

/// Lists until the list holds `want` entries or `within` has passed (registries that list
/// eventually); gives the last list read.
pub async fn list_converged(client: &Client, repo: &str, subject: &str, want: usize, within: Duration) -> Result<Option<Vec<String>>, String> {
    let deadline = Instant::now() + within;
    loop {
        let got = list_all(client, repo, subject, None).await?;
        let done = got.as_ref().is_none_or(|l| l.len() >= want);
        if done || Instant::now() >= deadline {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes what a step pushed: manifests newest first ([`IN_FLIGHT`] at a time, referrers
/// before their subjects), then blobs. What the registry refuses is residue.
pub async fn cleanup(client: &Client, repo: &str, pushed: &Pushed) -> Vec<Residue> {
    let client = Arc::new(client.clone());
    let mut residue = vec![];
    let mut seen = std::collections::HashSet::new();
    let manifests: Vec<&Built> = pushed.manifests.iter().rev().filter(|b| seen.insert(b.digest.to_string())).collect();
    // Subjects (manifests that are not referrers) go last, after every referrer is gone.
    let (referrers, subjects): (Vec<&Built>, Vec<&Built>) = manifests.into_iter().partition(|b| b.subject.is_some() || b.is_index);
    for batch in [referrers, subjects] {
        let results: Vec<Option<Residue>> = futures::stream::iter(batch)
            .map(|b| {
                let client = client.clone();
                async move {
                    let r = client.delete_manifest(repo, b.digest.as_str()).await;
                    residue_of(repo, b.digest.as_str(), "manifest", r)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        residue.extend(results.into_iter().flatten());
    }
    let mut seen = std::collections::HashSet::new();
    for blob in pushed.blobs.iter().filter(|b| seen.insert(b.digest.to_string())) {
        let r = client.delete_blob(repo, &blob.digest).await;
        residue.extend(residue_of(repo, blob.digest.as_str(), "blob", r));
    }
    let _ = client.take_transcript();
    residue
}
