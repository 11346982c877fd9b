//! The referrers index ([`ReferrersIndex`]): listing, `artifactType` filtering and paging.
//!
//! It decides which referrers a subject lists and cuts them into pages, with every fault that
//! bends the listing itself (groups B and D, the list faults of C and E). The HTTP answer
//! around a listing is built by `endpoints::referrers`.
//!
//! The listing is computed on each request from the store's per-subject map
//! (`Repo::referrers`, kept in step with the manifests on every write), oldest push first; a
//! page cursor is the sequence number of the last entry served, so inserts between pages
//! neither shift nor duplicate entries.

use super::faults::Faults;
use super::store::{ManifestRecord, Repo, State};
use super::syntax::{QueryParam, param, pct_encode};
use crate::oci::Digest;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The start of every listing's body, up to the descriptors array.
const INDEX_PREFIX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":"#;

/// Lists, filters and pages referrers under the registry's fault switches and page limits.
#[derive(Debug)]
pub struct ReferrersIndex {
    faults: Faults,
    /// Maximum entries per page (at least one).
    page_size: usize,
    /// Maximum serialized size of a page's body (a page always holds at least one entry).
    page_bytes: usize,
}

/// What a client asked the referrers API for, parsed from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferrersQuery {
    pub filter: Option<ArtifactTypeFilter>,
    /// Where the page starts: after this sequence number (`next=`), or under `unstable_cursor`
    /// at this offset (`offset=`). `None` for the first page.
    pub cursor: Option<u64>,
}

/// `?artifactType=`: only referrers of this artifact type are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactTypeFilter {
    /// The value entries are compared with.
    pub wanted: String,
    /// The value as it goes back into the next page's `Link`.
    pub link_value: String,
}

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// An empty or repeated `artifactType` under the `empty_filter_500` fault.
    AmbiguousFilter,
    /// The cursor parameter (named) is not a number.
    BadCursor(&'static str),
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Entries of the whole list (every page) after filtering and the list faults.
    pub total: usize,
    /// This page's descriptors, serialized, in list order.
    pub descriptors: Vec<String>,
    /// The cursor parameter of the following page (`next=<seq>`, or `offset=<n>` under
    /// `unstable_cursor`); `None` on the last page.
    pub next_page: Option<String>,
}

impl Listing {
    /// The image index served as the page's body; `null_if_empty` is the `referrers_null_list`
    /// fault.
    pub fn body(&self, null_if_empty: bool) -> String {
        if self.descriptors.is_empty() && null_if_empty {
            format!("{INDEX_PREFIX}null}}")
        } else {
            format!("{INDEX_PREFIX}[{}]}}", self.descriptors.join(","))
        }
    }
}

impl ReferrersIndex {
    pub fn new(faults: &Faults, page_size: usize, page_bytes: usize) -> ReferrersIndex {
        ReferrersIndex {
            faults: faults.clone(),
            page_size,
            page_bytes,
        }
    }

