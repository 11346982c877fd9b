//! In-memory state: repositories, blobs, uploads, manifests, tags, the per-subject referrers map.
//!
//! Repositories hold their blobs, upload sessions, manifests (exact bytes plus the facts the
//! referrers API needs) and tags, and a per-subject index of referrers keyed by a global push
//! sequence number.
//!
//! The store knows nothing about HTTP or faults; it records what was pushed and when. The
//! endpoints and the referrers index decide what to list and how. Everything sits behind one mutex: the registry is a
//! test fixture, and a single lock makes every request linearizable, which is exactly the
//! read-after-write behaviour the harness expects from a correct registry.

use crate::oci::Digest;
use axum::body::Bytes;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `subject` descriptor of a manifest, as far as referrers need it.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: Option<String>,
}

/// What a pushed manifest says about itself, extracted once at push time.
#[derive(Clone, Debug)]
pub struct ManifestFacts {
    /// The manifest's media type: its `mediaType` field, else the request Content-Type.
    pub media_type: String,
    pub size: u64,
    pub subject: Option<SubjectRef>,
    /// The manifest's own `artifactType`, when it is a non-empty string.
    pub artifact_type: Option<String>,
    /// `config.mediaType` of an image manifest.
    pub config_media_type: Option<String>,
    /// Non-empty `annotations` object, key order preserved.
    pub annotations: Option<Map<String, Value>>,
    /// Whether the subject manifest was already in the repository when this one was pushed.
    pub subject_existed: bool,
    pub is_index: bool,
    /// Blobs an image manifest references (config first, then layers); empty for indexes.
    pub blobs: Vec<Digest>,
}

impl ManifestFacts {
    /// The artifactType the spec assigns to this manifest's descriptor: its own, else (image
    /// manifests only) the config media type.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        match (&self.artifact_type, self.is_index) {
            (Some(own), _) => Some(own),
            (None, false) => self.config_media_type.as_deref(),
            (None, true) => None,
        }
    }
}

/// Why a manifest body was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid json: {0}")]
    NotJson(String),
    #[error("manifest is not a json object")]
    NotObject,
    #[error("manifest schemaVersion must be 2")]
    SchemaVersion,
    #[error("invalid {field}: {reason}")]
    BadField { field: String, reason: String },
}

fn bad(field: &str, reason: &str) -> ManifestError {
    ManifestError::BadField {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses a descriptor's `digest` (and optionally requires `size`).
fn descriptor_digest(v: &Value, field: &str) -> Result<Digest, ManifestError> {
    let obj = v.as_object().ok_or_else(|| bad(field, "not an object"))?;
    let d = obj
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(field, "missing digest"))?;
    Digest::parse(d).map_err(|e| bad(field, &e.to_string()))
}

impl ManifestFacts {
    /// Extracts the facts from a manifest body. `content_type` is the request header with
    /// parameters stripped (may be empty). `subject_existed` is filled in by the caller.
    pub fn parse(bytes: &[u8], content_type: &str) -> Result<ManifestFacts, ManifestError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let obj = value.as_object().ok_or(ManifestError::NotObject)?;
        if obj.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(ManifestError::SchemaVersion);
        }
        let body_media_type = obj.get("mediaType").and_then(Value::as_str).filter(|s| !s.is_empty());
        let has_config = obj.contains_key("config");
        let media_type = match (body_media_type, content_type) {
            (Some(mt), _) => mt.to_string(),
            (None, ct) if !ct.is_empty() => ct.to_string(),
            // Neither says what it is: guess from the shape, as clients do.
            (None, _) if !has_config && obj.contains_key("manifests") => IMAGE_INDEX.to_string(),
            (None, _) => IMAGE_MANIFEST.to_string(),
        };
        let is_index = !has_config
            && (obj.contains_key("manifests") || media_type == IMAGE_INDEX || media_type == DOCKER_MANIFEST_LIST);

        let subject = match obj.get("subject") {
            None | Some(Value::Null) => None,
            Some(s) => {
                let digest = descriptor_digest(s, "subject")?;
                let size = s
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("subject", "missing or invalid size"))?;
                let media_type = s.get("mediaType").and_then(Value::as_str).map(str::to_string);
                Some(SubjectRef {
                    digest,
                    size,
                    media_type,
                })
            }
        };

        let mut blobs = Vec::new();
        let mut config_media_type = None;
        if let Some(config) = obj.get("config") {
            blobs.push(descriptor_digest(config, "config")?);
            config_media_type = config.get("mediaType").and_then(Value::as_str).map(str::to_string);
            match obj.get("layers") {
                None | Some(Value::Null) => {}
                Some(Value::Array(layers)) => {
                    for layer in layers {
                        blobs.push(descriptor_digest(layer, "layers")?);
                    }
                }
                Some(_) => return Err(bad("layers", "not an array")),
            }
        }
        if let Some(manifests) = obj.get("manifests")
            && !manifests.is_array()
            && !manifests.is_null()
        {
            return Err(bad("manifests", "not an array"));
        }

        let artifact_type = obj
            .get("artifactType")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let annotations = match obj.get("annotations") {
            Some(Value::Object(map)) if !map.is_empty() => Some(map.clone()),
            _ => None,
        };

        Ok(ManifestFacts {
            media_type,
            size: bytes.len() as u64,
            subject,
            artifact_type,
            config_media_type,
            annotations,
            subject_existed: false,
            is_index,
            blobs,
        })
    }
}

