//! Vendor profiles: what a registry promises where the spec leaves room (referrers API or not,
//! what a subject delete does to its referrers, how tags are locked, …). The main type is
//! [`Profile`], read from a YAML file or one of the built-ins in `profiles/` (compiled in, so
//! `--profile zot` works from any directory):
//!
//! ```yaml
//! name: harbor
//! description: Harbor ≥ 2.11
//! extends: strict                 # optional: inherit every declaration and hook
//! declares:
//!   referrers_api: required
//!   locked_push_status: "412:PRECONDITION"
//! hooks:
//!   gc: { run: "…", timeout_s: 120 }
//! ```
//!
//! `declares` keys and their allowed values are those of `registry-behaviours.md` §6 (see
//! [`declared_keys`]); every key also accepts `unknown` (probe it and report, never fail), which
//! is what an absent key means too. `extends` names a built-in profile, or a file when it
//! contains `/` or ends in `.yaml`/`.yml` (relative to the extending file); a chain is at most
//! [`MAX_EXTENDS_DEPTH`] deep and must not loop.
//!
//! Hooks are shell commands referee runs at lifecycle steps (`gc`, `lock_tag`, …). Besides the
//! user's environment a hook gets `REFEREE_BIN` (the referee executable), `REFEREE_TARGET` (the
//! registry's base URL), `REFEREE_REPO`, `REFEREE_TAG` and `REFEREE_DIGEST` (the repository, tag
//! and digest the step is about, where it has them), and `REFEREE_REGISTRY_CONFIG` when the user
//! set it (the registry's configuration file, for commands such as `garbage-collect`).
//!
//! serde_yaml_ng keeps no positions after deserializing, so a file is read as a
//! [`serde_yaml_ng::Value`], checked key by key, and each mistake is located again in the text
//! (by indentation, skipping comments and quoted strings) to become a [`Diagnostic`].

use crate::scenario::diag::{Diagnostic, suggest};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// How many `extends` a chain may follow.
pub const MAX_EXTENDS_DEPTH: usize = 8;

/// A vendor profile with its `extends` chain resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Every declaration, inherited ones included (`fallback_tag_lockable` as `true`/`false`).
    pub declares: BTreeMap<String, String>,
    pub hooks: BTreeMap<HookName, Hook>,
    /// The file it was read from, or `<builtin>/<name>.yaml`.
    pub source: PathBuf,
}

/// A lifecycle step a profile can name a command for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookName {
    Gc,
    LockTag,
    UnlockTag,
    Restart,
    EnableReferrersApi,
    /// Not in the issue's list, but the upgrade scenario (F7) needs the API off first.
    DisableReferrersApi,
}

impl HookName {
    pub const ALL: [HookName; 6] = [
        HookName::Gc,
        HookName::LockTag,
        HookName::UnlockTag,
        HookName::Restart,
        HookName::EnableReferrersApi,
        HookName::DisableReferrersApi,
    ];

    /// The name used in profile files.
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::Gc => "gc",
            HookName::LockTag => "lock_tag",
            HookName::UnlockTag => "unlock_tag",
            HookName::Restart => "restart",
            HookName::EnableReferrersApi => "enable_referrers_api",
            HookName::DisableReferrersApi => "disable_referrers_api",
        }
    }
}

impl fmt::Display for HookName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command referee runs for a hook (see the module docs for its environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub run: String,
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
}

fn default_timeout_s() -> u64 {
    DEFAULT_TIMEOUT_S
}

const DEFAULT_TIMEOUT_S: u64 = 30;
/// A day: a hook that needs longer is a mistake in the file.
const MAX_TIMEOUT_S: u64 = 86_400;

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile '{name}'{}; built-in profiles: {}",
        .did_you_mean.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default(),
        .known.join(", "))]
    NotFound { name: String, did_you_mean: Option<String>, known: Vec<String> },
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    #[error("cannot read profile {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

// ---------------------------------------------------------------------------------------------
// Built-ins

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../profiles/", $name, ".yaml")))),*]
    };
}

