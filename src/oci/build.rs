//! Builders for image manifests, indexes and artifacts. The main type is [`Built`]: the exact
//! bytes that will be sent, their digest, and the blobs they need.
//!
//! Manifests are built as ordered JSON (`serde_json` with `preserve_order`) and serialized once;
//! the digest is computed over those bytes and the same bytes are pushed, never re-serialized.

use super::digest::{Algorithm, Digest};
use super::media;
use serde_json::{Map, Value, json};

/// A blob: exact bytes and what they are.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        let digest = Digest::sha256(&bytes);
        Blob { media_type: media_type.to_string(), bytes, digest }
    }

    /// The empty JSON blob `{}` of image-spec "Guidance for an Empty Descriptor".
    pub fn empty() -> Blob {
        Blob::new(media::EMPTY, b"{}".to_vec())
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            artifact_type: None,
            annotations: Map::new(),
        }
    }
}

/// A content descriptor (image-spec descriptor.md) in the key order referee writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Map<String, Value>,
}

impl Descriptor {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("mediaType".into(), json!(self.media_type));
        m.insert("digest".into(), json!(self.digest.as_str()));
        m.insert("size".into(), json!(self.size));
        if let Some(at) = &self.artifact_type {
            m.insert("artifactType".into(), json!(at));
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), Value::Object(self.annotations.clone()));
        }
        Value::Object(m)
    }
}

/// A built manifest or index: the exact bytes to push and what a referrers list must say of it.
#[derive(Debug, Clone)]
pub struct Built {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
    /// Blobs the manifest references (config and layers); empty for an index.
    pub blobs: Vec<Blob>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub config_media_type: Option<String>,
    pub annotations: Map<String, Value>,
    pub is_index: bool,
}

impl Built {
    /// The descriptor of this manifest as content (no artifactType, no annotations).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            artifact_type: None,
            annotations: Map::new(),
        }
    }

    /// The same bytes addressed by another algorithm (e.g. a sha512 subject).
    pub fn descriptor_with(&self, alg: Algorithm) -> Descriptor {
        let mut d = self.descriptor();
        d.digest = Digest::of(alg, &self.bytes);
        d
    }

    /// The `artifactType` a referrers list must carry for this manifest (distribution-spec
    /// "Listing Referrers"): the manifest's own `artifactType` if non-empty; else, for an image
    /// manifest, `config.mediaType`; for an index without one, none (the key is omitted).
    pub fn listed_artifact_type(&self) -> Option<String> {
        match &self.artifact_type {
            Some(at) if !at.is_empty() => Some(at.clone()),
            _ if self.is_index => None,
            _ => self.config_media_type.clone(),
        }
    }

    /// A manifest someone else built, from its exact bytes (never re-serialized) and the blobs
    /// it names (config and layers, in order; none for an index): what `push_built` and the
    /// referrers-tag client need. `Err` when the bytes are not a manifest or an index.
    pub fn from_parts(media_type: &str, bytes: Vec<u8>, blobs: Vec<Blob>) -> Result<Built, String> {
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        let o = v.as_object().ok_or("not a JSON object")?;
        let descriptor = |x: &Value| -> Option<Descriptor> {
            Some(Descriptor {
                media_type: x.get("mediaType")?.as_str()?.to_string(),
                digest: Digest::parse(x.get("digest")?.as_str()?).ok()?,
                size: x.get("size")?.as_u64()?,
                artifact_type: x.get("artifactType").and_then(Value::as_str).map(str::to_string),
                annotations: x.get("annotations").and_then(Value::as_object).cloned().unwrap_or_default(),
            })
        };
        let is_index = o.contains_key("manifests");
        Ok(Built {
            digest: Digest::sha256(&bytes),
            media_type: media_type.to_string(),
            blobs,
            subject: o.get("subject").and_then(descriptor),
            artifact_type: o.get("artifactType").and_then(Value::as_str).map(str::to_string),
            config_media_type: o.get("config").and_then(|c| c.get("mediaType")).and_then(Value::as_str).map(str::to_string),
            annotations: o.get("annotations").and_then(Value::as_object).cloned().unwrap_or_default(),
            is_index,
            bytes,
        })
    }

    /// The descriptor a referrers list (API or fallback tag) must contain for this manifest.
    pub fn referrer_descriptor(&self) -> Descriptor {
        Descriptor {
            artifact_type: self.listed_artifact_type(),
            annotations: self.annotations.clone(),
            ..self.descriptor()
        }
    }
}