/// A stored manifest.
#[derive(Clone, Debug)]
pub struct ManifestRecord {
    /// The exact bytes the client pushed.
    pub bytes: Bytes,
    /// Served back as Content-Type.
    pub content_type: String,
    pub facts: ManifestFacts,
    /// Global push counter at the first push; orders referrers lists and backs their cursor.
    pub seq: u64,
    /// Further list entries created by re-pushes (only under the `duplicate_on_repush` fault).
    pub extra_seqs: Vec<u64>,
    pub pushed_at: Instant,
}

/// One repository.
#[derive(Debug, Default)]
pub struct Repo {
    pub blobs: HashMap<Digest, Bytes>,
    pub uploads: HashMap<String, Vec<u8>>,
    pub manifests: HashMap<Digest, ManifestRecord>,
    pub tags: BTreeMap<String, Digest>,
    /// subject digest → (seq → referrer digest). Kept in step with `manifests`.
    pub referrers: HashMap<Digest, BTreeMap<u64, Digest>>,
    /// Manifests deleted from this repository (for faults about deleted subjects).
    pub deleted: std::collections::HashSet<Digest>,
    /// When each blob arrived (upload or mount), for GC's grace window; blobs loaded from
    /// disk have no entry and count as old.
    pub blob_times: HashMap<Digest, Instant>,
    /// When each tag was last pushed (for the torn-write fault).
    pub tag_times: HashMap<String, Instant>,
}

impl Repo {
    /// Stores a blob that just arrived (an upload or a mount).
    pub fn put_blob(&mut self, digest: Digest, bytes: Bytes) {
        self.blob_times.insert(digest.clone(), Instant::now());
        self.blobs.insert(digest, bytes);
    }

    /// Removes a blob.
    pub fn remove_blob(&mut self, digest: &Digest) -> Option<Bytes> {
        self.blob_times.remove(digest);
        self.blobs.remove(digest)
    }

    /// Removes a manifest, every tag pointing at it and its referrers-index entries.
    pub fn delete_manifest(&mut self, digest: &Digest) -> bool {
        let Some(record) = self.manifests.remove(digest) else {
            return false;
        };
        self.deleted.insert(digest.clone());
        self.tags.retain(|_, d| d != digest);
        if let Some(subject) = &record.facts.subject
            && let Some(list) = self.referrers.get_mut(&subject.digest)
        {
            list.remove(&record.seq);
            for seq in &record.extra_seqs {
                list.remove(seq);
            }
            if list.is_empty() {
                self.referrers.remove(&subject.digest);
            }
        }
        true
    }

    /// Resolves a tag or digest reference to a stored manifest.
    pub fn resolve(&self, reference: &str) -> Option<(&Digest, &ManifestRecord)> {
        let digest = match self.tags.get(reference) {
            Some(d) => d.clone(),
            None => Digest::parse(reference).ok()?,
        };
        self.manifests.get_key_value(&digest)
    }
}

/// The mutable state behind the store's lock.
#[derive(Debug, Default)]
pub struct State {
    pub repos: HashMap<String, Repo>,
    /// Per rate-limited repository: the current window's start and its request count.
    pub rate_window: HashMap<String, (std::time::Instant, u32)>,
    /// Locked tags per repository (`POST /admin/lock`); a tag may be locked before it exists.
    pub locks: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// The last push sequence number handed out (persisted, so lists keep their order).
    pub(super) next_seq: u64,
}

/// What [`State::put_manifest`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The same bytes were already stored under this digest.
    Repushed,
}

