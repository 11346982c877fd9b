//! Judging one observation against one [`Expect`]: each key is one assertion; all must hold.
//! `any_of` passes when one alternative does; `unsupported_if` turns a match into Skipped.

use crate::client::Response;
use crate::oci::{Built, Digest, media};
use crate::scenario::{Citation, Expect, Presence};
use serde_json::Value;
use std::collections::HashMap;

/// What a step saw.
#[derive(Debug, Default)]
pub struct Observation {
    /// The answer judged by status/header keys (the first page for a listing).
    pub response: Option<Response>,
    /// Every page read, in order.
    pub pages: Vec<Response>,
    /// `Link` headers that did not parse, per page.
    pub link_errors: Vec<String>,
    /// The paging chain ended abnormally (loop, bound).
    pub chain_error: Option<String>,
    /// The manifest a push step sent.
    pub pushed: Option<Built>,
    /// For `wait_listed`: whether it was listed, and after how long.
    pub listed: Option<(bool, u64)>,
    /// A request the step made after the judged one (e.g. finishing an upload session).
    pub followup: Option<Response>,
    /// For `copy`: what did not arrive byte-identical.
    pub copy_problems: Option<Vec<String>>,
    /// Numbers the step measured (e.g. `conditional_retries`), reported with every check it
    /// judges.
    pub measurements: Vec<super::measure::Measurement>,
    /// The same request made again (with what was different), each judged like this one.
    pub repeats: Vec<(String, Observation)>,
    /// For `reverse`: the digests the walk found pointing at the manifest, and what the model
    /// says (name, digest).
    pub walk: Option<WalkObservation>,
    /// For `layout_export` / `layout_import`.
    pub layout: Option<LayoutObservation>,
    /// For a listing (`referrers`, `fallback_read`): what the model says it holds, from what
    /// the scenario pushed and deleted (judged by `manifests: { model: true }`).
    pub model: Option<ModelListing>,
}

/// What a layout step saw: the layout check of what `layout_export` wrote, or that a
/// `layout_import` ran; and the registry's answer that stopped either, if one did.
#[derive(Debug, Default)]
pub struct LayoutObservation {
    pub check: Option<crate::layout::check::LayoutCheck>,
    pub stopped: Option<String>,
    pub imported: bool,
}

/// What a `reverse` walk found (digests) and what the model says it should (name, digest).
#[derive(Debug, Clone, Default)]
pub struct WalkObservation {
    pub found: Vec<String>,
    pub expected: Vec<(String, String)>,
    /// The walk stopped at a bound before it was done.
    pub truncated: Option<String>,
}

/// What the model expects of one listing: the referrers present (name, manifest), unfiltered,
/// and the `artifactType` filter the request asked for.
#[derive(Debug, Clone, Default)]
pub struct ModelListing {
    pub referrers: Vec<(String, Built)>,
    pub filter: Option<String>,
    /// Referrers of this digest the scenario deleted (name, manifest, how): for the message
    /// when one is still listed.
    pub deleted: Vec<(String, Built, String)>,
}

impl ModelListing {
    /// From a scenario's context: the manifests present in `repo` whose subject is `subject`.
    pub fn of(ctx: &super::context::Ctx, repo: &str, subject: &crate::oci::Digest, filter: Option<&str>) -> ModelListing {
        let present = ctx.entries.iter().filter(|(_, e)| e.pushed && e.repo == repo).map(|(n, e)| (n.clone(), &e.built));
        let referrers = crate::graph::model::listed_referrers(present, subject, None).into_iter().map(|(n, b)| (n, b.clone())).collect();
        let deleted = ctx
            .entries
            .iter()
            .filter(|(_, e)| e.repo == repo && e.built.subject.as_ref().is_some_and(|s| &s.digest == subject))
            .filter_map(|(n, e)| e.deleted.as_ref().map(|how| (n.clone(), e.built.clone(), how.clone())))
            .collect();
        ModelListing { referrers, filter: filter.map(str::to_string), deleted }
    }
}

