//! The capability probe (`referee probe`): what a registry really does, observed in throwaway
//! repositories. The main type is [`ProbeReport`]: one [`Cell`] per capability, each saying
//! whether it is supported and what was seen (status, Content-Type, a short body, header values).
//!
//! It is a matrix, not a boolean (registry-behaviours.md §3, item 1), because registries differ
//! on each row independently: ECR sent `OCI-Subject` without the API, Quay has the API without
//! the header and answers 400 for a missing subject, distribution answers a plain-text 404.
//!
//! [`probe`] works in `<prefix>/probe-<run id>` (and `…-mount` as a mount target), pushes what it
//! needs, and deletes everything it pushed at the end; what the registry refuses to delete is
//! reported as residue. Every request is bounded by the client (timeout, body cap) and every loop
//! here has a fixed bound (pushes for pagination, pages followed, manifest sizes tried).

use crate::client::{Client, ClientError, Page, Response, Scope};
use crate::exec::Residue;
use crate::oci::{Algorithm, Built, Digest, IndexBuilder, ManifestBuilder, media};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

/// Version of the JSON form of [`ProbeReport`]; bumped when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// The cell names, in the order the report lists them.
pub mod names {
    /// `GET /referrers` of a subject that has one referrer: not 404, or `OCI-Subject` was sent.
    pub const REFERRERS_API: &str = "referrers-api";
    /// That answer lists the referrer pushed a moment before.
    pub const REFERRERS_LISTED: &str = "referrers-listed";
    /// `GET /referrers` of a digest nothing refers to: 200 with an empty list.
    pub const REFERRERS_MISSING_SUBJECT: &str = "referrers-missing-subject";
    /// `GET /referrers` in a repository that does not exist (observed; the spec allows either).
    pub const REFERRERS_MISSING_REPO: &str = "referrers-missing-repo";
    /// `GET /referrers/sha256:xyz`: 400.
    pub const REFERRERS_BAD_DIGEST: &str = "referrers-bad-digest";
    /// `OCI-Subject` on the answer to a push with a subject.
    pub const OCI_SUBJECT: &str = "oci-subject";
    /// `?artifactType=` filters the list and says so with `OCI-Filters-Applied`.
    pub const FILTER_ARTIFACT_TYPE: &str = "filter-artifact-type";
    /// A list of more than 4.5 MB is paged with `Link`.
    pub const PAGINATION: &str = "pagination";
    pub const DELETE_MANIFEST: &str = "delete-manifest-by-digest";
    pub const DELETE_TAG: &str = "delete-tag";
    pub const DELETE_BLOB: &str = "delete-blob";
    /// `POST …/blobs/uploads/?mount=<d>&from=<repo>` answers 201.
    pub const MOUNT_WITH_FROM: &str = "mount-with-from";
    /// `POST …/blobs/uploads/?mount=<d>` (no `from`) answers 201.
    pub const MOUNT_WITHOUT_FROM: &str = "mount-without-from";
    /// HEAD (or GET) of a tag carries `ETag`.
    pub const ETAG: &str = "conditional-put-etag";
    /// A manifest PUT with a stale `If-Match` is refused with 412.
    pub const IF_MATCH: &str = "conditional-put-if-match";
    /// A manifest PUT with `If-None-Match: *` on an existing tag is refused with 412.
    pub const IF_NONE_MATCH: &str = "conditional-put-if-none-match";
    /// A manifest PUT by a `sha512:` digest reference is accepted.
    pub const SHA512_MANIFEST: &str = "sha512-manifest";
    /// The largest manifest accepted of 1, 4, 8 and 16 MiB; supported = at least 4 MiB.
    pub const MAX_MANIFEST_SIZE: &str = "max-manifest-size";

    pub const ALL: &[&str] = &[
        REFERRERS_API,
        REFERRERS_LISTED,
        REFERRERS_MISSING_SUBJECT,
        REFERRERS_MISSING_REPO,
        REFERRERS_BAD_DIGEST,
        OCI_SUBJECT,
        FILTER_ARTIFACT_TYPE,
        PAGINATION,
        DELETE_MANIFEST,
        DELETE_TAG,
        DELETE_BLOB,
        MOUNT_WITH_FROM,
        MOUNT_WITHOUT_FROM,
        ETAG,
        IF_MATCH,
        IF_NONE_MATCH,
        SHA512_MANIFEST,
        MAX_MANIFEST_SIZE,
    ];
}

