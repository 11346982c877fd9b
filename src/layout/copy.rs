//! `referee copy SRC DST --referrers`: a manifest and its referrers from one registry to another,
//! digests kept, through an OCI image layout on disk (`export`, then `import`): referrers are
//! read through the source's API or its referrers tag, and written to the destination through
//! its API or, where it answers without `OCI-Subject`, its referrers tag. What was copied is
//! listed; pushing what is already there is harmless, so a copy stopped halfway can be run
//! again and finishes.

use super::export::{Exported, Source, export_filtered};
use super::import::{Imported, import};
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
    let dir = tempfile::tempdir().map_err(|e| ClientError::Other { url: String::new(), msg: format!("cannot make a temporary layout: {e}") })?;
    let layout = dir.path().join("layout");
    // Without --referrers, a filter that matches nothing keeps the subject alone.
    let filter = if referrers { filter } else { Some("\u{0}no referrers") };
    let exported = export_filtered(src_client, &src.repo, &src.reference, &layout, Source::Auto, filter).await?;
    // The destination's tag: the one asked for (a digest destination keeps the source's name).
    retag(&layout, &src.reference, &dst.reference)?;
    let imported = import(dst_client, &dst.repo, &layout).await?;
    Ok(Copied { exported, imported })
}

/// Renames the subject's `ref.name` in the layout from `from` to `to` (when `to` is a tag).
fn retag(layout: &std::path::Path, from: &str, to: &str) -> Result<(), ClientError> {
    if crate::oci::Digest::parse(to).is_ok() || from == to {
        return Ok(());
    }
    let path = layout.join("index.json");
    let io = |e: std::io::Error| ClientError::Other { url: String::new(), msg: format!("{}: {e}", path.display()) };
    let text = std::fs::read_to_string(&path).map_err(io)?;
    let mut v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ClientError::Other { url: String::new(), msg: e.to_string() })?;
    for d in v["manifests"].as_array_mut().into_iter().flatten() {
        // The subject: named by the source tag, or (a digest source) untagged with that digest.
        if d["annotations"][super::check::REF_NAME] == from || (d["digest"] == from && d["annotations"][super::check::REF_NAME].is_null()) {
            d["annotations"][super::check::REF_NAME] = serde_json::json!(to);
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap_or_default()).map_err(io)
}
