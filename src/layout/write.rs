//! Writing an OCI image layout: blobs by digest, `oci-layout`, and an `index.json` that makes
//! referrers findable by each of the three conventions `check` reads:
//!
//! - the subject under its `ref.name` (a tag);
//! - every referrer listed untagged in `index.json` (oras-go's practice, M4), carrying the
//!   proposed annotation `org.opencontainers.image.referrer.subject` (image-spec PR #1171, M5);
//! - for every subject with referrers, an image index of them under the referrers tag schema's
//!   name (`sha256-<hex>`, M3), as a registry without the API would hold it.

use super::check::{REF_NAME, REFERRER_SUBJECT};
use crate::oci::{Descriptor, Digest, IndexBuilder, referrers_tag};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A layout being written.
pub struct LayoutWriter {
    dir: PathBuf,
    /// index.json's descriptors, in order.
    entries: Vec<Value>,
    /// Referrers by subject: what the referrers tags list.
    referrers: BTreeMap<String, Vec<Descriptor>>,
}

impl LayoutWriter {
    /// Creates `dir` (and `blobs/`) if needed.
    pub fn new(dir: &Path) -> std::io::Result<LayoutWriter> {
        std::fs::create_dir_all(dir.join("blobs"))?;
        Ok(LayoutWriter { dir: dir.to_path_buf(), entries: vec![], referrers: BTreeMap::new() })
    }

    /// Writes a blob (its name is its digest); the digest of `bytes` must be `digest`.
    pub fn blob(&self, digest: &Digest, bytes: &[u8]) -> std::io::Result<()> {
        if !digest.verify(bytes) {
            return Err(std::io::Error::other(format!("the bytes do not hash to {digest}")));
        }
        self.blob_as_served(digest, bytes)
    }

    /// Writes a blob under `digest` whatever its bytes hash to: what a registry served, kept
    /// so that `check` can point at it (M1).
    pub fn blob_as_served(&self, digest: &Digest, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.join("blobs").join(digest.algorithm());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(digest.encoded()), bytes)
    }

    /// Lists `d` in index.json under the tag `name`.
    pub fn tag(&mut self, d: &Descriptor, name: &str) {
        let mut v = d.to_json();
        v["annotations"][REF_NAME] = json!(name);
        self.entries.push(v);
    }

    /// Lists `d` in index.json without a name.
    pub fn untagged(&mut self, d: &Descriptor) {
        self.entries.push(d.to_json());
    }

    /// Lists the referrer `d` (its descriptor as a referrers list has it) of `subject` untagged
    /// in index.json, with the proposed annotation, and remembers it for the referrers tag.
    pub fn referrer(&mut self, d: &Descriptor, subject: &Digest) {
        let mut v = d.to_json();
        // Names in index.json are the exporter's to give: a ref.name the registry's list put on
        // the descriptor stays in the referrers-tag index (where `check` sees it, M2) only.
        if let Some(a) = v.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(REF_NAME);
        }
        v["annotations"][REFERRER_SUBJECT] = json!(subject.as_str());
        if !self.entries.iter().any(|e| e["digest"] == v["digest"]) {
            self.entries.push(v);
        }
        let list = self.referrers.entry(subject.to_string()).or_default();
        if !list.iter().any(|x| x.digest == d.digest) {
            list.push(d.clone());
        }
    }

    /// Writes each subject's referrers tag index, `index.json` and `oci-layout`.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        let referrers = std::mem::take(&mut self.referrers);
        for (subject, list) in referrers {
            let mut b = IndexBuilder::new();
            for d in list {
                b = b.manifest(d);
            }
            let index = b.build();
            self.blob(&index.digest, &index.bytes)?;
            let name = referrers_tag(&subject);
            self.tag(&index.descriptor(), &name);
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": crate::oci::media::IMAGE_INDEX,
            "manifests": self.entries,
        });
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec_pretty(&index).map_err(std::io::Error::other)?)?;
        std::fs::write(self.dir.join("oci-layout"), br#"{"imageLayoutVersion": "1.0.0"}"#)?;
        Ok(self.dir)
    }
}
