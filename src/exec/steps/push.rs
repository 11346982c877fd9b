//! Pushing manifests: `push_image`, `push_artifact`, `push_index`, and `push` (a manifest built
//! earlier, again, elsewhere, under a wrong reference, or in two halves — blobs, then the
//! manifest). A push to another registry of the scenario attaches a referrer through that
//! registry's referrers tag where it answers without `OCI-Subject`, as a client would.

use super::super::context::{Ctx, Entry, slug};
use super::super::expect::Observation;
use super::Problem;
use crate::client::{ClientError, referrers_tag};
use crate::oci::{Algorithm, Built, Digest, IndexBuilder, ManifestBuilder};
use crate::scenario::{By, PushAgain, PushArtifact, PushImage, PushIndex};

/// `blobs_only` uploads no manifest, so nothing that names one goes with it.
pub fn validate_again(p: &PushAgain) -> Vec<Problem> {
    if p.blobs_only && (p.manifest_only || p.reference.is_some() || p.wrong_digest) {
        return vec![Problem::new(
            "blobs_only",
            "`blobs_only` uploads no manifest: it cannot go with manifest_only, reference or wrong_digest",
        )];
    }
    vec![]
}

pub async fn image(ctx: &mut Ctx<'_>, p: &PushImage) -> Result<Observation, ClientError> {
    let sd = ctx.seed(&p.name);
    let built = if p.docker { ManifestBuilder::docker_image(&sd).build() } else { ManifestBuilder::image(&sd).build() };
    let reference = reference(&built, p.by, &p.tag, &p.name);
    let repo = ctx.repo(p.repo);
    if let Some(t) = p.target.as_deref().filter(|t| *t != "main") {
        return push_remote(ctx, t, &p.name, built, repo, &reference, false).await;
    }
    push(ctx, &p.name, built, repo, reference, p.build_only).await
}

pub async fn artifact(ctx: &mut Ctx<'_>, p: &PushArtifact) -> Result<Observation, ClientError> {
    let built = build_artifact(ctx, p);
    let mut reference = reference(&built, p.by, &p.tag, &p.name);
    if let Some(of) = &p.tag_referrers_of {
        reference = format!("{}{}", crate::oci::referrers_tag(ctx.named(of).digest.as_str()), p.tag_suffix);
    }
    let repo = ctx.repo(p.repo);
    if let Some(t) = p.target.as_deref().filter(|t| *t != "main") {
        return push_remote(ctx, t, &p.name, built, repo, &reference, true).await;
    }
    push(ctx, &p.name, built, repo, reference, p.build_only).await
}

pub async fn index(ctx: &mut Ctx<'_>, p: &PushIndex) -> Result<Observation, ClientError> {
    let mut b = IndexBuilder::new().artifact_type(p.artifact_type.clone());
    for m in &p.manifests {
        b = b.manifest(ctx.named(m).descriptor());
    }
    if let Some(s) = &p.subject {
        b = b.subject(subject_descriptor(ctx, s, p.subject_alg, 0));
    }
    for (k, v) in &p.annotations {
        b = b.annotation(k, v);
    }
    let built = b.build();
    let reference = reference(&built, p.by, &p.tag, &p.name);
    let repo = ctx.repo(p.repo);
    push(ctx, &p.name, built, repo, reference, p.build_only).await
}

/// `push:` — a manifest built earlier, pushed (again) as the options say.
pub async fn again(ctx: &mut Ctx<'_>, p: &PushAgain) -> Result<Observation, ClientError> {
    let e = ctx.entries.get(&p.name).expect("validated");
    let built = e.built.clone();
    let repo = p.repo.map_or_else(|| e.repo.clone(), |r| ctx.repo(r));
    let mut reference = reference(&built, p.by, &p.tag, &p.name);
    if let Some(r) = &p.reference {
        reference = r.clone();
    }
    if p.wrong_digest {
        reference = Digest::sha256(format!("not-{}", built.digest).as_bytes()).to_string();
    }
    if p.blobs_only {
        // The first half of a push: what a client uploads before its manifest.
        let mut last = None;
        for blob in &built.blobs {
            let r = ctx.client.push_blob(&repo, blob).await?;
            let ok = r.status == 201;
            last = Some(r);
            if !ok {
                break;
            }
        }
        ctx.order.push((repo, built.clone()));
        return Ok(Observation { response: last, ..Default::default() });
    }
    if p.manifest_only || p.reference.is_some() || p.wrong_digest {
        let r = ctx.client.put_manifest(&repo, &reference, &built.media_type, &built.bytes).await?;
        ctx.order.push((repo, built.clone()));
        return Ok(Observation { response: Some(r), pushed: Some(built), ..Default::default() });
    }
    push(ctx, &p.name, built, repo, reference, false).await
}

