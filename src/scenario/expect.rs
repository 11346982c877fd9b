//! What the answer to a step must look like: [`Expect`] and its parts. Every key is one
//! assertion; all must hold. Every struct denies unknown keys.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `Link` presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Present,
    Absent,
}

/// One status or several accepted ones (`status: 200` or `status: [200, 400]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses(pub Vec<u16>);

impl Serialize for Statuses {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.len() == 1 { s.serialize_u16(self.0[0]) } else { self.0.serialize(s) }
    }
}

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Statuses;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an HTTP status (e.g. 200) or a list of them")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Statuses, E> {
                match u16::try_from(v) {
                    Ok(s) if (100..600).contains(&s) => Ok(Statuses(vec![s])),
                    _ => Err(E::custom(format!("{v} is not an HTTP status"))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Statuses, E> {
                Err(E::custom(format!("{v} is not an HTTP status")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Statuses, A::Error> {
                let mut out = vec![];
                while let Some(s) = seq.next_element::<u16>()? {
                    if !(100..600).contains(&s) {
                        return Err(serde::de::Error::custom(format!("{s} is not an HTTP status")));
                    }
                    out.push(s);
                }
                if out.is_empty() {
                    return Err(serde::de::Error::custom("an empty status list accepts nothing"));
                }
                Ok(Statuses(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the answer to a step must look like for one check. Every key is one assertion; all
/// must hold. `any_of` composes alternatives; `unsupported_if` turns a match into Skipped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The status is this one, or one of these (`status: 200`, `status: [200, 404]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Statuses>,
    /// The `Content-Type` is this media type (parameters are noted, not failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Header → exact value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    /// Header → an element its comma-separated list must contain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_contains: BTreeMap<String, String>,
    /// These headers are absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_absent: Vec<String>,
    /// `OCI-Subject` equals the digest of the pushed manifest's `subject`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oci_subject: bool,
    /// The JSON error body's first code is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_code: Vec<String>,
    /// The body is an image index (schemaVersion 2, index mediaType, `manifests` an array).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<ManifestsExpect>,
    /// Name → what its descriptor in the list must say.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entries: BTreeMap<String, EntryExpect>,
    /// Every descriptor has mediaType, a valid digest, size ≥ 0, an RFC 6838 artifactType.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub descriptors_valid: bool,
    /// A `Link` header is `present` or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Presence>,
    /// Every `Link` header parses as RFC 5988 with `rel="next"` on the same host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_valid: bool,
    /// What the pages of a listing read with `pages: all` look like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<PagesExpect>,
    /// For `wait_listed`: listed within the step's bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listed: bool,
    /// The step's follow-up request (e.g. the PUT that finishes an upload session a mount
    /// started) answered one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then_status: Option<Statuses>,
    /// The listing (response) and the referrer's push (follow-up) agree: the API answers, or
    /// it 404s and the push carried no `OCI-Subject`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detection_consistent: bool,
    /// A JSON error body is `{"errors":[{"code","message",…}]}` with spec codes only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error_body_valid: bool,
    /// Every `Warning` header is `299 - "<text>"` without a date, 4096 bytes at most in all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warnings_valid: bool,
    /// Every manifest a `copy` step wrote reads back byte-identical on the target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copied_exact: bool,
    /// A `reverse` walk found exactly the manifests the model says point at it: those this
    /// scenario pushed and did not delete, reachable from a tag through index children and
    /// referrers, whose subject, children, config or layers name it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub walk_model: bool,
    /// What a `layout_export` wrote (checked as `referee layout check` does) or a
    /// `layout_import` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutExpect>,
    /// The answer came from another URL than the one asked (`true`) or from the same (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirected: Option<bool>,
    /// The request was refused (status 400 or above); a 5xx is noted as a server error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejected: bool,
    /// `Docker-Content-Digest` equals the digest of this named manifest or blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_of: Option<String>,
    /// `Docker-Content-Digest`, when the answer carries it, equals the digest of this named
    /// manifest or blob (its absence is no failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_if_present: Option<String>,
    /// `Content-Length` equals the size of this named manifest or blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_of: Option<String>,
    /// The body is exactly this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// These headers are present (any value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_present: Vec<String>,
    /// The body is exactly the bytes of this named manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_is: Option<String>,
    /// The body is empty (HEAD).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_empty: bool,
    /// A JSON error body, if there is one, carries one of these codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_code_if_json: Vec<String>,
    /// `GET tags/list` answered a valid list (`name`, `tags` strings) in lexical order.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tags_valid: bool,
    /// Alternatives: one of these expectations holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<Expect>,
    /// Groups of assertions that must all hold, each of which may cite its own sentence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_of: Vec<Expect>,
    /// The sentence the assertions of this expectation enforce, when it is not the check's
    /// rule (on a check's expectation or an `all_of` group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cite: Option<Citation>,
    /// Judged against the profile's declaration of an open behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<Box<Declared>>,
    /// When this matches, the check is Skipped with its reason (a spec-allowed "not offered"), and no later step judges it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported_if: Option<Box<Unsupported>>,
}

/// What a layout step must have done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutExpect {
    /// The layout check finds nothing at warning or error level for these layout checks
    /// (`M1`…`M5`, `M7`), and the export finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clean: Vec<String>,
    /// The referrers of a manifest that the layout names by one convention are exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrers: Option<LayoutReferrers>,
    /// The `layout_import` finished: every manifest was pushed (and attached where needed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

/// `referrers: { of, via, exactly }` of a layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutReferrers {
    pub of: String,
    /// The convention: `index` (untagged manifests of index.json with that subject, M4),
    /// `referrers_tag` (the index under `sha256-<hex>`, M3), `annotation`
    /// (`org.opencontainers.image.referrer.subject`, M5) or `any`.
    pub via: LayoutVia,
    /// The names of the referrers the layout must name, and no others.
    pub exactly: Vec<String>,
}

/// How a layout names a referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutVia {
    Index,
    ReferrersTag,
    Annotation,
    Any,
}

/// The sentence an assertion enforces: its keyword, the quoted rule and, for a READING, how
/// referee reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citation {
    pub keyword: super::Keyword,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

/// When this matches, the check is Skipped with `reason` (a spec-allowed "unsupported").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsupported {
    pub reason: String,
    pub when: Expect,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestsExpect {
    /// The listed entries are exactly these names (as a set; repeats are `unique`'s business).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exactly: Option<Vec<String>>,
    /// These names are listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
    /// These names are not listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// Nothing is listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty: bool,
    /// No digest appears twice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    /// Every entry has exactly this artifactType.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_artifact_type: Option<String>,
    /// Record how many entries were listed, as a note (behaviour the spec leaves open).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_count: bool,
    /// Every entry's digest is one of the scenario's known manifests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_known: bool,
    /// Exactly what the model says the list holds, each entry with the descriptor of the
    /// manifest pushed (mediaType, size, artifactType, annotations): every manifest this
    /// scenario pushed (201) to that repository and did not delete (202) whose `subject` names
    /// the digest asked about. With an `artifact_type` filter the registry announced
    /// (`OCI-Filters-Applied: artifactType`), only those of that type; without the header, all
    /// of them (a registry that does not filter returns the whole list).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub model: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryExpect {
    /// mediaType, digest and size equal those of the pushed manifest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub descriptor: bool,
    /// artifactType as "Listing Referrers" derives it from the pushed manifest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub artifact_type_rule: bool,
    /// Every annotation of the pushed manifest is present with the same value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub annotations: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagesExpect {
    /// At least this many pages were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<usize>,
    /// Every page is an image index with the index Content-Type.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub each_index: bool,
    /// The last page carries no `Link` (and the chain ends within the bound).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_without_link: bool,
}


/// Behaviour the spec leaves open, judged against the profile: the variant the profile
/// declares for `key` must hold (else Failed, naming the key); with nothing declared, the
/// variant that holds is recorded as INFO.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    pub key: String,
    pub variants: BTreeMap<String, Expect>,
}

impl Expect {
    /// Every scenario name this expectation (and its alternatives) refers to.
    pub fn names<'a>(&'a self, out: &mut Vec<&'a str>) {
        if let Some(m) = &self.manifests {
            out.extend(m.exactly.iter().flatten().map(String::as_str));
            out.extend(m.includes.iter().map(String::as_str));
            out.extend(m.excludes.iter().map(String::as_str));
        }
        out.extend(self.entries.keys().map(String::as_str));
        out.extend(self.body_is.as_deref());
        out.extend(self.digest_of.as_deref());
        out.extend(self.digest_if_present.as_deref());
        out.extend(self.length_of.as_deref());
        if let Some(r) = self.layout.as_ref().and_then(|l| l.referrers.as_ref()) {
            out.push(r.of.as_str());
            out.extend(r.exactly.iter().map(String::as_str));
        }
        for a in self.any_of.iter().chain(&self.all_of) {
            a.names(out);
        }
        if let Some(u) = &self.unsupported_if {
            u.when.names(out);
        }
        if let Some(d) = &self.declared {
            for v in d.variants.values() {
                v.names(out);
            }
        }
    }
}
