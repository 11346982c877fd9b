//! What a profile may declare: the keys of `registry-behaviours.md` §6, their allowed values,
//! and the check of a file's `declares` section.

use super::locate::Place;
use super::parse::{Checker, kind, scalar_text};
use crate::scenario::diag::suggest;
use serde_yaml_ng::Value;

/// The keys a profile may declare (`registry-behaviours.md` §6).
pub fn declared_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.name)
}

/// Whether a profile may declare `value` for `key` (`unknown` included); false for unknown keys.
pub fn allows(key: &str, value: &str) -> bool {
    KEYS.iter().find(|k| k.name == key).is_some_and(|k| value == UNKNOWN || k.forms.iter().any(|f| f.matches(value)))
}

pub(super) const UNKNOWN: &str = "unknown";

/// One allowed shape of a declared value.
enum Form {
    /// Exactly this word.
    Word(&'static str),
    /// `<prefix>:<parameter>`.
    Param(&'static str, Param),
    /// YAML `true` or `false`.
    Bool,
    /// `<status>:<CODE>` such as `412:PRECONDITION`; a trailing `?` marks a guess.
    StatusCode,
}

enum Param {
    /// An HTTP status, 100–599.
    Status,
    /// One of a few statuses.
    OneOf(&'static [&'static str]),
    /// A number of entries, or of bytes with a unit (`100`, `4MiB`).
    Size,
    /// Any word without spaces; the placeholder says what it names.
    Text(&'static str),
    /// A duration: whole milliseconds (`500ms`) or seconds (`2s`).
    Duration,
}

/// A duration value (`500ms`, `2s`) in milliseconds.
pub fn duration_ms(v: &str) -> Option<u64> {
    let (digits, scale) = match v.strip_suffix("ms") {
        Some(d) => (d, 1),
        None => (v.strip_suffix('s')?, 1000),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

impl Form {
    fn matches(&self, v: &str) -> bool {
        match self {
            Form::Word(w) => v == *w,
            Form::Bool => v == "true" || v == "false",
            Form::StatusCode => v.split_once(':').is_some_and(|(s, code)| {
                let code = code.strip_suffix('?').unwrap_or(code);
                is_status(s)
                    && code.starts_with(|c: char| c.is_ascii_uppercase())
                    && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }),
            Form::Param(prefix, p) => {
                v.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')).is_some_and(|r| match p {
                    Param::Status => is_status(r),
                    Param::OneOf(set) => set.contains(&r),
                    Param::Size => {
                        let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                        digits > 0
                            && r[..digits].parse::<u64>().is_ok_and(|n| n > 0)
                            && ["", "B", "KB", "KiB", "MB", "MiB", "GB", "GiB"].contains(&&r[digits..])
                    }
                    Param::Text(_) => !r.is_empty() && !r.contains(char::is_whitespace),
                    Param::Duration => duration_ms(r).is_some(),
                })
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Form::Word(w) => w.to_string(),
            Form::Bool => "true, false".to_string(),
            Form::StatusCode => "<status>:<CODE> (e.g. 412:PRECONDITION)".to_string(),
            Form::Param(prefix, p) => match p {
                Param::Status => format!("{prefix}:<status>"),
                Param::OneOf(set) => format!("{prefix}:<{}>", set.join("|")),
                Param::Size => format!("{prefix}:<max-entries|bytes> (e.g. {prefix}:100, {prefix}:4MiB)"),
                Param::Text(what) => format!("{prefix}:<{what}>"),
                Param::Duration => format!("{prefix}:<duration> (e.g. {prefix}:500ms, {prefix}:2s)"),
            },
        }
    }
}

fn is_status(s: &str) -> bool {
    s.len() == 3 && s.chars().all(|c| c.is_ascii_digit()) && (b'1'..=b'5').contains(&s.as_bytes()[0])
}

struct KeySpec {
    name: &'static str,
    forms: &'static [Form],
}

use Form::{Bool, Param as P, StatusCode, Word as W};

/// §6's common schema, in its order.
const KEYS: &[KeySpec] = &[
    // Which distribution-spec text the registry implements (referee's own key; undeclared means
    // main): rules main made MUSTs, such as Docker-Content-Digest on a manifest GET, are SHOULDs
    // in v1.1.x.
    KeySpec { name: "spec_version", forms: &[W("v1.1"), W("main")] },
    KeySpec { name: "referrers_api", forms: &[W("required"), W("unsupported"), P("declared", Param::Text("variant"))] },
    KeySpec { name: "oci_subject_header", forms: &[W("required"), W("absent"), W("unreliable")] },
    KeySpec {
        name: "filter_artifact_type",
        forms: &[W("required-with-header"), W("server-ignores"), W("unsupported")],
    },
    KeySpec { name: "filter_multi_value", forms: &[W("or"), W("first")] },
    KeySpec { name: "pagination", forms: &[P("link-header", Param::Size), W("none")] },
    KeySpec { name: "subject_missing", forms: &[W("accept"), P("reject", Param::Status)] },
    KeySpec { name: "missing_subject_query", forms: &[W("200-empty"), W("400"), W("404")] },
    KeySpec { name: "missing_repo_query", forms: &[W("200-empty"), W("404")] },
    KeySpec { name: "index_referrer", forms: &[W("accept"), W("reject"), P("reject", Param::Status)] },
    KeySpec { name: "artifact_type_derivation", forms: &[W("spec"), W("manifest-only")] },
    KeySpec { name: "fallback_tag_read", forms: &[W("spec"), W("merged-into-api"), W("tag-resolves-digest")] },
    KeySpec { name: "unknown_media_types", forms: &[W("accept"), P("reject", Param::Status)] },
    KeySpec { name: "docker_schema2", forms: &[W("accept"), W("reject:415"), W("opt-in")] },
    KeySpec { name: "tag_delete", forms: &[W("202"), W("400"), W("405")] },
    KeySpec { name: "manifest_delete", forms: &[W("202"), P("disabled", Param::OneOf(&["400", "405"]))] },
    KeySpec { name: "delete_referenced_child", forms: &[W("allow"), P("reject", Param::Status)] },
    KeySpec { name: "on_subject_delete", forms: &[W("cascade"), W("orphan"), P("gc-later", Param::Text("policy"))] },
    // What GC does to an untagged referrer whose subject is kept: `protected` (kept because its
    // subject is), `protected-if-listed-in-tagged-index` (kept only while a tagged index — such
    // as the subject's referrers-tag fallback index — lists it, as any manifest a tagged index
    // references; collected otherwise: distribution v3), `collected` (collected even when a
    // tagged fallback index lists it: distribution 2.8), `n/a` (nothing is ever collected).
    KeySpec {
        name: "untagged_referrer_gc",
        forms: &[W("protected"), W("protected-if-listed-in-tagged-index"), W("collected"), W("n/a")],
    },
    KeySpec { name: "orphan_referrer_gc", forms: &[W("never"), P("after", Param::Text("delay")), W("with-subject")] },
    // What a GC does to blobs uploaded but not yet claimed by a manifest (referee's own key):
    // kept for a grace window (zot gcDelay, olareg) or collected (an offline GC run online).
    KeySpec { name: "gc_fresh_uploads", forms: &[W("kept"), W("collected")] },
    // Retention rules the gc hook applies when a step passes them (REFEREE_GC_CREATED_BEFORE,
    // REFEREE_GC_KEEP_NEWEST); referee's own keys, beyond §6.
    KeySpec { name: "retention_created_before", forms: &[W("enforced"), W("unsupported")] },
    KeySpec { name: "retention_keep_newest", forms: &[W("enforced"), W("unsupported")] },
    KeySpec {
        name: "gc_trigger",
        forms: &[W("offline-cli"), P("periodic", Param::Text("interval")), W("api-job"), W("none")],
    },
    KeySpec {
        name: "tag_locking",
        forms: &[
            W("none"),
            W("harbor-immutable-rules"),
            W("ecr-tag-mutability"),
            W("acr-write-enabled"),
            W("zot-acl-create-no-update"),
            W("quay-immutable-tags"),
            W("gar-immutable-tags"),
            W("dockerhub-immutable-tags"),
            W("artifactory-permissions"),
            W("embedded-lock"),
        ],
    },
    KeySpec { name: "locked_push_status", forms: &[StatusCode] },
    KeySpec { name: "locked_same_digest_repush", forms: &[W("allowed"), W("rejected")] },
    KeySpec { name: "referrer_to_locked_subject", forms: &[W("allowed"), W("rejected")] },
    // Bare `rejected`: the delete is refused with a status nobody has observed yet.
    KeySpec { name: "locked_delete", forms: &[P("rejected", Param::Status), W("rejected"), W("allowed")] },
    KeySpec { name: "fallback_tag_lockable", forms: &[Bool] },
    KeySpec { name: "mount_with_from", forms: &[W("201"), W("202-always"), W("201-if-referenced")] },
    KeySpec { name: "mount_without_from", forms: &[W("202"), W("201-auto-discovery")] },
    KeySpec { name: "conditional_put", forms: &[W("ignored"), W("etag-412")] },
    KeySpec { name: "monolithic_upload", forms: &[W("supported"), W("unsupported")] },
    // How long after a write a referrers listing (API or tag) may still leave it out (referee's
    // own key): reads marked `eventually` try again within it; undeclared means 2 s. An index
    // updated asynchronously is stale for a while, not lossy.
    KeySpec { name: "listing_convergence", forms: &[W("immediate"), P("within", Param::Duration)] },
];

impl Checker<'_> {
    pub(super) fn declares(&mut self, v: &Value, section: Option<Place>) -> Vec<(String, String)> {
        let Some(map) = self.mapping(v, section, "declares") else { return vec![] };
        let mut out = vec![];
        for (k, v) in map {
            let key = scalar_text(k);
            let place = section.and_then(|s| self.key(Some(s), &key));
            let Some(spec) = KEYS.iter().find(|s| s.name == key) else {
                let known: Vec<&str> = declared_keys().collect();
                self.unknown_key(place, &key, &known, Some("declares"));
                continue;
            };
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => {
                    self.error(place, format!("missing value for '{key}' (in declares)"), Some(allowed(spec)));
                    continue;
                }
                other => {
                    let found = kind(other);
                    self.error(
                        self.value(place),
                        format!("expected one value for '{key}' (in declares), found {found}"),
                        Some(allowed(spec)),
                    );
                    continue;
                }
            };
            if value != UNKNOWN && !spec.forms.iter().any(|f| f.matches(&value)) {
                let words = spec.forms.iter().filter_map(|f| match f {
                    Form::Word(w) => Some(*w),
                    _ => None,
                });
                let help = match suggest(&value, words.chain([UNKNOWN])) {
                    Some(s) => format!("did you mean '{s}'? {}", allowed(spec)),
                    None => allowed(spec),
                };
                self.error(self.value(place), format!("invalid value '{value}' for '{key}' (in declares)"), Some(help));
                continue;
            }
            out.push((key, value));
        }
        out
    }
}

fn allowed(spec: &KeySpec) -> String {
    let forms: Vec<String> = spec.forms.iter().map(Form::describe).chain([UNKNOWN.to_string()]).collect();
    format!("allowed: {}", forms.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let spec = KEYS.iter().find(|k| k.name == "pagination").unwrap();
        for ok in ["none", "link-header:100", "link-header:4MiB"] {
            assert!(spec.forms.iter().any(|f| f.matches(ok)), "{ok}");
        }
        for bad in ["link-header", "link-header:", "link-header:0", "link-header:4 MiB", "link-header:4XB"] {
            assert!(!spec.forms.iter().any(|f| f.matches(bad)), "{bad}");
        }
        assert!(StatusCode.matches("405:DENIED?"));
        assert!(!StatusCode.matches("412:precondition"));
        assert!(!StatusCode.matches("612:PRECONDITION"));
    }
}
