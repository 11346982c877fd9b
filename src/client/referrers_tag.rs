//! The client side of the referrers tag schema (distribution-spec "Pushing Manifests with
//! Subject" client steps 1–6, "Deleting Manifests" steps 1–3): read a subject's `sha256-<hex>`
//! index, add or remove a referrer, write it back — as the spec says, or as a real client
//! (oras-go, regclient, go-containerregistry) does it, optionally conditional on the `ETag`
//! read, with retries on 412. Usable without the executor: the scenario runner, load profiles
//! and generated graphs all call this code.

use super::http::{Client, ClientError, Response, Scope};
use super::ops::descriptor_from_json;
use crate::oci::{Built, Descriptor, Digest, IndexBuilder, referrers_tag};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Client emulation for the referrers tag schema: real clients disagree on the same registry
/// (registry-behaviours.md §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    /// The spec's steps, strictly: pull up artifactType and annotations, no duplicates, keep
    /// an empty index.
    #[default]
    Spec,
    /// oras-go: as the spec, then DELETE the index it replaced (by digest).
    OrasGo,
    /// regclient: as the spec, but delete the tag when the index becomes empty (falling back
    /// to an empty index when tag delete is refused).
    Regclient,
    /// go-containerregistry (crane, cosign): no artifactType/annotation pull-up; entries sorted
    /// by digest.
    Ggcr,
}

/// The most retries a conditional update may make.
pub const MAX_RETRIES: u32 = 50;

/// Add a referrer to its subject's index, or remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    Add,
    Remove,
}

/// How to update a referrers tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagUpdate {
    pub op: TagOp,
    pub mode: ClientMode,
    /// Write with `If-Match: <ETag read>` (or `If-None-Match: *` for a tag that is absent).
    pub conditional: bool,
    /// With `conditional`: on a 412, read and try again, at most this many times (capped at
    /// [`MAX_RETRIES`]).
    pub retries: u32,
}

/// What the update wrote.
#[derive(Debug, Clone)]
pub enum TagWrite {
    /// Nothing: the tag holds something other than an image index (step 2: "the client SHOULD
    /// report a failure and skip the remaining steps"), an invalid descriptor, answered neither
    /// 200 nor 404, or already lists the referrer being added.
    Nothing,
    /// Conditional, but the tag was read without an `ETag`: nothing to make the write
    /// conditional on, so nothing was written.
    NoEtag,
    /// The index was PUT under the tag; this is the answer.
    Put(Response),
    /// regclient deleted the tag instead of writing an empty index; this is the answer.
    TagDeleted(Response),
}

/// What one update did (the last attempt, when it retried).
#[derive(Debug, Clone)]
pub struct TagUpdateOutcome {
    /// The tag it is about (`sha256-<hex>` of the subject).
    pub tag: String,
    /// The GET of the tag the last attempt started from.
    pub read: Response,
    pub write: TagWrite,
    /// oras-go deletes the index it replaced: that DELETE's answer when it was neither 202
    /// nor 404.
    pub cleanup_refused: Option<Response>,
    /// Every index an attempt built to write (the last one last), for cleanup.
    pub indexes: Vec<Built>,
    /// How many times a 412 made it read and try again.
    pub retries: u32,
}

impl TagUpdateOutcome {
    /// The index the last attempt built, if it got that far.
    pub fn index(&self) -> Option<&Built> {
        match self.write {
            TagWrite::NoEtag | TagWrite::Put(_) => self.indexes.last(),
            _ => None,
        }
    }
}