/// The files of `profiles/`, by name (sorted).
const BUILTINS: &[(&str, &str)] = builtins!(
    "acr",
    "artifactory",
    "container-registry-crate",
    "distribution-2.8",
    "distribution-3",
    "dockerhub",
    "ecr",
    "embedded",
    "gar",
    "ghcr",
    "gitlab",
    "harbor",
    "olareg",
    "quay",
    "strict",
    "trow",
    "zot",
);

fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn builtin_source(name: &str) -> PathBuf {
    PathBuf::from(format!("<builtin>/{name}.yaml"))
}

/// Whether `load` and `extends` read `s` as a path rather than a built-in name.
fn is_path(s: &str) -> bool {
    s.contains('/') || s.contains(std::path::MAIN_SEPARATOR) || s.ends_with(".yaml") || s.ends_with(".yml")
}

impl Profile {
    /// The declared value of `key`, or `None` when the profile leaves it open (absent, or
    /// declared `unknown`: probe it and report).
    pub fn declared(&self, key: &str) -> Option<&str> {
        self.declares.get(key).map(String::as_str).filter(|v| *v != UNKNOWN)
    }

    /// The command for `hook`, if the profile names one.
    pub fn hook(&self, hook: HookName) -> Option<&Hook> {
        self.hooks.get(&hook)
    }

    /// A built-in profile by name, or a file when `name_or_path` contains `/` or ends in
    /// `.yaml`/`.yml`; `extends` is resolved.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        if is_path(name_or_path) {
            let path = PathBuf::from(name_or_path);
            let text =
                std::fs::read_to_string(&path).map_err(|source| ProfileError::Io { path: path.clone(), source })?;
            return Profile::parse(&path, &text);
        }
        match builtin_text(name_or_path) {
            Some(text) => {
                resolve(Origin::Builtin(name_or_path.to_string()), builtin_source(name_or_path), text.to_string())
            }
            None => Err(ProfileError::NotFound {
                name: name_or_path.to_string(),
                did_you_mean: suggest(name_or_path, Profile::builtin_names()).map(str::to_string),
                known: Profile::builtin_names().into_iter().map(str::to_string).collect(),
            }),
        }
    }

    /// A profile from its text; `path` names it in diagnostics and anchors relative `extends`.
    pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
        resolve(Origin::File(path.to_path_buf()), path.to_path_buf(), text.to_string())
    }

    /// The built-in profiles, sorted.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(n, _)| *n).collect()
    }
}

/// The keys a profile may declare (`registry-behaviours.md` §6).
pub fn declared_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.name)
}

/// Whether a profile may declare `value` for `key` (`unknown` included); false for unknown keys.
pub fn allows(key: &str, value: &str) -> bool {
    KEYS.iter().find(|k| k.name == key).is_some_and(|k| value == UNKNOWN || k.forms.iter().any(|f| f.matches(value)))
}

// ---------------------------------------------------------------------------------------------
// What may be declared

const UNKNOWN: &str = "unknown";

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
    KeySpec { name: "untagged_referrer_gc", forms: &[W("protected"), W("collected"), W("n/a")] },
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
];

const TOP_KEYS: &[&str] = &["name", "description", "extends", "declares", "hooks"];
const HOOK_KEYS: &[&str] = &["run", "timeout_s"];

// ---------------------------------------------------------------------------------------------
// Reading one file

/// One file, checked, before `extends` is followed.
struct Parsed {
    name: String,
    description: Option<String>,
    extends: Option<String>,
    declares: Vec<(String, String)>,
    hooks: Vec<(HookName, Hook)>,
}

