//! The scenario file format: what a YAML file may say, as typed structs. Every struct denies
//! unknown keys so a typo is an error at its line and column, never silently ignored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// RFC 2119 keyword of the rule a check enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Keyword {
    MUST,
    SHOULD,
    MAY,
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
    /// Spec version that introduced the rule.
    #[serde(default = "default_since")]
    pub since: String,
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Skipped, before anything is sent, when the profile declares one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if_declared: Option<SkipIfDeclared>,
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

/// One step: exactly one action key plus the checks judged on its answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_image: Option<PushImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_artifact: Option<PushArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_index: Option<PushIndex>,
    /// Push a manifest built earlier with `build_only` (or push it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushAgain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrers: Option<Referrers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_listed: Option<WaitListed>,
    /// Push a subject and a referrer, then list the referrers: what a client sees when it
    /// detects whether the API exists (the push is the follow-up of the observation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect: Option<Ping>,
    /// Copy a manifest and all its referrers to another registry (or back), attaching them
    /// there through the referrers API or, where `OCI-Subject` is absent, the tag schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<Copy>,
    /// The referrers of a manifest on a given registry: the API, or the tag schema on a 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_on: Option<ListOn>,
    /// Run a lifecycle hook (`gc`, `lock_tag`, `unlock_tag`, `restart`, `enable_referrers_api`)
    /// from the profile or the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookStep>,
    /// Wait (for registries that collect garbage periodically); at most 600 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitStep>,
    /// Up to `count` quick `GET tags/list`; after the first 429, wait as `Retry-After` says
    /// (at most 10 s) and ask once more (the follow-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<Burst>,
    /// `GET /v2/` ("Determining Support").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<Ping>,
    /// Upload a blob in one of the three ways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_blob: Option<PushBlob>,
    /// Poke an upload session: an out-of-order chunk, or its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_session: Option<UploadSession>,
    /// Client-side referrers-tag update: add a referrer to its subject's fallback index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_add: Option<FallbackAdd>,
    /// Client-side referrers-tag update: remove a referrer from its subject's fallback index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_remove: Option<FallbackAdd>,
    /// `GET /v2/<name>/manifests/<referrers tag of a subject>`, judged as a referrers list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_read: Option<FallbackRead>,
    /// `GET`/`HEAD /v2/<name>/manifests/<reference>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_manifest: Option<GetManifest>,
    /// `DELETE /v2/<name>/manifests/<reference>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_manifest: Option<DeleteManifest>,
    /// `GET /v2/<name>/tags/list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_list: Option<TagsList>,
    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repo>]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<Mount>,
    /// `GET`/`HEAD /v2/<name>/blobs/<digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_blob: Option<GetBlob>,
    /// `DELETE /v2/<name>/blobs/<digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_blob: Option<DeleteBlob>,
    /// Several clients at once: each runs `each` after a common start, while `during` runs
    /// over and over beside them; then each runs `then`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Parallel>,
    /// Check id → what its answer must look like.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Expect>,
    /// When the answer matches `when`, the rest of the scenario cannot be what it means to
    /// test (e.g. deletion is disabled): this step's checks and all later ones are Skipped
    /// with `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_if: Option<Unsupported>,
}

impl Step {
    /// The action keys present (valid steps have exactly one).
    pub fn actions(&self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.push_image.is_some() {
            v.push("push_image");
        }
        if self.push_artifact.is_some() {
            v.push("push_artifact");
        }
        if self.push_index.is_some() {
            v.push("push_index");
        }
        if self.push.is_some() {
            v.push("push");
        }
        if self.referrers.is_some() {
            v.push("referrers");
        }
        if self.wait_listed.is_some() {
            v.push("wait_listed");
        }
        for (present, name) in [
            (self.ping.is_some(), "ping"),
            (self.copy.is_some(), "copy"),
            (self.list_on.is_some(), "list_on"),
            (self.hook.is_some(), "hook"),
            (self.wait.is_some(), "wait"),
            (self.burst.is_some(), "burst"),
            (self.detect.is_some(), "detect"),
            (self.push_blob.is_some(), "push_blob"),
            (self.upload_session.is_some(), "upload_session"),
            (self.fallback_add.is_some(), "fallback_add"),
            (self.fallback_remove.is_some(), "fallback_remove"),
            (self.fallback_read.is_some(), "fallback_read"),
            (self.get_manifest.is_some(), "get_manifest"),
            (self.delete_manifest.is_some(), "delete_manifest"),
            (self.tags_list.is_some(), "tags_list"),
            (self.mount.is_some(), "mount"),
            (self.get_blob.is_some(), "get_blob"),
            (self.delete_blob.is_some(), "delete_blob"),
            (self.parallel.is_some(), "parallel"),
        ] {
            if present {
                v.push(name);
            }
        }
        v
    }
}

