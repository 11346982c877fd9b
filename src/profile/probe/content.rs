//! Rows 5–9: deletes, blob mounts, conditional PUTs, `sha512:` manifests and manifest sizes.

use super::PADDING;
use super::describe::{is_2xx, mib, short, status_line};
use super::driver::Probe;
use super::names::*;
use crate::client::{ClientError, Response};
use crate::oci::{Algorithm, Built, Digest, IndexBuilder, ManifestBuilder, media};

const SEED: &str = "dev.referee.probe";
/// Manifest sizes tried, smallest first (distribution-spec: registries SHOULD support at least
/// 4 megabytes, and SHOULD answer 413 above their limit).
const MANIFEST_SIZES: [usize; 4] = [1 << 20, 4 << 20, 8 << 20, 16 << 20];

impl Probe {
    /// Row 5: manifest delete by tag and by digest, and blob delete, of an image pushed by tag.
    pub(super) async fn delete_rows(&mut self) -> Result<(), ClientError> {
        let repo = self.repo.clone();
        let tag = "probe-delete";
        let img = ManifestBuilder::image(&format!("{repo}-delete")).build();
        let r = self.push(&repo, &img, tag).await?;
        if r.status != 201 {
            let why = format!("skipped: pushing the image to delete answered {}", status_line(&r));
            for name in [DELETE_TAG, DELETE_MANIFEST, DELETE_BLOB] {
                self.cell(name, None, why.clone());
            }
            return Ok(());
        }
        let t = self.client.delete_manifest(&repo, tag).await?;
        self.cell(DELETE_TAG, Some(is_2xx(&t)), status_line(&t));
        let d = self.client.delete_manifest(&repo, img.digest.as_str()).await?;
        self.cell(DELETE_MANIFEST, Some(is_2xx(&d)), status_line(&d));
        let layer = &img.blobs[img.blobs.len() - 1];
        let b = self.client.delete_blob(&repo, &layer.digest).await?;
        self.cell(DELETE_BLOB, Some(is_2xx(&b)), status_line(&b));
        Ok(())
    }

    /// Row 6: mount the subject's layer with `from`, and its config without.
    pub(super) async fn mount_rows(&mut self, subject: &Built) -> Result<(), ClientError> {
        let (repo, target) = (self.repo.clone(), self.mount_repo.clone());
        let layer = subject.blobs[subject.blobs.len() - 1].digest.clone();
        let config = subject.blobs[0].digest.clone();
        let r = self.client.mount_blob(&target, &layer, Some(&repo)).await?;
        let observed = self.mount_answer(&target, &layer, &r).await?;
        self.cell(MOUNT_WITH_FROM, Some(r.status == 201), observed);
        let r = self.client.mount_blob(&target, &config, None).await?;
        let observed = self.mount_answer(&target, &config, &r).await?;
        self.cell(MOUNT_WITHOUT_FROM, Some(r.status == 201), observed);
        Ok(())
    }

    /// Describes a mount answer; records a mounted blob for cleanup and cancels an upload session
    /// the registry opened instead.
    async fn mount_answer(&mut self, repo: &str, digest: &Digest, r: &Response) -> Result<String, ClientError> {
        match r.status {
            201 => {
                self.blobs.push((repo.to_string(), digest.clone()));
                Ok("201: mounted".into())
            }
            202 => {
                let Some(url) = r.header("location").and_then(|l| r.url.join(l).ok()) else {
                    return Ok("202: not mounted (an upload session without Location)".into());
                };
                let c = self.client.cancel_upload(repo, url).await?;
                Ok(format!("202: not mounted, an upload session was opened instead (cancelled: {})", c.status))
            }
            _ => Ok(status_line(r)),
        }
    }

