//! `referee layout export`: a manifest (image or index, with its children and blobs) and all
//! its referrers, recursively, from any registry — through the referrers API, or the referrers
//! tag where the API answers 404 — into an OCI image layout that writes all three lookup
//! conventions (`write`). Every manifest and blob is checked against its digest before it is
//! written; every loop is bounded.

use super::write::LayoutWriter;
use crate::client::{Client, ClientError, Scope, descriptor_from_json};
use crate::oci::{Descriptor, Digest, referrers_tag};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Most manifests one export copies.
pub const MAX_MANIFESTS: usize = 10_000;
/// Deepest referrer-of-referrer (or index-in-index) chain followed.
pub const MAX_DEPTH: usize = 16;
/// Most pages of one referrers list.
const MAX_PAGES: usize = 100;
/// Most requests one export sends (a registry whose lists loop cannot make it run for ever).
pub const MAX_REQUESTS: usize = 50_000;

/// How referrers are read from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The API, or the referrers tag when the API answers 404.
    Auto,
    Api,
    Fallback,
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub subject: Option<Descriptor>,
    pub manifests: usize,
    pub blobs: usize,
    /// (subject, referrer), in the order found.
    pub referrers: Vec<(Digest, Descriptor)>,
    /// Whether any referrers list came from the referrers tag.
    pub used_fallback: bool,
}

/// How an export reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions<'a> {
    pub source: Source,
    /// Only referrers of this artifactType (at the first level; theirs all).
    pub filter: Option<&'a str>,
    /// Write what the registry served even where it does not hash to its digest, so that the
    /// layout check reports it (a scenario's `layout_export`); otherwise such bytes stop the
    /// export.
    pub as_served: bool,
    /// Only manifests: no config or layer blobs (a sparse layout).
    pub sparse: bool,
}

impl ExportOptions<'_> {
    pub fn new(source: Source) -> Self {
        ExportOptions { source, filter: None, as_served: false, sparse: false }
    }
}

struct Exporter<'a> {
    client: &'a Client,
    repo: &'a str,
    source: Source,
    /// Only referrers of this artifactType (at the first level; theirs all).
    filter: Option<&'a str>,
    as_served: bool,
    sparse: bool,
    writer: LayoutWriter,
    out: Exported,
    copied: BTreeSet<String>,
    /// Manifests copied, by digest, so one reached again costs no request.
    descriptors: std::collections::BTreeMap<String, Descriptor>,
    /// Subjects whose referrers were listed: each is listed once, however often it is reached.
    listed: BTreeSet<String>,
    requests: usize,
}

fn err(what: String) -> ClientError {
    ClientError::Stopped(what)
}

fn local(what: String) -> ClientError {
    ClientError::Local(what)
}