impl Step {
    /// The name this step defines, and the repository it lives in.
    pub fn defines(&self) -> Option<(&str, RepoRef)> {
        fn main(n: &str) -> (&str, RepoRef) {
            (n, RepoRef::Main)
        }
        self.push_image
            .as_ref()
            .map(|p| (p.name.as_str(), p.repo))
            .or(self.push_artifact.as_ref().map(|p| (p.name.as_str(), p.repo)))
            .or(self.push_index.as_ref().map(|p| (p.name.as_str(), p.repo)))
            .or(self.push_blob.as_ref().map(|p| main(p.name.as_str())))
            .or(self.fallback_add.as_ref().and_then(|f| f.r#as.as_deref()).map(main))
            .or(self.fallback_remove.as_ref().and_then(|f| f.r#as.as_deref()).map(main))
            .or(self.referrers.as_ref().and_then(|r| r.insert_after_first_page.as_ref().map(|a| (a.name.as_str(), r.repo))))
    }

    /// Names the step's action needs, all defined by earlier steps.
    pub fn uses(&self) -> Vec<&str> {
        let mut u: Vec<&str> = vec![];
        if let Some(p) = &self.push_artifact {
            u.extend(p.subject.as_deref());
            u.extend(p.tag_referrers_of.as_deref());
        }
        if let Some(p) = &self.push_index {
            u.extend(p.subject.as_deref());
            u.extend(p.manifests.iter().map(String::as_str));
        }
        u.extend(self.push.as_ref().map(|p| p.name.as_str()));
        if let Some(r) = &self.referrers {
            u.extend(r.of.as_deref());
            u.extend(r.blob_of.as_deref());
            u.extend(r.insert_after_first_page.as_ref().and_then(|a| a.subject.as_deref()));
        }
        if let Some(w) = &self.wait_listed {
            u.extend([w.of.as_str(), w.referrer.as_str()]);
        }
        for f in [&self.fallback_add, &self.fallback_remove].into_iter().flatten() {
            u.push(&f.referrer);
        }
        if let Some(f) = &self.fallback_read {
            u.push(f.of.as_str());
            u.extend(f.count_missing.iter().map(String::as_str));
        }
        if let Some(g) = &self.get_manifest {
            u.extend(g.of.as_deref());
            u.extend(g.referrers_tag_of.as_deref());
        }
        u.extend(self.delete_manifest.as_ref().and_then(|d| d.of.as_deref()));
        u.extend(self.mount.as_ref().and_then(|m| m.blob_of.as_deref()));
        u.extend(self.get_blob.as_ref().and_then(|g| g.blob_of.as_deref()));
        u.extend(self.delete_blob.as_ref().map(|d| d.blob_of.as_str()));
        u.extend(self.hook.as_ref().and_then(|h| h.of.as_deref()));
        u.extend(self.copy.as_ref().map(|c| c.of.as_str()));
        u.extend(self.list_on.as_ref().map(|l| l.of.as_str()));
        u
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
        out.extend(self.length_of.as_deref());
        for a in &self.any_of {
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

/// Where a manifest is pushed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    #[default]
    Digest,
    Tag,
}

/// Which repository of the scenario a step works in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoRef {
    #[default]
    Main,
    /// A second repository (cross-repository checks).
    Other,
    /// A repository nothing was ever pushed to.
    Fresh,
    /// A repository named `…-ratelimited` (the embedded registry rate-limits those).
    Limited,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushImage {
    pub name: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub by: By,
    /// A Docker schema2 manifest instead of an OCI one.
    #[serde(default)]
    pub docker: bool,
    #[serde(default)]
    pub repo: RepoRef,
    /// Build but do not push (a subject that arrives later).
    #[serde(default)]
    pub build_only: bool,
    /// Push to another registry of the scenario (by name).
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushArtifact {
    pub name: String,
    /// Name of the manifest this artifact refers to.
    #[serde(default)]
    pub subject: Option<String>,
    /// Address the subject by this algorithm (`sha512`) instead of its sha256 digest.
    #[serde(default)]
    pub subject_alg: Option<crate::oci::Algorithm>,
    /// Add this to the subject descriptor's size (a deliberately wrong descriptor).
    #[serde(default)]
    pub subject_size_delta: i64,
    /// `artifactType`; omitted when absent.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// A custom config media type (legacy artifact style) instead of the empty config.
    #[serde(default)]
    pub config_media_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Pad with an annotation of about this many bytes (for pagination).
    #[serde(default)]
    pub annotation_bytes: usize,
    /// Fields the image-spec does not define, added at the top level (must be kept).
    #[serde(default)]
    pub extra_fields: BTreeMap<String, serde_json::Value>,
    /// Extra fields in the `subject` descriptor (e.g. `platform`).
    #[serde(default)]
    pub subject_extra: BTreeMap<String, serde_json::Value>,
    /// Tag it `<referrers tag of this name><tag_suffix>` (cosign-style `sha256-<hex>.sig`).
    #[serde(default)]
    pub tag_referrers_of: Option<String>,
    #[serde(default)]
    pub tag_suffix: String,
    /// Embed the layer's content in its descriptor's `data` field.
    #[serde(default)]
    pub layer_data: bool,
    /// The layer's media type (default `application/octet-stream`).
    #[serde(default)]
    pub layer_media_type: Option<String>,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub repo: RepoRef,
    #[serde(default)]
    pub build_only: bool,
    /// Push to another registry of the scenario (by name); where it answers without
    /// `OCI-Subject`, referee attaches the artifact through that registry's referrers tag.
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushIndex {
    pub name: String,
    #[serde(default)]
    pub manifests: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub repo: RepoRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushAgain {
    pub name: String,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tag: Option<String>,
    /// Push into this repository instead of the one it was pushed to before.
    #[serde(default)]
    pub repo: Option<RepoRef>,
    /// Send only the manifest (its blobs must already be there, e.g. mounted).
    #[serde(default)]
    pub manifest_only: bool,
    /// Upload only its blobs (the first half of a push; `manifest_only` is the second).
    #[serde(default)]
    pub blobs_only: bool,
    /// Push under this literal reference instead (e.g. an invalid digest).
    #[serde(default)]
    pub reference: Option<String>,
    /// Push under a valid digest that is not this manifest's.
    #[serde(default)]
    pub wrong_digest: bool,
}

/// How many pages of a referrers listing to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pages {
    #[default]
    First,
    /// Follow `Link: <…>; rel="next"` until it is absent (bounded).
    All,
}

/// Scope of the credentials a referrers request uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeRef {
    #[default]
    Default,
    /// A token for `repository:<name>:pull` only.
    PullOnly,
}

/// `GET /v2/<name>/referrers/<digest>`. Exactly one of `of`, `digest`, `random`, `blob_of`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referrers {
    #[serde(default)]
    pub of: Option<String>,
    /// Address `of` by this algorithm.
    #[serde(default)]
    pub alg: Option<crate::oci::Algorithm>,
    /// A literal digest string, sent as written (invalid ones included).
    #[serde(default)]
    pub digest: Option<String>,
    /// A random digest nothing refers to.
    #[serde(default)]
    pub random: bool,
    /// The digest of the first layer blob of a pushed image.
    #[serde(default)]
    pub blob_of: Option<String>,
    #[serde(default)]
    pub repo: RepoRef,
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Appended to the query as written (encoding edge cases).
    #[serde(default)]
    pub raw_query: Option<String>,
    #[serde(default)]
    pub pages: Pages,
    /// Push this artifact after the first page and before the second.
    #[serde(default)]
    pub insert_after_first_page: Option<Box<PushArtifact>>,
    #[serde(default)]
    pub scope: ScopeRef,
}

/// Poll the referrers list of `of` until `referrer` is listed (bounded by `within_ms`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitListed {
    pub of: String,
    pub referrer: String,
    pub within_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {}

/// `main` (the target under test) or the name of another registry of the scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    pub of: String,
    #[serde(default = "main_target")]
    pub from: String,
    pub to: String,
    /// Repository on the source (default: the scenario's main one).
    #[serde(default)]
    pub from_repo: RepoRef,
    /// Repository on the destination.
    #[serde(default)]
    pub to_repo: RepoRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOn {
    pub of: String,
    #[serde(default = "main_target")]
    pub target: String,
    #[serde(default)]
    pub repo: RepoRef,
}

fn main_target() -> String {
    "main".into()
}

/// The most clients a `parallel` block may start.
pub const MAX_CLIENTS: usize = 64;
/// The most times `during` may run.
pub const MAX_DURING_RUNS: usize = 1000;

/// A `parallel` block. `{client}` in any string of `each` and `then` becomes the client's number
/// (1, 2, …), and every client builds its own content, so tags and digests differ between
/// clients. Names `each` and `then` define belong to their client and are not seen after the
/// block; names defined before it are seen by all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parallel {
    /// How many clients (1 to 64).
    pub clients: usize,
    /// What every client does, all starting together.
    pub each: Vec<Step>,
    /// Run beside the clients, once and then again until they have all finished `each`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<During>,
    /// What every client does once all of them and `during` are done (e.g. check what survived).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct During {
    pub steps: Vec<Step>,
    /// At most this many runs (1 to 1000).
    #[serde(default = "default_during_runs")]
    pub max_runs: usize,
}

fn default_during_runs() -> usize {
    50
}

impl Step {
    /// Every check id this step evaluates, those of the steps inside a `parallel` included.
    pub fn all_checks(&self) -> Vec<&String> {
        let mut out: Vec<&String> = self.checks.keys().collect();
        if let Some(p) = &self.parallel {
            let nested = p.each.iter().chain(&p.then).chain(p.during.iter().flat_map(|d| &d.steps));
            for s in nested {
                for id in s.all_checks() {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
            }
        }
        out
    }
}

/// The hooks a scenario may call: the same names a profile defines.
pub use crate::profile::HookName;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookStep {
    pub name: HookName,
    /// The manifest it is about (its repository and digest go to the hook).
    #[serde(default)]
    pub of: Option<String>,
    /// The tag it is about (`REFEREE_TAG`).
    #[serde(default)]
    pub tag: Option<String>,
    /// More variables for the hook, e.g. a retention rule for `gc`
    /// (`REFEREE_GC_CREATED_BEFORE`, `REFEREE_GC_KEEP_NEWEST`). Names start with `REFEREE_`
    /// and may not replace the variables referee sets itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<HookVar, String>,
}

/// The name of a variable a `hook:` step passes: `REFEREE_` then `A-Z`, `0-9`, `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct HookVar(pub String);

impl<'de> Deserialize<'de> for HookVar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let rest = s.strip_prefix("REFEREE_").unwrap_or("");
        if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
            return Err(serde::de::Error::custom(format!(
                "hook variable '{s}' must be REFEREE_ followed by A-Z, 0-9 or _ (e.g. REFEREE_GC_KEEP_NEWEST)"
            )));
        }
        if crate::exec::hooks::RESERVED_VARS.contains(&s.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "hook variable '{s}' is referee's own (set for every hook, or read by referee itself) and cannot be given"
            )));
        }
        Ok(HookVar(s))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Whole seconds (at most 600).
    #[serde(default)]
    pub seconds: u64,
    /// Milliseconds, added to `seconds` (e.g. to spread a `parallel` client's pushes).
    #[serde(default)]
    pub ms: u64,
}

impl WaitStep {
    /// The wait, bounded to 600 s.
    pub fn duration(&self) -> std::time::Duration {
        let max = std::time::Duration::from_secs(600);
        std::time::Duration::from_secs(self.seconds.min(600))
            .saturating_add(std::time::Duration::from_millis(self.ms.min(600_000)))
            .min(max)
    }
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    pub count: usize,
    #[serde(default)]
    pub repo: RepoRef,
}

/// How a blob is uploaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadMethod {
    /// "POST then PUT".
    #[default]
    PostPut,
    /// "Single POST" (`POST ?digest=` with the body); a 202 is finished with a PUT.
    SinglePost,
    /// "Pushing a blob in chunks": PATCHes with Content-Range, then PUT.
    Chunked,
}

