//! The scenario file format: a file, its checks, and its steps. A step is one [`Action`] (its
//! options live in `actions`) plus the checks judged on its answer (`expect`). Every struct
//! denies unknown keys so a typo is an error at its line and column, never silently ignored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::actions::*;
use super::expect::{Expect, Unsupported};

/// One scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Stable id, e.g. `referrers/response`.
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// Capabilities every check here needs; without them the checks are Skipped with the reason.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Other registries this scenario works with, by name (given with `--mirror NAME=URL`).
    #[serde(default)]
    pub targets: Vec<String>,
    /// The checks this file evaluates, by catalogue id.
    pub checks: BTreeMap<String, CheckDecl>,
    pub steps: Vec<Step>,
}

/// What a registry may or may not offer; probed before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `GET /v2/<name>/referrers/<digest>` answers something other than 404.
    ReferrersApi,
    /// The registry asks for Bearer tokens (so token scopes can be tested).
    BearerAuth,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::ReferrersApi => "referrers-api",
            Capability::BearerAuth => "bearer-auth",
        }
    }
}

/// How binding the rule a check (or one assertion) enforces is, and so what breaking it means:
/// a broken `MUST` (or MUST NOT) is a FAIL; a broken `SHOULD`, `MAY` or `READING` is a WARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Keyword {
    /// The quoted sentence says MUST or MUST NOT.
    MUST,
    /// The quoted sentence says SHOULD (or SHOULD NOT).
    SHOULD,
    MAY,
    /// referee's own reading of a sentence that does not say it in so many words; the reading
    /// is stated beside the rule (`reading:`).
    READING,
}

impl Keyword {
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::MUST => "MUST",
            Keyword::SHOULD => "SHOULD",
            Keyword::MAY => "MAY",
            Keyword::READING => "READING",
        }
    }

    /// Whether breaking it fails the check (else it warns).
    pub fn fails(self) -> bool {
        self == Keyword::MUST
    }
}

/// A check's citation: catalogue id (the map key), rule, and where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDecl {
    pub title: String,
    /// Spec and section, e.g. `distribution-spec "Listing Referrers"`.
    pub section: String,
    pub keyword: Keyword,
    /// The spec sentence the check enforces (quoted in failures).
    pub rule: String,
    /// With `keyword: READING`: how referee reads `rule` (quoted in warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
    /// Spec version that introduced the rule.
    #[serde(default = "default_since")]
    pub since: String,
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Skipped, before anything is sent, when the profile declares one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if_declared: Option<SkipIfDeclared>,
    /// The embedded registry's fault that makes this check FAIL (WARN for SHOULD and READING):
    /// the mutation test (`tests/faults.rs`) runs the check's scenario with it switched on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven_by: Option<ProvenBy>,
}

/// A check's proof: a fault (`referee serve --list-faults`) or a policy switch (`gc.protect=false`,
/// `gc.orphans=…`, `gc.pin=false`, `lock=…`, `referrers_lag_ms=…`; several joined with `+`), and
/// the other checks of the same scenario that it breaks too (all of them, no more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenBy {
    pub fault: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

/// A profile declaration under which a check cannot run (e.g. a GC that only runs offline
/// cannot race pushes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipIfDeclared {
    pub key: String,
    pub values: Vec<String>,
    pub reason: String,
}

fn default_since() -> String {
    "1.1".into()
}

/// One step: exactly one action plus the checks judged on its answer. In YAML the action is
/// a key of the step (`- push_image: {…}`) beside `checks:` and `stop_if:`; `step_serde`
/// reads and writes that form.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    /// Check id → what its answer must look like.
    pub checks: BTreeMap<String, Expect>,
    /// When the answer matches `when`, the rest of the scenario cannot be what it means to
    /// test (e.g. deletion is disabled): this step's checks and all later ones are Skipped
    /// with `reason`.
    pub stop_if: Option<Unsupported>,
    /// A read that may lag behind the writes before it (an asynchronously updated index): it
    /// is read again until its checks hold or the profile's `listing_convergence` window
    /// (default 2 s) ends; how long it took is measured as `convergence_ms`.
    pub eventually: bool,
}