    /// Row 7: `ETag` on a tag; PUTs with a stale `If-Match` and with `If-None-Match: *`.
    pub(super) async fn conditional_rows(&mut self) -> Result<(), ClientError> {
        let repo = self.repo.clone();
        let tag = "probe-conditional";
        let a = ManifestBuilder::image(&format!("{repo}-conditional")).build();
        let r = self.push(&repo, &a, tag).await?;
        if r.status != 201 {
            let why = format!("skipped: pushing the tagged image answered {}", status_line(&r));
            for name in [ETAG, IF_MATCH, IF_NONE_MATCH] {
                self.cell(name, None, why.clone());
            }
            return Ok(());
        }
        let head = self.client.head_manifest(&repo, tag).await?;
        let mut etag = head.header("etag").map(|e| ("HEAD", e.to_string()));
        if etag.is_none() {
            let get = self.client.get_manifest(&repo, tag).await?;
            etag = get.header("etag").map(|e| ("GET", e.to_string()));
        }
        let observed = match &etag {
            Some((via, e)) => format!("{via} of the tag: ETag: {}", e.split('"').map(short).collect::<Vec<_>>().join("\"")),
            None => format!("no ETag on HEAD ({}) or GET of the tag", head.status),
        };
        self.cell(ETAG, Some(etag.is_some()), observed);

        let conditional = [(IF_MATCH, "if-match"), (IF_NONE_MATCH, "if-none-match")];
        for (name, header) in conditional {
            let b = IndexBuilder::new().manifest(a.descriptor()).annotation(SEED, &format!("{repo}-{header}")).build();
            // A stale ETag: the digest of the manifest being pushed, which the tag is not.
            let value = if header == "if-match" { format!("\"{}\"", b.digest) } else { "*".to_string() };
            let r = self.client.put_manifest_with_headers(&repo, tag, media::IMAGE_INDEX, &b.bytes, &[(header, value)]).await?;
            if r.status == 201 {
                self.manifests.push((repo.clone(), b.digest.to_string()));
            }
            let what = if header == "if-match" { "a stale If-Match" } else { "If-None-Match: * on an existing tag" };
            let observed = match r.status {
                412 => format!("412: {what} was refused"),
                201 => format!("201: {what} was ignored (the tag was overwritten)"),
                _ => format!("{what}: {}", status_line(&r)),
            };
            self.cell(name, Some(r.status == 412), observed);
        }
        Ok(())
    }

    /// Row 8: PUT a manifest by its `sha512:` digest.
    pub(super) async fn sha512_row(&mut self) -> Result<(), ClientError> {
        let repo = self.repo.clone();
        let m = ManifestBuilder::image(&format!("{repo}-sha512")).build();
        if let Some(failed) = self.push_blobs(&repo, &m).await? {
            self.cell(SHA512_MANIFEST, None, format!("skipped: a blob upload answered {}", status_line(&failed)));
            return Ok(());
        }
        let digest = Digest::of(Algorithm::Sha512, &m.bytes);
        let r = self.client.put_manifest(&repo, digest.as_str(), &m.media_type, &m.bytes).await?;
        let observed = if r.status == 201 {
            self.manifests.push((repo, digest.to_string()));
            let dcd = r.header("docker-content-digest").map_or("no Docker-Content-Digest".into(), |d| format!("Docker-Content-Digest: {}", short(d)));
            format!("201, {dcd}")
        } else {
            status_line(&r)
        };
        self.cell(SHA512_MANIFEST, Some(r.status == 201), observed);
        Ok(())
    }

    /// Row 9: manifests of exactly 1, 4, 8 and 16 MiB until the first is refused.
    pub(super) async fn size_row(&mut self) -> Result<(), ClientError> {
        let repo = self.repo.clone();
        let base = ManifestBuilder::image(&format!("{repo}-size"));
        let plain = base.clone().build();
        if let Some(failed) = self.push_blobs(&repo, &plain).await? {
            self.cell(MAX_MANIFEST_SIZE, None, format!("skipped: a blob upload answered {}", status_line(&failed)));
            return Ok(());
        }
        let overhead = base.clone().annotation(PADDING, "").build().bytes.len();
        let mut largest = None;
        let mut rejected = None;
        for size in MANIFEST_SIZES {
            let Some(fill) = size.checked_sub(overhead) else { continue };
            let m = base.clone().annotation(PADDING, &"m".repeat(fill)).build();
            debug_assert_eq!(m.bytes.len(), size);
            match self.client.put_manifest(&repo, m.digest.as_str(), &m.media_type, &m.bytes).await {
                Ok(r) if r.status == 201 => {
                    self.manifests.push((repo.clone(), m.digest.to_string()));
                    largest = Some(size);
                }
                Ok(r) => {
                    let not_413 = if r.status == 413 { "" } else { " (not 413)" };
                    rejected = Some(format!("{} ({size} B) → {}{not_413}", mib(size), status_line(&r)));
                    break;
                }
                // A registry may hang up on a body over its limit; that is its answer.
                Err(e) if !matches!(e, ClientError::Timeout { .. }) => {
                    rejected = Some(format!("{} ({size} B) → no HTTP answer: {e}", mib(size)));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let mut observed = match largest {
            Some(s) => format!("largest accepted {} ({s} B → 201)", mib(s)),
            None => "none accepted".to_string(),
        };
        match rejected {
            Some(r) => observed.push_str(&format!("; first rejected {r}")),
            None => observed.push_str(&format!("; every size up to {} accepted", mib(MANIFEST_SIZES[MANIFEST_SIZES.len() - 1]))),
        }
        self.cell(MAX_MANIFEST_SIZE, Some(largest.is_some_and(|s| s >= 4 << 20)), observed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_exact_sizes() {
        let base = ManifestBuilder::image("x");
        let overhead = base.clone().annotation(PADDING, "").build().bytes.len();
        for size in [1 << 20, 4 << 20] {
            let m = base.clone().annotation(PADDING, &"m".repeat(size - overhead)).build();
            assert_eq!(m.bytes.len(), size);
        }
    }
}
