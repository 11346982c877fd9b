//! Rows 1–4: the referrers API and its queries, `OCI-Subject`, `?artifactType=` filtering and
//! pagination.

use super::PADDING;
use super::describe::{answer, brief, entries, is_empty_index, listed_digests, mb, short, status_line};
use super::driver::Probe;
use super::names::*;
use crate::client::{ClientError, Scope};
use crate::oci::{Built, Digest, ManifestBuilder};

const SIG_TYPE: &str = "application/vnd.dev.referee.probe.sig+json";
const SBOM_TYPE: &str = "application/vnd.dev.referee.probe.sbom+json";
const PAGE_TYPE: &str = "application/vnd.dev.referee.probe.page+json";

/// Pagination: annotation bytes per referrer, and the listing size to exceed (above the 4 MiB
/// a client should expect one response to hold).
const PAGE_ANNOTATION_BYTES: usize = 900_000;
const PAGE_LIST_BYTES: usize = 4_500_000;
const MAX_PAGE_PUSHES: usize = 8;
const MAX_PAGES: usize = 32;

impl Probe {
    /// Rows 1 and 2: the four referrers queries and `OCI-Subject`. Returns why the API is
    /// absent (`None` when it is there).
    pub(super) async fn referrers_rows(&mut self, subject: &Built) -> Result<Option<String>, ClientError> {
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
    pub(super) async fn filter_row(&mut self, subject: &Built, absent: Option<&str>) -> Result<(), ClientError> {
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
    pub(super) async fn pagination_row(&mut self, subject: &Built, absent: Option<&str>) -> Result<(), ClientError> {
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
}