/// On what authority an assertion failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// The check's own rule (its keyword decides between FAIL and WARN).
    Check,
    /// A sentence the expectation cites (its keyword decides).
    Cite(Citation),
    /// The vendor profile's declaration of this key (a contradiction always fails).
    Profile(String),
}

/// One failed assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    pub basis: Basis,
}

impl Failure {
    fn of_check(message: String) -> Failure {
        Failure { message, basis: Basis::Check }
    }
}

/// The verdict of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Pass(Vec<String>),
    Fail(Vec<Failure>),
    Skip(String),
}

/// The messages of failures, for reasons and alternatives.
pub fn messages(f: &[Failure]) -> Vec<String> {
    f.iter().map(|x| x.message.clone()).collect()
}

/// Names → manifests the scenario built.
pub type Names<'a> = HashMap<&'a str, &'a Built>;

pub use super::declares::Declares;
use super::listing::listing_assertions;

pub fn judge(e: &Expect, obs: &Observation, names: &Names) -> Judgement {
    judge_declared(e, obs, names, &Declares::new())
}

/// [`judge`], with the profile's declarations for `declared:` expectations.
pub fn judge_declared(e: &Expect, obs: &Observation, names: &Names, declares: &Declares) -> Judgement {
    if let Some(u) = &e.unsupported_if
        && let Judgement::Pass(_) = judge_declared(&u.when, obs, names, declares)
    {
        return Judgement::Skip(u.reason.clone());
    }
    let mut notes = vec![];
    let mut failures: Vec<Failure> = vec![];
    if let Some(d) = &e.declared {
        match declares.get(&d.key) {
            Some(value) => match d.variants.get(value) {
                Some(variant) => match judge_declared(variant, obs, names, declares) {
                    Judgement::Pass(n) => notes.extend(n),
                    Judgement::Fail(f) => {
                        // Every variant this one answer is consistent with (K1's first GET
                        // cannot tell `collected` from `protected-if-listed-in-tagged-index`).
                        let held = holding_variants(d, obs, names, declares);
                        let observed = (!held.is_empty()).then(|| held.join(" or "));
                        let holds = if declares.is_defaulted(&d.key) {
                            format!("the profile does not declare {}, so referee holds the registry to {value}", d.key)
                        } else {
                            format!("the profile declares {}: {value}", d.key)
                        };
                        let message = format!(
                            "{holds}, but the registry contradicts it ({}){}",
                            messages(&f).join("; "),
                            observed.map(|o| format!("; observed: {}: {o}", d.key)).unwrap_or_default()
                        );
                        failures.push(Failure { message, basis: Basis::Profile(d.key.clone()) });
                    }
                    Judgement::Skip(r) => return Judgement::Skip(r),
                },
                None => {
                    let why = format!(
                        "the profile declares {}: {value}, which this scenario cannot observe (it tells {})",
                        d.key,
                        d.variants.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                    // Nothing else to judge: Skipped. Otherwise the rest (e.g. a MUST status)
                    // is still judged, and the declaration is a note.
                    let rest = Expect { declared: None, ..e.clone() };
                    if serde_json::to_value(&rest).is_ok_and(|v| v == serde_json::json!({})) {
                        return Judgement::Skip(why);
                    }
                    notes.push(format!("INFO: {why}"));
                }
            },
            None => match holding_variants(d, obs, names, declares).as_slice() {
                [o] => notes.push(format!("INFO: observed {}: {o} (the profile declares nothing; the spec leaves it open)", d.key)),
                [] => notes.push(format!(
                    "INFO: {} matches none of {} (the profile declares nothing)",
                    d.key,
                    d.variants.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
                several => notes.push(format!(
                    "INFO: {} is consistent with {} here (the profile declares nothing)",
                    d.key,
                    several.join(" and ")
                )),
            },
        }
    }
    let mut fails = vec![];
    assertions(e, obs, names, &mut fails, &mut notes);
    if !e.any_of.is_empty() {
        let mut alt_fails = vec![];
        let mut ok = false;
        for (i, alt) in e.any_of.iter().enumerate() {
            match judge_declared(alt, obs, names, declares) {
                Judgement::Pass(n) => {
                    notes.extend(n);
                    ok = true;
                    break;
                }
                Judgement::Fail(f) => alt_fails.push(format!("alternative {}: {}", i + 1, messages(&f).join("; "))),
                Judgement::Skip(r) => return Judgement::Skip(r),
            }
        }
        if !ok {
            fails.push(format!("no alternative holds ({})", alt_fails.join(" | ")));
        }
    }
    failures.extend(fails.into_iter().map(Failure::of_check));
    for group in &e.all_of {
        match judge_declared(group, obs, names, declares) {
            Judgement::Pass(n) => notes.extend(n),
            Judgement::Fail(f) => failures.extend(f),
            Judgement::Skip(r) => return Judgement::Skip(r),
        }
    }
    if failures.is_empty() {
        return Judgement::Pass(notes);
    }
    // What this expectation cites covers the assertions that cite nothing themselves.
    if let Some(c) = &e.cite {
        for f in &mut failures {
            if f.basis == Basis::Check {
                f.basis = Basis::Cite(c.clone());
            }
        }
    }
    // Two assertions may say the same thing (`exactly` and `unique` on a duplicate).
    let mut seen = std::collections::HashSet::new();
    failures.retain(|f| seen.insert(f.message.clone()));
    Judgement::Fail(failures)
}

/// Every variant whose expectation holds.
fn holding_variants<'a>(d: &'a crate::scenario::Declared, obs: &Observation, names: &Names, declares: &Declares) -> Vec<&'a str> {
    d.variants
        .iter()
        .filter(|(_, v)| matches!(judge_declared(v, obs, names, declares), Judgement::Pass(_)))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// Every assertion of `e` on what the step saw, in a fixed order (messages list failures in
/// that order).
fn assertions(e: &Expect, obs: &Observation, names: &Names, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    if e.copied_exact {
        match &obs.copy_problems {
            Some(p) if p.is_empty() => {}
            Some(p) => fails.extend(p.iter().cloned()),
            None => fails.push("`copied_exact` judges only a copy step (scenario error)".into()),
        }
    }
    if let Some(le) = &e.layout {
        match &obs.layout {
            Some(lo) => judge_layout(le, lo, names, fails),
            None => fails.push("`layout` judges only layout_export and layout_import steps (scenario error)".into()),
        }
    }
    if e.walk_model {
        match &obs.walk {
            Some(WalkObservation { found, expected: want, truncated }) => {
                if let Some(t) = truncated {
                    fails.push(format!("the walk was cut short ({t}), so what it found is partial"));
                }
                for (n, d) in want {
                    if !found.contains(d) {
                        fails.push(format!("'{n}' ({d}) points at it but the walk did not find it"));
                    }
                }
                for d in found {
                    if !want.iter().any(|(_, w)| w == d) {
                        let n = names.iter().find(|(_, b)| b.digest.as_str() == d).map_or(String::new(), |(n, _)| format!("'{n}' "));
                        fails.push(format!("the walk found {n}({d}), which the model does not have pointing at it"));
                    }
                }
            }
            None => fails.push("`walk_model` judges only a reverse step (scenario error)".into()),
        }
    }
    let Some(r) = obs.response.as_ref() else {
        if needs_response(e) {
            fails.push("no response to judge".into());
        }
        return listing_assertions(e, obs, names, fails, notes);
    };
    if let Some(st) = &e.status
        && !st.0.contains(&r.status)
    {
        let want = st.0.iter().map(u16::to_string).collect::<Vec<_>>().join(" or ");
        fails.push(format!("expected status {want}, got {}", r.describe()));
        // The rest would only repeat the wrong status in other words.
        return;
    }
    header_assertions(e, r, obs, fails, notes);
    body_assertions(e, r, obs, names, fails, notes);
    exchange_assertions(e, r, obs, names, fails, notes);
    listing_assertions(e, obs, names, fails, notes);
}

/// Whether any assertion of `e` looks at the (first) response itself.
fn needs_response(e: &Expect) -> bool {
    e.status.is_some()
        || e.content_type.is_some()
        || !e.header.is_empty()
        || !e.header_contains.is_empty()
        || !e.header_absent.is_empty()
        || e.oci_subject
        || !e.error_code.is_empty()
        || e.index
        || e.link.is_some()
        || !e.header_present.is_empty()
        || e.body_is.is_some()
        || e.body_empty
        || !e.error_code_if_json.is_empty()
        || e.tags_valid
        || e.then_status.is_some()
        || e.digest_of.is_some()
        || e.digest_if_present.is_some()
        || e.length_of.is_some()
        || e.body_text.is_some()
        || e.rejected
        || e.detection_consistent
        || e.error_body_valid
        || e.warnings_valid
        || e.redirected.is_some()
}

/// Content-Type, exact and listed headers, absent headers, `OCI-Subject`.
fn header_assertions(e: &Expect, r: &Response, obs: &Observation, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    if let Some(ct) = &e.content_type {
        match r.header("content-type") {
            None => fails.push(format!("no Content-Type header (expected {ct})")),
            Some(got) => {
                let base = got.split(';').next().unwrap_or("").trim();
                if !base.eq_ignore_ascii_case(ct) {
                    fails.push(format!("Content-Type is {got:?}, expected {ct:?}"));
                } else if got.trim() != ct {
                    notes.push(format!("Content-Type {got:?} carries parameters (expected exactly {ct:?})"));
                }
            }
        }
    }
    for (h, v) in &e.header {
        match r.header(h) {
            Some(got) if got == v => {}
            Some(got) => fails.push(format!("header {h} is {got:?}, expected {v:?}")),
            None => fails.push(format!("header {h} is missing (expected {v:?})")),
        }
    }
    for (h, want) in &e.header_contains {
        let values = r.header_all(h);
        if values.is_empty() {
            fails.push(format!("header {h} is missing (expected it to list {want:?})"));
            continue;
        }
        let items: Vec<String> = values.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).collect();
        if items.iter().any(|i| i == want) {
        } else if items.iter().any(|i| i.eq_ignore_ascii_case(want)) {
            notes.push(format!("header {h} lists {want:?} with different casing: {values:?}"));
        } else {
            fails.push(format!("header {h} is {values:?}, which does not list {want:?}"));
        }
    }
    for h in &e.header_absent {
        if let Some(v) = r.header(h) {
            fails.push(format!("header {h} is present ({v:?}) but must be absent"));
        }
    }
    if e.oci_subject {
        let want = obs.pushed.as_ref().and_then(|b| b.subject.as_ref()).map(|s| s.digest.to_string());
        match (r.header("oci-subject"), want) {
            (Some(got), Some(w)) if got == w => {}
            (Some(got), Some(w)) => fails.push(format!("OCI-Subject is {got:?}, expected the subject digest {w}")),
            (None, Some(w)) => fails.push(format!("OCI-Subject header is missing (expected {w})")),
            (_, None) => fails.push("the pushed manifest has no subject (scenario error)".into()),
        }
    }
}

/// Error codes, index bodies, present headers, exact bodies, detection, error bodies.
fn body_assertions(e: &Expect, r: &Response, obs: &Observation, names: &Names, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    if !e.error_code.is_empty() {
        match r.error_code() {
            Some(c) if e.error_code.contains(&c) => {}
            Some(c) => fails.push(format!("error code {c}, expected one of {}", e.error_code.join(", "))),
            None => fails.push(format!("no OCI error body (expected code {})", e.error_code.join(" or "))),
        }
    }
    if e.index
        && let Err(why) = check_index(r, notes)
    {
        fails.push(why);
    }
    for h in &e.header_present {
        if r.header(h).is_none() {
            fails.push(format!("header {h} is missing"));
        }
    }
    if let Some(name) = &e.body_is
        && let Some(b) = names.get(name.as_str())
        && r.body != b.bytes
    {
        fails.push(format!(
            "body ({} bytes, {}) is not the exact bytes of '{name}' ({} bytes, {})",
            r.body.len(),
            Digest::sha256(&r.body),
            b.bytes.len(),
            b.digest
        ));
    }
    if e.body_empty && !r.body.is_empty() {
        fails.push(format!("body must be empty, got {} bytes", r.body.len()));
    }
    if !e.error_code_if_json.is_empty()
        && let Ok(v) = r.json()
    {
        match v.get("errors").and_then(|x| x.get(0)).and_then(|x| x.get("code")).and_then(Value::as_str) {
            Some(c) if e.error_code_if_json.iter().any(|w| w == c) => {}
            other => fails.push(format!("JSON error body has code {other:?}, expected one of {}", e.error_code_if_json.join(", "))),
        }
    }
    if e.detection_consistent {
        let subject_header = obs.followup.as_ref().and_then(|f| f.header("oci-subject"));
        match (r.status, subject_header) {
            (404, Some(s)) => fails.push(format!(
                "the push answered OCI-Subject: {s}, announcing the referrers API, but GET …/referrers answered {}: clients cannot tell whether to fall back",
                r.describe()
            )),
            (404, None) => notes.push("no referrers API (404, no OCI-Subject): clients fall back to the tag schema".into()),
            (200, _) => {
                if let Err(why) = check_index(r, notes) {
                    fails.push(why);
                }
            }
            _ => fails.push(format!("GET …/referrers answered neither 200 nor 404: {}", r.describe())),
        }
    }
    if e.error_body_valid
        && let Err(why) = check_error_body(r, notes)
    {
        fails.push(why);
    }
}

/// Warnings, redirects, refusals, digests and lengths, literal bodies, follow-ups, tag lists,
/// `Link`.
fn exchange_assertions(e: &Expect, r: &Response, obs: &Observation, names: &Names, fails: &mut Vec<String>, notes: &mut Vec<String>) {
    if e.warnings_valid {
        let values = r.header_all("warning");
        let total: usize = values.iter().map(String::len).sum();
        if total > 4096 {
            fails.push(format!("{total} bytes of Warning headers; at most 4096 are allowed"));
        }
        for v in &values {
            if let Err(why) = check_warning(v) {
                fails.push(why);
            }
        }
    }
    if let Some(want) = e.redirected {
        let was = !r.url.path().starts_with("/v2/");
        if was != want {
            fails.push(if want { "the answer was not redirected".into() } else { format!("the answer came from {}", r.url) });
        } else if was {
            notes.push(format!("redirected to {}", r.url));
        }
    }
    if e.rejected {
        if r.status < 400 {
            fails.push(format!("the request was accepted: {}", r.describe()));
        } else if r.status >= 500 {
            notes.push(format!("refused with a server error ({}) rather than a 4xx", r.status));
        }
    }
    if let Some(name) = &e.digest_of
        && let Some(b) = names.get(name.as_str())
    {
        match r.header("docker-content-digest") {
            Some(d) if d == b.digest.as_str() => {}
            Some(d) => fails.push(format!("Docker-Content-Digest is {d}, expected {}", b.digest)),
            None => fails.push(format!("Docker-Content-Digest is missing (expected {})", b.digest)),
        }
    }
    if let Some(name) = &e.digest_if_present
        && let Some(b) = names.get(name.as_str())
        && let Some(d) = r.header("docker-content-digest")
        && d != b.digest.as_str()
    {
        fails.push(format!("Docker-Content-Digest is {d}, expected {} (or no such header)", b.digest));
    }
    if let Some(name) = &e.length_of
        && let Some(b) = names.get(name.as_str())
    {
        let want = b.bytes.len().to_string();
        match r.header("content-length") {
            Some(l) if l == want => {}
            Some(l) => fails.push(format!("Content-Length is {l}, expected {want}")),
            None => fails.push(format!("Content-Length is missing (expected {want})")),
        }
    }
    if let Some(t) = &e.body_text
        && r.body != t.as_bytes()
    {
        fails.push(format!("body is {:?}, expected {t:?}", String::from_utf8_lossy(&r.body[..r.body.len().min(200)])));
    }
    if let Some(st) = &e.then_status {
        match &obs.followup {
            Some(f) if st.0.contains(&f.status) => {}
            Some(f) => fails.push(format!("the follow-up {} {} answered {}", "request to", f.url.path(), f.describe())),
            None => fails.push("no follow-up request could be made (no usable Location)".into()),
        }
    }
    if e.tags_valid
        && let Err(why) = check_tags(r, notes)
    {
        fails.push(why);
    }
    if let Some(p) = e.link {
        let has = r.header("link").is_some();
        match (p, has) {
            (Presence::Present, false) => fails.push("no Link header".into()),
            (Presence::Absent, true) => fails.push(format!("Link header present: {:?}", r.header("link").unwrap_or(""))),
            _ => {}
        }
    }
}

/// The codes of distribution-spec "Error Codes", and the two its legacy section allows.
const ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED",
    "UNSUPPORTED", "TOOMANYREQUESTS",
];
const LEGACY_ERROR_CODES: &[&str] = &["TAG_INVALID", "MANIFEST_UNVERIFIED"];

