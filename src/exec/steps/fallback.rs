//! The referrers tag schema as a scenario drives it: `fallback_add` / `fallback_remove` run the
//! client algorithm of `client::referrers_tag` (spec, oras-go, regclient, ggcr; conditional,
//! with retries) and remember what it wrote; `fallback_read` reads the tag as a listing and can
//! count the referrers a race left out.

use super::super::context::{Ctx, Entry};
use super::super::expect::{ModelListing, Observation};
use super::super::measure::Measurement;
use super::{Problem, listing_observation};
use crate::client::ClientError;
use crate::client::referrers_tag::{self, ClientMode, TagOp, TagUpdate, TagWrite};
use crate::oci::{Digest, referrers_tag as tag_of};
use crate::scenario::{FallbackAdd, FallbackRead, MAX_FALLBACK_RETRIES};
use std::collections::HashSet;

/// `retries` only with `conditional` (it retries on 412), never with regclient (which deletes
/// without a condition), and at most [`MAX_FALLBACK_RETRIES`].
pub fn validate(f: &FallbackAdd) -> Vec<Problem> {
    let mut out = vec![];
    if f.retries > 0 && !f.conditional {
        out.push(Problem::new("retries", "`retries` needs `conditional: true` (it retries on 412)"));
    }
    if f.retries > 0 && f.client == ClientMode::Regclient {
        out.push(Problem::new("retries", "`retries` cannot go with `client: regclient`, which deletes the tag without a condition"));
    }
    if f.retries > MAX_FALLBACK_RETRIES {
        out.push(Problem::new("retries", format!("`retries` is at most {MAX_FALLBACK_RETRIES}, not {}", f.retries)));
    }
    out
}

/// Adds (`add`) or removes the referrer in its subject's referrers tag.
pub async fn update(ctx: &mut Ctx<'_>, f: &FallbackAdd, add: bool) -> Result<Observation, ClientError> {
    let e = ctx.entries.get(&f.referrer).expect("validated");
    let (referrer, repo) = (e.built.clone(), e.repo.clone());
    let how = TagUpdate { op: if add { TagOp::Add } else { TagOp::Remove }, mode: f.client, conditional: f.conditional, retries: f.retries };
    let out = referrers_tag::update(ctx.client, &repo, &referrer, how).await?;
    // The index written is known by the step's `as` name (for later expectations).
    if let Some(index) = out.index() {
        let name = f.r#as.clone().unwrap_or_else(|| format!("{}-fallback-{}", f.referrer, ctx.order.len()));
        let pushed = matches!(&out.write, TagWrite::Put(p) if p.status == 201);
        if pushed {
            ctx.untag(&repo, &out.tag);
        }
        ctx.entries.insert(name, Entry::new(index.clone(), repo.clone(), Some(out.tag.clone()), pushed));
    }
    for index in &out.indexes {
        ctx.order.push((repo.clone(), index.clone()));
    }
    let pushed = out.index().cloned();
    // A conditional update observes the read (its ETag) and its PUT as the follow-up; an
    // unconditional one observes the PUT.
    let mut obs = match out.write {
        TagWrite::Nothing | TagWrite::NoEtag => Observation { response: Some(out.read), ..Default::default() },
        TagWrite::TagDeleted(del) => Observation { response: Some(del), ..Default::default() },
        TagWrite::Put(put) if f.conditional => Observation { response: Some(out.read), followup: Some(put), pushed, ..Default::default() },
        TagWrite::Put(put) => Observation { response: Some(put), pushed, ..Default::default() },
    };
    if let Some(del) = out.cleanup_refused {
        obs.followup = Some(del);
    }
    if f.conditional {
        obs.measurements.push(Measurement::count("conditional_retries", f64::from(out.retries)));
    }
    Ok(obs)
}

pub async fn read(ctx: &mut Ctx<'_>, f: &FallbackRead) -> Result<Observation, ClientError> {
    let b = ctx.named(&f.of);
    let digest = match f.alg {
        Some(a) => Digest::of(a, &b.bytes),
        None => b.digest.clone(),
    };
    let repo = ctx.repo_of(&f.of);
    let r = ctx.client.get_manifest(&repo, &tag_of(digest.as_str())).await?;
    let mut measurements = vec![];
    if !f.count_missing.is_empty() {
        let listed: HashSet<String> = r
            .json()
            .ok()
            .and_then(|v| v.get("manifests").and_then(|m| m.as_array().cloned()))
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.get("digest").and_then(|d| d.as_str()).map(str::to_string))
            .collect();
        let missing = f.count_missing.iter().filter_map(|n| ctx.built(n)).filter(|b| !listed.contains(b.digest.as_str())).count();
        measurements.push(Measurement::count("lost_updates", missing as f64));
    }
    let model = Some(ModelListing::of(ctx, &repo, &digest, None));
    Ok(Observation { measurements, model, ..listing_observation(r) })
}
