//! Other registries of a scenario (`--mirror NAME=URL`): `copy` moves a manifest and every
//! referrer the source lists to a destination byte for byte (attaching them through its
//! referrers tag where it answers without `OCI-Subject`) and reads them back; `list_on` lists
//! referrers on a given registry as a client would (the API, or the tag on a 404).

use super::super::context::Ctx;
use super::super::expect::Observation;
use super::listing_observation;
use crate::client::{Client, ClientError, referrers_tag};
use crate::oci::Built;
use crate::scenario::{Copy, ListOn};

pub async fn list_on(ctx: &mut Ctx<'_>, l: &ListOn) -> Result<Observation, ClientError> {
    let client = ctx.target_client(&l.target)?;
    let repo = ctx.repo(l.repo);
    let digest = ctx.named(&l.of).digest.clone();
    let r = referrers_tag::list_api_or_tag(&client, &repo, &digest).await?;
    let _ = client.take_transcript();
    Ok(listing_observation(r))
}

/// Where a copy writes, for cleanup: the main registry or a named one.
fn remember(ctx: &mut Ctx<'_>, to: &str, repo: &str, built: Built) {
    if to == "main" {
        ctx.order.push((repo.to_string(), built));
    } else {
        ctx.remote_order.push((to.to_string(), repo.to_string(), built));
    }
}

/// The digests a listing answer names.
fn listed_digests(listing: &crate::client::Response) -> Vec<String> {
    listing
        .json()
        .ok()
        .and_then(|v| v["manifests"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["digest"].as_str().map(str::to_string))
        .collect()
}

/// Copies `of` and every referrer the source lists for it to the destination, byte for
/// byte; on a destination without `OCI-Subject` the referrers are attached through its
/// referrers tag (the spec's client steps). Then reads every copied manifest back.
pub async fn copy(ctx: &mut Ctx<'_>, c: &Copy) -> Result<Observation, ClientError> {
    let src = ctx.target_client(&c.from)?;
    let dst = ctx.target_client(&c.to)?;
    let (repo, to_repo) = (ctx.repo(c.from_repo), ctx.repo(c.to_repo));
    let subject = ctx.named(&c.of).clone();
    let mut problems = vec![];
    let listing = referrers_tag::list_api_or_tag(&src, &repo, &subject.digest).await?;
    let digests = listed_digests(&listing);
    if listing.status != 200 {
        problems.push(format!("the source lists no referrers: {}", listing.describe()));
    }
    let known: Vec<Built> =
        digests.iter().filter_map(|d| ctx.entries.values().find(|e| e.built.digest.as_str() == d).map(|e| e.built.clone())).collect();
    let mut copied: Vec<Built> = vec![];
    let mut last = None;
    for (i, built) in std::iter::once(subject).chain(known).enumerate() {
        let r = copy_one(ctx, &src, &dst, c, (&repo, &to_repo), &built, i > 0, &mut problems).await?;
        copied.push(built);
        last = Some(r);
    }
    if digests.len() + 1 != copied.len() {
        problems.push(format!("{} referrers listed at the source, {} of them known to the scenario", digests.len(), copied.len() - 1));
    }
    for b in &copied {
        let back = dst.get_manifest(&to_repo, b.digest.as_str()).await?;
        if back.body != b.bytes {
            problems.push(format!("{} reads back from the destination with other bytes ({})", b.digest, back.describe()));
        }
    }
    let _ = (src.take_transcript(), dst.take_transcript());
    Ok(Observation { response: last, copy_problems: Some(problems), ..Default::default() })
}

/// Copies one manifest (fetched from the source, so what is copied is what it serves); a
/// referrer is attached through the destination's referrers tag where needed.
#[allow(clippy::too_many_arguments)]
async fn copy_one(
    ctx: &mut Ctx<'_>,
    src: &Client,
    dst: &Client,
    c: &Copy,
    (repo, to_repo): (&str, &str),
    built: &Built,
    is_referrer: bool,
    problems: &mut Vec<String>,
) -> Result<crate::client::Response, ClientError> {
    let fetched = src.get_manifest(repo, built.digest.as_str()).await?;
    if fetched.body != built.bytes {
        problems.push(format!("the source serves {} with other bytes than were pushed", built.digest));
    }
    let r = dst.push_built(to_repo, built, built.digest.as_str()).await?;
    if r.status != 201 {
        problems.push(format!("copying {} answered {}", built.digest, r.describe()));
    }
    remember(ctx, &c.to, to_repo, built.clone());
    if is_referrer && r.header("oci-subject").is_none() {
        match referrers_tag::attach(dst, to_repo, built).await? {
            Ok(index) => remember(ctx, &c.to, to_repo, index),
            Err(why) if why.is_empty() => {}
            Err(why) => problems.push(why),
        }
    }
    Ok(r)
}