/// Updates the referrers tag of `referrer`'s subject in `repo` as `how` says.
pub async fn update(client: &Client, repo: &str, referrer: &Built, how: TagUpdate) -> Result<TagUpdateOutcome, ClientError> {
    let Some(subject) = &referrer.subject else {
        return Err(ClientError::Other { url: repo.into(), msg: "the referrer has no subject (scenario error)".into() });
    };
    let tag = referrers_tag(subject.digest.as_str());
    let max = how.retries.min(MAX_RETRIES);
    let mut indexes = vec![];
    let mut retries = 0u32;
    loop {
        let (read, write, cleanup_refused) = attempt(client, repo, referrer, &tag, how, &mut indexes).await?;
        let refused = how.conditional && matches!(&write, TagWrite::Put(p) if p.status == 412);
        if !refused || retries >= max {
            return Ok(TagUpdateOutcome { tag, read, write, cleanup_refused, indexes, retries });
        }
        retries += 1;
        // Earlier attempts stay in the transcript: they show the 412s.
        tokio::time::sleep(Duration::from_millis(u64::from(retries.min(10)) * 3)).await;
    }
}

/// The descriptors of a referrers index that was read, or `None` if it is not one.
fn listed(read: &Response) -> Option<Vec<Descriptor>> {
    let list = read.json().ok()?.get("manifests")?.as_array()?.clone();
    list.iter().map(descriptor_from_json).collect()
}

/// One read-modify-write.
async fn attempt(
    client: &Client,
    repo: &str,
    referrer: &Built,
    tag: &str,
    how: TagUpdate,
    indexes: &mut Vec<Built>,
) -> Result<(Response, TagWrite, Option<Response>), ClientError> {
    let read = client.get_manifest(repo, tag).await?;
    let previous = (read.status == 200).then(|| Digest::sha256(&read.body));
    let mut descriptors = match read.status {
        404 => vec![],
        200 => match listed(&read) {
            Some(d) => d,
            None => return Ok((read, TagWrite::Nothing, None)),
        },
        _ => return Ok((read, TagWrite::Nothing, None)),
    };
    let present = descriptors.iter().any(|d| d.digest == referrer.digest);
    match how.op {
        TagOp::Add if present => return Ok((read, TagWrite::Nothing, None)),
        TagOp::Add => {
            descriptors.push(match how.mode {
                // ggcr appends the bare descriptor (cosign#4641, ggcr#1997).
                ClientMode::Ggcr => referrer.descriptor(),
                _ => referrer.referrer_descriptor(),
            });
            if how.mode == ClientMode::Ggcr {
                descriptors.sort_by(|a, b| a.digest.cmp(&b.digest));
            }
        }
        TagOp::Remove => descriptors.retain(|d| d.digest != referrer.digest),
    }
    // regclient deletes the tag once nothing is left, pushing an empty index only when the
    // registry refuses tag deletion.
    if how.op == TagOp::Remove && descriptors.is_empty() && how.mode == ClientMode::Regclient {
        let del = client.delete_manifest(repo, tag).await?;
        if del.status == 202 {
            return Ok((read, TagWrite::TagDeleted(del), None));
        }
    }
    let index = descriptors.into_iter().fold(IndexBuilder::new(), |b, d| b.manifest(d)).build();
    indexes.push(index.clone());
    let put = if how.conditional {
        // Update what was read (If-Match: its ETag), or create what was absent (If-None-Match: *).
        let condition = match read.status {
            404 => ("if-none-match", "*".to_string()),
            _ => match read.header("etag") {
                Some(e) => ("if-match", e.to_string()),
                None => return Ok((read, TagWrite::NoEtag, None)),
            },
        };
        client.put_manifest_with_headers(repo, tag, &index.media_type, &index.bytes, &[condition]).await?
    } else {
        client.push_built(repo, &index, tag).await?
    };
    // oras-go removes the index it replaced (SkipReferrersGC = false), once its own is in.
    let mut cleanup_refused = None;
    if how.mode == ClientMode::OrasGo
        && put.status == 201
        && let Some(old) = previous
        && old != index.digest
    {
        let del = client.delete_manifest(repo, old.as_str()).await?;
        if !matches!(del.status, 202 | 404) {
            cleanup_refused = Some(del);
        }
    }
    Ok((read, TagWrite::Put(put), cleanup_refused))
}

