//! Blobs and upload sessions: `push_blob` (POST then PUT, single POST, chunked), poking an
//! `upload_session`, `mount` (from a repository or anonymous; a 202 session is finished to show
//! its Location works), `get_blob`, `delete_blob`.

use super::super::context::{Ctx, Entry, new_run_id};
use super::super::expect::Observation;
use super::{answer, answer_then};
use crate::client::{ClientError, Response};
use crate::oci::{Blob, Built, Digest};
use crate::scenario::{DeleteBlob, GetBlob, Mount, PushBlob, ReadMethod, SessionAction, UploadMethod, UploadSession, WhichBlob};

pub fn pick_blob(b: &Built, which: WhichBlob) -> &Blob {
    match which {
        WhichBlob::Config => b.blobs.first().expect("image manifests have a config"),
        WhichBlob::Layer => b.blobs.last().expect("image manifests have blobs"),
    }
}

/// Finishes the upload session a 202 `r` opened (its `Location`) with `bytes` under `digest`.
async fn finish_session(ctx: &Ctx<'_>, repo: &str, r: &Response, digest: &Digest, bytes: Vec<u8>) -> Result<Option<Response>, ClientError> {
    if r.status != 202 {
        return Ok(None);
    }
    match r.header("location").and_then(|l| r.url.join(l).ok()) {
        Some(mut url) => {
            url.query_pairs_mut().append_pair("digest", digest.as_str());
            Ok(Some(ctx.client.put_upload(repo, url, bytes).await?))
        }
        None => Ok(None),
    }
}

pub async fn push_blob(ctx: &mut Ctx<'_>, p: &PushBlob) -> Result<Observation, ClientError> {
    let blob = if p.empty {
        Blob::empty()
    } else {
        let seed = ctx.seed(&p.name);
        let bytes: Vec<u8> = seed.bytes().cycle().take(p.size.max(1)).collect();
        let mut b = Blob::new(crate::oci::media::OCTET_STREAM, bytes);
        if let Some(alg) = p.alg {
            b.digest = Digest::of(alg, &b.bytes);
        }
        b
    };
    let repo = ctx.main.clone();
    let (r, followup) = match p.method {
        UploadMethod::PostPut => (ctx.client.push_blob(&repo, &blob).await?, None),
        UploadMethod::Chunked => (ctx.client.push_blob_chunked(&repo, &blob, p.chunk).await?, None),
        UploadMethod::SinglePost => {
            let r = ctx.client.push_blob_single_post(&repo, &blob).await?;
            let followup = finish_session(ctx, &repo, &r, &blob.digest, blob.bytes.clone()).await?;
            (r, followup)
        }
    };
    ctx.extra_blobs.push((repo.clone(), blob.digest.clone()));
    // A blob is addressable like a manifest by name: its bytes, digest and itself as blob.
    let built = Built {
        media_type: blob.media_type.clone(),
        bytes: blob.bytes.clone(),
        digest: blob.digest.clone(),
        blobs: vec![blob],
        subject: None,
        artifact_type: None,
        config_media_type: None,
        annotations: Default::default(),
        is_index: false,
    };
    ctx.entries.insert(p.name.clone(), Entry::new(built.clone(), repo, None, true));
    Ok(Observation { response: Some(r), followup, pushed: Some(built), ..Default::default() })
}

pub async fn upload_session(ctx: &mut Ctx<'_>, u: &UploadSession) -> Result<Observation, ClientError> {
    let repo = ctx.main.clone();
    let start = ctx.client.start_upload(&repo).await?;
    let Some(url) = start.header("location").and_then(|l| start.url.join(l).ok()) else {
        return Ok(answer(start));
    };
    let r = match u.action {
        SessionAction::OutOfOrder => ctx.client.patch_upload(&repo, url.clone(), 5, b"abcde".to_vec()).await?,
        SessionAction::Status => ctx.client.upload_status(&repo, url.clone()).await?,
        SessionAction::Cancel => ctx.client.cancel_upload(&repo, url.clone()).await?,
    };
    if u.action != SessionAction::Cancel {
        // Leave no open session behind.
        let _ = ctx.client.cancel_upload(&repo, url).await;
    }
    Ok(answer(r))
}

pub async fn mount(ctx: &mut Ctx<'_>, m: &Mount) -> Result<Observation, ClientError> {
    let into = ctx.repo(m.into);
    let from = (!m.anonymous).then(|| ctx.repo(m.from));
    let (digest, bytes) = match &m.blob_of {
        Some(n) => {
            let b = pick_blob(ctx.named(n), m.which);
            (b.digest.clone(), b.bytes.clone())
        }
        None => {
            let bytes = format!("referee-unmountable-{}", new_run_id()).into_bytes();
            (Digest::sha256(&bytes), bytes)
        }
    };
    let r = ctx.client.mount_blob(&into, &digest, from.as_deref()).await?;
    ctx.extra_blobs.push((into.clone(), digest.clone()));
    // An upload session instead of a mount: finish it, so the Location is shown usable.
    let followup = finish_session(ctx, &into, &r, &digest, bytes).await?;
    Ok(answer_then(r, followup))
}

pub async fn delete_blob(ctx: &mut Ctx<'_>, d: &DeleteBlob) -> Result<Observation, ClientError> {
    let repo = ctx.repo(d.repo);
    let digest = pick_blob(ctx.named(&d.blob_of), d.which).digest.clone();
    let r = ctx.client.delete_blob(&repo, &digest).await?;
    let followup = match (d.then, r.status) {
        (Some(ReadMethod::Get), 202) => Some(ctx.client.get_blob(&repo, &digest).await?),
        (Some(ReadMethod::Head), 202) => Some(ctx.client.head_blob(&repo, &digest).await?),
        _ => None,
    };
    Ok(answer_then(r, followup))
}

pub async fn get_blob(ctx: &mut Ctx<'_>, g: &GetBlob) -> Result<Observation, ClientError> {
    let repo = ctx.repo(g.repo);
    let digest = match &g.blob_of {
        Some(n) => pick_blob(ctx.named(n), g.which).digest.clone(),
        None => Digest::sha256(format!("referee-absent-blob-{}", new_run_id()).as_bytes()),
    };
    let r = match g.method {
        ReadMethod::Get => ctx.client.get_blob(&repo, &digest).await?,
        ReadMethod::Head => ctx.client.head_blob(&repo, &digest).await?,
    };
    Ok(answer(r))
}
