//! The probe's driver: [`probe`] runs the rows in order, records what it pushes and deletes it
//! at the end.

use super::describe::{answer, status_line};
use super::names::*;
use super::report::{Cell, FORMAT_VERSION, ProbeReport};
use crate::client::{Client, ClientError, Page, Response, Scope};
use crate::exec::Residue;
use crate::oci::{Built, Digest, ManifestBuilder};
use std::collections::HashSet;
use std::time::Instant;

/// Probes the registry behind `client` in `<repo_prefix>/probe-<run_id>`; never panics on what
/// the registry answers. Harness trouble ends up in [`ProbeReport::errors`].
pub async fn probe(client: &Client, repo_prefix: &str, run_id: &str) -> ProbeReport {
    let started = Instant::now();
    let prefix = repo_prefix.trim_matches('/');
    let repo = if prefix.is_empty() { format!("probe-{run_id}") } else { format!("{prefix}/probe-{run_id}") };
    let mut p = Probe {
        client: client.fork(),
        mount_repo: format!("{repo}-mount"),
        missing_repo: format!("{repo}-absent"),
        repo,
        sig: None,
        cells: vec![],
        errors: vec![],
        manifests: vec![],
        blobs: vec![],
        residue: vec![],
    };
    let stopped = p.run().await.err();
    if let Some(why) = &stopped {
        p.errors.push(why.clone());
    }
    for name in ALL {
        if !p.cells.iter().any(|c| c.name == *name) {
            p.cell(name, None, "not probed: the probe stopped (see errors)");
        }
    }
    p.cleanup().await;
    p.cells.sort_by_key(|c| ALL.iter().position(|n| *n == c.name).unwrap_or(usize::MAX));
    let _ = p.client.take_transcript();
    ProbeReport {
        format_version: FORMAT_VERSION,
        referee_version: env!("CARGO_PKG_VERSION").into(),
        target: client.base().as_str().trim_end_matches('/').to_string(),
        run_id: run_id.to_string(),
        repositories: vec![p.repo.clone(), p.mount_repo.clone()],
        duration_ms: started.elapsed().as_millis() as u64,
        cells: p.cells,
        residue: p.residue,
        errors: p.errors,
    }
}

pub(super) struct Probe {
    pub(super) client: Client,
    pub(super) repo: String,
    pub(super) mount_repo: String,
    pub(super) missing_repo: String,
    /// The referrer of the subject with `SIG_TYPE`, once pushed.
    pub(super) sig: Option<Digest>,
    cells: Vec<Cell>,
    errors: Vec<String>,
    /// `(repository, digest reference)` of every manifest pushed, in push order.
    pub(super) manifests: Vec<(String, String)>,
    /// `(repository, digest)` of every blob referee uploaded or mounted.
    pub(super) blobs: Vec<(String, Digest)>,
    residue: Vec<Residue>,
}

/// A request that got no HTTP answer in time means the registry is gone: stop probing.
fn is_fatal(e: &ClientError) -> bool {
    matches!(e, ClientError::Connect { .. } | ClientError::Timeout { .. })
}

/// Runs one row; on a client error its cells say so, and a fatal one stops the probe.
macro_rules! row {
    ($self:ident, $names:expr, $e:expr) => {
        match $e {
            Ok(v) => Some(v),
            Err(e) => {
                $self.failed($names, &e);
                if is_fatal(&e) {
                    return Err(format!("stopped probing at {}: {e}", $names[0]));
                }
                $self.errors.push(format!("{}: {e}", $names[0]));
                None
            }
        }
    };
}

impl Probe {
    pub(super) fn cell(&mut self, name: &str, supported: Option<bool>, observed: impl Into<String>) {
        self.cells.push(Cell { name: name.into(), supported, observed: observed.into() });
    }

    fn failed(&mut self, row: &[&str], e: &ClientError) {
        for name in row {
            if !self.cells.iter().any(|c| c.name == *name) {
                self.cell(name, None, format!("error: {e}"));
            }
        }
    }