/// Collects diagnostics for one file.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    lines: Vec<&'a str>,
    diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a Path, text: &'a str) -> Self {
        Checker { file, text, lines: text.lines().collect(), diags: vec![] }
    }

    fn at(&self, place: Option<Place>, message: String, help: Option<String>) -> Diagnostic {
        let d = match place {
            Some(p) => {
                let mut d = Diagnostic::at(self.file, self.text, p.line + 1, p.tok.start + 1, message);
                d.width = p.tok.width.max(1);
                d
            }
            None => Diagnostic::at(self.file, self.text, 1, 1, message),
        };
        d.with_help(help)
    }

    fn error(&mut self, place: Option<Place>, message: String, help: Option<String>) {
        let d = self.at(place, message, help);
        self.diags.push(d);
    }

    /// The key `key` at the top level, or under `parent`.
    fn key(&self, parent: Option<Place>, key: &str) -> Option<Place> {
        match parent {
            None => find_top_key(&self.lines, key),
            Some(p) => find_child_key(&self.lines, p, key),
        }
    }

    /// The value written after `key` on the same line, else the key itself.
    fn value(&self, key: Option<Place>) -> Option<Place> {
        key.map(|k| value_after(&self.lines, k).unwrap_or(k))
    }

    fn unknown_key(&mut self, place: Option<Place>, key: &str, known: &[&str], ctx: Option<&str>) {
        let help = match suggest(key, known.iter().copied()) {
            Some(s) => format!("did you mean '{s}'?"),
            None => format!("expected one of: {}", known.join(", ")),
        };
        self.error(place, format!("unknown key '{key}'{}", in_ctx(ctx)), Some(help));
    }

    /// A string value, or a diagnostic.
    fn string(&mut self, v: &Value, key: Option<Place>, what: &str, ctx: Option<&str>) -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::String(_) | Value::Null => {
                self.error(self.value(key), format!("missing value for '{what}'{}", in_ctx(ctx)), None);
                None
            }
            other => {
                let found = kind(other);
                self.error(
                    self.value(key),
                    format!("expected a string for '{what}'{}, found {found}", in_ctx(ctx)),
                    None,
                );
                None
            }
        }
    }

    fn check(mut self, root: &Value) -> Result<Parsed, Vec<Diagnostic>> {
        let map = match root {
            Value::Mapping(m) => m,
            other => {
                let found = kind(other);
                self.error(
                    None,
                    format!("a profile is a mapping with 'name', 'declares' and optionally 'description', 'extends', 'hooks'; found {found}"),
                    None,
                );
                return Err(self.diags);
            }
        };
        let mut parsed =
            Parsed { name: String::new(), description: None, extends: None, declares: vec![], hooks: vec![] };
        let mut has_name = false;
        for (k, v) in map {
            let key = scalar_text(k);
            let place = self.key(None, &key);
            match key.as_str() {
                "name" => {
                    has_name = true;
                    if let Some(n) = self.string(v, place, "name", None) {
                        if n.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                            parsed.name = n;
                        } else {
                            self.error(
                                self.value(place),
                                format!("invalid profile name '{n}'"),
                                Some("use letters, digits, '.', '_' and '-'".to_string()),
                            );
                        }
                    }
                }
                "description" => parsed.description = self.string(v, place, "description", None),
                "extends" => parsed.extends = self.string(v, place, "extends", None),
                "declares" => parsed.declares = self.declares(v, place),
                "hooks" => parsed.hooks = self.hooks(v, place),
                _ => self.unknown_key(place, &key, TOP_KEYS, None),
            }
        }
        if !has_name {
            self.error(
                None,
                "missing key 'name'".to_string(),
                Some("every profile names itself: `name: my-registry`".to_string()),
            );
        }
        if self.diags.is_empty() { Ok(parsed) } else { Err(self.diags) }
    }

    fn mapping<'v>(&mut self, v: &'v Value, place: Option<Place>, what: &str) -> Option<&'v Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            other => {
                let found = kind(other);
                self.error(self.value(place), format!("expected a mapping for '{what}', found {found}"), None);
                None
            }
        }
    }

    fn declares(&mut self, v: &Value, section: Option<Place>) -> Vec<(String, String)> {
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

    fn hooks(&mut self, v: &Value, section: Option<Place>) -> Vec<(HookName, Hook)> {
        let Some(map) = self.mapping(v, section, "hooks") else { return vec![] };
        let names: Vec<&str> = HookName::ALL.iter().map(|h| h.as_str()).collect();
        let mut out = vec![];
        for (k, v) in map {
            let key = scalar_text(k);
            let place = section.and_then(|s| self.key(Some(s), &key));
            let Some(name) = HookName::ALL.into_iter().find(|h| h.as_str() == key) else {
                self.unknown_key(place, &key, &names, Some("hooks"));
                continue;
            };
            let ctx = format!("hooks.{key}");
            let map = match v {
                Value::Mapping(m) => m,
                other => {
                    let found = kind(other);
                    self.error(
                        self.value(place),
                        format!("expected a mapping for '{key}' (in hooks), found {found}"),
                        Some(format!("write `{key}: {{ run: \"<command>\", timeout_s: {DEFAULT_TIMEOUT_S} }}`")),
                    );
                    continue;
                }
            };
            let (mut run, mut timeout_s, mut ok) = (None, DEFAULT_TIMEOUT_S, true);
            for (hk, hv) in map {
                let hkey = scalar_text(hk);
                let hplace = place.and_then(|p| self.key(Some(p), &hkey));
                match hkey.as_str() {
                    "run" => run = self.string(hv, hplace, "run", Some(&ctx)),
                    "timeout_s" => match hv.as_u64().filter(|t| (1..=MAX_TIMEOUT_S).contains(t)) {
                        Some(t) => timeout_s = t,
                        None => {
                            ok = false;
                            self.error(
                                self.value(hplace),
                                format!("invalid value '{}' for 'timeout_s' (in {ctx})", scalar_text(hv)),
                                Some(format!("expected whole seconds from 1 to {MAX_TIMEOUT_S}")),
                            );
                        }
                    },
                    _ => {
                        ok = false;
                        self.unknown_key(hplace, &hkey, HOOK_KEYS, Some(&ctx));
                    }
                }
            }
            match run {
                Some(run) if ok => out.push((name, Hook { run, timeout_s })),
                Some(_) => {}
                None if map.contains_key("run") => {}
                None => {
                    self.error(place, format!("missing key 'run' (in {ctx})"), Some("the command to run".to_string()))
                }
            }
        }
        out
    }
}

