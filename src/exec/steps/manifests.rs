//! Manifest and tag endpoints: `get_manifest` (GET or HEAD, by digest, tag, referrers tag or a
//! digest nothing has), `delete_manifest` (with a read after a 202), `tags_list`.

use super::super::context::{Ctx, new_run_id, slug};
use super::super::expect::Observation;
use super::{answer, answer_then, listing_observation};
use crate::client::ClientError;
use crate::oci::{Digest, referrers_tag};
use crate::scenario::{By, DeleteManifest, GetManifest, ReadMethod, TagsList};

pub async fn get(ctx: &mut Ctx<'_>, g: &GetManifest) -> Result<Observation, ClientError> {
    let repo = ctx.repo(g.repo);
    let reference = manifest_reference(ctx, g.of.as_deref(), g.by, &g.tag, g.referrers_tag_of.as_deref(), g.random);
    let r = match (g.method, &g.accept) {
        (ReadMethod::Get, Some(a)) => ctx.client.get_manifest_accept(&repo, &reference, a).await?,
        (ReadMethod::Get, None) => ctx.client.get_manifest(&repo, &reference).await?,
        (ReadMethod::Head, _) => ctx.client.head_manifest(&repo, &reference).await?,
    };
    Ok(listing_observation(r))
}

pub async fn delete(ctx: &mut Ctx<'_>, d: &DeleteManifest) -> Result<Observation, ClientError> {
    let repo = ctx.repo(d.repo);
    let reference = manifest_reference(ctx, d.of.as_deref(), d.by, &d.tag, None, d.random);
    let r = ctx.client.delete_manifest(&repo, &reference).await?;
    // Deleted by digest: the manifest is gone from the model of what the repository holds,
    // under every name that has those bytes there.
    if r.status == 202 && d.by == By::Digest && !d.random && d.of.is_some() {
        for e in ctx.entries.values_mut().filter(|e| e.repo == repo && e.built.digest.as_str() == reference) {
            e.pushed = false;
            e.deleted = Some(format!("DELETE {reference} answered 202"));
        }
    }
    let followup = match (d.then, r.status) {
        (Some(ReadMethod::Get), 202) => Some(ctx.client.get_manifest(&repo, &reference).await?),
        (Some(ReadMethod::Head), 202) => Some(ctx.client.head_manifest(&repo, &reference).await?),
        _ => None,
    };
    Ok(answer_then(r, followup))
}

pub async fn tags_list(ctx: &mut Ctx<'_>, t: &TagsList) -> Result<Observation, ClientError> {
    let repo = ctx.repo(t.repo);
    let r = ctx.client.tags_list(&repo, None, None).await?;
    Ok(answer(r))
}

fn manifest_reference(ctx: &Ctx, of: Option<&str>, by: By, tag: &Option<String>, rt_of: Option<&str>, random: bool) -> String {
    if let Some(s) = rt_of {
        return referrers_tag(ctx.named(s).digest.as_str());
    }
    let Some(name) = of.filter(|_| !random) else {
        return Digest::sha256(format!("referee-absent-{}", new_run_id()).as_bytes()).to_string();
    };
    let e = ctx.entries.get(name).expect("validated");
    match by {
        By::Digest => e.built.digest.to_string(),
        By::Tag => tag.clone().or_else(|| e.tag.clone()).unwrap_or_else(|| slug(name)),
    }
}