/// What adding a referrer the spec's way came to (one [`update`], judged for a caller that
/// only wants it done).
enum Added {
    /// The index written, and the PUT's answer (201 or a refusal).
    Written(Box<Built>, Response),
    /// The tag already lists it; the read is the answer.
    AlreadyListed(Response),
    /// The tag holds no usable index, or could not be read: why, and the read.
    Unusable(String, Response),
}

async fn add(client: &Client, repo: &str, referrer: &Built) -> Result<Added, ClientError> {
    let how = TagUpdate { op: TagOp::Add, mode: ClientMode::Spec, conditional: false, retries: 0 };
    let out = update(client, repo, referrer, how).await?;
    let tag = out.tag.clone();
    Ok(match out.write {
        TagWrite::Put(r) => Added::Written(Box::new(out.indexes.last().cloned().expect("a PUT wrote an index")), r),
        _ if out.read.status == 200 && listed(&out.read).is_some_and(|l| l.iter().any(|d| d.digest == referrer.digest)) => {
            Added::AlreadyListed(out.read)
        }
        _ if out.read.status == 200 => Added::Unusable(format!("the referrers tag {tag} holds no image index of valid descriptors"), out.read),
        _ => Added::Unusable(format!("reading the referrers tag {tag} answered {}", out.read.describe()), out.read),
    })
}

/// Adds `referrer` to its subject's referrers tag the spec's way, for a registry that answered
/// its push without `OCI-Subject`. `Ok(Ok(index))` is the index written; `Ok(Err(""))` means
/// it was already listed; any other `Ok(Err(why))` says why it could not be added.
pub async fn attach(client: &Client, repo: &str, referrer: &Built) -> Result<Result<Built, String>, ClientError> {
    if referrer.subject.is_none() {
        return Ok(Err("a referrer without subject".into()));
    }
    Ok(match add(client, repo, referrer).await? {
        Added::Written(index, r) if r.status == 201 => Ok(*index),
        Added::Written(_, r) => {
            let tag = referrers_tag(referrer.subject.as_ref().map_or("", |s| s.digest.as_str()));
            Err(format!("pushing the referrers tag {tag} answered {}", r.describe()))
        }
        Added::AlreadyListed(_) => Err(String::new()),
        Added::Unusable(why, _) => Err(why),
    })
}

/// The referrers of `digest` as a client sees them: the API, or the referrers tag on a 404.
pub async fn list_api_or_tag(client: &Client, repo: &str, digest: &Digest) -> Result<Response, ClientError> {
    let url = client.referrers_url(repo, digest.as_str(), None, None)?;
    let api = client.referrers_page(repo, url, Scope::Pull(repo.into())).await?.response;
    if api.status != 404 {
        return Ok(api);
    }
    client.get_manifest(repo, &referrers_tag(digest.as_str())).await
}

impl Client {
    /// Reads the referrers tag index of `subject` (fallback read); `Ok(None)` on 404.
    pub async fn fallback_read(&self, repo: &str, subject: &Digest) -> Result<Option<Response>, ClientError> {
        let r = self.get_manifest(repo, &referrers_tag(subject.as_str())).await?;
        Ok(if r.status == 404 { None } else { Some(r) })
    }

    /// Adds `referrer` to the referrers tag index of its subject ("Pushing Manifests with
    /// Subject", client steps 1–6, as [`update`] does them): the PUT's answer, or the read when
    /// the tag already lists it. A tag that holds no index is an error.
    pub async fn fallback_add(&self, repo: &str, referrer: &Built) -> Result<Response, ClientError> {
        if referrer.subject.is_none() {
            return Err(ClientError::Other { url: repo.into(), msg: "referrer has no subject".into() });
        }
        match add(self, repo, referrer).await? {
            Added::Written(_, r) | Added::AlreadyListed(r) => Ok(r),
            Added::Unusable(msg, r) => Err(ClientError::Other { url: r.url.to_string(), msg }),
        }
    }
}
