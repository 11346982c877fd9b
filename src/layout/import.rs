//! `referee layout import`: an OCI image layout into a registry, digests kept. Every manifest
//! `index.json` names (an index after its children) is pushed with its blobs, by digest, and
//! under its `ref.name` when it has one; a referrer the registry answers without `OCI-Subject`
//! (no referrers API) is added to its subject's referrers tag by the spec's client steps. The
//! layout's own referrers-tag indexes (`ref.name: sha256-<hex>`) are not pushed: the
//! destination's tag is written from what was pushed there, or not at all when it has the API.
//! Pushing what is already there is harmless, so an import stopped halfway can be run again.

use super::check::REF_NAME;
use crate::client::{Client, ClientError, referrers_tag};
use crate::oci::{Blob, Built, Digest};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Most manifests one import pushes.
pub const MAX_MANIFESTS: usize = 10_000;
const MAX_DEPTH: usize = 16;

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// (digest, the tag it was also pushed under).
    pub pushed: Vec<(Digest, Option<String>)>,
    /// Referrers added to a referrers tag (the registry answered without OCI-Subject).
    pub attached: Vec<Digest>,
    /// Referrers-tag indexes of the layout left out (named, not pushed).
    pub left_out: Vec<String>,
    /// Every manifest pushed, the referrers-tag indexes written included, in push order
    /// (what a scenario deletes afterwards).
    pub written: Vec<Built>,
    /// Blobs this import put into the repository (uploaded or mounted), in order.
    pub blobs: Vec<Digest>,
    /// Of those, the blobs mounted from the source repository (same registry).
    pub mounted: Vec<Digest>,
    /// Blobs the layout did not hold, read from the source registry instead.
    pub fetched: usize,
}

/// Where blobs a layout does not hold come from: the repository the layout was exported from.
/// With `mount`, the destination is the same registry, and a blob is first mounted from
/// there ("Mounting a blob from another repository") rather than read and sent again.
#[derive(Clone, Copy)]
pub struct BlobSource<'a> {
    pub client: &'a Client,
    pub repo: &'a str,
    pub mount: bool,
}

fn err(msg: String) -> ClientError {
    ClientError::Stopped(msg)
}

/// A local file problem: the harness's, not the registry's.
fn local(msg: String) -> ClientError {
    ClientError::Local(msg)
}

/// Whether `name` follows the referrers tag schema (`<alg>-<hex>`).
pub fn is_referrers_tag(name: &str) -> bool {
    name.split_once('-').is_some_and(|(alg, hex)| matches!(alg, "sha256" | "sha512") && !hex.is_empty() && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
}

struct Importer<'a> {
    client: &'a Client,
    repo: &'a str,
    dir: &'a Path,
    source: Option<BlobSource<'a>>,
    out: Imported,
    done: BTreeSet<String>,
    blobs_done: BTreeSet<String>,
}

impl Importer<'_> {
    fn read(&self, d: &Digest) -> Result<Vec<u8>, ClientError> {
        let path = self.dir.join("blobs").join(d.algorithm()).join(d.encoded());
        let bytes = std::fs::read(&path).map_err(|e| local(format!("{} (needed to import {d}): {e}", path.display())))?;
        if !d.verify(&bytes) {
            return Err(err(format!("{} does not hash to {d}", path.display())));
        }
        Ok(bytes)
    }

    /// Makes the blob `d` present in the destination repository: already there (HEAD), mounted
    /// from the source repository, or uploaded — from the layout, or read from the source when
    /// the layout lacks it. One blob's bytes in memory at a time.
    async fn blob(&mut self, d: &Digest, media_type: &str) -> Result<(), ClientError> {
        if !self.blobs_done.insert(d.to_string()) {
            return Ok(());
        }
        let head = self.client.head_blob(self.repo, d).await?;
        if head.status == 200 {
            return Ok(());
        }
        if let Some(src) = self.source.filter(|s| s.mount) {
            let r = self.client.mount_blob(self.repo, d, Some(src.repo)).await?;
            if r.status == 201 {
                self.out.mounted.push(d.clone());
                self.out.blobs.push(d.clone());
                return Ok(());
            }
            // The registry opened an upload session instead (it does not mount): close it and
            // upload below.
            if r.status == 202
                && let Some(url) = r.header("location").and_then(|l| r.url.join(l).ok())
            {
                let _ = self.client.cancel_upload(self.repo, url).await;
            }
        }
        let path = self.dir.join("blobs").join(d.algorithm()).join(d.encoded());
        let bytes = match self.source {
            Some(src) if !path.exists() => {
                let r = src.client.get_blob(src.repo, d).await?;
                let _ = src.client.take_transcript();
                if r.status != 200 || !d.verify(&r.body) {
                    return Err(err(format!("the blob {d} is neither in the layout nor readable from {} ({})", src.repo, r.describe())));
                }
                self.out.fetched += 1;
                r.body
            }
            _ => self.read(d)?,
        };
        // Recorded before it is sent: an answer lost on the way still leaves it to clean up.
        self.out.blobs.push(d.clone());
        let r = self.client.push_blob(self.repo, &Blob { media_type: media_type.to_string(), bytes, digest: d.clone() }).await?;
        if r.status != 201 {
            return Err(err(format!("uploading the blob {d} answered {}", r.describe())));
        }
        Ok(())
    }

    /// Pushes the manifest `digest` (children first), under `tag` too when given.
    async fn push(&mut self, digest: &Digest, media_type: &str, tag: Option<&str>, depth: usize) -> Result<(), ClientError> {
        if depth > MAX_DEPTH || self.done.len() >= MAX_MANIFESTS {
            return Err(err(format!("more than {MAX_DEPTH} levels or {MAX_MANIFESTS} manifests below {digest}")));
        }
        let first = self.done.insert(digest.to_string());
        if !first && tag.is_none() {
            return Ok(());
        }
        let bytes = self.read(digest)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| err(format!("{digest} is not JSON: {e}")))?;
        if first {
            for c in v.get("manifests").and_then(Value::as_array).into_iter().flatten() {
                let cd = c.get("digest").and_then(Value::as_str).and_then(|s| Digest::parse(s).ok()).ok_or_else(|| err(format!("an entry of {digest} has no valid digest")))?;
                let cmt = c.get("mediaType").and_then(Value::as_str).unwrap_or(crate::oci::media::IMAGE_MANIFEST).to_string();
                Box::pin(self.push(&cd, &cmt, None, depth + 1)).await?;
            }
            for b in v.get("config").into_iter().chain(v.get("layers").and_then(Value::as_array).into_iter().flatten()) {
                let bd = b.get("digest").and_then(Value::as_str).and_then(|s| Digest::parse(s).ok()).ok_or_else(|| err(format!("a blob of {digest} has no valid digest")))?;
                let mt = b.get("mediaType").and_then(Value::as_str).unwrap_or("application/octet-stream").to_string();
                self.blob(&bd, &mt).await?;
            }
        }
        let _ = self.client.take_transcript();
        // The blobs are there now; the manifest goes alone.
        let built = Built::from_parts(media_type, bytes, vec![]).map_err(|e| err(format!("{digest}: {e}")))?;
        let reference = tag.map_or_else(|| digest.to_string(), str::to_string);
        // Recorded before it is sent, like blobs.
        if first {
            self.out.written.push(built.clone());
        }
        let r = self.client.push_built(self.repo, &built, &reference).await?;
        let _ = self.client.take_transcript();
        if r.status != 201 {
            return Err(err(format!("pushing {digest} as {reference} answered {}", r.describe())));
        }
        self.out.pushed.push((digest.clone(), tag.map(str::to_string)));
        if first && built.subject.is_some() && r.header("oci-subject").is_none() {
            match referrers_tag::attach(self.client, self.repo, &built).await? {
                Ok(index) => {
                    self.out.attached.push(digest.clone());
                    self.out.written.push(index);
                }
                Err(why) if why.is_empty() => {}
                Err(why) => return Err(err(format!("adding {digest} to its subject's referrers tag: {why}"))),
            }
            let _ = self.client.take_transcript();
        }
        Ok(())
    }
}

