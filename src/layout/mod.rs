//! OCI image layouts with referrers: `referee layout check|export|import`, `referee copy`, and
//! what the scenario steps `layout_export`/`layout_import` (`exec::steps::layout`) build on.
//!
//! - `check`: reading a layout, every finding located at `file:line:col` (M1–M5, M7).
//! - `write`: writing one (blobs, `oci-layout`, `index.json`), the three referrer conventions.
//! - `export`: a subject and its referrers, recursively, from any registry into a layout.
//! - `import`: a layout into a registry, referrers through the API or the referrers tag.
//! - `copy`: `referee copy SRC DST --referrers`, registry to registry through a layout on disk.
//!
//! The checks' metadata is here, so `referee layout check` reports them like `run` does.

pub mod check;
pub mod copy;
pub mod export;
pub mod import;
pub mod write;

use crate::exec::{CheckResult, Outcome, RunReport};
use crate::plan::CheckInfo;
use crate::scenario::Keyword;
use check::{LayoutCheck, Severity};
use std::path::Path;

/// One layout check: id, title, keyword, section, the rule quoted, and referee's reading.
pub struct LayoutCheckInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub keyword: Keyword,
    pub section: &'static str,
    pub rule: &'static str,
    pub reading: Option<&'static str>,
}

/// The checks `referee layout check` makes (M6, the registry round trip, is not a check of a
/// layout on its own).
pub const CHECKS: &[LayoutCheckInfo] = &[
    LayoutCheckInfo {
        id: "M1",
        title: "Layout structure: oci-layout, index.json, blobs that match their digests",
        keyword: Keyword::MUST,
        section: "image-spec \"OCI Image Layout Specification\" (Content, Blobs, oci-layout file, index.json file)",
        rule: "`blobs` directory … Directory MUST exist and MAY be empty. `oci-layout` file … It MUST exist. It MUST be a JSON object. It MUST contain an `imageLayoutVersion` field. `index.json` file … It MUST exist. It MUST be an image index JSON object. … The content of `blobs/<alg>/<encoded>` MUST match the digest `<alg>:<encoded>`. The character set of the entry name for `<alg>` and `<encoded>` MUST match the respective grammar elements described in descriptor.",
        reading: None,
    },
    LayoutCheckInfo {
        id: "M2",
        title: "org.opencontainers.image.ref.name only on index.json descriptors",
        keyword: Keyword::SHOULD,
        section: "image-spec \"OCI Image Layout Specification\" (index.json file)",
        rule: "Note that the `org.opencontainers.image.ref.name` annotation SHOULD only be considered valid when on descriptors on `index.json`.",
        reading: None,
    },
    LayoutCheckInfo {
        id: "M3",
        title: "A referrers tag in index.json names an index of that subject's referrers",
        keyword: Keyword::READING,
        section: "distribution-spec \"Referrers Tag Schema\" applied to image-spec \"OCI Image Layout Specification\"",
        rule: "`<alg>-<ref>` … The tag … is an image index … Each descriptor is of an image manifest or index … with a `subject` field that specifies the value of `<digest>`.",
        reading: Some("a layout has no referrers API; the convention in use (oras, regclient) keeps the registry's referrers tag as a ref.name in index.json, so that descriptor names an image index whose entries are referrers of the digest the name encodes"),
    },
    LayoutCheckInfo {
        id: "M4",
        title: "Referrers listed untagged in index.json are found by their subject, and their subject is there",
        keyword: Keyword::READING,
        section: "image-spec \"OCI Image Layout Specification\" (index.json file); oras-go practice",
        rule: "The `index.json` file … It MUST be an image index JSON object. [image-spec manifest `subject`] This OPTIONAL property specifies a descriptor of another manifest. This value defines a weak association to a separate Merkle Directed Acyclic Graph (DAG) structure, and is used by the `referrers` API to include this manifest in the list of responses for the subject digest.",
        reading: Some("manifests listed in index.json without a ref.name and with a `subject` are that subject's referrers (oras-go's practice), found without reading every blob; a referrer whose subject the layout does not hold cannot be looked up from it"),
    },
    LayoutCheckInfo {
        id: "M5",
        title: "The proposed referrer annotations agree with the manifests they describe",
        keyword: Keyword::READING,
        section: "image-spec PR #1171 (open): org.opencontainers.image.referrer.subject / .convert",
        rule: "[proposed] `org.opencontainers.image.referrer.subject`: the digest of the subject of a referrer listed in `index.json`; `org.opencontainers.image.referrer.convert`: the descriptor was converted from a registry's referrers tag.",
        reading: Some("the annotation, where a layout uses it, names the manifest's own subject: one that names another is wrong"),
    },
    LayoutCheckInfo {
        id: "M7",
        title: "Missing blobs are tolerated and the referrers are still listed",
        keyword: Keyword::MAY,
        section: "image-spec \"OCI Image Layout Specification\" (Blobs)",
        rule: "The blobs directory MAY be missing referenced blobs, in which case the missing blobs SHOULD be fulfilled by an external blob store.",
        reading: None,
    },
];