    async fn run(&mut self) -> Result<(), String> {
        let ping = self.client.ping().await.map_err(|e| format!("GET /v2/: {e}"))?;
        if ping.status == 401 || ping.status == 403 {
            let who = self
                .client
                .config()
                .username
                .as_deref()
                .map_or("no credentials were given".to_string(), |u| format!("credentials for user '{u}' were rejected"));
            return Err(format!("unauthorized: GET /v2/ answered {} after authentication: {who}", ping.status));
        }
        if ping.status != 200 {
            return Err(format!("GET /v2/ answered {}", answer(&ping)));
        }
        let repo = self.repo.clone();
        let subject = ManifestBuilder::image(&format!("{repo}-subject")).build();
        let pushed = self.push(&repo, &subject, subject.digest.as_str()).await.map_err(|e| format!("pushing the subject image: {e}"))?;
        if pushed.status != 201 {
            let hint = if matches!(pushed.status, 401 | 403) { " (the credentials may not push)" } else { "" };
            return Err(format!("pushing a plain OCI image to {repo} answered {}{hint}", status_line(&pushed)));
        }

        const ROW1: &[&str] =
            &[REFERRERS_API, REFERRERS_LISTED, REFERRERS_MISSING_SUBJECT, REFERRERS_MISSING_REPO, REFERRERS_BAD_DIGEST, OCI_SUBJECT];
        let absent = row!(self, ROW1, self.referrers_rows(&subject).await)
            .unwrap_or_else(|| Some("the referrers queries got no answer".into()));
        row!(self, &[FILTER_ARTIFACT_TYPE], self.filter_row(&subject, absent.as_deref()).await);
        row!(self, &[PAGINATION], self.pagination_row(&subject, absent.as_deref()).await);
        row!(self, &[DELETE_MANIFEST, DELETE_TAG, DELETE_BLOB], self.delete_rows().await);
        row!(self, &[MOUNT_WITH_FROM, MOUNT_WITHOUT_FROM], self.mount_rows(&subject).await);
        row!(self, &[ETAG, IF_MATCH, IF_NONE_MATCH], self.conditional_rows().await);
        row!(self, &[SHA512_MANIFEST], self.sha512_row().await);
        row!(self, &[MAX_MANIFEST_SIZE], self.size_row().await);
        Ok(())
    }

    // --- pushing, with everything recorded for cleanup ------------------------------------------

    /// Uploads the blobs of `built` that are not there yet; `Some(answer)` when one upload failed.
    /// A blob the registry already had is not referee's, so it is never deleted.
    pub(super) async fn push_blobs(&mut self, repo: &str, built: &Built) -> Result<Option<Response>, ClientError> {
        for blob in &built.blobs {
            if self.blobs.iter().any(|(r, d)| r == repo && *d == blob.digest) {
                continue;
            }
            if self.client.head_blob(repo, &blob.digest).await?.status == 200 {
                continue;
            }
            let r = self.client.push_blob(repo, blob).await?;
            if r.status != 201 {
                return Ok(Some(r));
            }
            self.blobs.push((repo.to_string(), blob.digest.clone()));
        }
        Ok(None)
    }

    /// Pushes `built` (blobs, then the manifest under `reference`); the answer that ended it.
    pub(super) async fn push(&mut self, repo: &str, built: &Built, reference: &str) -> Result<Response, ClientError> {
        if let Some(failed) = self.push_blobs(repo, built).await? {
            return Ok(failed);
        }
        let r = self.client.put_manifest(repo, reference, &built.media_type, &built.bytes).await?;
        if r.status == 201 {
            self.manifests.push((repo.to_string(), built.digest.to_string()));
        }
        Ok(r)
    }

    pub(super) async fn referrers(&self, repo: &str, digest: &str, artifact_type: Option<&str>) -> Result<Page, ClientError> {
        let url = self.client.referrers_url(repo, digest, artifact_type, None)?;
        self.client.referrers_page(repo, url, Scope::Pull(repo.into())).await
    }

    // --- cleanup --------------------------------------------------------------------------------

    /// Deletes manifests (newest first, so referrers go before their subject), then blobs. A
    /// refusal is residue; once the registry stops answering, everything left is residue.
    async fn cleanup(&mut self) {
        let mut todo: Vec<(String, String, &'static str)> = vec![];
        let mut seen = HashSet::new();
        for (repo, reference) in self.manifests.iter().rev() {
            if seen.insert((repo.clone(), reference.clone())) {
                todo.push((repo.clone(), reference.clone(), "manifest"));
            }
        }
        for (repo, digest) in &self.blobs {
            if seen.insert((repo.clone(), digest.to_string())) {
                todo.push((repo.clone(), digest.to_string(), "blob"));
            }
        }
        let mut gone: Option<String> = None;
        for (repo, reference, kind) in todo {
            if let Some(why) = &gone {
                self.residue.push(Residue { repository: repo, reference, kind: kind.into(), why: why.clone() });
                continue;
            }
            let r = if kind == "manifest" {
                self.client.delete_manifest(&repo, &reference).await
            } else {
                match Digest::parse(&reference) {
                    Ok(d) => self.client.delete_blob(&repo, &d).await,
                    Err(e) => Err(ClientError::BadUrl(e.to_string())),
                }
            };
            let why = match r {
                Ok(r) if matches!(r.status, 200 | 202 | 204 | 404) => continue,
                Ok(r) => format!("DELETE answered {}", status_line(&r)),
                Err(e) => {
                    if is_fatal(&e) {
                        gone = Some(format!("not deleted: {e}"));
                    }
                    e.to_string()
                }
            };
            self.residue.push(Residue { repository: repo, reference, kind: kind.into(), why });
        }
    }
}
