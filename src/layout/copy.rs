//! `referee copy SRC DST --referrers`: a manifest and its referrers from one registry to another,
//! digests kept, through an OCI image layout on disk (`export`, then `import`): referrers are
//! read through the source's API or its referrers tag, and written to the destination through
//! its API or, where it answers without `OCI-Subject`, its referrers tag. Within one registry
//! the layout holds only manifests and blobs are mounted from the source repository (read and
//! sent where the registry does not mount); between two, each blob goes through the layout on
//! disk, one blob in memory at a time. What was copied is listed; pushing what is already there
//! is harmless, so a copy stopped halfway can be run again and finishes.

use super::export::{ExportOptions, Exported, Source, export_with};
use super::import::{BlobSource, Imported, import_into};
use crate::client::{Client, ClientError};

/// `URL/REPO:TAG` or `URL/REPO@DIGEST`, e.g. `http://127.0.0.1:5000/team/app:v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub base: String,
    pub repo: String,
    pub reference: String,
}

/// Parses `URL/REPO:TAG` or `URL/REPO@DIGEST`.
pub fn parse_location(s: &str) -> Result<Location, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("{s:?} is not URL/REPO:TAG or URL/REPO@DIGEST ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{s:?}: referee talks to registries over http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL would be printed with what was copied: give them with --username and REFEREE_PASSWORD, or the docker config".into());
    }
    let path = url.path().trim_start_matches('/');
    let (repo, reference) = if let Some((r, d)) = path.split_once('@') {
        (r.to_string(), d.to_string())
    } else {
        match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => return Err(format!("{s:?} names no tag or digest: write URL/REPO:TAG or URL/REPO@DIGEST")),
        }
    };
    if repo.is_empty() || reference.is_empty() {
        return Err(format!("{s:?} names no repository or no reference"));
    }
    let mut base = url.clone();
    base.set_path("");
    base.set_query(None);
    Ok(Location { base: base.as_str().trim_end_matches('/').to_string(), repo, reference })
}

/// What a copy did.
#[derive(Debug, Clone, Default)]
pub struct Copied {
    pub exported: Exported,
    pub imported: Imported,
}

/// Copies `src` (and, with `referrers`, its referrers of `filter` or all) to `dst`.
pub async fn copy(src_client: &Client, src: &Location, dst_client: &Client, dst: &Location, referrers: bool, filter: Option<&str>) -> Result<Copied, ClientError> {
    let dir = tempfile::tempdir().map_err(|e| ClientError::Stopped(format!("cannot make a temporary layout: {e}")))?;
    let layout = dir.path().join("layout");
    // Without --referrers, a filter that matches nothing keeps the subject alone.
    let filter = if referrers { filter } else { Some("\u{0}no referrers") };
    // Within one registry, blobs are mounted from the source repository, so the layout needs
    // only the manifests; between registries every blob goes through the layout, one at a time.
    let same = src.base == dst.base;
    let opts = ExportOptions { filter, sparse: same, ..ExportOptions::new(Source::Auto) };
    let exported = export_with(src_client, &src.repo, &src.reference, &layout, opts).await?;
    // A digest destination must be the source's digest (a copy keeps digests) and gets no tag;
    // a tag destination names the subject.
    let subject = exported.subject.as_ref().map(|s| s.digest.to_string()).unwrap_or_default();
    if crate::oci::Digest::parse(&dst.reference).is_ok() && dst.reference != subject {
        return Err(ClientError::Stopped(format!("the destination digest {} is not the source's ({subject}): a copy keeps digests; nothing was sent", dst.reference)));
    }
    retag(&layout, &src.reference, &subject, &dst.reference)?;
    let mut imported = Imported::default();
    let source = BlobSource { client: src_client, repo: &src.repo, mount: same };
    import_into(dst_client, &dst.repo, &layout, Some(source), &mut imported).await?;
    Ok(Copied { exported, imported })
}

/// Names the subject (`from`, or untagged `digest`) `to` in the layout: the destination tag, or
/// no tag at all when `to` is a digest.
fn retag(layout: &std::path::Path, from: &str, digest: &str, to: &str) -> Result<(), ClientError> {
    let path = layout.join("index.json");
    let io = |e: std::io::Error| ClientError::Stopped(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(io)?;
    let mut v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ClientError::Stopped(e.to_string()))?;
    let to_tag = crate::oci::Digest::parse(to).is_err();
    for d in v["manifests"].as_array_mut().into_iter().flatten() {
        let named = d["annotations"][super::check::REF_NAME] == from;
        let untagged_subject = d["digest"] == digest && d["annotations"][super::check::REF_NAME].is_null();
        if !(named || untagged_subject) {
            continue;
        }
        match (to_tag, d["annotations"].as_object_mut()) {
            (true, _) => d["annotations"][super::check::REF_NAME] = serde_json::json!(to),
            (false, Some(a)) => {
                a.remove(super::check::REF_NAME);
            }
            (false, None) => {}
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap_or_default()).map_err(io)
}
