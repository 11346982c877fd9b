//! Reading one profile file: its YAML checked key by key, each mistake a [`Diagnostic`] at its
//! line and column.

use super::hooks::{Hook, HookName};
use super::locate::{Place, find_child_key, find_item, find_top_key, value_after};
use crate::scenario::diag::{Diagnostic, suggest};
use serde_yaml_ng::{Mapping, Value};
use std::path::Path;

const TOP_KEYS: &[&str] = &["name", "description", "extends", "declares", "hooks"];

/// One file, checked, before `extends` is followed.
pub(super) struct Parsed {
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) extends: Option<String>,
    pub(super) declares: Vec<(String, String)>,
    pub(super) hooks: Vec<(HookName, Hook)>,
}

/// Collects diagnostics for one file.
pub(super) struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    lines: Vec<&'a str>,
    diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(file: &'a Path, text: &'a str) -> Self {
        Checker { file, text, lines: text.lines().collect(), diags: vec![] }
    }

    pub(super) fn at(&self, place: Option<Place>, message: String, help: Option<String>) -> Diagnostic {
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

    pub(super) fn error(&mut self, place: Option<Place>, message: String, help: Option<String>) {
        let d = self.at(place, message, help);
        self.diags.push(d);
    }

    /// The key `key` at the top level, or under `parent`.
    pub(super) fn key(&self, parent: Option<Place>, key: &str) -> Option<Place> {
        match parent {
            None => find_top_key(&self.lines, key),
            Some(p) => find_child_key(&self.lines, p, key),
        }
    }

    /// The list item `item` of `key` (in a flow or block sequence), else the key's value.
    pub(super) fn item(&self, key: Option<Place>, item: &str) -> Option<Place> {
        key.and_then(|k| find_item(&self.lines, k, item)).or_else(|| self.value(key))
    }

    /// The value written after `key` on the same line, else the key itself.
    pub(super) fn value(&self, key: Option<Place>) -> Option<Place> {
        key.map(|k| value_after(&self.lines, k).unwrap_or(k))
    }

    pub(super) fn unknown_key(&mut self, place: Option<Place>, key: &str, known: &[&str], ctx: Option<&str>) {
        let help = match suggest(key, known.iter().copied()) {
            Some(s) => format!("did you mean '{s}'?"),
            None => format!("expected one of: {}", known.join(", ")),
        };
        self.error(place, format!("unknown key '{key}'{}", in_ctx(ctx)), Some(help));
    }

    /// A string value, or a diagnostic.
    pub(super) fn string(&mut self, v: &Value, key: Option<Place>, what: &str, ctx: Option<&str>) -> Option<String> {
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

    pub(super) fn mapping<'v>(&mut self, v: &'v Value, place: Option<Place>, what: &str) -> Option<&'v Mapping> {
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
}

fn in_ctx(ctx: Option<&str>) -> String {
    ctx.map(|c| format!(" (in {c})")).unwrap_or_default()
}

pub(super) fn kind(v: &Value) -> &'static str {
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
pub(super) fn scalar_text(v: &Value) -> String {
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

pub(super) fn parse_one(file: &Path, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let root: Value = serde_yaml_ng::from_str(text).map_err(|e| vec![syntax_diagnostic(file, text, &e)])?;
    Checker::new(file, text).check(&root)
}

