//! Registry operations on top of [`Client::send`]: blobs, manifests, tags, referrers with
//! `Link` paging. The referrers-tag read-modify-write is in `referrers_tag`.

use super::http::{Client, ClientError, Response, Scope};
use crate::oci::{Blob, Built, Digest, media};
use reqwest::{Method, Url};

/// Why a `Link` header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("Link header {0:?} is not RFC 5988 syntax (`<url>; rel=\"next\"`)")]
    Syntax(String),
}

/// Extracts the `rel="next"` target of a `Link` header value (RFC 5988: `<uri>; rel="next"`,
/// possibly among several comma-separated links). `Ok(None)` when no link is `next`.
pub fn parse_link_next(value: &str) -> Result<Option<String>, LinkError> {
    let mut rest = value.trim();
    let mut guard = 0;
    while !rest.is_empty() {
        guard += 1;
        if guard > 64 {
            return Err(LinkError::Syntax(value.into()));
        }
        let Some(after_lt) = rest.strip_prefix('<') else {
            return Err(LinkError::Syntax(value.into()));
        };
        let Some(end) = after_lt.find('>') else {
            return Err(LinkError::Syntax(value.into()));
        };
        let target = &after_lt[..end];
        let params_and_more = &after_lt[end + 1..];
        // Parameters run to the next ',' that starts a new `<`-link.
        let next_link = params_and_more.find(", <").or_else(|| params_and_more.find(",<"));
        let params = match next_link {
            Some(i) => &params_and_more[..i],
            None => params_and_more,
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            let Some((k, v)) = p.split_once('=') else { return false };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim().trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Ok(Some(target.to_string()));
        }
        rest = match next_link {
            Some(i) => params_and_more[i + 1..].trim_start(),
            None => "",
        };
    }
    Ok(None)
}

/// One page of a referrers listing.
#[derive(Debug, Clone)]
pub struct Page {
    pub response: Response,
    pub next: Option<Url>,
    pub link_error: Option<LinkError>,
}

fn accept_manifests() -> String {
    [media::IMAGE_MANIFEST, media::IMAGE_INDEX, media::DOCKER_MANIFEST_V2, "application/vnd.docker.distribution.manifest.list.v2+json"]
        .join(", ")
}

impl Client {
    fn v2(&self, path: &str) -> Result<Url, ClientError> {
        self.resolve(&format!("/v2/{path}"))
    }

    /// `GET /v2/` ("Determining Support").
    pub async fn ping(&self) -> Result<Response, ClientError> {
        self.send(Method::GET, self.v2("")?, &[], None, Scope::Registry).await
    }

    /// Uploads a blob with POST then PUT ("POST then PUT"); returns the final response.
    pub async fn push_blob(&self, repo: &str, blob: &Blob) -> Result<Response, ClientError> {
        let scope = Scope::Push(repo.into());
        let start = self.send(Method::POST, self.v2(&format!("{repo}/blobs/uploads/"))?, &[], None, scope.clone()).await?;
        if start.status != 202 {
            return Ok(start);
        }
        let Some(loc) = start.header("location") else {
            return Err(ClientError::Other { url: start.url.to_string(), msg: "upload answered 202 without Location".into() });
        };
        let mut url = start.url.join(loc).map_err(|_| ClientError::BadUrl(loc.into()))?;
        url.query_pairs_mut().append_pair("digest", blob.digest.as_str());
        let headers = [("content-type", media::OCTET_STREAM.to_string())];
        self.send(Method::PUT, url, &headers, Some(blob.bytes.clone()), scope).await
    }

    /// Uploads a blob in one `POST ?digest=` ("Single POST"). A registry may answer 202 and
    /// expect a PUT instead; the caller sees that answer as it is.
    pub async fn push_blob_single_post(&self, repo: &str, blob: &Blob) -> Result<Response, ClientError> {
        let mut url = self.v2(&format!("{repo}/blobs/uploads/"))?;
        url.query_pairs_mut().append_pair("digest", blob.digest.as_str());
        let headers = [("content-type", media::OCTET_STREAM.to_string())];
        self.send(Method::POST, url, &headers, Some(blob.bytes.clone()), Scope::Push(repo.into())).await
    }