/// distribution-spec "Error Codes": a JSON 4xx body is `{"errors":[{"code","message","detail"}]}`.
fn check_error_body(r: &Response, notes: &mut Vec<String>) -> Result<(), String> {
    if !(400..500).contains(&r.status) {
        return Ok(());
    }
    let is_json = r.header("content-type").is_some_and(|c| c.contains("json"));
    let Ok(v) = r.json() else {
        return if is_json { Err("a JSON error body that does not parse".into()) } else { Ok(()) };
    };
    let errors = v.get("errors").and_then(Value::as_array).ok_or("error body has no `errors` list")?;
    for e in errors {
        let code = e.get("code").and_then(Value::as_str).ok_or("an error has no `code`")?;
        if LEGACY_ERROR_CODES.contains(&code) {
            notes.push(format!("legacy Docker error code {code} (clients MAY encounter it)"));
        } else if !ERROR_CODES.contains(&code) {
            return Err(format!("error code {code:?} is not one of the spec's codes"));
        }
        if e.get("message").is_some_and(|m| !m.is_string()) {
            return Err("an error's `message` is not a string".into());
        }
    }
    Ok(())
}

/// `299 - "<text>"` with no warn-date (distribution-spec "Warnings").
fn check_warning(v: &str) -> Result<(), String> {
    let rest = v.trim().strip_prefix("299 - \"").ok_or_else(|| format!("Warning {v:?} does not start with `299 - \"`"))?;
    let end = rest.rfind('"').ok_or_else(|| format!("Warning {v:?} has an unterminated text"))?;
    if !rest[end + 1..].trim().is_empty() {
        return Err(format!("Warning {v:?} carries something after its text (a warn-date?)"));
    }
    Ok(())
}