/// Builds an image manifest (image or artifact form).
#[derive(Debug, Clone)]
pub struct ManifestBuilder {
    media_type: String,
    config: Blob,
    layers: Vec<Blob>,
    artifact_type: Option<String>,
    subject: Option<Descriptor>,
    annotations: Map<String, Value>,
    extra: Map<String, Value>,
    /// Embed each layer's bytes in its descriptor's `data` field.
    layer_data: bool,
    /// Extra fields written into the subject descriptor.
    subject_extra: Map<String, Value>,
}

impl ManifestBuilder {
    /// An OCI image: a small config and one layer, both made unique by `seed`.
    pub fn image(seed: &str) -> ManifestBuilder {
        let config = Blob::new(
            media::IMAGE_CONFIG,
            serde_json::to_vec(&json!({
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {"Labels": {"dev.referee.seed": seed}}
            }))
            .expect("json"),
        );
        let layer = Blob::new(media::LAYER_TAR_GZIP, format!("referee layer {seed}").into_bytes());
        ManifestBuilder {
            media_type: media::IMAGE_MANIFEST.into(),
            config,
            layers: vec![layer],
            artifact_type: None,
            subject: None,
            annotations: Map::new(),
            extra: Map::new(),
            layer_data: false,
            subject_extra: Map::new(),
        }
    }

    /// A Docker schema2 image (for subjects of docker type).
    pub fn docker_image(seed: &str) -> ManifestBuilder {
        let mut b = ManifestBuilder::image(seed);
        b.media_type = media::DOCKER_MANIFEST_V2.into();
        b.config.media_type = media::DOCKER_CONFIG.into();
        for l in &mut b.layers {
            l.media_type = media::DOCKER_LAYER.into();
        }
        b
    }

    /// An artifact: empty config + `artifactType` + one small layer (image-spec "Guidelines for
    /// Artifact Usage": a single layer with non-zero size), unique by `seed`.
    pub fn artifact(seed: &str, artifact_type: &str) -> ManifestBuilder {
        ManifestBuilder {
            media_type: media::IMAGE_MANIFEST.into(),
            config: Blob::empty(),
            layers: vec![Blob::new(media::OCTET_STREAM, format!("referee artifact {seed}").into_bytes())],
            artifact_type: Some(artifact_type.into()),
            subject: None,
            annotations: Map::new(),
            extra: Map::new(),
            layer_data: false,
            subject_extra: Map::new(),
        }
    }

    /// A legacy-style artifact: custom config media type and no `artifactType`.
    pub fn config_typed(seed: &str, config_media_type: &str) -> ManifestBuilder {
        let mut b = ManifestBuilder::artifact(seed, "");
        b.artifact_type = None;
        b.config = Blob::new(config_media_type, format!("{{\"referee\":\"{seed}\"}}").into_bytes());
        b
    }

    pub fn artifact_type(mut self, at: Option<String>) -> Self {
        self.artifact_type = at;
        self
    }

    pub fn subject(mut self, d: Descriptor) -> Self {
        self.subject = Some(d);
        self
    }

    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.into(), json!(v));
        self
    }

    /// Sets the media type of every layer.
    pub fn layer_media_type(mut self, mt: &str) -> Self {
        for l in &mut self.layers {
            l.media_type = mt.into();
        }
        self
    }

    /// Embeds layer content in the descriptors' `data` field (image-spec descriptor.md).
    pub fn layer_data(mut self, on: bool) -> Self {
        self.layer_data = on;
        self
    }

    /// Adds a field to the subject descriptor (image-spec: unknown fields must be ignored).
    pub fn subject_extra(mut self, k: &str, v: Value) -> Self {
        self.subject_extra.insert(k.into(), v);
        self
    }

    pub fn extra_field(mut self, k: &str, v: Value) -> Self {
        self.extra.insert(k.into(), v);
        self
    }

    pub fn build(self) -> Built {
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        m.insert("mediaType".into(), json!(self.media_type));
        if let Some(at) = &self.artifact_type {
            m.insert("artifactType".into(), json!(at));
        }
        m.insert("config".into(), self.config.descriptor().to_json());
        let layer_json = |l: &Blob| {
            let mut d = l.descriptor().to_json();
            if self.layer_data
                && let Value::Object(o) = &mut d
            {
                use base64::Engine as _;
                o.insert("data".into(), json!(base64::engine::general_purpose::STANDARD.encode(&l.bytes)));
            }
            d
        };
        m.insert("layers".into(), Value::Array(self.layers.iter().map(layer_json).collect()));
        if let Some(s) = &self.subject {
            let mut sj = s.to_json();
            if let Value::Object(o) = &mut sj {
                o.extend(self.subject_extra.clone());
            }
            m.insert("subject".into(), sj);
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), Value::Object(self.annotations.clone()));
        }
        for (k, v) in self.extra {
            m.insert(k, v);
        }
        let bytes = serde_json::to_vec(&Value::Object(m)).expect("json");
        let mut blobs = vec![self.config.clone()];
        blobs.extend(self.layers.iter().cloned());
        Built {
            digest: Digest::sha256(&bytes),
            media_type: self.media_type,
            bytes,
            blobs,
            subject: self.subject,
            artifact_type: self.artifact_type,
            config_media_type: Some(self.config.media_type),
            annotations: self.annotations,
            is_index: false,
        }
    }
}