    /// Uploads a blob in chunks of `chunk` bytes ("Pushing a blob in chunks"): POST, PATCHes
    /// with `Content-Range`, then the closing PUT. Stops at the first unexpected status.
    pub async fn push_blob_chunked(&self, repo: &str, blob: &Blob, chunk: usize) -> Result<Response, ClientError> {
        let scope = Scope::Push(repo.into());
        let start = self.send(Method::POST, self.v2(&format!("{repo}/blobs/uploads/"))?, &[], None, scope.clone()).await?;
        if start.status != 202 {
            return Ok(start);
        }
        let mut resp = start;
        let chunk = chunk.max(1);
        // Bounded by the blob's length: each PATCH sends at least one byte.
        for (i, part) in blob.bytes.chunks(chunk).enumerate() {
            let loc = resp.header("location").ok_or_else(|| ClientError::Other {
                url: resp.url.to_string(),
                msg: format!("upload answered {} without Location", resp.status),
            })?;
            let url = resp.url.join(loc).map_err(|_| ClientError::BadUrl(loc.into()))?;
            let from = i * chunk;
            let headers = [
                ("content-type", media::OCTET_STREAM.to_string()),
                ("content-range", format!("{}-{}", from, from + part.len() - 1)),
                ("content-length", part.len().to_string()),
            ];
            resp = self.send(Method::PATCH, url, &headers, Some(part.to_vec()), scope.clone()).await?;
            if resp.status != 202 {
                return Ok(resp);
            }
        }
        let loc = resp.header("location").ok_or_else(|| ClientError::Other {
            url: resp.url.to_string(),
            msg: "upload answered without Location".into(),
        })?;
        let mut url = resp.url.join(loc).map_err(|_| ClientError::BadUrl(loc.into()))?;
        url.query_pairs_mut().append_pair("digest", blob.digest.as_str());
        self.send(Method::PUT, url, &[("content-length", "0".to_string())], Some(vec![]), scope).await
    }

