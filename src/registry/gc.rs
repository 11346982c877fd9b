//! Garbage collection: a mark-and-sweep over repositories under a [`GcPolicy`].
//!
//! Run by `POST /admin/gc` under the policy from `RegistryConfig::gc`, or sent with the
//! request.
//!
//! Per repository, a manifest is kept when:
//!
//! 1. it is tagged, or reachable from a tagged manifest through index `manifests` entries
//!    (transitively, bounded). These *roots* are never collected. The entries of an index whose
//!    only tags are referrers tags (`sha256-<hex>`) are a listing, not content: they pin what
//!    they list only under `pin_fallback_listed`.
//! 2. otherwise, unless a retention rule dooms it (`created_before`, `keep_newest`, which
//!    override every protection below), it is kept when any of these holds:
//!    - a kept index lists it (a pinning referrers-tag index only under `pin_fallback_listed`);
//!    - it is a referrer whose subject is kept: under `protect_referrers_of_live_subject`,
//!      else as any untagged manifest (`untagged_manifests`);
//!    - it is a referrer whose subject is absent (never pushed, deleted, or collected in this
//!      run): by `orphan_referrers`;
//!    - it has no subject and `untagged_manifests` is `keep`.
//!
//! Blobs that no kept manifest of the repository references are collected too, except fresh
//! uploads no manifest claims yet (younger than `upload_grace_s`): their manifest may be on its
//! way, and a push racing the GC must not lose them.

use super::faults::Faults;
use super::store::{ManifestRecord, Repo, State};
use super::syntax::is_referrers_tag;
use crate::oci::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;

/// The annotation retention rules read (image-spec annotations.md, RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// How deep index references are followed from a tag.
const MAX_INDEX_DEPTH: usize = 16;

/// What happens to untagged manifests that nothing else protects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UntaggedPolicy {
    Keep,
    #[default]
    Collect,
}

/// What happens to a referrer whose subject is not stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanPolicy {
    #[default]
    Keep,
    Collect,
    /// Collected when its subject was deleted (or is collected in the same run); kept when the
    /// subject never existed, i.e. it was pushed ahead of its subject.
    CollectWithSubject,
}

impl FromStr for UntaggedPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(UntaggedPolicy::Keep),
            "collect" => Ok(UntaggedPolicy::Collect),
            other => Err(format!(
                "unknown untagged policy '{other}' (expected keep or collect)"
            )),
        }
    }
}

impl FromStr for OrphanPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(OrphanPolicy::Keep),
            "collect" => Ok(OrphanPolicy::Collect),
            "collect_with_subject" => Ok(OrphanPolicy::CollectWithSubject),
            other => Err(format!(
                "unknown orphan policy '{other}' (expected keep, collect or collect_with_subject)"
            )),
        }
    }
}

/// The garbage collection policy (see the module documentation for how the rules combine).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcPolicy {
    /// Untagged manifests without any other protection (default `collect`).
    pub untagged_manifests: UntaggedPolicy,
    /// An untagged referrer whose subject is kept is kept (default true).
    pub protect_referrers_of_live_subject: bool,
    /// Referrers whose subject is absent (default `keep`).
    pub orphan_referrers: OrphanPolicy,
    /// Manifests listed in an index tagged with a referrers tag are kept (default true).
    pub pin_fallback_listed: bool,
    /// RFC 3339 instant: untagged manifests whose `org.opencontainers.image.created` is older
    /// are collected, whatever else protects them (roots excepted).
    pub created_before: Option<String>,
    /// Per subject, only the newest N referrers by `org.opencontainers.image.created` survive
    /// (no or an unparsable annotation counts as oldest; ties go to the later push); the rest
    /// are collected whatever else protects them (roots excepted).
    pub keep_newest: Option<usize>,
    /// A blob no stored manifest references is kept while it is younger than this many
    /// seconds: it may be an upload whose manifest is on its way (default 60; 0 collects it
    /// at once, as an offline GC would).
    pub upload_grace_s: u64,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            untagged_manifests: UntaggedPolicy::Collect,
            protect_referrers_of_live_subject: true,
            orphan_referrers: OrphanPolicy::Keep,
            pin_fallback_listed: true,
            created_before: None,
            keep_newest: None,
            upload_grace_s: 60,
        }
    }
}