/// Builds an image index (optionally with `artifactType` and `subject`).
#[derive(Debug, Clone, Default)]
pub struct IndexBuilder {
    manifests: Vec<Descriptor>,
    artifact_type: Option<String>,
    subject: Option<Descriptor>,
    annotations: Map<String, Value>,
}

impl IndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn manifest(mut self, d: Descriptor) -> Self {
        self.manifests.push(d);
        self
    }

    pub fn artifact_type(mut self, at: Option<String>) -> Self {
        self.artifact_type = at;
        self
    }

    pub fn subject(mut self, d: Descriptor) -> Self {
        self.subject = Some(d);
        self
    }

    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.into(), json!(v));
        self
    }

    pub fn build(self) -> Built {
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        m.insert("mediaType".into(), json!(media::IMAGE_INDEX));
        if let Some(at) = &self.artifact_type {
            m.insert("artifactType".into(), json!(at));
        }
        m.insert("manifests".into(), Value::Array(self.manifests.iter().map(Descriptor::to_json).collect()));
        if let Some(s) = &self.subject {
            m.insert("subject".into(), s.to_json());
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), Value::Object(self.annotations.clone()));
        }
        let bytes = serde_json::to_vec(&Value::Object(m)).expect("json");
        Built {
            digest: Digest::sha256(&bytes),
            media_type: media::IMAGE_INDEX.into(),
            bytes,
            blobs: vec![],
            subject: self.subject,
            artifact_type: self.artifact_type,
            config_media_type: None,
            annotations: self.annotations,
            is_index: true,
        }
    }
}

/// The referrers tag of distribution-spec "Referrers Tag Schema": the algorithm truncated to 32
/// characters, `-`, the encoded part truncated to 64, and every character not allowed in a tag
/// (`[a-zA-Z0-9._-]`) replaced with `-`.
pub fn referrers_tag(digest: &str) -> String {
    let (alg, enc) = digest.split_once(':').unwrap_or((digest, ""));
    let alg: String = alg.chars().take(32).collect();
    let enc: String = enc.chars().take(64).collect();
    format!("{alg}-{enc}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_tag_matches_the_spec_table() {
        let a64 = "a".repeat(64);
        assert_eq!(referrers_tag(&format!("sha256:{a64}")), format!("sha256-{a64}"));
        assert_eq!(referrers_tag(&format!("sha512:{}", "a".repeat(128))), format!("sha512-{a64}"));
        assert_eq!(
            referrers_tag(
                "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation"
            ),
            "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot"
        );
    }

    #[test]
    fn artifact_bytes_hash_to_their_digest_and_carry_the_subject() {
        let img = ManifestBuilder::image("s").build();
        let art = ManifestBuilder::artifact("a", "application/spdx+json")
            .subject(img.descriptor())
            .annotation("k", "v")
            .build();
        assert!(art.digest.verify(&art.bytes));
        let v: Value = serde_json::from_slice(&art.bytes).unwrap();
        assert_eq!(v["subject"]["digest"], json!(img.digest.as_str()));
        assert_eq!(v["config"]["digest"], json!("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
        assert_eq!(v["config"]["size"], json!(2));
        assert_eq!(art.listed_artifact_type().as_deref(), Some("application/spdx+json"));
        let legacy = ManifestBuilder::config_typed("l", "application/vnd.x.cfg+json").build();
        assert_eq!(legacy.listed_artifact_type().as_deref(), Some("application/vnd.x.cfg+json"));
        let idx = IndexBuilder::new().manifest(img.descriptor()).build();
        assert_eq!(idx.listed_artifact_type(), None);
    }
}