/// A blob upload; `empty` uploads the empty JSON `{}`, else `size` bytes unique to the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBlob {
    pub name: String,
    #[serde(default)]
    pub method: UploadMethod,
    #[serde(default)]
    pub empty: bool,
    #[serde(default = "default_blob_size")]
    pub size: usize,
    /// Digest algorithm of the upload.
    #[serde(default)]
    pub alg: Option<crate::oci::Algorithm>,
    /// Chunk size for `chunked`.
    #[serde(default = "default_chunk")]
    pub chunk: usize,
}

fn default_blob_size() -> usize {
    4096
}

fn default_chunk() -> usize {
    1024
}

/// What to do with a fresh upload session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionAction {
    /// PATCH a chunk that does not start where the session is (expect 416).
    OutOfOrder,
    /// GET the session (expect 204 with Location and Range).
    Status,
    /// DELETE the session (expect 204).
    Cancel,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSession {
    pub action: SessionAction,
}

/// Add or remove `referrer` in the referrers-tag index of its subject (distribution-spec
/// "Pushing Manifests with Subject" client steps; "Deleting Manifests" for removal).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackAdd {
    pub referrer: String,
    /// Name the index this step pushes, for later expectations.
    #[serde(default)]
    pub r#as: Option<String>,
    /// Push with `If-Match: <the ETag just read>` (a conditional update). The observation
    /// is then the read (its `ETag`), and the conditional push is the follow-up.
    #[serde(default)]
    pub conditional: bool,
    /// With `conditional`: on a 412, read the tag again and retry, at most this many times
    /// (up to 50), as a careful client would. A missing tag is created with `If-None-Match: *`.
    #[serde(default)]
    pub retries: u32,
    /// Which client's algorithm to emulate.
    #[serde(default)]
    pub client: ClientMode,
}