/// What one repository lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoGcReport {
    /// Collected manifest digests, sorted.
    pub manifests: Vec<String>,
    /// Collected blob digests, sorted.
    pub blobs: Vec<String>,
}

/// The answer of `POST /admin/gc`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Every repository that was examined, by name.
    pub repos: BTreeMap<String, RepoGcReport>,
    /// Total collected manifests.
    pub manifests: usize,
    /// Total collected blobs.
    pub blobs: usize,
}

/// Runs GC over the repositories named in `only` (all when `None`; unknown names are skipped)
/// and removes what it collects. Fails only on an invalid `created_before`.
pub fn collect(
    st: &mut State,
    policy: &GcPolicy,
    only: Option<&[String]>,
    faults: &Faults,
) -> Result<GcReport, String> {
    let mut report = GcReport::default();
    for (name, manifests, blobs) in plans(st, policy, only, faults)? {
        if let Some(repo) = st.repos.get_mut(&name) {
            remove(repo, &name, &manifests, &blobs, &mut report);
        }
    }
    Ok(report)
}

/// What a mark phase kept, per repository: the manifests and blobs stored then and not doomed.
#[derive(Debug, Default)]
pub struct Marks(HashMap<String, (HashSet<Digest>, HashSet<Digest>)>);

/// The first half of the `gc_sweep_unlocked` fault: what [`collect`] would keep, deleting nothing.
pub fn mark(
    st: &State,
    policy: &GcPolicy,
    only: Option<&[String]>,
    faults: &Faults,
) -> Result<Marks, String> {
    let mut marks = Marks::default();
    for (name, manifests, blobs) in plans(st, policy, only, faults)? {
        let Some(repo) = st.repos.get(&name) else { continue };
        let keep_m = repo.manifests.keys().filter(|d| !manifests.contains(*d)).cloned().collect();
        let keep_b = repo.blobs.keys().filter(|d| !blobs.contains(*d)).cloned().collect();
        marks.0.insert(name, (keep_m, keep_b));
    }
    Ok(marks)
}

/// Per selected repository: what GC would collect (manifests, blobs).
type Plans = Vec<(String, BTreeSet<Digest>, BTreeSet<Digest>)>;

fn plans(st: &State, policy: &GcPolicy, only: Option<&[String]>, faults: &Faults) -> Result<Plans, String> {
    let cutoff = cutoff(policy)?;
    Ok(selected(st, only)
        .into_iter()
        .filter_map(|name| {
            let (manifests, blobs) = plan(st.repos.get(&name)?, policy, cutoff, faults);
            Some((name, manifests, blobs))
        })
        .collect())
}

/// Its second half, after the lock was let go: deletes every manifest and blob of the marked
/// repositories that the mark did not keep, including whatever arrived in between (the bug).
pub fn sweep_unmarked(st: &mut State, marks: &Marks) -> GcReport {
    let mut report = GcReport::default();
    for (name, (keep_m, keep_b)) in &marks.0 {
        let Some(repo) = st.repos.get_mut(name) else {
            continue;
        };
        let manifests: BTreeSet<Digest> = repo.manifests.keys().filter(|d| !keep_m.contains(*d)).cloned().collect();
        let blobs: BTreeSet<Digest> = repo.blobs.keys().filter(|d| !keep_b.contains(*d)).cloned().collect();
        remove(repo, name, &manifests, &blobs, &mut report);
    }
    report
}

fn cutoff(policy: &GcPolicy) -> Result<Option<(i64, u32)>, String> {
    match &policy.created_before {
        None => Ok(None),
        Some(s) => parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| format!("created_before {s:?} is not an RFC 3339 date-time")),
    }
}

