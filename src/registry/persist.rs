//! Persistence of the embedded registry's store (`RegistryConfig::storage_dir`).
//!
//! Layout of the directory:
//!
//! - `state.json`: repositories with their blob digests, manifests (content type, push
//!   sequence numbers), tags, referrers index and deleted digests; tag locks; the push counter.
//! - `blobs/<alg>/<hex>`: every blob and every manifest's exact bytes, content-addressed (a
//!   manifest stored under a digest that is not its own, possible only under the
//!   `trust_reference_digest` fault, is filed under the sha256 of its bytes).
//!
//! Manifests are never re-serialized: their facts are re-derived from the stored bytes on load.
//! Upload sessions, tokens and rate-limit windows are not persisted (a restart loses them).
//! Files are written to a temporary name and renamed, `state.json` last, so an interrupted
//! save leaves the previous state loadable; files no longer referenced are removed afterwards.

use super::store::{ManifestFacts, ManifestRecord, Repo, State};
use crate::oci::Digest;
use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STATE_FILE: &str = "state.json";
const BLOB_DIR: &str = "blobs";
const FORMAT: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    next_seq: u64,
    repos: BTreeMap<String, RepoFile>,
    #[serde(default)]
    locks: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RepoFile {
    blobs: BTreeSet<String>,
    manifests: BTreeMap<String, ManifestFile>,
    tags: BTreeMap<String, String>,
    /// subject → (seq → referrer), exactly as indexed (faults may have left entries out).
    referrers: BTreeMap<String, BTreeMap<u64, String>>,
    deleted: BTreeSet<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    /// The digest of the stored bytes (the file name), normally the manifest's own digest.
    content: String,
    content_type: String,
    seq: u64,
    #[serde(default)]
    extra_seqs: Vec<u64>,
    #[serde(default)]
    subject_existed: bool,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The digest under which `bytes` are filed: `claimed` when it is their digest, else their sha256.
fn content_digest(claimed: &Digest, bytes: &[u8]) -> Digest {
    if claimed.known_algorithm().is_some() && claimed.verify(bytes) {
        claimed.clone()
    } else {
        Digest::sha256(bytes)
    }
}

/// `blobs/<alg>/<hex>` under `dir`, for a digest whose algorithm referee computes.
fn blob_path(dir: &Path, d: &Digest) -> io::Result<PathBuf> {
    if d.known_algorithm().is_none() {
        return Err(invalid(format!("cannot file content under {d}")));
    }
    Ok(dir.join(BLOB_DIR).join(d.algorithm()).join(d.encoded()))
}

fn parse_digest(s: &str) -> io::Result<Digest> {
    Digest::parse(s).map_err(|e| invalid(format!("state.json: {e}")))
}

/// The serializable image of `st` plus the content it needs, by content digest.
fn image(st: &State) -> (StateFile, HashMap<Digest, Bytes>) {
    let mut files: HashMap<Digest, Bytes> = HashMap::new();
    let mut repos = BTreeMap::new();
    for (name, repo) in &st.repos {
        let mut rf = RepoFile::default();
        for (d, bytes) in &repo.blobs {
            let content = content_digest(d, bytes);
            // A blob is always stored under its own digest; anything else would be a bug.
            if content == *d {
                rf.blobs.insert(d.to_string());
                files.insert(content, bytes.clone());
            } else {
                tracing::warn!(%name, digest = %d, "blob bytes do not match their digest; not persisted");
            }
        }
        for (d, m) in &repo.manifests {
            let content = content_digest(d, &m.bytes);
            rf.manifests.insert(
                d.to_string(),
                ManifestFile {
                    content: content.to_string(),
                    content_type: m.content_type.clone(),
                    seq: m.seq,
                    extra_seqs: m.extra_seqs.clone(),
                    subject_existed: m.facts.subject_existed,
                },
            );
            files.insert(content, m.bytes.clone());
        }
        rf.tags = repo
            .tags
            .iter()
            .map(|(t, d)| (t.clone(), d.to_string()))
            .collect();
        rf.referrers = repo
            .referrers
            .iter()
            .map(|(s, list)| {
                (
                    s.to_string(),
                    list.iter().map(|(seq, d)| (*seq, d.to_string())).collect(),
                )
            })
            .collect();
        rf.deleted = repo.deleted.iter().map(Digest::to_string).collect();
        repos.insert(name.clone(), rf);
    }
    let file = StateFile {
        format: FORMAT,
        next_seq: st.next_seq,
        repos,
        locks: st.locks.clone(),
    };
    (file, files)
}

/// Rebuilds a store from its image; `read` fetches content by digest (verified here).
fn restore(
    file: StateFile,
    mut read: impl FnMut(&Digest) -> io::Result<Bytes>,
) -> io::Result<State> {
    if file.format != FORMAT {
        return Err(invalid(format!(
            "state.json has format {}, expected {FORMAT}",
            file.format
        )));
    }
    let mut cache: HashMap<Digest, Bytes> = HashMap::new();
    let mut fetch = |d: &Digest| -> io::Result<Bytes> {
        if let Some(b) = cache.get(d) {
            return Ok(b.clone());
        }
        let bytes = read(d)?;
        if !d.verify(&bytes) {
            return Err(invalid(format!(
                "stored content {d} does not match its digest"
            )));
        }
        cache.insert(d.clone(), bytes.clone());
        Ok(bytes)
    };
    // Loaded referrers are not "fresh": the lag fault measures from a push, not from a restart.
    let now = Instant::now();
    let pushed_at = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
    let mut st = State::default();
    for (name, rf) in file.repos {
        let mut repo = Repo::default();
        for d in &rf.blobs {
            let d = parse_digest(d)?;
            let bytes = fetch(&d)?;
            repo.blobs.insert(d, bytes);
        }
        for (d, mf) in rf.manifests {
            let d = parse_digest(&d)?;
            let bytes = fetch(&parse_digest(&mf.content)?)?;
            let bare = mf.content_type.split(';').next().unwrap_or("").trim();
            let mut facts = ManifestFacts::parse(&bytes, bare)
                .map_err(|e| invalid(format!("manifest {d}: {e}")))?;
            facts.subject_existed = mf.subject_existed;
            let record = ManifestRecord {
                bytes,
                content_type: mf.content_type,
                facts,
                seq: mf.seq,
                extra_seqs: mf.extra_seqs,
                pushed_at,
            };
            repo.manifests.insert(d, record);
        }
        for (t, d) in rf.tags {
            repo.tags.insert(t, parse_digest(&d)?);
        }
        for (s, list) in rf.referrers {
            let mut entries = BTreeMap::new();
            for (seq, d) in list {
                entries.insert(seq, parse_digest(&d)?);
            }
            repo.referrers.insert(parse_digest(&s)?, entries);
        }
        for d in rf.deleted {
            repo.deleted.insert(parse_digest(&d)?);
        }
        st.repos.insert(name, repo);
    }
    st.locks = file.locks;
    st.next_seq = file.next_seq;
    Ok(st)
}

/// The store as it would be after a save and a load, without touching the disk (a restart
/// of a registry without a storage directory that keeps its content).
pub fn roundtrip(st: &State) -> io::Result<State> {
    let (file, files) = image(st);
    // Through JSON, so exactly what a save would write is what comes back.
    let json = serde_json::to_vec(&file).map_err(|e| invalid(e.to_string()))?;
    let file: StateFile = serde_json::from_slice(&json).map_err(|e| invalid(e.to_string()))?;
    restore(file, |d| {
        files
            .get(d)
            .cloned()
            .ok_or_else(|| invalid(format!("missing content {d}")))
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Saves the store to `dir` (created if needed).
pub fn save(dir: &Path, st: &State) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (file, files) = image(st);
    let mut keep: HashSet<PathBuf> = HashSet::new();
    for (d, bytes) in &files {
        let path = blob_path(dir, d)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Content-addressed: a file of the right length is already this content.
        let present =
            std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64);
        if !present {
            write_atomically(&path, bytes)?;
        }
        keep.insert(path);
    }
    let json = serde_json::to_vec_pretty(&file).map_err(|e| invalid(e.to_string()))?;
    write_atomically(&dir.join(STATE_FILE), &json)?;
    // Content no state refers to any more (collected, deleted): files only in our own layout.
    for alg in ["sha256", "sha512"] {
        let Ok(entries) = std::fs::read_dir(dir.join(BLOB_DIR).join(alg)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_file()) && !keep.contains(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    tracing::debug!(dir = %dir.display(), repos = st.repos.len(), files = files.len(), "embedded registry state saved");
    Ok(())
}

/// Loads the store from `dir`; a directory without `state.json` is an empty store.
pub fn load(dir: &Path) -> io::Result<State> {
    let json = match std::fs::read(dir.join(STATE_FILE)) {
        Ok(j) => j,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(e),
    };
    let file: StateFile = serde_json::from_slice(&json)
        .map_err(|e| invalid(format!("{}: {e}", dir.join(STATE_FILE).display())))?;
    restore(file, |d| {
        let path = blob_path(dir, d)?;
        std::fs::read(&path)
            .map(Bytes::from)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut st = State::default();
        let config = Bytes::from_static(b"{}");
        let cd = Digest::sha256(&config);
        st.repo_or_create("a/b").blobs.insert(cd.clone(), config);
        let subject = format!(
            "{{ \"schemaVersion\": 2, \"config\": {{\"mediaType\":\"x\",\"digest\":\"{cd}\",\"size\":2}}, \"layers\": [] }}"
        );
        let sd = Digest::sha256(subject.as_bytes());
        let facts = ManifestFacts::parse(subject.as_bytes(), "").unwrap();
        st.put_manifest(
            "a/b",
            sd.clone(),
            Bytes::from(subject.clone()),
            "application/vnd.oci.image.manifest.v1+json".into(),
            facts,
            Some("v1".into()),
            false,
        );
        let referrer = format!(
            "{{\"schemaVersion\":2,\"config\":{{\"mediaType\":\"y\",\"digest\":\"{cd}\",\"size\":2}},\"layers\":[],\"subject\":{{\"mediaType\":\"m\",\"digest\":\"{sd}\",\"size\":{}}}}}",
            subject.len()
        );
        let rd = Digest::sha512(referrer.as_bytes());
        let facts = ManifestFacts::parse(referrer.as_bytes(), "").unwrap();
        st.put_manifest(
            "a/b",
            rd,
            Bytes::from(referrer),
            "application/vnd.oci.image.manifest.v1+json; x=y".into(),
            facts,
            None,
            false,
        );
        st.locks
            .entry("a/b".into())
            .or_default()
            .insert("v1".into());
        st
    }

    fn same(a: &State, b: &State) {
        assert_eq!(a.next_seq, b.next_seq);
        assert_eq!(a.locks, b.locks);
        let (ra, rb) = (&a.repos["a/b"], &b.repos["a/b"]);
        assert_eq!(ra.tags, rb.tags);
        assert_eq!(ra.referrers, rb.referrers);
        assert_eq!(ra.blobs, rb.blobs);
        assert_eq!(ra.manifests.len(), rb.manifests.len());
        for (d, m) in &ra.manifests {
            let n = &rb.manifests[d];
            assert_eq!(
                (&m.bytes, &m.content_type, m.seq, m.facts.subject_existed),
                (&n.bytes, &n.content_type, n.seq, n.facts.subject_existed)
            );
        }
    }

    #[test]
    fn roundtrip_in_memory_and_on_disk() {
        let st = sample();
        same(&st, &roundtrip(&st).unwrap());
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().repos.is_empty());
        // A directory that does not exist yet is created by the first save.
        let nested = dir.path().join("not/yet");
        save(&nested, &State::default()).unwrap();
        assert!(load(&nested).unwrap().repos.is_empty());
        save(dir.path(), &st).unwrap();
        same(&st, &load(dir.path()).unwrap());
        // A file that no longer belongs to any state is pruned on the next save.
        let mut st2 = load(dir.path()).unwrap();
        st2.repos.get_mut("a/b").unwrap().blobs.clear();
        let stray = dir
            .path()
            .join("blobs/sha256")
            .join(Digest::sha256(b"{}").encoded());
        assert!(stray.exists());
        save(dir.path(), &st2).unwrap();
        assert!(!stray.exists());
        // Corrupt content is refused.
        let subject = st.repos["a/b"]
            .manifests
            .iter()
            .find(|(_, m)| m.facts.subject.is_none())
            .unwrap()
            .0;
        std::fs::write(blob_path(dir.path(), subject).unwrap(), b"tampered").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