/// Imports the layout at `dir` into `repo`.
pub async fn import(client: &Client, repo: &str, dir: &Path) -> Result<Imported, ClientError> {
    let mut out = Imported::default();
    import_into(client, repo, dir, None, &mut out).await.map(|()| out)
}

/// [`import`], blobs the layout lacks read from (or mounted from) `source`, leaving in `out`
/// what was done also when it stops halfway.
pub async fn import_into(client: &Client, repo: &str, dir: &Path, source: Option<BlobSource<'_>>, out: &mut Imported) -> Result<(), ClientError> {
    let mut x = Importer { client, repo, dir, source, out: Imported::default(), done: BTreeSet::new(), blobs_done: BTreeSet::new() };
    let result = x.all().await;
    *out = x.out;
    result
}

impl Importer<'_> {
    /// Every manifest `index.json` names, referrers last; then those only a referrers-tag
    /// index of the layout names.
    async fn all(&mut self) -> Result<(), ClientError> {
        let (dir, x) = (self.dir, self);
        let text = std::fs::read_to_string(dir.join("index.json")).map_err(|e| local(format!("{}/index.json: {e}", dir.display())))?;
        let index: Value = serde_json::from_str(&text).map_err(|e| err(format!("{}/index.json: {e}", dir.display())))?;
        let entries = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
        // Referrers last, so a registry that checks (or a client that reads) finds the subject first.
        let (referrers, others): (Vec<&Value>, Vec<&Value>) = entries.iter().partition(|d| d.get("annotations").and_then(|a| a.get(crate::layout::check::REFERRER_SUBJECT)).is_some());
        let mut tag_indexes = vec![];
        for d in others.into_iter().chain(referrers) {
            let digest = d.get("digest").and_then(Value::as_str).and_then(|s| Digest::parse(s).ok()).ok_or_else(|| err("a descriptor of index.json has no valid digest".into()))?;
            let mt = d.get("mediaType").and_then(Value::as_str).unwrap_or(crate::oci::media::IMAGE_MANIFEST).to_string();
            let name = d.get("annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str);
            if let Some(n) = name.filter(|n| is_referrers_tag(n)) {
                x.out.left_out.push(n.to_string());
                tag_indexes.push(digest);
                continue;
            }
            x.push(&digest, &mt, None, 0).await?;
            if let Some(tag) = name {
                x.push(&digest, &mt, Some(tag), 0).await?;
            }
        }
        // The referrers a layout names only through a referrers-tag index (not in index.json).
        for t in tag_indexes {
            let Ok(bytes) = x.read(&t) else { continue };
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| err(format!("{t} is not JSON: {e}")))?;
            for e in v.get("manifests").and_then(Value::as_array).into_iter().flatten() {
                let Some(d) = e.get("digest").and_then(Value::as_str).and_then(|s| Digest::parse(s).ok()) else { continue };
                let mt = e.get("mediaType").and_then(Value::as_str).unwrap_or(crate::oci::media::IMAGE_MANIFEST).to_string();
                x.push(&d, &mt, None, 0).await?;
            }
        }
        Ok(())
    }
}