fn selected(st: &State, only: Option<&[String]>) -> Vec<String> {
    match only {
        None => st.repos.keys().cloned().collect(),
        Some(list) => list.iter().filter(|n| st.repos.contains_key(*n)).cloned().collect(),
    }
}

fn remove(repo: &mut Repo, name: &str, manifests: &BTreeSet<Digest>, blobs: &BTreeSet<Digest>, report: &mut GcReport) {
    for d in manifests {
        repo.delete_manifest(d);
    }
    for d in blobs {
        repo.remove_blob(d);
    }
    report.manifests += manifests.len();
    report.blobs += blobs.len();
    let r = RepoGcReport {
        manifests: manifests.iter().map(Digest::to_string).collect(),
        blobs: blobs.iter().map(Digest::to_string).collect(),
    };
    report.repos.insert(name.to_string(), r);
}

/// Digests listed in an index's `manifests` array (whether stored or not).
fn index_children(record: &ManifestRecord) -> Vec<Digest> {
    if !record.facts.is_index {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&record.bytes) else {
        return Vec::new();
    };
    v.get("manifests")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| d.get("digest").and_then(Value::as_str))
                .filter_map(|d| Digest::parse(d).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `(seconds, nanoseconds)` of the record's created annotation, if it parses.
fn created(record: &ManifestRecord) -> Option<(i64, u32)> {
    let a = record
        .facts
        .annotations
        .as_ref()?
        .get(CREATED_ANNOTATION)?
        .as_str()?;
    parse_rfc3339(a)
}

/// Decides what to collect in one repository: (manifests, blobs), both sorted.
fn plan(
    repo: &Repo,
    policy: &GcPolicy,
    cutoff: Option<(i64, u32)>,
    faults: &Faults,
) -> (BTreeSet<Digest>, BTreeSet<Digest>) {
    let graph = Graph::new(repo);
    // 1. Roots: tagged manifests and what they reference, bounded.
    let roots = graph.roots();
    // 2. Retention: doomed whatever protects them, unless they are roots.
    let doomed = doomed(repo, policy, cutoff, faults, &roots);
    // 3. Everything else, evaluated after what it depends on.
    let kept = graph.kept(policy, &roots, &doomed);

    let manifests: BTreeSet<Digest> = repo
        .manifests
        .keys()
        .filter(|d| !kept.get(d).copied().unwrap_or(false))
        .cloned()
        .collect();
    let blobs = unreferenced_blobs(repo, policy, faults, &manifests);
    (manifests, blobs)
}

/// A repository's stored manifests as a graph: their tags, index entries and the indexes
/// listing each manifest.
struct Graph<'a> {
    repo: &'a Repo,
    /// Tags per stored manifest.
    tags: HashMap<&'a Digest, Vec<&'a str>>,
    /// Per stored index: the stored manifests it lists (itself excluded).
    children: HashMap<&'a Digest, Vec<Digest>>,
    /// child → (parent, whether the edge only pins).
    parents: HashMap<&'a Digest, Vec<(&'a Digest, bool)>>,
}