    /// Parses the `artifactType` filter and the page cursor from a referrers query string.
    pub fn query(&self, params: &[QueryParam]) -> Result<ReferrersQuery, QueryError> {
        let faults = &self.faults;
        let filter_params: Vec<&QueryParam> = params.iter().filter(|p| p.key == "artifactType").collect();
        // An empty or repeated artifactType is ambiguous; we then answer unfiltered (and without
        // OCI-Filters-Applied) rather than guessing which value was meant.
        let filter = match filter_params.as_slice() {
            [p] if !p.value.is_empty() => Some(if faults.no_query_percent_decode {
                ArtifactTypeFilter {
                    wanted: p.raw.clone(),
                    link_value: p.raw.clone(),
                }
            } else {
                ArtifactTypeFilter {
                    wanted: p.value.clone(),
                    link_value: pct_encode(&p.value),
                }
            }),
            [] => None,
            _ if faults.empty_filter_500 => return Err(QueryError::AmbiguousFilter),
            _ => None,
        };
        let cursor_key = if faults.unstable_cursor { "offset" } else { "next" };
        let cursor = match param(params, cursor_key) {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| QueryError::BadCursor(cursor_key))?),
        };
        Ok(ReferrersQuery { filter, cursor })
    }

    /// The page `query` asks for of the referrers of `subject` in the repository `repo`.
    pub fn list(&self, st: &State, repo: &str, subject: &Digest, query: &ReferrersQuery) -> Listing {
        let faults = &self.faults;
        let entries = self.entries(st, repo, subject, query.filter.as_ref());
        // Where this page starts: after the cursor's sequence number (stable under inserts), or,
        // under `unstable_cursor`, at a plain offset.
        let start = match query.cursor {
            None => 0,
            Some(c) if faults.unstable_cursor => usize::try_from(c).unwrap_or(usize::MAX).min(entries.len()),
            Some(c) => entries.partition_point(|l| l.seq <= c),
        };
        let mut page: Vec<String> = Vec::new();
        let mut bytes = INDEX_PREFIX.len() + "[]}".len();
        let mut end = start;
        while end < entries.len() && page.len() < self.page_size.max(1) {
            let d = descriptor_json(&entries[end], faults);
            let added = d.len() + usize::from(!page.is_empty());
            if !page.is_empty() && bytes + added > self.page_bytes {
                break;
            }
            bytes += added;
            page.push(d);
            end += 1;
        }
        if faults.page_duplicates && query.cursor.is_some() && start > 0 {
            page.insert(0, descriptor_json(&entries[start - 1], faults));
        }
        // Under `skip_second_page`, the first page's cursor is that of the second page's last
        // entry: the second page is never served (nor is anything, if it was the last).
        let served_to = if faults.skip_second_page && query.cursor.is_none() { (2 * end).min(entries.len()) } else { end };
        let more = served_to < entries.len();
        let end = if faults.skip_second_page && query.cursor.is_none() { served_to } else { end };
        let last_seq = end.checked_sub(1).filter(|&i| i >= start).map(|i| entries[i].seq);
        let next_page = more.then(|| {
            if faults.unstable_cursor {
                format!("offset={end}")
            } else {
                format!("next={}", last_seq.unwrap_or(0))
            }
        });
        Listing {
            total: entries.len(),
            descriptors: page,
            next_page,
        }
    }

    /// The whole list as the client would see it: after filtering, before paging.
    fn entries<'a>(&self, st: &'a State, repo: &str, subject: &Digest, filter: Option<&ArtifactTypeFilter>) -> Vec<Listed<'a>> {
        let faults = &self.faults;
        let mut entries = collect_referrers(st, repo, subject, faults);
        if let Some(ArtifactTypeFilter { wanted, .. }) = filter {
            entries.retain(|l| {
                let facts = &l.record.facts;
                let have = if faults.filter_ignores_config_type {
                    facts.artifact_type.as_deref()
                } else {
                    facts.effective_artifact_type()
                };
                (have == Some(wanted.as_str())) != faults.filter_inverted
            });
        }
        // Applied to the list as the client would see it (after filtering, before paging).
        if faults.drop_last_referrer {
            entries.pop();
        }
        if faults.duplicate_entries {
            entries = entries.into_iter().flat_map(|l| [l, l]).collect();
        }
        if faults.unstable_cursor {
            entries.reverse();
        }
        entries
    }
}

/// A referrer as listed: where it lives and under which sequence number.
#[derive(Clone, Copy)]
struct Listed<'a> {
    seq: u64,
    repo: &'a str,
    digest: &'a Digest,
    record: &'a ManifestRecord,
}

/// Whether a stored referrer shows up in lists at all (the B-group and lag faults).
fn listable(record: &ManifestRecord, repo: &Repo, subject: &Digest, faults: &Faults, now: Instant) -> bool {
    let facts = &record.facts;
    if faults.referrers_lag_ms > 0
        && now.duration_since(record.pushed_at) < Duration::from_millis(faults.referrers_lag_ms)
    {
        return false;
    }
    if faults.forget_early_referrers && !facts.subject_existed {
        return false;
    }
    if faults.ignore_index_subject && facts.is_index {
        return false;
    }
    if faults.drop_sha512_referrers && subject.algorithm() == "sha512" {
        return false;
    }
    if faults.drop_mismatched_subject
        && let Some(s) = &facts.subject
        && let Some(stored) = repo.manifests.get(&s.digest)
        && stored.bytes.len() as u64 != s.size
    {
        return false;
    }
    true
}

