//! What each step kind says: one struct per action key of a step (`push_image:`,
//! `referrers:`, …), with its options and defaults. Every struct denies unknown keys.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::Step;

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
    /// Appended to the referrers tag given by `tag_referrers_of` (e.g. `.sig`).
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
    /// Name the subject by this digest algorithm (sha512) instead of sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_alg: Option<crate::oci::Algorithm>,
    /// Build it without pushing (a later `push` sends it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_only: bool,
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
    /// `first` (default) or `all`: follow `Link: <…>; rel="next"` until it is absent (bounded).
    #[serde(default)]
    pub pages: Pages,
    /// Push this artifact after the first page and before the second.
    #[serde(default)]
    pub insert_after_first_page: Option<Box<PushArtifact>>,
    /// `default` or `pull-only`: ask with a token scoped to `repository:<name>:pull` only.
    #[serde(default)]
    pub scope: ScopeRef,
    /// Read the same listing again, and once more after an unrelated push to the repository,
    /// judging every answer the same way (a response cache that forgets a header or is not
    /// invalidated shows up there). On by default; a listing with an insert between pages, or
    /// in the `fresh` or `limited` repository, is read once.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub repeat: bool,
}

/// Poll the referrers list of `of` until `referrer` is listed (bounded by `within_ms`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitListed {
    pub of: String,
    pub referrer: String,
    /// The bound: listed within this many milliseconds of the push.
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

/// Exports a manifest and its referrers, recursively, from the target into an OCI image layout
/// (a temporary directory the run removes), writing what the registry served, then checks the
/// layout as `referee layout check` does (judged by `layout:`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutExport {
    /// The manifest to export (with everything it refers to and every referrer of it).
    pub of: String,
    /// The layout's name, for `layout_import: { from: … }`.
    pub r#as: String,
    /// Only manifests, no config or layer blobs: a sparse layout ("MAY be missing referenced blobs").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sparse: bool,
    /// The repository exported from.
    #[serde(default)]
    pub repo: RepoRef,
}

/// Imports a layout a `layout_export` wrote into a repository of the target: blobs, manifests
/// by digest, referrers through the API or, where a push answers without `OCI-Subject`, the
/// referrers tag (judged by `layout: { imported: true }`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutImport {
    /// The layout's name (`layout_export`'s `as`).
    pub from: String,
    /// The repository imported into.
    #[serde(default)]
    pub repo: RepoRef,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
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

/// `reverse`: which manifests of the repository point at a manifest (subject, index child,
/// config, layer), found by walking from the tags through index children and referrers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reverse {
    /// The manifest pointed at.
    pub of: String,
    /// Find referrers through the referrers tags (as a client without the API) instead of
    /// the referrers API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

/// A `together` block: its steps are sent at the same moment, each by a client of its own
/// (a generated graph's concurrent pushes). Unlike `parallel`, every step is its own, builds
/// the same content it would alone, and the names the steps define are seen after the block.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Together {
    /// The steps (1 to 64), none a block or a hook, none using a name another one defines.
    pub steps: Vec<Step>,
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
    /// Upload the empty JSON blob `{}` instead of content unique to the run.
    #[serde(default)]
    pub empty: bool,
    /// How many bytes (default 4096).
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
    /// `out_of_order` (PATCH a chunk that does not start where the session is), `status` or `cancel`.
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
pub const MAX_FALLBACK_RETRIES: u32 = crate::client::referrers_tag::MAX_RETRIES;

/// Client emulation for the referrers tag schema (defined with the client code that runs it).
pub use crate::client::referrers_tag::ClientMode;


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