fn in_ctx(ctx: Option<&str>) -> String {
    ctx.map(|c| format!(" (in {c})")).unwrap_or_default()
}

fn allowed(spec: &KeySpec) -> String {
    let forms: Vec<String> = spec.forms.iter().map(Form::describe).chain([UNKNOWN.to_string()]).collect();
    format!("allowed: {}", forms.join(", "))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scalar as the user wrote it (keys are usually strings, but `200: x` is a number).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => kind(other).to_string(),
    }
}

/// A YAML syntax error (the structure is checked afterwards, by [`Checker`]).
fn syntax_diagnostic(file: &Path, text: &str, e: &serde_yaml_ng::Error) -> Diagnostic {
    let full = e.to_string();
    let message = full.rfind(" at line ").map_or(full.as_str(), |i| &full[..i]).to_string();
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    Diagnostic::at(file, text, line, column, message)
}

fn parse_one(file: &Path, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let root: Value = serde_yaml_ng::from_str(text).map_err(|e| vec![syntax_diagnostic(file, text, &e)])?;
    Checker::new(file, text).check(&root)
}

// ---------------------------------------------------------------------------------------------
// Finding keys and values in the text

/// A scalar on one line: its text (unquoted), where it is (in chars) and whether a `:` makes it
/// a key; `depth` counts the flow mappings (`{ … }`) it sits in.
#[derive(Debug, Clone, Copy)]
struct Tok {
    start: usize,
    width: usize,
    is_key: bool,
    depth: usize,
    /// Byte range of the unquoted text in the line.
    text: (usize, usize),
}

/// A token on a line (0-based line index).
#[derive(Debug, Clone, Copy)]
struct Place {
    line: usize,
    tok: Tok,
}