fn info(c: &LayoutCheckInfo, dir: &Path) -> CheckInfo {
    CheckInfo {
        id: c.id.into(),
        title: c.title.into(),
        area: crate::plan::area_of(c.id).into(),
        section: c.section.into(),
        keyword: c.keyword,
        rule: c.rule.into(),
        reading: c.reading.map(str::to_string),
        since: "v1.1".into(),
        scenario: format!("layout:{}", dir.display()),
        requires: vec![],
        skip_if_declared: None,
        proven_by: None,
    }
}

/// A layout check as a report `run`'s reporters write: one result per check, its findings
/// (located, prefixed with the layout's path) as the reason or as notes.
pub fn to_report(dir: &Path, c: &LayoutCheck, duration_ms: u64) -> RunReport {
    let checks = CHECKS
        .iter()
        .map(|m| {
            let mine: Vec<&check::Finding> = c.findings.iter().filter(|f| f.check == m.id).collect();
            let located = |f: &check::Finding| format!("{}/{f}", dir.display());
            let bad: Vec<String> = mine.iter().filter(|f| f.severity > Severity::Info).map(|f| located(f)).collect();
            // A convention the layout does not use cannot be checked: Skipped, saying so.
            let via = match m.id {
                "M3" => Some(("referrers tag", "no ref.name in index.json follows the referrers tag schema (<alg>-<hex>)")),
                "M4" => Some(("index.json", "no manifest listed in index.json has a subject")),
                "M5" => Some(("annotation", "no descriptor in index.json carries org.opencontainers.image.referrer.subject")),
                "M7" => Some(("", "every blob the layout references is there: nothing to tolerate")),
                _ => None,
            };
            let unused = match via {
                Some(("", _)) => mine.is_empty(),
                Some((v, _)) => mine.is_empty() && !c.referrers.iter().any(|r| r.via == v),
                None => false,
            };
            let outcome = match c.worst(m.id) {
                Some(Severity::Fail) => Outcome::Failed,
                Some(Severity::Warn) => Outcome::Warned,
                _ if unused => Outcome::Skipped,
                _ => Outcome::Passed,
            };
            let skipped = via.filter(|_| unused).map(|(_, why)| why.to_string());
            let mut notes: Vec<String> = mine.iter().filter(|f| f.severity == Severity::Info).map(|f| located(f)).collect();
            if m.id == "M4" || m.id == "M7" {
                notes.push(format!("{} referrer(s) found: {}", c.referrers.len(), c.referrers.iter().map(|r| format!("{} → {} ({})", r.referrer, r.subject, r.via)).collect::<Vec<_>>().join("; ")));
            }
            CheckResult {
                info: info(m, dir),
                outcome,
                reason: skipped.unwrap_or_else(|| bad.join("; ")),
                notes,
                measurements: Default::default(),
                transcript: vec![],
                duration_ms,
            }
        })
        .collect();
    RunReport {
        checks,
        duration_ms,
        ..RunReport::new(format!("layout {}", dir.display()), false, String::new(), crate::exec::new_run_id())
    }
}
