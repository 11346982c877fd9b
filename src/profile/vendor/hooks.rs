//! Lifecycle hooks: the steps a profile can name a command for, and its `hooks` section.

use super::locate::Place;
use super::parse::{Checker, kind, scalar_text};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use std::fmt;

/// A lifecycle step a profile can name a command for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookName {
    Gc,
    LockTag,
    UnlockTag,
    Restart,
    EnableReferrersApi,
    /// Not in the list, but the upgrade scenario (F7) needs the API off first.
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

/// A command referee runs for a hook (see the [`vendor`](super) module docs for its environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub run: String,
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Variables the user must set for the command to work (`needs_env:
    /// [REFEREE_REGISTRY_CONFIG]`): a run whose scenarios call the hook stops before sending
    /// anything when one is unset or empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_env: Vec<String>,
}

fn default_timeout_s() -> u64 {
    DEFAULT_TIMEOUT_S
}

const DEFAULT_TIMEOUT_S: u64 = 30;
/// A day: a hook that needs longer is a mistake in the file.
const MAX_TIMEOUT_S: u64 = 86_400;

const HOOK_KEYS: &[&str] = &["run", "timeout_s", "needs_env"];

/// Whether `name` can name an environment variable: letters, digits and `_`, not starting with a
/// digit.
fn is_var_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Checker<'_> {
    pub(super) fn hooks(&mut self, v: &Value, section: Option<Place>) -> Vec<(HookName, Hook)> {
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
            let (mut run, mut timeout_s, mut needs_env, mut ok) = (None, DEFAULT_TIMEOUT_S, vec![], true);
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
                    "needs_env" => match self.needs_env(hv, hplace, &ctx) {
                        Some(names) => needs_env = names,
                        None => ok = false,
                    },
                    _ => {
                        ok = false;
                        self.unknown_key(hplace, &hkey, HOOK_KEYS, Some(&ctx));
                    }
                }
            }
            match run {
                Some(run) if ok => out.push((name, Hook { run, timeout_s, needs_env })),
                Some(_) => {}
                None if map.contains_key("run") => {}
                None => {
                    self.error(place, format!("missing key 'run' (in {ctx})"), Some("the command to run".to_string()))
                }
            }
        }
        out
    }

    /// A hook's `needs_env`: a list of variable names the user must set. Not the ones referee
    /// sets for every hook, nor the `REFEREE_GC_*` rules scenario steps pass.
    fn needs_env(&mut self, v: &Value, key: Option<Place>, ctx: &str) -> Option<Vec<String>> {
        let example = "write `needs_env: [REFEREE_REGISTRY_CONFIG]`".to_string();
        let Value::Sequence(items) = v else {
            let found = kind(v);
            self.error(self.value(key), format!("expected a list for 'needs_env' (in {ctx}), found {found}"), Some(example));
            return None;
        };
        let (mut out, mut ok) = (vec![], true);
        for item in items {
            let text = scalar_text(item);
            let place = self.item(key, &text);
            let problem = match item {
                Value::String(name) if !is_var_name(name) => Some((
                    format!("invalid variable name '{name}' (in {ctx}.needs_env)"),
                    "letters, digits and '_', not starting with a digit (e.g. REFEREE_REGISTRY_CONFIG)".to_string(),
                )),
                Value::String(name) if crate::exec::hooks::SET_FOR_EVERY_HOOK.contains(&name.as_str()) => Some((
                    format!("'{name}' is set by referee for every hook (in {ctx}.needs_env)"),
                    "needs_env lists what the user must set".to_string(),
                )),
                Value::String(name) if name.starts_with("REFEREE_GC_") => Some((
                    format!("'{name}' is passed by the scenario steps that call the hook (in {ctx}.needs_env)"),
                    "a step gives it with `hook: { name: gc, env: { … } }`; needs_env lists what the user must set".to_string(),
                )),
                Value::String(_) => None,
                other => Some((
                    format!("expected a variable name in 'needs_env' (in {ctx}), found {}", kind(other)),
                    example.clone(),
                )),
            };
            match problem {
                Some((message, help)) => {
                    ok = false;
                    self.error(place, message, Some(help));
                }
                None if !out.contains(&text) => out.push(text),
                None => {}
            }
        }
        ok.then_some(out)
    }
}