impl State {
    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.get(name)
    }

    pub fn repo_mut(&mut self, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(name)
    }

    /// The repository `name`, created on first use (pushes create repositories implicitly).
    pub fn repo_or_create(&mut self, name: &str) -> &mut Repo {
        self.repos.entry(name.to_string()).or_default()
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Stores a manifest (and tag). `facts.subject_existed` is computed here. A re-push of an
    /// already stored digest keeps its original sequence number, so it does not move in
    /// referrers lists; with `duplicate_entry` it gains an extra list entry instead.
    #[allow(clippy::too_many_arguments)] // each argument is one fact of the push; a struct would only rename them
    pub fn put_manifest(
        &mut self,
        name: &str,
        digest: Digest,
        bytes: Bytes,
        content_type: String,
        mut facts: ManifestFacts,
        tag: Option<String>,
        duplicate_entry: bool,
    ) -> PutOutcome {
        let seq = self.take_seq();
        let repo = self.repo_or_create(name);
        if let Some(tag) = tag {
            repo.tag_times.insert(tag.clone(), Instant::now());
            repo.tags.insert(tag, digest.clone());
        }
        if let Some(existing) = repo.manifests.get_mut(&digest) {
            if duplicate_entry && let Some(subject) = &existing.facts.subject {
                existing.extra_seqs.push(seq);
                repo.referrers
                    .entry(subject.digest.clone())
                    .or_default()
                    .insert(seq, digest);
            }
            return PutOutcome::Repushed;
        }
        if let Some(subject) = &facts.subject {
            facts.subject_existed = repo.manifests.contains_key(&subject.digest);
            repo.referrers
                .entry(subject.digest.clone())
                .or_default()
                .insert(seq, digest.clone());
        }
        let record = ManifestRecord {
            bytes,
            content_type,
            facts,
            seq,
            extra_seqs: Vec::new(),
            pushed_at: Instant::now(),
        };
        repo.manifests.insert(digest, record);
        PutOutcome::Created
    }
}

/// The shared store: state behind a mutex plus an id generator.
#[derive(Debug, Default)]
pub struct Store {
    state: Mutex<State>,
    ids: AtomicU64,
    /// Bumped on every mutable access to the state (see [`StoreGuard`]): whatever was computed
    /// from the state at an older generation may be stale. Read without the lock.
    generation: AtomicU64,
}

/// The locked state. Reading goes through `Deref`; any mutable access (`DerefMut`) bumps the
/// store's generation first, so caches keyed by generation never serve a listing older than a
/// write, whichever code path made the write.
pub struct StoreGuard<'a> {
    guard: MutexGuard<'a, State>,
    generation: &'a AtomicU64,
}

impl std::ops::Deref for StoreGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        &mut self.guard
    }
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// Locks the state. A panic in another request must not wedge the registry, so a
    /// poisoned lock is taken over as is.
    pub fn lock(&self) -> StoreGuard<'_> {
        StoreGuard {
            guard: self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            generation: &self.generation,
        }
    }

    /// The write generation: it changes whenever the state may have changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A fresh opaque id of `hex_len` hex characters (upload uuids, tokens): a counter and
    /// the clock hashed, so ids are unique per process and not guessable by accident.
    pub fn fresh_id(&self, hex_len: usize) -> String {
        fresh_id(&self.ids, hex_len)
    }
}

/// See [`Store::fresh_id`].
pub fn fresh_id(counter: &AtomicU64, hex_len: usize) -> String {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut seed = Vec::with_capacity(48);
    seed.extend_from_slice(&n.to_le_bytes());
    seed.extend_from_slice(&nanos.to_le_bytes());
    seed.extend_from_slice(&(counter as *const AtomicU64 as usize).to_le_bytes());
    let mut out = Digest::sha256(&seed).encoded().to_string();
    while out.len() < hex_len {
        let more = Digest::sha256(out.as_bytes());
        out.push_str(more.encoded());
    }
    out.truncate(hex_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_an_artifact_manifest() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.example.config","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"annotations":{"b":"1","a":"2"}}"#;
        let f = ManifestFacts::parse(body, "").unwrap();
        assert!(!f.is_index);
        assert_eq!(f.effective_artifact_type(), Some("application/vnd.example.config"));
        assert_eq!(f.annotations.unwrap().keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(f.subject.unwrap().size, 2);
        assert_eq!(f.blobs.len(), 1);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(matches!(ManifestFacts::parse(b"[]", ""), Err(ManifestError::NotObject)));
        assert!(matches!(
            ManifestFacts::parse(br#"{"schemaVersion":1}"#, ""),
            Err(ManifestError::SchemaVersion)
        ));
        assert!(ManifestFacts::parse(br#"{"schemaVersion":2,"subject":{"digest":"x"}}"#, "").is_err());
        let index = ManifestFacts::parse(br#"{"schemaVersion":2,"manifests":[]}"#, "").unwrap();
        assert!(index.is_index && index.effective_artifact_type().is_none());
    }

    #[test]
    fn ids_are_unique() {
        let store = Store::new();
        let a = store.fresh_id(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, store.fresh_id(32));
        assert_eq!(store.fresh_id(80).len(), 80);
    }
}
