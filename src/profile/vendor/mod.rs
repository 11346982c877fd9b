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
//!   gc: { run: "…", timeout_s: 120, needs_env: [REFEREE_REGISTRY_CONFIG] }
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
//! and digest the step is about, where it has them). What else a command needs from the user's
//! environment its hook declares (`needs_env: [REFEREE_REGISTRY_CONFIG]`, the registry's
//! configuration file for `garbage-collect`): a run whose scenarios call the hook stops before
//! sending anything while one of them is unset or empty.
//!
//! serde_yaml_ng keeps no positions after deserializing, so a file is read as a
//! [`serde_yaml_ng::Value`], checked key by key, and each mistake is located again in the text
//! (by indentation, skipping comments and quoted strings) to become a [`Diagnostic`].
//!
//! The submodules split the work: `keys` (what may be declared), `hooks` (lifecycle hooks),
//! `parse` (one file checked key by key), `locate` (finding keys and values in the text for
//! diagnostics) and `resolve` (built-ins and `extends`); the tests of `consistency` hold each
//! shipped profile's declarations to its own comments.

#[cfg(test)]
mod consistency;
mod hooks;
mod keys;
mod locate;
mod parse;
mod resolve;

pub use hooks::{Hook, HookName};
pub use keys::{allows, declared_keys, duration_ms};

use crate::scenario::diag::{Diagnostic, suggest};
use keys::UNKNOWN;
use resolve::{BUILTINS, Origin, builtin_source, builtin_text, is_path, resolve};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