/// Direct referrers of `subject` in `name` (or everywhere, under `referrers_ignore_repo`).
fn direct_referrers<'a>(
    st: &'a State,
    name: &str,
    subject: &Digest,
    faults: &Faults,
    now: Instant,
) -> Vec<Listed<'a>> {
    let repos: Vec<(&'a String, &'a Repo)> = if faults.referrers_ignore_repo {
        st.repos.iter().collect()
    } else {
        st.repos.get_key_value(name).into_iter().collect()
    };
    let mut out = Vec::new();
    for (repo_name, repo) in repos {
        let Some(list) = repo.referrers.get(subject) else {
            continue;
        };
        for (&seq, digest) in list {
            if let Some(record) = repo.manifests.get(digest)
                && listable(record, repo, subject, faults, now)
            {
                out.push(Listed {
                    seq,
                    repo: repo_name,
                    digest,
                    record,
                });
            }
        }
    }
    out.sort_by_key(|l| l.seq);
    out
}

/// Every listed referrer of `subject`, oldest push first.
fn collect_referrers<'a>(st: &'a State, name: &str, subject: &Digest, faults: &Faults) -> Vec<Listed<'a>> {
    let now = Instant::now();
    let mut out = direct_referrers(st, name, subject, faults, now);
    let tags: [(bool, String); 2] = [
        (faults.fallback_index_listed, crate::oci::referrers_tag(subject.as_str())),
        (faults.cosign_tag_listed, format!("{}.sig", crate::oci::referrers_tag(subject.as_str()))),
    ];
    for (on, tag) in tags {
        if on
            && let Some((repo_name, repo)) = st.repos.get_key_value(name)
            && let Some((digest, record)) = repo.resolve(&tag)
        {
            out.push(Listed { seq: record.seq, repo: repo_name, digest, record });
        }
    }
    if faults.include_transitive_referrers {
        // Bounded so a (hash-impossible, but fault-tolerant) cycle cannot spin forever.
        const MAX_DEPTH: usize = 8;
        const MAX_ENTRIES: usize = 10_000;
        let mut seen: HashSet<(&str, u64)> = out.iter().map(|l| (l.repo, l.seq)).collect();
        let mut frontier: Vec<&Digest> = out.iter().map(|l| l.digest).collect();
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for d in frontier {
                for l in direct_referrers(st, name, d, faults, now) {
                    if out.len() < MAX_ENTRIES && seen.insert((l.repo, l.seq)) {
                        next.push(l.digest);
                        out.push(l);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out.sort_by_key(|l| l.seq);
    }
    out
}

/// The descriptor's artifactType per the spec, as bent by the C-group faults.
fn descriptor_artifact_type(record: &ManifestRecord, faults: &Faults) -> Option<String> {
    let facts = &record.facts;
    if faults.artifact_type_from_config && facts.config_media_type.is_some() {
        return facts.config_media_type.clone();
    }
    if let Some(own) = &facts.artifact_type {
        return Some(own.clone());
    }
    if facts.is_index {
        return faults.index_artifact_type_empty.then(String::new);
    }
    if faults.omit_config_artifact_type {
        return None;
    }
    facts.config_media_type.clone()
}

/// Serializes one descriptor: mediaType, digest, size, artifactType, annotations.
fn descriptor_json(l: &Listed<'_>, faults: &Faults) -> String {
    let facts = &l.record.facts;
    let mut m = Map::new();
    if !faults.descriptor_missing_media_type {
        m.insert("mediaType".into(), Value::String(facts.media_type.clone()));
    }
    m.insert("digest".into(), Value::String(l.digest.to_string()));
    m.insert("size".into(), Value::from(facts.size));
    if let Some(at) = descriptor_artifact_type(l.record, faults) {
        m.insert("artifactType".into(), Value::String(at));
    }
    if !faults.drop_annotations
        && let Some(a) = &facts.annotations
    {
        m.insert("annotations".into(), Value::Object(a.clone()));
    }
    if faults.referrers_ref_name_annotation {
        let short: String = l.digest.encoded().chars().take(12).collect();
        let a = m.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = a.as_object_mut() {
            a.insert("org.opencontainers.image.ref.name".into(), Value::String(short));
        }
    }
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    //! The index over a store filled directly (no HTTP): one fixture with referrers of every
    //! kind, listed under each fault that bends a listing.

    use super::*;
    use crate::oci::referrers_tag;
    use crate::registry::store::ManifestFacts;
    use crate::registry::syntax::parse_query;
    use serde_json::json;
    use std::collections::HashMap;

    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";

    /// A store holding, in repository `r`: `E` (pushed before its subject), the subject `S`,
    /// `A` (own artifactType, annotations), `B` (config type only), `I` (an index), `M` (a
    /// subject size that is wrong), `T` (a referrer of `A`), `FB` (an index tagged with S's
    /// referrers tag), `C` (tagged `<referrers tag>.sig`), `Q` (sha512) and `Z` (a referrer of
    /// `Q`); in repository `other`: `O`, another referrer of `S`.
    struct Fixture {
        st: State,
        s: Digest,
        q: Digest,
        names: HashMap<Digest, &'static str>,
        digests: HashMap<&'static str, Digest>,
    }

    fn image(config_type: &str, extra: Value) -> Value {
        let config = Digest::sha256(b"{}").to_string();
        let mut m = json!({ "schemaVersion": 2, "mediaType": MANIFEST,
            "config": { "mediaType": config_type, "digest": config, "size": 2 }, "layers": [] });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    fn index(extra: Value) -> Value {
        let mut m = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [] });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    impl Fixture {
        /// Stores `body` under its sha256 (or sha512) digest and returns its descriptor as a
        /// subject.
        fn put(&mut self, name: &'static str, repo: &str, body: Value, tag: Option<String>, sha512: bool) -> Value {
            let bytes = serde_json::to_vec(&body).unwrap();
            let digest = if sha512 { Digest::sha512(&bytes) } else { Digest::sha256(&bytes) };
            let facts = ManifestFacts::parse(&bytes, "").unwrap();
            let subject = json!({ "mediaType": facts.media_type, "digest": digest.to_string(), "size": bytes.len() });
            let content_type = facts.media_type.clone();
            self.st.put_manifest(repo, digest.clone(), bytes.into(), content_type, facts, tag, false);
            self.names.insert(digest.clone(), name);
            self.digests.insert(name, digest);
            subject
        }

        fn new() -> Fixture {
            let s_body = image("application/vnd.x.img", json!({}));
            let s = Digest::sha256(&serde_json::to_vec(&s_body).unwrap());
            let mut f = Fixture {
                st: State::default(),
                s: s.clone(),
                q: s.clone(),
                names: HashMap::new(),
                digests: HashMap::new(),
            };
            let subject = json!({ "mediaType": MANIFEST, "digest": s.to_string(), "size": serde_json::to_vec(&s_body).unwrap().len() });
            f.put("E", "r", image("application/vnd.x.early", json!({ "subject": subject })), None, false);
            f.put("S", "r", s_body, None, false);
            let a = f.put(
                "A",
                "r",
                image(
                    "application/vnd.oci.empty.v1+json",
                    json!({ "artifactType": "application/vnd.x.a", "subject": subject, "annotations": { "z": "1", "a": "2" } }),
                ),
                None,
                false,
            );
            f.put("B", "r", image("application/vnd.x.b", json!({ "subject": subject })), None, false);
            f.put("I", "r", index(json!({ "subject": subject })), None, false);
            let mut wrong_size = subject.clone();
            wrong_size["size"] = json!(subject["size"].as_u64().unwrap() + 1);
            f.put("M", "r", image("application/vnd.x.m", json!({ "subject": wrong_size })), None, false);
            f.put("T", "r", image("application/vnd.x.t", json!({ "subject": a })), None, false);
            f.put("O", "other", image("application/vnd.x.o", json!({ "subject": subject })), None, false);
            let tag = referrers_tag(s.as_str());
            f.put("FB", "r", index(json!({ "manifests": [a] })), Some(tag.clone()), false);
            f.put("C", "r", image("application/vnd.x.cosign", json!({})), Some(format!("{tag}.sig")), false);
            let q = f.put("Q", "r", image("application/vnd.x.q", json!({})), None, true);
            f.q = Digest::parse(q["digest"].as_str().unwrap()).unwrap();
            f.put("Z", "r", image("application/vnd.x.z", json!({ "subject": q })), None, false);
            f
        }

        fn names(&self, listing: &Listing) -> Vec<&'static str> {
            descriptors(listing)
                .iter()
                .map(|d| self.names[&Digest::parse(d["digest"].as_str().unwrap()).unwrap()])
                .collect()
        }

        /// The first page (of up to 100 entries) for `subject` in `r` with `query_string`.
        fn list(&self, idx: &ReferrersIndex, subject: &Digest, query_string: &str) -> Vec<&'static str> {
            let query = idx.query(&parse_query(query_string)).unwrap();
            self.names(&idx.list(&self.st, "r", subject, &query))
        }

        /// Every page for `subject` in `r`, following `next_page`.
        fn pages(&self, idx: &ReferrersIndex, subject: &Digest) -> Vec<Vec<&'static str>> {
            let mut out = Vec::new();
            let mut query_string = String::new();
            loop {
                let query = idx.query(&parse_query(&query_string)).unwrap();
                let listing = idx.list(&self.st, "r", subject, &query);
                out.push(self.names(&listing));
                match listing.next_page {
                    Some(next) => query_string = next,
                    None => return out,
                }
                assert!(out.len() < 20, "runaway paging");
            }
        }
    }

    fn descriptors(listing: &Listing) -> Vec<Value> {
        listing.descriptors.iter().map(|d| serde_json::from_str(d).unwrap()).collect()
    }

    fn index_with(faults: &[&str], page_size: usize) -> ReferrersIndex {
        ReferrersIndex::new(&Faults::from_names(faults).unwrap(), page_size, 1 << 20)
    }

    #[test]
    fn lists_direct_referrers_of_the_repository_oldest_push_first() {
        let mut f = Fixture::new();
        let idx = index_with(&[], 100);
        assert_eq!(f.list(&idx, &f.s, ""), ["E", "A", "B", "I", "M"]);
        assert_eq!(f.list(&idx, &f.q, ""), ["Z"]);
        assert_eq!(f.list(&idx, &f.digests["A"], ""), ["T"]);
        let none = idx.list(&f.st, "r", &Digest::sha256(b"nothing"), &ReferrersQuery::default());
        assert_eq!((none.total, none.descriptors.len(), none.next_page), (0, 0, None));
        let q = ReferrersQuery::default();
        assert_eq!(f.names(&idx.list(&f.st, "other", &f.s, &q)), ["O"]);
        assert!(idx.list(&f.st, "ghost", &f.s, &q).descriptors.is_empty());
        // A deleted referrer leaves the list.
        let b = f.digests["B"].clone();
        f.st.repo_mut("r").unwrap().delete_manifest(&b);
        assert_eq!(f.list(&idx, &f.s, ""), ["E", "A", "I", "M"]);
    }

    #[test]
    fn descriptors_and_body_follow_the_spec() {
        let f = Fixture::new();
        let idx = index_with(&[], 100);
        let listing = idx.list(&f.st, "r", &f.s, &ReferrersQuery::default());
        let d = descriptors(&listing);
        let a = &d[1];
        assert_eq!(a["mediaType"], MANIFEST);
        assert_eq!(a["digest"], f.digests["A"].to_string());
        assert_eq!(a["artifactType"], "application/vnd.x.a");
        assert_eq!(a["annotations"].as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(d[2]["artifactType"], "application/vnd.x.b", "config media type as fallback");
        assert!(d[3].get("artifactType").is_none() && d[3]["mediaType"] == INDEX);
        assert!(listing.descriptors[0].starts_with(r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"#));
        let body: Value = serde_json::from_str(&listing.body(false)).unwrap();
        assert_eq!((body["schemaVersion"].clone(), body["mediaType"].clone()), (json!(2), json!(INDEX)));
        assert_eq!(body["manifests"].as_array().unwrap().len(), 5);
        let empty = idx.list(&f.st, "r", &Digest::sha256(b"nothing"), &ReferrersQuery::default());
        assert!(empty.body(false).ends_with(r#""manifests":[]}"#));
        assert!(empty.body(true).ends_with(r#""manifests":null}"#));
        assert!(listing.body(true).ends_with("]}"), "null only for an empty page");
    }

    #[test]
    fn filters_on_the_effective_artifact_type() {
        let f = Fixture::new();
        let idx = index_with(&[], 100);
        let q = idx.query(&parse_query("artifactType=application%2Fvnd.x.a")).unwrap();
        let filter = q.filter.clone().unwrap();
        assert_eq!((filter.wanted.as_str(), filter.link_value.as_str()), ("application/vnd.x.a", "application%2Fvnd.x.a"));
        assert_eq!(f.names(&idx.list(&f.st, "r", &f.s, &q)), ["A"]);
        assert_eq!(f.list(&idx, &f.s, "artifactType=application/vnd.x.b"), ["B"]);
        assert!(f.list(&idx, &f.s, "artifactType=application/vnd.x.none").is_empty());
        // Empty or repeated: ambiguous, answered unfiltered.
        for ambiguous in ["artifactType=", "artifactType=a&artifactType=b"] {
            assert_eq!(idx.query(&parse_query(ambiguous)).unwrap().filter, None, "{ambiguous}");
            assert_eq!(f.list(&idx, &f.s, ambiguous).len(), 5);
        }
    }

    #[test]
    fn query_parameters() {
        let idx = index_with(&[], 100);
        assert_eq!(idx.query(&parse_query("next=7")).unwrap().cursor, Some(7));
        assert_eq!(idx.query(&parse_query("next=x")), Err(QueryError::BadCursor("next")));
        assert_eq!(idx.query(&parse_query("offset=x")).unwrap().cursor, None);
        let unstable = index_with(&["unstable_cursor"], 100);
        assert_eq!(unstable.query(&parse_query("offset=x")), Err(QueryError::BadCursor("offset")));
        assert_eq!(unstable.query(&parse_query("next=3&offset=2")).unwrap().cursor, Some(2));
        let strict = index_with(&["empty_filter_500"], 100);
        assert_eq!(strict.query(&parse_query("artifactType=")), Err(QueryError::AmbiguousFilter));
        assert_eq!(strict.query(&parse_query("artifactType=a&artifactType=b")), Err(QueryError::AmbiguousFilter));
        let raw = index_with(&["no_query_percent_decode"], 100);
        let filter = raw.query(&parse_query("artifactType=a%2Bb")).unwrap().filter.unwrap();
        assert_eq!((filter.wanted.as_str(), filter.link_value.as_str()), ("a%2Bb", "a%2Bb"));
    }

    #[test]
    fn pages_are_stable_under_inserts() {
        let mut f = Fixture::new();
        let idx = index_with(&[], 2);
        assert_eq!(f.pages(&idx, &f.s), [vec!["E", "A"], vec!["B", "I"], vec!["M"]]);
        let first = idx.list(&f.st, "r", &f.s, &ReferrersQuery::default());
        assert_eq!(first.total, 5);
        let a_seq = f.st.repo("r").unwrap().manifests[&f.digests["A"]].seq;
        assert_eq!(first.next_page, Some(format!("next={a_seq}")));
        // A referrer pushed between two pages lands on the last page; nothing shifts.
        let subject = json!({ "mediaType": MANIFEST, "digest": f.s.to_string(), "size": 1 });
        f.put("N", "r", image("application/vnd.x.n", json!({ "subject": subject })), None, false);
        let second = idx.list(&f.st, "r", &f.s, &ReferrersQuery { filter: None, cursor: Some(a_seq) });
        assert_eq!(f.names(&second), ["B", "I"]);
        assert_eq!(f.pages(&idx, &f.s), [vec!["E", "A"], vec!["B", "I"], vec!["M", "N"]]);
        // The filter holds on every page.
        let q = idx.query(&parse_query("artifactType=application/vnd.x.b")).unwrap();
        assert_eq!(idx.list(&f.st, "r", &f.s, &q).next_page, None);
    }

    #[test]
    fn the_byte_limit_cuts_pages_but_never_to_nothing() {
        let f = Fixture::new();
        let idx = ReferrersIndex::new(&Faults::default(), 100, 1);
        let pages = f.pages(&idx, &f.s);
        assert_eq!(pages, [vec!["E"], vec!["A"], vec!["B"], vec!["I"], vec!["M"]]);
        // Room for exactly two of the shorter descriptors per page.
        let first = index_with(&[], 100).list(&f.st, "r", &f.s, &ReferrersQuery::default());
        let two = INDEX_PREFIX.len() + "[]}".len() + first.descriptors[0].len() + 1 + first.descriptors[1].len();
        let idx = ReferrersIndex::new(&Faults::default(), 100, two);
        assert_eq!(f.pages(&idx, &f.s)[0], ["E", "A"]);
    }

    #[test]
    fn faults_that_change_which_referrers_are_listed() {
        let f = Fixture::new();
        let cases: &[(&str, &[&str])] = &[
            ("forget_early_referrers", &["A", "B", "I", "M"]),
            ("ignore_index_subject", &["E", "A", "B", "M"]),
            ("drop_mismatched_subject", &["E", "A", "B", "I"]),
            ("include_transitive_referrers", &["E", "A", "B", "I", "M", "T"]),
            ("referrers_ignore_repo", &["E", "A", "B", "I", "M", "O"]),
            ("fallback_index_listed", &["E", "A", "B", "I", "M", "FB"]),
            ("cosign_tag_listed", &["E", "A", "B", "I", "M", "C"]),
            ("drop_last_referrer", &["E", "A", "B", "I"]),
            ("duplicate_entries", &["E", "E", "A", "A", "B", "B", "I", "I", "M", "M"]),
            ("unstable_cursor", &["M", "I", "B", "A", "E"]),
        ];
        for (fault, expected) in cases {
            assert_eq!(f.list(&index_with(&[fault], 100), &f.s, ""), *expected, "{fault}");
        }
        assert_eq!(f.list(&index_with(&[], 100), &f.q, ""), ["Z"]);
        assert!(f.list(&index_with(&["drop_sha512_referrers"], 100), &f.q, "").is_empty());
        let lagging = Faults {
            referrers_lag_ms: 60_000,
            ..Faults::default()
        };
        assert!(f.list(&ReferrersIndex::new(&lagging, 100, 1 << 20), &f.s, "").is_empty());
        // Filters.
        let wanted = "artifactType=application/vnd.x.b";
        assert_eq!(f.list(&index_with(&["filter_inverted"], 100), &f.s, wanted), ["E", "A", "I", "M"]);
        assert!(f.list(&index_with(&["filter_ignores_config_type"], 100), &f.s, wanted).is_empty());
        assert_eq!(f.list(&index_with(&["filter_ignores_config_type"], 100), &f.s, "artifactType=application/vnd.x.a"), ["A"]);
    }

    #[test]
    fn a_repush_under_duplicate_on_repush_is_listed_twice() {
        let mut f = Fixture::new();
        let a = f.digests["A"].clone();
        let record = f.st.repo("r").unwrap().manifests[&a].clone();
        f.st.put_manifest("r", a, record.bytes, record.content_type, record.facts, None, true);
        assert_eq!(f.list(&index_with(&[], 100), &f.s, ""), ["E", "A", "B", "I", "M", "A"]);
    }

    #[test]
    fn faults_that_change_descriptors() {
        let f = Fixture::new();
        let listed = |fault: &str| descriptors(&index_with(&[fault], 100).list(&f.st, "r", &f.s, &ReferrersQuery::default()));
        let d = listed("artifact_type_from_config");
        assert_eq!(d[1]["artifactType"], "application/vnd.oci.empty.v1+json");
        assert!(listed("omit_config_artifact_type")[2].get("artifactType").is_none());
        assert_eq!(listed("index_artifact_type_empty")[3]["artifactType"], "");
        assert!(listed("drop_annotations")[1].get("annotations").is_none());
        assert!(listed("descriptor_missing_media_type").iter().all(|d| d.get("mediaType").is_none()));
        assert!(listed("referrers_ref_name_annotation").iter().all(|d| d["annotations"]["org.opencontainers.image.ref.name"].is_string()));
    }

    #[test]
    fn faults_that_change_paging() {
        let f = Fixture::new();
        let idx = index_with(&["page_duplicates"], 2);
        assert_eq!(f.pages(&idx, &f.s), [vec!["E", "A"], vec!["A", "B", "I"], vec!["I", "M"]]);
        let idx = index_with(&["skip_second_page"], 2);
        assert_eq!(f.pages(&idx, &f.s), [vec!["E", "A"], vec!["M"]]);
        let idx = index_with(&["unstable_cursor"], 2);
        let first = idx.list(&f.st, "r", &f.s, &ReferrersQuery::default());
        assert_eq!(first.next_page.as_deref(), Some("offset=2"));
        assert_eq!(f.pages(&idx, &f.s), [vec!["M", "I"], vec!["B", "A"], vec!["E"]]);
    }
}