impl<'a> Graph<'a> {
    fn new(repo: &'a Repo) -> Graph<'a> {
        let stored = |d: &Digest| repo.manifests.contains_key(d);
        let mut tags: HashMap<&Digest, Vec<&str>> = HashMap::new();
        for (tag, d) in &repo.tags {
            if stored(d) {
                tags.entry(d).or_default().push(tag);
            }
        }
        let children: HashMap<&Digest, Vec<Digest>> = repo
            .manifests
            .iter()
            .filter(|(_, r)| r.facts.is_index)
            .map(|(d, r)| {
                (
                    d,
                    index_children(r)
                        .into_iter()
                        .filter(|c| stored(c) && c != d)
                        .collect(),
                )
            })
            .collect();
        let mut graph = Graph {
            repo,
            tags,
            children,
            parents: HashMap::new(),
        };
        let mut parents: HashMap<&Digest, Vec<(&Digest, bool)>> = HashMap::new();
        for (p, list) in &graph.children {
            let pin = graph.is_fallback_index(p);
            for c in list {
                if let Some((key, _)) = repo.manifests.get_key_value(c) {
                    parents.entry(key).or_default().push((*p, pin));
                }
            }
        }
        graph.parents = parents;
        graph
    }

    fn stored(&self, d: &Digest) -> bool {
        self.repo.manifests.contains_key(d)
    }

    /// An index whose tags are all referrers tags: it only pins what it lists.
    fn is_fallback_index(&self, d: &Digest) -> bool {
        self.tags
            .get(d)
            .is_some_and(|t| t.iter().all(|t| is_referrers_tag(t)))
            && self.repo.manifests.get(d).is_some_and(|r| r.facts.is_index)
    }

    /// Tagged manifests and what they reference through index entries (bounded); a fallback
    /// index's entries are not roots.
    fn roots(&self) -> HashSet<&'a Digest> {
        let mut roots: HashSet<&Digest> = self.tags.keys().copied().collect();
        let mut frontier: Vec<&Digest> = roots.iter().copied().collect();
        for _ in 0..MAX_INDEX_DEPTH {
            let mut next = Vec::new();
            for d in frontier {
                if self.is_fallback_index(d) {
                    continue;
                }
                for c in self.children.get(d).into_iter().flatten() {
                    if let Some((key, _)) = self.repo.manifests.get_key_value(c)
                        && roots.insert(key)
                    {
                        next.push(key);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        roots
    }

    /// What `d`'s fate depends on: the indexes listing it and its subject.
    fn deps(&self, d: &Digest) -> Vec<&'a Digest> {
        let mut out: Vec<&Digest> = self
            .parents
            .get(d)
            .into_iter()
            .flatten()
            .map(|(p, _)| *p)
            .collect();
        if let Some(s) = self.repo.manifests.get(d).and_then(|r| r.facts.subject.as_ref())
            && let Some((key, _)) = self.repo.manifests.get_key_value(&s.digest)
            && key != d
        {
            out.push(key);
        }
        out
    }

    /// Whether each manifest is kept: roots are, doomed ones are not, and every other one is
    /// decided after what it depends on (the index listing it, its subject).
    fn kept(&self, policy: &GcPolicy, roots: &HashSet<&'a Digest>, doomed: &HashSet<&'a Digest>) -> HashMap<&'a Digest, bool> {
        let mut kept: HashMap<&Digest, bool> = HashMap::new();
        for &d in roots {
            kept.insert(d, true);
        }
        for &d in doomed {
            kept.insert(d, false);
        }
        let untagged_keep = policy.untagged_manifests == UntaggedPolicy::Keep;
        let orphan = |subject_deleted: bool| match policy.orphan_referrers {
            OrphanPolicy::Keep => true,
            OrphanPolicy::Collect => false,
            OrphanPolicy::CollectWithSubject => !subject_deleted,
        };
        for d in self.evaluation_order(&kept) {
            let record = &self.repo.manifests[d];
            let listed = self.parents.get(d).into_iter().flatten().any(|(p, pin)| {
                kept.get(p).copied().unwrap_or(false) && (!pin || policy.pin_fallback_listed)
            });
            let keep = listed
                || match &record.facts.subject {
                    Some(s) if s.digest != *d && self.stored(&s.digest) => {
                        if kept.get(&s.digest).copied().unwrap_or(false) {
                            policy.protect_referrers_of_live_subject || untagged_keep
                        } else {
                            // Stored now, collected by this run: its subject is being deleted.
                            orphan(true)
                        }
                    }
                    Some(s) => orphan(self.repo.deleted.contains(&s.digest)),
                    None => untagged_keep,
                };
            kept.insert(d, keep);
        }
        kept
    }

    /// The manifests not `settled` yet, each after what it depends on: an iterative
    /// depth-first post-order, so long chains cannot overflow the stack. A dependency cycle
    /// (only possible with a lying digest) counts as "not kept".
    fn evaluation_order(&self, settled: &HashMap<&'a Digest, bool>) -> Vec<&'a Digest> {
        let mut order: Vec<&Digest> = Vec::new();
        let mut visited: HashSet<&Digest> = settled.keys().copied().collect();
        let mut all: Vec<&Digest> = self.repo.manifests.keys().collect();
        all.sort();
        for start in all {
            if !visited.insert(start) {
                continue;
            }
            let mut stack: Vec<(&Digest, Vec<&Digest>)> = vec![(start, self.deps(start))];
            while let Some((node, pending)) = stack.last_mut() {
                match pending.pop() {
                    Some(dep) => {
                        if visited.insert(dep) {
                            let next = self.deps(dep);
                            stack.push((dep, next));
                        }
                    }
                    None => {
                        order.push(*node);
                        stack.pop();
                    }
                }
            }
        }
        order
    }
}

/// The retention rules' victims (`created_before`, `keep_newest`), roots excepted.
fn doomed<'a>(
    repo: &'a Repo,
    policy: &GcPolicy,
    cutoff: Option<(i64, u32)>,
    faults: &Faults,
    roots: &HashSet<&'a Digest>,
) -> HashSet<&'a Digest> {
    let mut doomed: HashSet<&Digest> = HashSet::new();
    if let Some(cut) = cutoff {
        for (d, r) in &repo.manifests {
            let older = created(r).is_some_and(|c| if faults.retention_created_inverted { c > cut } else { c < cut });
            if !roots.contains(d) && older {
                doomed.insert(d);
            }
        }
    }
    if let Some(n) = policy.keep_newest {
        let mut by_subject: HashMap<&Digest, Vec<(&Digest, &ManifestRecord)>> = HashMap::new();
        for (d, r) in &repo.manifests {
            if let Some(s) = &r.facts.subject {
                by_subject.entry(&s.digest).or_default().push((d, r));
            }
        }
        for (_, mut list) in by_subject {
            // Newest first: by the annotation (missing = oldest), then by push order.
            if faults.keep_newest_by_push_order {
                list.sort_by_key(|(_, r)| std::cmp::Reverse(r.seq));
            } else {
                list.sort_by_key(|(_, r)| std::cmp::Reverse((created(r), r.seq)));
            }
            for (d, _) in list.into_iter().skip(n) {
                if !roots.contains(d) {
                    doomed.insert(d);
                }
            }
        }
    }
    doomed
}

/// Blobs that no kept manifest references, except fresh uploads in their grace period (and as
/// the blob faults bend it).
fn unreferenced_blobs(repo: &Repo, policy: &GcPolicy, faults: &Faults, manifests: &BTreeSet<Digest>) -> BTreeSet<Digest> {
    let refcount_broken = faults.gc_blob_refcount_broken;
    let tagged: HashSet<&Digest> = repo.tags.values().collect();
    let referenced: HashSet<&Digest> = repo
        .manifests
        .iter()
        .filter(|(d, _)| !manifests.contains(*d))
        // The fault forgets that untagged referrers it keeps still need their blobs.
        .filter(|(d, r)| !(faults.gc_sweeps_referrer_blobs && r.facts.subject.is_some() && !tagged.contains(d)))
        .flat_map(|(_, r)| r.facts.blobs.iter())
        .collect();
    // The fault forgets reference counting: what a collected manifest used goes with it.
    let of_collected: HashSet<&Digest> = repo
        .manifests
        .iter()
        .filter(|(d, _)| manifests.contains(*d))
        .flat_map(|(_, r)| r.facts.blobs.iter())
        .collect();
    // Fresh uploads that no manifest claims yet may be waiting for theirs (zot's gcDelay,
    // olareg's grace period); the fault collects them at once.
    let claimed: HashSet<&Digest> = repo.manifests.values().flat_map(|r| r.facts.blobs.iter()).collect();
    let grace = std::time::Duration::from_secs(policy.upload_grace_s);
    let in_grace = |d: &Digest| {
        !faults.gc_no_upload_grace
            && !claimed.contains(d)
            && repo.blob_times.get(d).is_some_and(|t| t.elapsed() < grace)
    };
    repo.blobs
        .keys()
        .filter(|d| !referenced.contains(d) || (refcount_broken && of_collected.contains(d)))
        .filter(|d| !in_grace(d))
        .cloned()
        .collect()
}

/// Parses an RFC 3339 date-time (`2024-05-01T12:00:00Z`, `…T12:00:00.5+02:00`; a space or
/// lowercase `t`/`z` are accepted as RFC 3339 allows) into seconds and nanoseconds since the
/// Unix epoch.
pub fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0')))
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic: 400-year cycles of
/// 146 097 days, years counted from March so the leap day ends the year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some((951_868_800, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:15.25+02:00"),
            Some((1_709_202_615, 250_000_000))
        );
        assert_eq!(parse_rfc3339("1969-12-31t23:59:59z"), Some((-1, 0)));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    /// Stores a manifest with `subject` (or none) under `digest`, bypassing HTTP.
    fn put(st: &mut State, digest: &Digest, subject: Option<&Digest>, tag: Option<&str>) {
        let subject = subject.map_or(String::new(), |s| {
            format!(r#","subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{s}","size":1}}"#)
        });
        let body = format!(r#"{{"schemaVersion":2,"manifests":[]{subject}}}"#);
        let facts = super::super::store::ManifestFacts::parse(body.as_bytes(), "").unwrap();
        st.put_manifest(
            "r",
            digest.clone(),
            body.into(),
            "x".into(),
            facts,
            tag.map(str::to_string),
            false,
        );
    }

    fn digest(i: usize) -> Digest {
        Digest::sha256(i.to_string().as_bytes())
    }

    #[test]
    fn long_subject_chains_and_cycles_do_not_overflow() {
        let mut st = State::default();
        put(&mut st, &digest(0), None, Some("root"));
        for i in 1..3000 {
            put(&mut st, &digest(i), Some(&digest(i - 1)), None);
        }
        let report = collect(&mut st, &GcPolicy::default(), None, &Default::default()).unwrap();
        assert_eq!(report.manifests, 0);
        st.repos.get_mut("r").unwrap().tags.clear();
        let policy = GcPolicy {
            orphan_referrers: OrphanPolicy::Collect,
            ..GcPolicy::default()
        };
        assert_eq!(collect(&mut st, &policy, None, &Default::default()).unwrap().manifests, 3000);

        // Two manifests naming each other as subject (only possible with lying digests).
        let mut st = State::default();
        put(&mut st, &digest(1), Some(&digest(2)), None);
        put(&mut st, &digest(2), Some(&digest(1)), None);
        assert_eq!(
            collect(&mut st, &GcPolicy::default(), None, &Default::default())
                .unwrap()
                .manifests,
            0
        );
        assert_eq!(
            collect(&mut st, &policy, Some(&["r".to_string()]), &Default::default())
                .unwrap()
                .manifests,
            2
        );
    }

    #[test]
    fn policy_serde_defaults() {
        let p: GcPolicy =
            serde_json::from_str(r#"{"orphan_referrers":"collect_with_subject","keep_newest":2}"#)
                .unwrap();
        assert_eq!(p.orphan_referrers, OrphanPolicy::CollectWithSubject);
        assert_eq!(p.keep_newest, Some(2));
        assert!(p.protect_referrers_of_live_subject && p.pin_fallback_listed);
        assert_eq!(p.untagged_manifests, UntaggedPolicy::Collect);
        assert!(serde_json::from_str::<GcPolicy>(r#"{"keep_newst":1}"#).is_err());
        assert_eq!("keep".parse::<UntaggedPolicy>(), Ok(UntaggedPolicy::Keep));
    }
}