/// distribution-spec "Listing Tags": `{"name", "tags": [...]}`, tags in lexical or ASCII order.
fn check_tags(r: &Response, notes: &mut Vec<String>) -> Result<(), String> {
    let v = r.json()?;
    if v.get("name").and_then(Value::as_str).is_none() {
        return Err("tags list has no `name`".into());
    }
    let tags: Vec<&str> = match v.get("tags") {
        Some(Value::Array(a)) => a.iter().map(|t| t.as_str().ok_or("a tag is not a string")).collect::<Result<_, _>>()?,
        Some(Value::Null) => {
            notes.push("`tags` is null (an empty repository)".into());
            vec![]
        }
        _ => return Err("tags list has no `tags` array".into()),
    };
    let ascii = tags.windows(2).all(|w| w[0] <= w[1]);
    let lexical = tags.windows(2).all(|w| w[0].to_lowercase() <= w[1].to_lowercase());
    if !ascii && !lexical {
        let at = tags.windows(2).position(|w| w[0] > w[1] && w[0].to_lowercase() > w[1].to_lowercase()).unwrap_or(0);
        return Err(format!("tags are not in lexical order: {:?} comes before {:?}", tags[at], tags[at + 1]));
    }
    Ok(())
}

/// Checks that a body is an image index usable as a referrers response.
pub fn check_index(r: &Response, notes: &mut Vec<String>) -> Result<(), String> {
    let v = r.json()?;
    if v.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(format!("schemaVersion is {}, expected 2", v.get("schemaVersion").unwrap_or(&Value::Null)));
    }
    match v.get("mediaType").and_then(Value::as_str) {
        Some(m) if m == media::IMAGE_INDEX => {}
        Some(m) => return Err(format!("mediaType is {m:?}, expected {:?}", media::IMAGE_INDEX)),
        None => notes.push("index has no mediaType field (image-spec: SHOULD be used)".into()),
    }
    match v.get("manifests") {
        Some(Value::Array(_)) => Ok(()),
        Some(Value::Null) => Err("`manifests` is null; an empty list MUST be `[]`".into()),
        Some(other) => Err(format!("`manifests` is not a list: {other}")),
        None => Err("`manifests` is missing; an empty list MUST be `[]`".into()),
    }
}