fn tokens(line: &str) -> Vec<Tok> {
    let cs: Vec<(usize, char)> = line.char_indices().collect();
    let byte = |i: usize| cs.get(i).map_or(line.len(), |(b, _)| *b);
    let is_ws = |i: usize| cs.get(i).is_none_or(|(_, c)| c.is_whitespace());
    let mut out = vec![];
    let (mut i, mut depth) = (0, 0usize);
    while i < cs.len() {
        let c = cs[i].1;
        let (end, text) = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '{' | '[' => {
                depth += 1;
                i += 1;
                continue;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            ',' if depth > 0 => {
                i += 1;
                continue;
            }
            '#' => break,
            '-' if is_ws(i + 1) => {
                i += 1;
                continue;
            }
            '"' | '\'' => {
                let mut j = i + 1;
                while j < cs.len() {
                    match cs[j].1 {
                        '\\' if c == '"' => j += 2,
                        '\'' if c == '\'' && cs.get(j + 1).is_some_and(|(_, n)| *n == '\'') => j += 2,
                        q if q == c => break,
                        _ => j += 1,
                    }
                }
                let end = (j + 1).min(cs.len());
                (end, (byte(i + 1), byte(j.min(cs.len()))))
            }
            _ => {
                let stop = |j: usize| {
                    let c = cs[j].1;
                    (c == ':'
                        && (is_ws(j + 1) || (depth > 0 && cs.get(j + 1).is_some_and(|(_, n)| ",}]".contains(*n)))))
                        || (c == '#' && j > 0 && cs[j - 1].1.is_whitespace())
                        || (depth > 0 && ",}]".contains(c))
                };
                let mut j = i;
                while j < cs.len() && !stop(j) {
                    j += 1;
                }
                let mut end = j;
                while end > i && cs[end - 1].1.is_whitespace() {
                    end -= 1;
                }
                (end, (byte(i), byte(end)))
            }
        };
        let mut k = end;
        while k < cs.len() && cs[k].1.is_whitespace() {
            k += 1;
        }
        let is_key = k < cs.len()
            && cs[k].1 == ':'
            && (is_ws(k + 1) || (depth > 0 && cs.get(k + 1).is_some_and(|(_, n)| ",}]".contains(*n))));
        out.push(Tok { start: i, width: end - i, is_key, depth, text });
        i = if is_key { k + 1 } else { end.max(i + 1) };
    }
    out
}

fn tok_text<'l>(line: &'l str, t: &Tok) -> &'l str {
    &line[t.text.0..t.text.1]
}

/// A top-level key: at column 1, outside any flow mapping.
fn find_top_key(lines: &[&str], key: &str) -> Option<Place> {
    lines.iter().enumerate().find_map(|(n, l)| {
        let t = *tokens(l).first()?;
        (t.is_key && t.start == 0 && t.depth == 0 && tok_text(l, &t) == key).then_some(Place { line: n, tok: t })
    })
}

/// A key directly under `parent`: in a flow mapping on the parent's line, or on the following
/// lines indented one level deeper than the parent key.
fn find_child_key(lines: &[&str], parent: Place, key: &str) -> Option<Place> {
    let pl = lines[parent.line];
    if let Some(t) = tokens(pl)
        .into_iter()
        .find(|t| t.start > parent.tok.start && t.is_key && t.depth == parent.tok.depth + 1 && tok_text(pl, t) == key)
    {
        return Some(Place { line: parent.line, tok: t });
    }
    if parent.tok.depth > 0 {
        return None;
    }
    let mut child_indent = None;
    for (n, l) in lines.iter().enumerate().skip(parent.line + 1) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.chars().count() - trimmed.chars().count();
        if indent <= parent.tok.start {
            break;
        }
        if *child_indent.get_or_insert(indent) != indent {
            continue;
        }
        if let Some(t) = tokens(l).first().filter(|t| t.is_key && t.depth == 0 && tok_text(l, t) == key) {
            return Some(Place { line: n, tok: *t });
        }
    }
    None
}

/// The scalar written after a key on its line.
fn value_after(lines: &[&str], key: Place) -> Option<Place> {
    let toks = tokens(lines[key.line]);
    let i = toks.iter().position(|t| t.start == key.tok.start)?;
    toks.get(i + 1).filter(|t| !t.is_key && t.depth == key.tok.depth).map(|t| Place { line: key.line, tok: *t })
}

// ---------------------------------------------------------------------------------------------
// `extends`

/// Where a profile's text came from: what `extends` is relative to, and its identity for cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Builtin(String),
    File(PathBuf),
}

impl Origin {
    fn identity(&self) -> PathBuf {
        match self {
            Origin::Builtin(n) => builtin_source(n),
            Origin::File(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()),
        }
    }
}