use names::*;

const SIG_TYPE: &str = "application/vnd.dev.referee.probe.sig+json";
const SBOM_TYPE: &str = "application/vnd.dev.referee.probe.sbom+json";
const PAGE_TYPE: &str = "application/vnd.dev.referee.probe.page+json";
const PADDING: &str = "dev.referee.padding";
const SEED: &str = "dev.referee.probe";

/// Pagination: annotation bytes per referrer, and the listing size to exceed (above the 4 MiB
/// a client should expect one response to hold).
const PAGE_ANNOTATION_BYTES: usize = 900_000;
const PAGE_LIST_BYTES: usize = 4_500_000;
const MAX_PAGE_PUSHES: usize = 8;
const MAX_PAGES: usize = 32;
/// Manifest sizes tried, smallest first (distribution-spec: registries SHOULD support at least
/// 4 megabytes, and SHOULD answer 413 above their limit).
const MANIFEST_SIZES: [usize; 4] = [1 << 20, 4 << 20, 8 << 20, 16 << 20];
const EXCERPT_CHARS: usize = 80;

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub name: String,
    /// `None` when the row does not apply (the capability it depends on is absent), was not
    /// probed, or is an observation without a right answer.
    pub supported: Option<bool>,
    /// What the registry answered: status, Content-Type, a short body, header values.
    pub observed: String,
}

/// The capability matrix of one registry. Versioned ([`FORMAT_VERSION`]) for later readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeReport {
    pub format_version: u32,
    pub referee_version: String,
    pub target: String,
    pub run_id: String,
    /// The repositories the probe worked in.
    pub repositories: Vec<String>,
    pub duration_ms: u64,
    /// One per name in [`names::ALL`], in that order.
    pub cells: Vec<Cell>,
    /// What referee pushed and could not delete.
    pub residue: Vec<Residue>,
    /// Harness trouble: the registry unreachable, credentials refused, a request unanswered.
    pub errors: Vec<String>,
}