/// The most retries a conditional fallback update may make.
pub const MAX_FALLBACK_RETRIES: u32 = 50;

/// Client emulation for the referrers tag schema: real clients disagree on the same registry
/// (registry-behaviours.md §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    /// The spec's steps, strictly: pull up artifactType and annotations, no duplicates, keep
    /// an empty index.
    #[default]
    Spec,
    /// oras-go: as the spec, then DELETE the index it replaced (by digest).
    OrasGo,
    /// regclient: as the spec, but delete the tag when the index becomes empty (falling back
    /// to an empty index when tag delete is refused).
    Regclient,
    /// go-containerregistry (crane, cosign): no artifactType/annotation pull-up; entries sorted
    /// by digest.
    Ggcr,
}

/// Read the referrers-tag index of `of` (addressed by `alg` when given).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackRead {
    pub of: String,
    #[serde(default)]
    pub alg: Option<crate::oci::Algorithm>,
    /// Count how many of these names the index does not list, as the measurement
    /// `lost_updates` (summed over clients and steps; an update the registry refused counts
    /// too): a number, not a verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub count_missing: Vec<String>,
}

/// HTTP method for reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMethod {
    #[default]
    Get,
    Head,
}

/// A manifest read. Exactly one of `of`, `referrers_tag_of`, `random`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetManifest {
    /// A literal `Accept` header (default: OCI and Docker manifest and index types).
    #[serde(default)]
    pub accept: Option<String>,
    #[serde(default)]
    pub of: Option<String>,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tag: Option<String>,
    /// The referrers tag (`sha256-<hex>`) of this manifest.
    #[serde(default)]
    pub referrers_tag_of: Option<String>,
    /// A digest nothing has.
    #[serde(default)]
    pub random: bool,
    #[serde(default)]
    pub method: ReadMethod,
    #[serde(default)]
    pub repo: RepoRef,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteManifest {
    /// After a 202, read the same reference again (the follow-up, judged by `then_status`).
    #[serde(default)]
    pub then: Option<ReadMethod>,
    #[serde(default)]
    pub of: Option<String>,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub random: bool,
    #[serde(default)]
    pub repo: RepoRef,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsList {
    #[serde(default)]
    pub repo: RepoRef,
}

/// Which blob of a built manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhichBlob {
    Config,
    #[default]
    Layer,
}