    pub async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<Response, ClientError> {
        self.send(Method::GET, self.v2(&format!("{repo}/blobs/{digest}"))?, &[], None, Scope::Pull(repo.into())).await
    }

    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repo>]` ("Mounting a blob").
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: Option<&str>) -> Result<Response, ClientError> {
        let mut url = self.v2(&format!("{repo}/blobs/uploads/"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("mount", digest.as_str());
            if let Some(f) = from {
                q.append_pair("from", f);
            }
        }
        self.send(Method::POST, url, &[], None, Scope::Push(repo.into())).await
    }

    /// `POST /v2/<name>/blobs/uploads/`: opens an upload session.
    pub async fn start_upload(&self, repo: &str) -> Result<Response, ClientError> {
        self.send(Method::POST, self.v2(&format!("{repo}/blobs/uploads/"))?, &[], None, Scope::Push(repo.into())).await
    }

    /// `PATCH <session>` with `Content-Range: <from>-<from+len-1>`.
    pub async fn patch_upload(&self, repo: &str, url: Url, from: usize, bytes: Vec<u8>) -> Result<Response, ClientError> {
        let headers = [
            ("content-type", media::OCTET_STREAM.to_string()),
            ("content-range", format!("{}-{}", from, from + bytes.len().max(1) - 1)),
            ("content-length", bytes.len().to_string()),
        ];
        self.send(Method::PATCH, url, &headers, Some(bytes), Scope::Push(repo.into())).await
    }

    /// `GET <session>`: the upload's progress.
    pub async fn upload_status(&self, repo: &str, url: Url) -> Result<Response, ClientError> {
        self.send(Method::GET, url, &[], None, Scope::Push(repo.into())).await
    }

    /// The closing `PUT` of an upload session at `url` (which carries `?digest=`).
    pub async fn put_upload(&self, repo: &str, url: Url, bytes: Vec<u8>) -> Result<Response, ClientError> {
        let headers = [("content-type", media::OCTET_STREAM.to_string())];
        self.send(Method::PUT, url, &headers, Some(bytes), Scope::Push(repo.into())).await
    }

    pub async fn head_blob(&self, repo: &str, digest: &Digest) -> Result<Response, ClientError> {
        self.send(Method::HEAD, self.v2(&format!("{repo}/blobs/{digest}"))?, &[], None, Scope::Pull(repo.into())).await
    }

    pub async fn delete_blob(&self, repo: &str, digest: &Digest) -> Result<Response, ClientError> {
        self.send(Method::DELETE, self.v2(&format!("{repo}/blobs/{digest}"))?, &[], None, Scope::Push(repo.into())).await
    }

    /// Pushes exactly `bytes` under `reference` (a tag or a digest).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Response, ClientError> {
        self.put_manifest_with_headers(repo, reference, media_type, bytes, &[]).await
    }

    /// Pushes a built manifest's blobs (skipping those already present) and then its bytes.
    pub async fn push_built(&self, repo: &str, built: &Built, reference: &str) -> Result<Response, ClientError> {
        for blob in &built.blobs {
            let head = self.head_blob(repo, &blob.digest).await?;
            if head.status == 200 {
                continue;
            }
            let r = self.push_blob(repo, blob).await?;
            if r.status != 201 {
                return Ok(r);
            }
        }
        self.put_manifest(repo, reference, &built.media_type, &built.bytes).await
    }

    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<Response, ClientError> {
        let headers = [("accept", accept_manifests())];
        self.send(Method::GET, self.v2(&format!("{repo}/manifests/{reference}"))?, &headers, None, Scope::Pull(repo.into()))
            .await
    }

    /// `GET` of a manifest with a literal `Accept` header (e.g. Docker types only).
    pub async fn get_manifest_accept(&self, repo: &str, reference: &str, accept: &str) -> Result<Response, ClientError> {
        let headers = [("accept", accept.to_string())];
        self.send(Method::GET, self.v2(&format!("{repo}/manifests/{reference}"))?, &headers, None, Scope::Pull(repo.into()))
            .await
    }

    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Response, ClientError> {
        let headers = [("accept", accept_manifests())];
        self.send(Method::HEAD, self.v2(&format!("{repo}/manifests/{reference}"))?, &headers, None, Scope::Pull(repo.into()))
            .await
    }

    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<Response, ClientError> {
        self.send(Method::DELETE, self.v2(&format!("{repo}/manifests/{reference}"))?, &[], None, Scope::Push(repo.into()))
            .await
    }

    /// `GET /v2/<name>/tags/list` with optional `n` and `last`.
    pub async fn tags_list(&self, repo: &str, n: Option<usize>, last: Option<&str>) -> Result<Response, ClientError> {
        let mut url = self.v2(&format!("{repo}/tags/list"))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(n) = n {
                q.append_pair("n", &n.to_string());
            }
            if let Some(l) = last {
                q.append_pair("last", l);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.send(Method::GET, url, &[], None, Scope::Pull(repo.into())).await
    }

    /// The URL of `GET /v2/<name>/referrers/<digest>`; `artifact_type` is percent-encoded,
    /// `raw_query` is appended as written (for encoding edge cases).
    pub fn referrers_url(
        &self,
        repo: &str,
        digest: &str,
        artifact_type: Option<&str>,
        raw_query: Option<&str>,
    ) -> Result<Url, ClientError> {
        let mut url = self.v2(&format!("{repo}/referrers/{digest}"))?;
        if let Some(at) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", at);
        }
        if let Some(raw) = raw_query {
            let q = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{raw}"),
                _ => raw.to_string(),
            };
            url.set_query(Some(&q));
        }
        Ok(url)
    }

    /// Fetches one referrers page at `url` and parses its `Link` (relative or absolute).
    pub async fn referrers_page(&self, repo: &str, url: Url, scope: Scope) -> Result<Page, ClientError> {
        let _ = repo;
        let response = self.send(Method::GET, url, &[], None, scope).await?;
        let mut next = None;
        let mut link_error = None;
        for value in response.header_all("link") {
            match parse_link_next(&value) {
                Ok(Some(target)) => match response.url.join(&target) {
                    Ok(u) => next = Some(u),
                    Err(_) => link_error = Some(LinkError::Syntax(value.clone())),
                },
                Ok(None) => {}
                Err(e) => link_error = Some(e),
            }
        }
        Ok(Page { response, next, link_error })
    }

    /// Like [`put_manifest`](Client::put_manifest), with extra request headers (e.g. the
    /// conditional `If-Match` / `If-None-Match` of the capability probe).
    pub async fn put_manifest_with_headers(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        extra: &[(&str, String)],
    ) -> Result<Response, ClientError> {
        let mut headers = vec![("content-type", media_type.to_string())];
        headers.extend(extra.iter().cloned());
        self.send(
            Method::PUT,
            self.v2(&format!("{repo}/manifests/{reference}"))?,
            &headers,
            Some(bytes.to_vec()),
            Scope::Push(repo.into()),
        )
        .await
    }

    /// `DELETE` of an upload session at `url` (a resolved `Location`), to cancel it.
    pub async fn cancel_upload(&self, repo: &str, url: Url) -> Result<Response, ClientError> {
        self.send(Method::DELETE, url, &[], None, Scope::Push(repo.into())).await
    }
}

/// A descriptor from JSON, if it has the required fields.
pub fn descriptor_from_json(v: &serde_json::Value) -> Option<crate::oci::Descriptor> {
    Some(crate::oci::Descriptor {
        media_type: v.get("mediaType")?.as_str()?.to_string(),
        digest: Digest::parse(v.get("digest")?.as_str()?).ok()?,
        size: v.get("size")?.as_u64()?,
        artifact_type: v.get("artifactType").and_then(|a| a.as_str()).map(str::to_string),
        annotations: v.get("annotations").and_then(|a| a.as_object()).cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_next_forms() {
        assert_eq!(parse_link_next(r#"</v2/a/referrers/x?next=1>; rel="next""#).unwrap().as_deref(), Some("/v2/a/referrers/x?next=1"));
        assert_eq!(parse_link_next(r#"<http://h/v2/a?n=1>;rel=next"#).unwrap().as_deref(), Some("http://h/v2/a?n=1"));
        assert_eq!(parse_link_next(r#"</p>; rel="prev", </n>; rel="next""#).unwrap().as_deref(), Some("/n"));
        assert_eq!(parse_link_next(r#"</p>; rel="prev""#).unwrap(), None);
        assert!(parse_link_next(r#"/v2/a; rel="next""#).is_err());
        assert!(parse_link_next(r#"</v2/a; rel="next""#).is_err());
    }
}