impl ProbeReport {
    pub fn capability(&self, name: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.name == name)
    }

    /// True when the probe itself had trouble (exit code 3).
    pub fn harness_error(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The matrix as a terminal table.
    pub fn render(&self) -> String {
        let mut s = format!("probe of {} (run {}, {} ms)\n", self.target, self.run_id, self.duration_ms);
        let w = self.cells.iter().map(|c| c.name.len()).max().unwrap_or(0).max("capability".len());
        s.push_str(&format!("{:<w$}  {:<9}  observed\n", "capability", "supported"));
        for c in &self.cells {
            let sup = match c.supported {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            s.push_str(&format!("{:<w$}  {sup:<9}  {}\n", c.name, c.observed));
        }
        if self.residue.is_empty() {
            s.push_str("residue: none\n");
        }
        for r in &self.residue {
            s.push_str(&format!("residue: {} {} {} ({})\n", r.repository, r.kind, r.reference, r.why));
        }
        for e in &self.errors {
            s.push_str(&format!("error: {e}\n"));
        }
        s
    }

    /// Writes the JSON form to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }
}

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

struct Probe {
    client: Client,
    repo: String,
    mount_repo: String,
    missing_repo: String,
    /// The referrer of the subject with `SIG_TYPE`, once pushed.
    sig: Option<Digest>,
    cells: Vec<Cell>,
    errors: Vec<String>,
    /// `(repository, digest reference)` of every manifest pushed, in push order.
    manifests: Vec<(String, String)>,
    /// `(repository, digest)` of every blob referee uploaded or mounted.
    blobs: Vec<(String, Digest)>,
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
    fn cell(&mut self, name: &str, supported: Option<bool>, observed: impl Into<String>) {
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
    async fn push_blobs(&mut self, repo: &str, built: &Built) -> Result<Option<Response>, ClientError> {
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
    async fn push(&mut self, repo: &str, built: &Built, reference: &str) -> Result<Response, ClientError> {
        if let Some(failed) = self.push_blobs(repo, built).await? {
            return Ok(failed);
        }
        let r = self.client.put_manifest(repo, reference, &built.media_type, &built.bytes).await?;
        if r.status == 201 {
            self.manifests.push((repo.to_string(), built.digest.to_string()));
        }
        Ok(r)
    }

    async fn referrers(&self, repo: &str, digest: &str, artifact_type: Option<&str>) -> Result<Page, ClientError> {
        let url = self.client.referrers_url(repo, digest, artifact_type, None)?;
        self.client.referrers_page(repo, url, Scope::Pull(repo.into())).await
    }

    // --- rows -----------------------------------------------------------------------------------

    /// Rows 1 and 2: the four referrers queries and `OCI-Subject`. Returns why the API is
    /// absent (`None` when it is there).
    async fn referrers_rows(&mut self, subject: &Built) -> Result<Option<String>, ClientError> {
        let repo = self.repo.clone();
        let sig = ManifestBuilder::artifact(&format!("{repo}-sig"), SIG_TYPE).subject(subject.descriptor()).build();
        let push = self.push(&repo, &sig, sig.digest.as_str()).await?;
        if push.status == 201 {
            self.sig = Some(sig.digest.clone());
        }
        let oci_subject = push.header("oci-subject").map(str::to_string);
        let existing = self.referrers(&repo, subject.digest.as_str(), None).await?.response;
        let nobody = Digest::sha256(format!("{repo}-nothing-refers-to-this").as_bytes());
        let missing_subject = self.referrers(&repo, nobody.as_str(), None).await?.response;
        let missing_repo = self.referrers(&self.missing_repo.clone(), subject.digest.as_str(), None).await?.response;
        let bad = self.referrers(&repo, "sha256:xyz", None).await?.response;

        let api = existing.status != 404 || oci_subject.is_some();
        let mut observed = format!("subject with one referrer: {}", answer(&existing));
        if existing.status == 404 && oci_subject.is_some() {
            observed.push_str(" (but the push was answered with OCI-Subject)");
        }
        self.cell(REFERRERS_API, Some(api), observed);

        let listed = match (api, listed_digests(&existing)) {
            (false, _) => (None, "n/a: no referrers API".to_string()),
            (true, _) if push.status != 201 => (None, format!("the referrer push answered {}", status_line(&push))),
            (true, Some(l)) => {
                let found = l.iter().any(|d| *d == sig.digest.as_str());
                let what = if found { "listed" } else { "NOT listed" };
                (Some(found), format!("the referrer pushed a moment before is {what} ({})", entries(l.len())))
            }
            (true, None) => (Some(false), format!("the answer is no image index: {}", answer(&existing))),
        };
        self.cell(REFERRERS_LISTED, listed.0, listed.1);
        let empty = is_empty_index(&missing_subject);
        self.cell(REFERRERS_MISSING_SUBJECT, api.then_some(empty), answer(&missing_subject));
        self.cell(REFERRERS_MISSING_REPO, None, answer(&missing_repo));
        self.cell(REFERRERS_BAD_DIGEST, api.then_some(bad.status == 400), answer(&bad));

        let subject_cell = match (&oci_subject, push.status) {
            (_, s) if s != 201 => (Some(false), format!("the push with a subject answered {}", status_line(&push))),
            (Some(v), _) if v == subject.digest.as_str() => (Some(true), format!("201, OCI-Subject: {} (the subject)", short(v))),
            (Some(v), _) => (Some(true), format!("201, OCI-Subject: {v} (not the subject {})", short(subject.digest.as_str()))),
            (None, _) => (Some(false), "201 without OCI-Subject".to_string()),
        };
        self.cell(OCI_SUBJECT, subject_cell.0, subject_cell.1);

        Ok((!api).then(|| format!("no referrers API ({} for a subject with a referrer)", brief(&existing))))
    }

    /// Row 3: `?artifactType=` with two referrers of different types.
    async fn filter_row(&mut self, subject: &Built, absent: Option<&str>) -> Result<(), ClientError> {
        if let Some(why) = absent {
            self.cell(FILTER_ARTIFACT_TYPE, None, format!("skipped: {why}"));
            return Ok(());
        }
        let Some(sig) = self.sig.clone() else {
            self.cell(FILTER_ARTIFACT_TYPE, None, "skipped: the first referrer could not be pushed");
            return Ok(());
        };
        let repo = self.repo.clone();
        let sbom = ManifestBuilder::artifact(&format!("{repo}-sbom"), SBOM_TYPE).subject(subject.descriptor()).build();
        let p = self.push(&repo, &sbom, sbom.digest.as_str()).await?;
        if p.status != 201 {
            self.cell(FILTER_ARTIFACT_TYPE, None, format!("skipped: pushing a second referrer answered {}", status_line(&p)));
            return Ok(());
        }
        let r = self.referrers(&repo, subject.digest.as_str(), Some(SIG_TYPE)).await?.response;
        let header = r.header("oci-filters-applied").map(str::to_string);
        let Some(listed) = listed_digests(&r) else {
            self.cell(FILTER_ARTIFACT_TYPE, Some(false), format!("?artifactType= answered {}", answer(&r)));
            return Ok(());
        };
        let has_sig = listed.iter().any(|d| *d == sig.as_str());
        let has_sbom = listed.iter().any(|d| *d == sbom.digest.as_str());
        let filtered = has_sig && !has_sbom;
        let what = match (has_sig, has_sbom) {
            (true, false) => "filtered",
            (true, true) => "unfiltered",
            (false, true) => "wrong referrer",
            (false, false) => "neither referrer",
        };
        let hdr = header.as_deref().map_or("no OCI-Filters-Applied".to_string(), |h| format!("OCI-Filters-Applied: {h}"));
        let announced = header.as_deref().is_some_and(|h| h.split(',').any(|v| v.trim() == "artifactType"));
        self.cell(
            FILTER_ARTIFACT_TYPE,
            Some(filtered && announced),
            format!("{}, {hdr}; lists {} of the 2 referrers ({what})", r.status, listed.len()),
        );
        Ok(())
    }

    /// Row 4: referrers with ~900 KB annotations until the list exceeds 4.5 MB; `Link`?
    async fn pagination_row(&mut self, subject: &Built, absent: Option<&str>) -> Result<(), ClientError> {
        if let Some(why) = absent {
            self.cell(PAGINATION, None, format!("skipped: {why}"));
            return Ok(());
        }
        let repo = self.repo.clone();
        let padding = "p".repeat(PAGE_ANNOTATION_BYTES);
        let mut pushed = 0usize;
        // The annotations alone make the list exceed PAGE_LIST_BYTES (6 pushes).
        while pushed * PAGE_ANNOTATION_BYTES <= PAGE_LIST_BYTES && pushed < MAX_PAGE_PUSHES {
            let big = ManifestBuilder::artifact(&format!("{repo}-page-{pushed}"), PAGE_TYPE)
                .subject(subject.descriptor())
                .annotation(PADDING, &padding)
                .build();
            let r = self.push(&repo, &big, big.digest.as_str()).await?;
            if r.status != 201 {
                let n = pushed + 1;
                self.cell(PAGINATION, None, format!("skipped: pushing ~900 KB referrer #{n} answered {}", status_line(&r)));
                return Ok(());
            }
            pushed += 1;
        }
        let mut url = self.client.referrers_url(&repo, subject.digest.as_str(), None, None)?;
        let (mut pages, mut listed, mut bytes) = (0usize, 0usize, 0usize);
        let mut first: Option<(u16, Option<String>)> = None;
        let mut trouble = None;
        loop {
            let page = self.client.referrers_page(&repo, url.clone(), Scope::Pull(repo.clone())).await?;
            pages += 1;
            bytes += page.response.body.len();
            if first.is_none() {
                first = Some((page.response.status, page.response.header("link").map(str::to_string)));
            }
            if page.response.status != 200 {
                trouble = Some(format!("page {pages} answered {}", answer(&page.response)));
                break;
            }
            listed += listed_digests(&page.response).map_or(0, |l| l.len());
            if let Some(e) = page.link_error {
                trouble = Some(e.to_string());
                break;
            }
            match page.next {
                Some(next) if pages < MAX_PAGES => url = next,
                Some(_) => {
                    trouble = Some(format!("stopped after {MAX_PAGES} pages"));
                    break;
                }
                None => break,
            }
        }
        let (status, link) = first.unwrap_or((0, None));
        let listed = entries(listed);
        let mut observed = match &link {
            Some(l) => {
                let l = l.replace(subject.digest.as_str(), &short(subject.digest.as_str()));
                format!("Link: {l}; {pages} pages read, {listed}, {} in all ({pushed} referrers of ~900 KB)", mb(bytes))
            }
            None => format!("no Link: one {status} response, {listed}, {} ({pushed} referrers of ~900 KB)", mb(bytes)),
        };
        if let Some(t) = trouble {
            observed.push_str(&format!("; {t}"));
        }
        self.cell(PAGINATION, Some(link.is_some()), observed);
        Ok(())
    }

    /// Row 5: manifest delete by tag and by digest, and blob delete, of an image pushed by tag.
    async fn delete_rows(&mut self) -> Result<(), ClientError> {
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
    async fn mount_rows(&mut self, subject: &Built) -> Result<(), ClientError> {
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
    async fn conditional_rows(&mut self) -> Result<(), ClientError> {
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
    async fn sha512_row(&mut self) -> Result<(), ClientError> {
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
    async fn size_row(&mut self) -> Result<(), ClientError> {
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

// --- describing answers -------------------------------------------------------------------------

fn is_2xx(r: &Response) -> bool {
    (200..300).contains(&r.status)
}

/// `status (Content-Type) body`, the body summarised: an image index by its entry count, an
/// OCI error by its first code and message, anything else as a one-line excerpt.
fn answer(r: &Response) -> String {
    let ct = r.header("content-type").unwrap_or("no Content-Type");
    let body = match (listed_digests_of(r), oci_error(r)) {
        (Some(l), _) => format!("image index, {}", entries(l.len())),
        (None, Some(e)) => e,
        (None, None) => body_excerpt(&r.body),
    };
    format!("{} ({ct}) {body}", r.status)
}

/// `CODE: message (detail)` of the first error of an OCI error body.
fn oci_error(r: &Response) -> Option<String> {
    let v = r.json().ok()?;
    let e = v.get("errors")?.get(0)?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("?");
    let mut msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string();
    if let Some(d) = e.get("detail").and_then(|d| d.as_str()).filter(|d| !d.is_empty()) {
        msg = format!("{msg} ({d})");
    }
    Some(format!("{code}: {}", cut(&msg)))
}

fn entries(n: usize) -> String {
    if n == 1 { "1 entry".into() } else { format!("{n} entries") }
}

/// `status` and the content type only.
fn brief(r: &Response) -> String {
    format!("{} {}", r.status, r.header("content-type").unwrap_or("without Content-Type"))
}

/// `status` for a success; `status CODE: message` for an OCI error; else [`answer`].
fn status_line(r: &Response) -> String {
    if is_2xx(r) {
        return r.status.to_string();
    }
    match oci_error(r) {
        Some(e) => format!("{} {e}", r.status),
        None => answer(r),
    }
}

/// The body on one line, cut to [`EXCERPT_CHARS`] characters.
fn body_excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_CHARS * 4)]);
    let line = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = format!("`{}`", cut(&line));
    if body.len() > EXCERPT_CHARS * 4 {
        s.push_str(&format!(" ({} bytes)", body.len()));
    }
    s
}

fn cut(s: &str) -> String {
    if s.chars().count() > EXCERPT_CHARS {
        let mut c: String = s.chars().take(EXCERPT_CHARS).collect();
        c.push('…');
        c
    } else {
        s.to_string()
    }
}

/// The digests of a 200 referrers answer's `manifests`, if it is an image index.
fn listed_digests(r: &Response) -> Option<Vec<String>> {
    if r.status != 200 {
        return None;
    }
    listed_digests_of(r)
}

/// The digests of the body's `manifests`, whatever the status.
fn listed_digests_of(r: &Response) -> Option<Vec<String>> {
    let v = r.json().ok()?;
    let list = v.get("manifests")?.as_array()?;
    Some(list.iter().filter_map(|m| m.get("digest")?.as_str().map(str::to_string)).collect())
}

fn is_empty_index(r: &Response) -> bool {
    listed_digests(r).is_some_and(|l| l.is_empty())
}

/// `sha256:0123456789ab…`.
fn short(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, enc)) if enc.len() > 12 => format!("{alg}:{}…", &enc[..12]),
        _ => d.to_string(),
    }
}

fn mib(n: usize) -> String {
    format!("{} MiB", n >> 20)
}

fn mb(n: usize) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
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

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(body_excerpt(b"404 page not found\n"), "`404 page not found`");
        assert_eq!(body_excerpt(b""), "(empty body)");
        let long = body_excerpt(&vec![b'a'; 1000]);
        assert!(long.ends_with("(1000 bytes)") && long.contains('…'), "{long}");
        assert_eq!(short("sha256:0123456789abcdef"), "sha256:0123456789ab…");
    }
}