/// `a/./b/../c` → `a/c`, so that paths in messages read as the user would write them.
fn tidy(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

struct Link {
    origin: Origin,
    source: PathBuf,
    text: String,
    parsed: Parsed,
}

impl Link {
    /// A diagnostic at this file's `extends` value.
    fn at_extends(&self, message: String, help: Option<String>) -> ProfileError {
        let checker = Checker::new(&self.source, &self.text);
        let place = checker.value(checker.key(None, "extends"));
        ProfileError::Invalid(vec![checker.at(place, message, help)])
    }
}

fn resolve(origin: Origin, source: PathBuf, text: String) -> Result<Profile, ProfileError> {
    let parsed = parse_one(&source, &text).map_err(ProfileError::Invalid)?;
    let mut chain = vec![Link { origin, source, text, parsed }];
    loop {
        let last = chain.last().expect("the chain starts with one link");
        let Some(ext) = last.parsed.extends.clone() else { break };
        let (origin, source, text) = if is_path(&ext) {
            let path = match &last.origin {
                Origin::File(p) => tidy(&p.parent().unwrap_or(Path::new("")).join(&ext)),
                Origin::Builtin(_) => {
                    return Err(last.at_extends(
                        format!("a built-in profile extends a file '{ext}'"),
                        Some("built-in profiles extend built-in names".to_string()),
                    ));
                }
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => (Origin::File(path.clone()), path, text),
                Err(e) => {
                    return Err(
                        last.at_extends(format!("cannot read profile {}: {e} (in extends)", path.display()), None)
                    );
                }
            }
        } else {
            match builtin_text(&ext) {
                Some(text) => (Origin::Builtin(ext.clone()), builtin_source(&ext), text.to_string()),
                None => {
                    let help = match suggest(&ext, Profile::builtin_names()) {
                        Some(s) => format!("did you mean '{s}'?"),
                        None => format!("built-in profiles: {}", Profile::builtin_names().join(", ")),
                    };
                    return Err(last.at_extends(format!("unknown profile '{ext}' (in extends)"), Some(help)));
                }
            }
        };
        let identity = origin.identity();
        if let Some(i) = chain.iter().position(|l| l.origin.identity() == identity) {
            let names: Vec<&str> =
                chain[i..].iter().map(|l| l.parsed.name.as_str()).chain([chain[i].parsed.name.as_str()]).collect();
            return Err(last.at_extends(
                format!("extends cycle: {} (in extends)", names.join(" → ")),
                Some("a profile cannot inherit from itself".to_string()),
            ));
        }
        if chain.len() > MAX_EXTENDS_DEPTH {
            return Err(last.at_extends(
                format!("extends chain deeper than {MAX_EXTENDS_DEPTH} profiles (in extends)"),
                Some(format!("from '{}'", chain[0].parsed.name)),
            ));
        }
        let parsed = parse_one(&source, &text).map_err(ProfileError::Invalid)?;
        chain.push(Link { origin, source, text, parsed });
    }
    let mut profile = Profile {
        name: chain[0].parsed.name.clone(),
        description: String::new(),
        declares: BTreeMap::new(),
        hooks: BTreeMap::new(),
        source: chain[0].source.clone(),
    };
    for link in chain.into_iter().rev() {
        if let Some(d) = link.parsed.description {
            profile.description = d;
        }
        profile.declares.extend(link.parsed.declares);
        profile.hooks.extend(link.parsed.hooks);
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_find_keys_values_and_skip_comments_and_quotes() {
        let l = r#"  gc: { run: "a \"b: c\" # d", timeout_s: 120 }   # gc: no"#;
        let toks = tokens(l);
        let texts: Vec<(&str, bool, usize)> = toks.iter().map(|t| (tok_text(l, t), t.is_key, t.depth)).collect();
        assert_eq!(
            texts,
            [
                ("gc", true, 0),
                ("run", true, 1),
                (r#"a \"b: c\" # d"#, false, 1),
                ("timeout_s", true, 1),
                ("120", false, 1)
            ]
        );
        let l = "  locked_push_status: 412:PRECONDITION  # x";
        let toks = tokens(l);
        assert_eq!(tok_text(l, &toks[1]), "412:PRECONDITION");
        assert_eq!((toks[1].start, toks[1].width), (22, 16));
    }

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
        assert_eq!(tidy(Path::new("a/./b/../c.yaml")), PathBuf::from("a/c.yaml"));
        assert_eq!(tidy(Path::new("../x.yaml")), PathBuf::from("../x.yaml"));
    }
}