/// Declares [`Action`] from one line per step kind (variant, options struct, YAML key): the
/// enum, the list of keys in the order error messages offer them, and the key ⇄ variant
/// mapping that `step_serde` reads and writes. Adding a step kind starts here.
macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $key:literal, )*) => {
        /// What a step does: one variant per step kind, named in YAML by its key.
        #[derive(Debug, Clone)]
        pub enum Action {
            $( $(#[$doc])* $variant($ty), )*
        }

        /// Every action key, in the order messages list them.
        pub const ACTION_KEYS: &[&str] = &[$($key),*];

        impl Action {
            /// The YAML key of this action.
            pub fn key(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => $key,)*
                }
            }

            /// Reads the options of action `key` as the next value of `map`.
            pub(super) fn read<'de, A: serde::de::MapAccess<'de>>(key: &str, map: &mut A) -> Result<Action, A::Error> {
                match key {
                    $($key => map.next_value().map(Action::$variant),)*
                    other => Err(serde::de::Error::unknown_field(other, ACTION_KEYS)),
                }
            }

            /// Writes this action as `key: options` into `map`.
            pub(super) fn write<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self {
                    $(Action::$variant(v) => map.serialize_entry($key, v),)*
                }
            }
        }
    };
}

actions! {
    PushImage(PushImage) = "push_image",
    PushArtifact(PushArtifact) = "push_artifact",
    PushIndex(PushIndex) = "push_index",
    /// Push a manifest built earlier with `build_only` (or push it again).
    Push(PushAgain) = "push",
    Referrers(Referrers) = "referrers",
    WaitListed(WaitListed) = "wait_listed",
    /// Push a subject and a referrer, then list the referrers: what a client sees when it
    /// detects whether the API exists (the push is the follow-up of the observation).
    Detect(Ping) = "detect",
    /// Copy a manifest and all its referrers to another registry (or back), attaching them
    /// there through the referrers API or, where `OCI-Subject` is absent, the tag schema.
    Copy(Copy) = "copy",
    /// The referrers of a manifest on a given registry: the API, or the tag schema on a 404.
    ListOn(ListOn) = "list_on",
    /// Run a lifecycle hook (`gc`, `lock_tag`, `unlock_tag`, `restart`, `enable_referrers_api`)
    /// from the profile or the command line.
    Hook(HookStep) = "hook",
    /// Wait (for registries that collect garbage periodically); at most 600 s.
    Wait(WaitStep) = "wait",
    /// Up to `count` quick `GET tags/list`; after the first 429, wait as `Retry-After` says
    /// (at most 10 s) and ask once more (the follow-up).
    Burst(Burst) = "burst",
    /// `GET /v2/` ("Determining Support").
    Ping(Ping) = "ping",
    /// Upload a blob in one of the three ways.
    PushBlob(PushBlob) = "push_blob",
    /// Poke an upload session: an out-of-order chunk, or its status.
    UploadSession(UploadSession) = "upload_session",
    /// Client-side referrers-tag update: add a referrer to its subject's fallback index.
    FallbackAdd(FallbackAdd) = "fallback_add",
    /// Client-side referrers-tag update: remove a referrer from its subject's fallback index.
    FallbackRemove(FallbackAdd) = "fallback_remove",
    /// `GET /v2/<name>/manifests/<referrers tag of a subject>`, judged as a referrers list.
    FallbackRead(FallbackRead) = "fallback_read",
    /// `GET`/`HEAD /v2/<name>/manifests/<reference>`.
    GetManifest(GetManifest) = "get_manifest",
    /// `DELETE /v2/<name>/manifests/<reference>`.
    DeleteManifest(DeleteManifest) = "delete_manifest",
    /// `GET /v2/<name>/tags/list`.
    TagsList(TagsList) = "tags_list",
    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repo>]`.
    Mount(Mount) = "mount",
    /// `GET`/`HEAD /v2/<name>/blobs/<digest>`.
    GetBlob(GetBlob) = "get_blob",
    /// `DELETE /v2/<name>/blobs/<digest>`.
    DeleteBlob(DeleteBlob) = "delete_blob",
    /// Several clients at once: each runs `each` after a common start, while `during` runs
    /// over and over beside them; then each runs `then`.
    Parallel(Parallel) = "parallel",
    /// Different steps sent at the same moment, each by a client of its own; the names they
    /// define are seen after the block.
    Together(Together) = "together",
    /// The reverse walk: which manifests point at a manifest (from the tags, through index
    /// children and referrers).
    Reverse(Reverse) = "reverse",
    /// A manifest and its referrers exported into an OCI image layout, which is then checked.
    LayoutExport(LayoutExport) = "layout_export",
    /// A layout an earlier `layout_export` wrote, imported into a repository.
    LayoutImport(LayoutImport) = "layout_import",
}

impl Action {
    /// The name this action defines, and the repository it lives in.
    pub fn defines(&self) -> Option<(&str, RepoRef)> {
        match self {
            Action::PushImage(p) => Some((p.name.as_str(), p.repo)),
            Action::PushArtifact(p) => Some((p.name.as_str(), p.repo)),
            Action::PushIndex(p) => Some((p.name.as_str(), p.repo)),
            Action::PushBlob(p) => Some((p.name.as_str(), RepoRef::Main)),
            Action::FallbackAdd(f) | Action::FallbackRemove(f) => f.r#as.as_deref().map(|n| (n, RepoRef::Main)),
            Action::Referrers(r) => r.insert_after_first_page.as_ref().map(|a| (a.name.as_str(), r.repo)),
            // A layout's name: only `layout_import` may use it (`plan` sees to that).
            Action::LayoutExport(l) => Some((l.r#as.as_str(), l.repo)),
            _ => None,
        }
    }

    /// Names the action needs, all defined by earlier steps.
    pub fn uses(&self) -> Vec<&str> {
        let mut u: Vec<&str> = vec![];
        match self {
            Action::PushArtifact(p) => {
                u.extend(p.subject.as_deref());
                u.extend(p.tag_referrers_of.as_deref());
            }
            Action::PushIndex(p) => {
                u.extend(p.subject.as_deref());
                u.extend(p.manifests.iter().map(String::as_str));
            }
            Action::Push(p) => u.push(p.name.as_str()),
            Action::Referrers(r) => {
                u.extend(r.of.as_deref());
                u.extend(r.blob_of.as_deref());
                u.extend(r.insert_after_first_page.as_ref().and_then(|a| a.subject.as_deref()));
            }
            Action::WaitListed(w) => u.extend([w.of.as_str(), w.referrer.as_str()]),
            Action::FallbackAdd(f) | Action::FallbackRemove(f) => u.push(&f.referrer),
            Action::FallbackRead(f) => {
                u.push(f.of.as_str());
                u.extend(f.count_missing.iter().map(String::as_str));
            }
            Action::GetManifest(g) => {
                u.extend(g.of.as_deref());
                u.extend(g.referrers_tag_of.as_deref());
            }
            Action::DeleteManifest(d) => u.extend(d.of.as_deref()),
            Action::Mount(m) => u.extend(m.blob_of.as_deref()),
            Action::GetBlob(g) => u.extend(g.blob_of.as_deref()),
            Action::DeleteBlob(d) => u.push(d.blob_of.as_str()),
            Action::Hook(h) => u.extend(h.of.as_deref()),
            Action::Copy(c) => u.push(c.of.as_str()),
            Action::ListOn(l) => u.push(l.of.as_str()),
            Action::Reverse(r) => u.push(r.of.as_str()),
            Action::LayoutExport(l) => u.push(l.of.as_str()),
            Action::LayoutImport(l) => u.push(l.from.as_str()),
            _ => {}
        }
        u
    }
}

impl Step {
    /// The name this step defines, and the repository it lives in.
    pub fn defines(&self) -> Option<(&str, RepoRef)> {
        self.action.defines()
    }

    /// Names the step's action needs, all defined by earlier steps.
    pub fn uses(&self) -> Vec<&str> {
        self.action.uses()
    }

    /// Names its expectations mention (they may include what this very step defines).
    pub fn judged_names(&self) -> Vec<&str> {
        let mut out = vec![];
        for e in self.checks.values() {
            e.names(&mut out);
        }
        if let Some(u) = &self.stop_if {
            u.when.names(&mut out);
        }
        out
    }

    /// Every check id this step evaluates, those of the steps inside a `parallel` included.
    pub fn all_checks(&self) -> Vec<&String> {
        let mut out: Vec<&String> = self.checks.keys().collect();
        let inner: Vec<&String> = match &self.action {
            Action::Parallel(p) => p.all_checks(),
            Action::Together(t) => t.steps.iter().flat_map(Step::all_checks).collect(),
            _ => vec![],
        };
        for id in inner {
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }
}

impl Parallel {
    /// Every check id the steps inside the block evaluate.
    pub fn all_checks(&self) -> Vec<&String> {
        let mut out: Vec<&String> = vec![];
        let nested = self.each.iter().chain(&self.then).chain(self.during.iter().flat_map(|d| &d.steps));
        for s in nested {
            for id in s.all_checks() {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }
}