impl Exporter<'_> {
    /// One more request, within [`MAX_REQUESTS`].
    fn count(&mut self) -> Result<(), ClientError> {
        self.requests += 1;
        if self.requests > MAX_REQUESTS {
            return Err(local(format!("referee's bound: more than {MAX_REQUESTS} requests for one export")));
        }
        Ok(())
    }

    /// Fetches the manifest `reference`, checks it against `expect` (when it is a digest), and
    /// copies it with its blobs and children. Returns its descriptor.
    async fn manifest(&mut self, reference: &str, depth: usize) -> Result<Descriptor, ClientError> {
        if let Some(d) = self.descriptors.get(reference) {
            return Ok(d.clone());
        }
        if depth > MAX_DEPTH {
            return Err(local(format!("referee's bound: more than {MAX_DEPTH} levels of indexes or referrers below {reference}")));
        }
        if self.out.manifests >= MAX_MANIFESTS {
            return Err(local(format!("referee's bound: more than {MAX_MANIFESTS} manifests")));
        }
        self.count()?;
        let r = self.client.get_manifest(self.repo, reference).await?;
        let _ = self.client.take_transcript();
        if r.status != 200 {
            return Err(err(format!("GET manifest {reference} in {} answered {}", self.repo, r.describe())));
        }
        let digest = match Digest::parse(reference) {
            Ok(d) => d,
            Err(_) => r.header("docker-content-digest").and_then(|d| Digest::parse(d).ok()).unwrap_or_else(|| Digest::sha256(&r.body)),
        };
        if !self.as_served && !digest.verify(&r.body) {
            return Err(err(format!("the manifest {reference} does not hash to {digest}")));
        }
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| err(format!("the manifest {digest} is not JSON: {e}")))?;
        let media_type = v
            .get("mediaType")
            .and_then(Value::as_str)
            .or(r.header("content-type"))
            .unwrap_or(crate::oci::media::IMAGE_MANIFEST)
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let d = Descriptor { media_type, digest: digest.clone(), size: r.body.len() as u64, artifact_type: None, annotations: Default::default() };
        if !self.copied.insert(digest.to_string()) {
            return Ok(d);
        }
        self.descriptors.insert(digest.to_string(), d.clone());
        self.writer.blob_as_served(&digest, &r.body).map_err(|e| local(format!("cannot write {digest}: {e}")))?;
        self.out.manifests += 1;
        for c in v.get("manifests").and_then(Value::as_array).into_iter().flatten() {
            let cd = c.get("digest").and_then(Value::as_str).ok_or_else(|| err(format!("an entry of {digest} has no digest")))?;
            Digest::parse(cd).map_err(|e| err(format!("an entry of {digest}: {e}")))?;
            Box::pin(self.manifest(cd, depth + 1)).await?;
        }
        let blobs = v.get("config").into_iter().chain(v.get("layers").and_then(Value::as_array).into_iter().flatten());
        let sparse = self.sparse;
        for b in blobs.filter(|_| !sparse) {
            let bd = b.get("digest").and_then(Value::as_str).and_then(|s| Digest::parse(s).ok()).ok_or_else(|| err(format!("a blob of {digest} has no valid digest")))?;
            if !self.copied.insert(bd.to_string()) {
                continue;
            }
            self.count()?;
            let r = self.client.get_blob(self.repo, &bd).await?;
            let _ = self.client.take_transcript();
            if r.status != 200 {
                return Err(err(format!("GET blob {bd} answered {}", r.describe())));
            }
            if !self.as_served && !bd.verify(&r.body) {
                return Err(err(format!("the blob {bd} served by the registry does not hash to its digest")));
            }
            self.writer.blob_as_served(&bd, &r.body).map_err(|e| local(format!("cannot write blob {bd}: {e}")))?;
            self.out.blobs += 1;
        }
        Ok(d)
    }

    /// The referrers of `subject` as its list names them (API, or the referrers tag).
    async fn list(&mut self, subject: &Digest) -> Result<Vec<Descriptor>, ClientError> {
        let entries = |v: &Value| -> Vec<Descriptor> { v.get("manifests").and_then(Value::as_array).into_iter().flatten().filter_map(descriptor_from_json).collect() };
        if self.source != Source::Fallback {
            let mut out = vec![];
            let mut next = Some(self.client.referrers_url(self.repo, subject.as_str(), None, None)?);
            let mut seen = BTreeSet::new();
            let mut api = true;
            while let Some(url) = next.take() {
                if seen.len() >= MAX_PAGES || !seen.insert(url.to_string()) {
                    break;
                }
                self.count()?;
                let page = self.client.referrers_page(self.repo, url, Scope::Pull(self.repo.into())).await?;
                let _ = self.client.take_transcript();
                match page.response.status {
                    200 => out.extend(page.response.json().map(|v| entries(&v)).unwrap_or_default()),
                    404 if self.source == Source::Auto && seen.len() == 1 => {
                        api = false;
                        break;
                    }
                    _ => return Err(err(format!("the referrers of {subject} answered {}", page.response.describe()))),
                }
                next = page.next;
            }
            if api {
                return Ok(out);
            }
        }
        self.out.used_fallback = true;
        self.count()?;
        let r = self.client.get_manifest(self.repo, &referrers_tag(subject.as_str())).await?;
        let _ = self.client.take_transcript();
        Ok(if r.status == 200 { r.json().map(|v| entries(&v)).unwrap_or_default() } else { vec![] })
    }

    /// Copies every referrer of `subject`, and theirs, recursively.
    async fn referrers(&mut self, subject: &Digest, depth: usize) -> Result<(), ClientError> {
        if !self.listed.insert(subject.to_string()) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(local(format!("referee's bound: referrers more than {MAX_DEPTH} levels deep below {subject}")));
        }
        for listed in self.list(subject).await? {
            if depth == 0 && self.filter.is_some_and(|f| listed.artifact_type.as_deref() != Some(f)) {
                continue;
            }
            let copied = self.manifest(listed.digest.as_str(), depth + 1).await?;
            // The descriptor as the list has it (artifactType, annotations), sized as copied.
            let d = Descriptor { size: copied.size, media_type: copied.media_type, ..listed };
            self.writer.referrer(&d, subject);
            self.out.referrers.push((subject.clone(), d.clone()));
            Box::pin(self.referrers(&d.digest, depth + 1)).await?;
        }
        Ok(())
    }
}

/// Exports `reference` (a tag or a digest) of `repo` and its referrers into a layout at `to`.
/// A tag becomes the subject's `ref.name`.
pub async fn export(client: &Client, repo: &str, reference: &str, to: &Path, source: Source) -> Result<Exported, ClientError> {
    export_filtered(client, repo, reference, to, source, None).await
}

/// [`export`], keeping only the subject's referrers of `artifact_type` (and all of theirs).
pub async fn export_filtered(client: &Client, repo: &str, reference: &str, to: &Path, source: Source, artifact_type: Option<&str>) -> Result<Exported, ClientError> {
    export_with(client, repo, reference, to, ExportOptions { filter: artifact_type, ..ExportOptions::new(source) }).await
}

/// [`export`] with every option.
pub async fn export_with(client: &Client, repo: &str, reference: &str, to: &Path, o: ExportOptions<'_>) -> Result<Exported, ClientError> {
    let writer = LayoutWriter::new(to).map_err(|e| local(format!("cannot create the layout {}: {e}", to.display())))?;
    let mut x = Exporter {
        client,
        repo,
        source: o.source,
        filter: o.filter,
        as_served: o.as_served,
        sparse: o.sparse,
        writer,
        out: Exported::default(),
        copied: BTreeSet::new(),
        descriptors: Default::default(),
        listed: BTreeSet::new(),
        requests: 0,
    };
    let subject = x.manifest(reference, 0).await?;
    x.referrers(&subject.digest, 0).await?;
    // A tag is kept as the subject's ref.name; a digest leaves it untagged in index.json.
    if Digest::parse(reference).is_ok() {
        x.writer.untagged(&subject);
    } else {
        x.writer.tag(&subject, reference);
    }
    x.out.subject = Some(subject);
    let out = x.out;
    x.writer.finish().map_err(|e| local(format!("cannot finish the layout {}: {e}", to.display())))?;
    Ok(out)
}