fn subject_descriptor(ctx: &Ctx, name: &str, alg: Option<Algorithm>, delta: i64) -> crate::oci::Descriptor {
    let b = ctx.named(name);
    let mut d = match alg {
        Some(a) => b.descriptor_with(a),
        None => b.descriptor(),
    };
    d.size = (d.size as i64 + delta).max(0) as u64;
    d
}

/// The artifact a `push_artifact` (or a referrers step's insert) describes.
pub fn build_artifact(ctx: &Ctx, p: &PushArtifact) -> Built {
    let sd = ctx.seed(&p.name);
    let mut b = match &p.config_media_type {
        Some(cmt) => ManifestBuilder::config_typed(&sd, cmt).artifact_type(p.artifact_type.clone()),
        None => ManifestBuilder::artifact(&sd, "").artifact_type(p.artifact_type.clone()),
    };
    if let Some(s) = &p.subject {
        b = b.subject(subject_descriptor(ctx, s, p.subject_alg, p.subject_size_delta));
    }
    for (k, v) in &p.annotations {
        b = b.annotation(k, v);
    }
    if p.annotation_bytes > 0 {
        b = b.annotation("dev.referee.padding", &"p".repeat(p.annotation_bytes));
    }
    if let Some(mt) = &p.layer_media_type {
        b = b.layer_media_type(mt);
    }
    for (k, v) in &p.extra_fields {
        b = b.extra_field(k, v.clone());
    }
    for (k, v) in &p.subject_extra {
        b = b.subject_extra(k, v.clone());
    }
    b.layer_data(p.layer_data).build()
}

/// The reference to push under (digest or tag).
pub fn reference(built: &Built, by: By, tag: &Option<String>, name: &str) -> String {
    match by {
        By::Digest => built.digest.to_string(),
        By::Tag => tag.clone().unwrap_or_else(|| slug(name)),
    }
}

/// Pushes `built` (blobs, then manifest) under `name`, remembering it for later steps and for
/// cleanup; `build_only` only remembers it.
pub async fn push(ctx: &mut Ctx<'_>, name: &str, built: Built, repo: String, reference: String, build_only: bool) -> Result<Observation, ClientError> {
    let tag = Digest::parse(&reference).is_err().then(|| reference.clone());
    // The same bytes in the same repository stay present (a re-push that fails does not
    // remove what is stored).
    let was = ctx.entries.get(name).filter(|e| e.repo == repo && e.built.digest == built.digest).map(|e| (e.pushed, e.tag.clone()));
    let (present, old_tag) = was.unwrap_or((false, None));
    ctx.entries.insert(name.to_string(), Entry::new(built.clone(), repo.clone(), if present { old_tag } else { tag.clone() }, present));
    if build_only {
        return Ok(Observation::default());
    }
    let r = ctx.client.push_built(&repo, &built, &reference).await?;
    if r.status == 201 {
        // The tag moved here: what it named before is no longer reachable by it.
        if let Some(t) = &tag {
            ctx.untag(&repo, t);
        }
        if let Some(e) = ctx.entries.get_mut(name) {
            e.pushed = true;
            e.tag = tag.clone();
        }
    }
    // Even a rejected push may have left blobs behind: clean them up too.
    ctx.order.push((repo, built.clone()));
    Ok(Observation { response: Some(r), pushed: Some(built), ..Default::default() })
}

/// Pushes to another registry of the scenario; with `attach`, a referrer answered without
/// `OCI-Subject` is added to that registry's referrers tag, as a client would.
async fn push_remote(
    ctx: &mut Ctx<'_>,
    target: &str,
    name: &str,
    built: Built,
    repo: String,
    reference: &str,
    attach: bool,
) -> Result<Observation, ClientError> {
    let client = ctx.target_client(target)?;
    ctx.entries.insert(name.to_string(), Entry::new(built.clone(), repo.clone(), None, false));
    let r = client.push_built(&repo, &built, reference).await?;
    ctx.remote_order.push((target.to_string(), repo.clone(), built.clone()));
    if attach && r.status == 201 && built.subject.is_some() && r.header("oci-subject").is_none() {
        match referrers_tag::attach(&client, &repo, &built).await? {
            Ok(index) => ctx.remote_order.push((target.to_string(), repo.clone(), index)),
            Err(why) if why.is_empty() => {}
            Err(why) => return Err(ClientError::Other { url: target.to_string(), msg: why }),
        }
    }
    let _ = client.take_transcript();
    Ok(Observation { response: Some(r), pushed: Some(built), ..Default::default() })
}
