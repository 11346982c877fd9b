//! Undoing what a scenario pushed: manifests newest first (referrers before subjects), then
//! blobs, on the target and on other registries. What a registry refuses to delete is residue,
//! reported, never silently left.

use super::context::Ctx;
use super::outcome::Residue;
use crate::client::{Client, ClientError, Response};
use crate::oci::{Built, Digest};
use std::collections::HashSet;

/// Everything a scenario's context pushed.
pub async fn cleanup_ctx(ctx: &Ctx<'_>, residue: &mut Vec<Residue>) {
    let mut by_repo: Vec<(String, Vec<Built>)> = vec![];
    for (repo, b) in &ctx.order {
        match by_repo.iter_mut().find(|(r, _)| r == repo) {
            Some((_, v)) => v.push(b.clone()),
            None => by_repo.push((repo.clone(), vec![b.clone()])),
        }
    }
    for (repo, built) in by_repo {
        cleanup(ctx.client, &repo, &built, residue).await;
    }
    for (target, repo, built) in ctx.remote_order.iter().rev() {
        if let Some(c) = ctx.mirrors.get(target) {
            cleanup(c, repo, std::slice::from_ref(built), residue).await;
        }
    }
    for (repo, digest) in &ctx.extra_blobs {
        let r = ctx.client.delete_blob(repo, digest).await;
        record_delete(residue, repo, digest, "blob", r);
    }
    let _ = ctx.client.take_transcript();
}

/// Deletes manifests (newest first, so referrers go before subjects) and then blobs. What the
/// registry refuses is recorded as residue, never silently left.
pub async fn cleanup(client: &Client, repo: &str, pushed: &[Built], residue: &mut Vec<Residue>) {
    let mut done = HashSet::new();
    for b in pushed.iter().rev() {
        if done.insert(b.digest.to_string()) {
            let r = client.delete_manifest(repo, b.digest.as_str()).await;
            record_delete(residue, repo, &b.digest, "manifest", r);
        }
    }
    for blob in pushed.iter().flat_map(|b| &b.blobs) {
        if done.insert(blob.digest.to_string()) {
            let r = client.delete_blob(repo, &blob.digest).await;
            record_delete(residue, repo, &blob.digest, "blob", r);
        }
    }
    let _ = client.take_transcript();
}

/// A delete that did not succeed (202, or 404 for already gone) leaves residue.
fn record_delete(residue: &mut Vec<Residue>, repo: &str, digest: &Digest, kind: &str, r: Result<Response, ClientError>) {
    residue.extend(residue_of(repo, digest.as_str(), kind, r));
}

/// The residue a DELETE leaves: none when it succeeded (200, 202, 204) or the thing was already
/// gone (404); otherwise what the registry answered, or why there was no answer. Shared with
/// `load`'s cleanup.
pub fn residue_of(repo: &str, reference: &str, kind: &str, r: Result<Response, ClientError>) -> Option<Residue> {
    let why = match r {
        Ok(r) if matches!(r.status, 200 | 202 | 204 | 404) => return None,
        Ok(r) => format!("DELETE answered {}", r.describe()),
        Err(e) => e.to_string(),
    };
    Some(Residue { repository: repo.into(), reference: reference.into(), kind: kind.into(), why })
}