/// Mount a blob of `blob_of` (or a random digest) into `into`, from `from` unless `anonymous`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(default)]
    pub blob_of: Option<String>,
    #[serde(default)]
    pub which: WhichBlob,
    #[serde(default)]
    pub random: bool,
    pub into: RepoRef,
    #[serde(default)]
    pub from: RepoRef,
    /// Leave out `from` (the registry MAY look the blob up itself).
    #[serde(default)]
    pub anonymous: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBlob {
    pub blob_of: String,
    #[serde(default)]
    pub which: WhichBlob,
    #[serde(default)]
    pub repo: RepoRef,
    /// After a 202, read the blob again (the follow-up).
    #[serde(default)]
    pub then: Option<ReadMethod>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetBlob {
    /// A pushed blob (`push_blob`) or a blob of a pushed manifest.
    #[serde(default)]
    pub blob_of: Option<String>,
    /// A digest nothing has.
    #[serde(default)]
    pub random: bool,
    #[serde(default)]
    pub which: WhichBlob,
    #[serde(default)]
    pub repo: RepoRef,
    #[serde(default)]
    pub method: ReadMethod,
}

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Statuses>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Header → exact value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    /// Header → an element its comma-separated list must contain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_contains: BTreeMap<String, String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Presence>,
    /// Every `Link` header parses as RFC 5988 with `rel="next"` on the same host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_valid: bool,
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
    /// The answer came from another URL than the one asked (`true`) or from the same (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirected: Option<bool>,
    /// The request was refused (status 400 or above); a 5xx is noted as a server error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejected: bool,
    /// `Docker-Content-Digest` equals the digest of this named manifest or blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_of: Option<String>,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<Expect>,
    /// Judged against the profile's declaration of an open behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<Box<Declared>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported_if: Option<Box<Unsupported>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exactly: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
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