/// `layout:` on what a layout step saw.
fn judge_layout(e: &crate::scenario::LayoutExpect, o: &LayoutObservation, names: &Names, fails: &mut Vec<String>) {
    use crate::layout::check::Severity;
    use crate::scenario::LayoutVia;
    if e.imported {
        match (&o.stopped, o.imported) {
            (_, false) => fails.push("`layout: { imported }` judges only a layout_import step (scenario error)".into()),
            (Some(why), true) => fails.push(format!("the import stopped: {why}")),
            (None, true) => {}
        }
    }
    if e.clean.is_empty() && e.referrers.is_none() {
        return;
    }
    let Some(c) = &o.check else {
        fails.push("`layout: { clean, referrers }` judges only a layout_export step (scenario error)".into());
        return;
    };
    if let Some(why) = &o.stopped {
        fails.push(format!("the export stopped, so the layout is incomplete: {why}"));
        return;
    }
    for id in &e.clean {
        // Notes (a missing blob a layout may lack, a bound referee reached) are not findings.
        for f in c.findings.iter().filter(|f| f.check == id && f.severity >= Severity::Warn) {
            fails.push(format!("the exported layout: {f}"));
        }
    }
    let Some(r) = &e.referrers else { return };
    let (Some(of), Some(want)) = (names.get(r.of.as_str()), r.exactly.iter().map(|n| names.get(n.as_str()).map(|b| (n, b))).collect::<Option<Vec<_>>>()) else {
        fails.push("a name in `layout: { referrers }` was not built (scenario error)".into());
        return;
    };
    let via = match r.via {
        LayoutVia::Index => Some("index.json"),
        LayoutVia::ReferrersTag => Some("referrers tag"),
        LayoutVia::Annotation => Some("annotation"),
        LayoutVia::Any => None,
    };
    let how = via.map_or_else(|| "any convention".to_string(), |v| format!("the {v} convention"));
    let found: std::collections::BTreeSet<&str> =
        c.referrers.iter().filter(|x| x.subject == of.digest.as_str() && via.is_none_or(|v| x.via == v)).map(|x| x.referrer.as_str()).collect();
    for (n, b) in &want {
        if !found.contains(b.digest.as_str()) {
            fails.push(format!("the exported layout does not name '{n}' ({}) as a referrer of '{}' by {how}", b.digest, r.of));
        }
    }
    for d in found.iter().filter(|d| !want.iter().any(|(_, b)| b.digest.as_str() == **d)) {
        let known = names.iter().find(|(_, b)| b.digest.as_str() == *d).map(|(n, _)| format!(" ('{n}')")).unwrap_or_default();
        fails.push(format!("the exported layout names {d}{known} as a referrer of '{}' by {how}, which the scenario did not push as one", r.of));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `digest_if_present`: an absent header passes, a right one passes, a wrong one fails
    /// naming both digests; `digest_of` still fails an absent header.
    #[test]
    fn a_digest_header_is_judged_only_when_present() {
        let built = crate::oci::ManifestBuilder::image("digest-if-present").build();
        let names: Names = [("img", &built)].into_iter().collect();
        let answer = |digest: Option<String>| {
            let mut headers = reqwest::header::HeaderMap::new();
            if let Some(d) = digest {
                headers.insert("docker-content-digest", d.parse().unwrap());
            }
            Observation {
                response: Some(crate::client::Response { status: 201, headers, body: vec![], url: "http://127.0.0.1:1/v2/".parse().unwrap() }),
                ..Default::default()
            }
        };
        let lenient: Expect = serde_yaml_ng::from_str("{ status: 201, digest_if_present: img }").unwrap();
        let strict: Expect = serde_yaml_ng::from_str("{ status: 201, digest_of: img }").unwrap();
        assert!(matches!(judge(&lenient, &answer(None), &names), Judgement::Pass(_)));
        assert!(matches!(judge(&lenient, &answer(Some(built.digest.to_string())), &names), Judgement::Pass(_)));
        let wrong = crate::oci::Digest::sha256(b"other").to_string();
        match judge(&lenient, &answer(Some(wrong.clone())), &names) {
            Judgement::Fail(f) => assert!(f[0].message.contains(&wrong) && f[0].message.contains(built.digest.as_str()), "{f:?}"),
            other => panic!("a wrong digest fails: {other:?}"),
        }
        assert!(matches!(judge(&strict, &answer(None), &names), Judgement::Fail(_)));
    }

    /// A declared value no variant covers: the rest of the expectation is still judged (the
    /// value becomes a note); with nothing else to judge, Skipped.
    #[test]
    fn an_unobservable_declaration_does_not_hide_the_other_assertions() {
        let obs = Observation {
            response: Some(crate::client::Response {
                status: 404,
                headers: Default::default(),
                body: vec![],
                url: "http://127.0.0.1:1/v2/".parse().unwrap(),
            }),
            ..Default::default()
        };
        let declares: Declares = [("on_subject_delete".to_string(), "gc-later:with-subject".to_string())].into_iter().collect();
        let e: Expect = serde_yaml_ng::from_str(
            "{ status: 200, declared: { key: on_subject_delete, variants: { orphan: {}, cascade: {} } } }",
        )
        .unwrap();
        match judge_declared(&e, &obs, &Names::new(), &declares) {
            Judgement::Fail(f) => assert!(f[0].message.contains("expected status 200"), "{f:?}"),
            other => panic!("the status is still judged: {other:?}"),
        }
        let only: Expect =
            serde_yaml_ng::from_str("{ declared: { key: on_subject_delete, variants: { orphan: {}, cascade: {} } } }").unwrap();
        assert!(matches!(judge_declared(&only, &obs, &Names::new(), &declares), Judgement::Skip(_)));
    }

    #[test]
    fn media_types() {
        assert!(super::super::listing::media_type_ok("application/vnd.oci.image.manifest.v1+json"));
        assert!(super::super::listing::media_type_ok("application/spdx+json"));
        assert!(!super::super::listing::media_type_ok(""));
        assert!(!super::super::listing::media_type_ok("nonsense"));
    }
}
