//! `referee.yaml`: defaults for the command line, the way the ecosystem layers them. Which
//! file: `--config FILE`, else `$REFEREE_CONFIG`, else `./referee.yaml` when there is one.
//! Each top-level key is the long name of a flag (`target`, `profile`, `filter`, `fail-on`,
//! `report-dir`, `timeout`, `username`, …; `fail_on` is read as `fail-on`); its value becomes
//! that flag's default for every command that has it. So a value on the command line beats the
//! `REFEREE_*` environment variable, which beats the file, which beats referee's own default.
//! A list gives a flag several values (`filter: [C9, pagination]`); a mapping gives `name=value`
//! pairs (`hook: { gc: "…" }`, `mirror: { mirror: http://… }`). An unknown key, or a value a
//! flag refuses, is an error at the file's line and column, before anything is sent. Flags a
//! command requires (`layout export --target`) are not read from the file.

use serde_yaml_ng::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The file a command line names or finds.
pub fn find(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    if let Some(p) = std::env::var_os("REFEREE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let here = PathBuf::from("referee.yaml");
    here.is_file().then_some(here)
}

/// One key of the file, where it is.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    values: Vec<String>,
    line: usize,
    col: usize,
}

/// A read `referee.yaml`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    entries: Vec<Entry>,
}

/// Line and column (1-based) of the value of top-level `key` in `text` (1:1 if not found).
fn position(text: &str, key: &str) -> (usize, usize) {
    for (i, l) in text.lines().enumerate() {
        let Some(rest) = l.strip_prefix(key) else { continue };
        let rest_trim = rest.trim_start();
        if let Some(after) = rest_trim.strip_prefix(':') {
            let value_at = l.len() - after.trim_start().len();
            return (i + 1, if after.trim().is_empty() { 1 } else { value_at + 1 });
        }
    }
    (1, 1)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| match e.location() {
            Some(l) => format!("{}:{}:{}: {e}", path.display(), l.line(), l.column()),
            None => format!("{}: {e}", path.display()),
        })?;
        let map = match doc {
            Value::Mapping(m) => m,
            Value::Null => Default::default(),
            _ => return Err(format!("{}:1:1: a referee.yaml is a mapping of flag names to values", path.display())),
        };
        let mut entries = vec![];
        for (k, v) in map {
            let Some(raw) = k.as_str().map(str::to_string) else {
                return Err(format!("{}:1:1: every key is a flag name (a string)", path.display()));
            };
            let (line, col) = position(&text, &raw);
            let at = format!("{}:{line}:{col}", path.display());
            let key = raw.replace('_', "-");
            let values = match &v {
                Value::Null => continue,
                Value::Sequence(s) => s.iter().map(|x| scalar(x).ok_or_else(|| format!("{at}: {raw}: a list of plain values"))).collect::<Result<Vec<_>, _>>()?,
                Value::Mapping(m) => m
                    .iter()
                    .map(|(a, b)| match (scalar(a), scalar(b)) {
                        (Some(a), Some(b)) => Ok(format!("{a}={b}")),
                        _ => Err(format!("{at}: {raw}: a mapping of names to plain values")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other).ok_or_else(|| format!("{at}: {raw}: not a value"))?],
            };
            entries.push(Entry { key, values, line, col });
        }
        Ok(ConfigFile { path: path.to_path_buf(), entries })
    }

    fn at(&self, e: &Entry) -> String {
        format!("{}:{}:{}", self.path.display(), e.line, e.col)
    }

    /// `cmd` with the file's values as defaults. A key no command has is an error (with the
    /// nearest flag name); so is `config` itself.
    pub fn apply(&self, cmd: clap::Command) -> Result<clap::Command, String> {
        let mut longs = vec![];
        collect_longs(&cmd, &mut longs);
        for e in &self.entries {
            if e.key == "config" || !longs.contains(&e.key) {
                let help = crate::scenario::diag::suggest(&e.key, longs.iter().map(String::as_str).filter(|l| *l != "config"))
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(format!("{}:{}:1: unknown key '{}'{help}: the keys of a referee.yaml are the long names of referee's flags", self.path.display(), e.line, e.key));
            }
        }
        Ok(self.apply_to(cmd))
    }

    fn apply_to(&self, mut cmd: clap::Command) -> clap::Command {
        for e in &self.entries {
            let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(e.key.as_str())) else { continue };
            if arg.is_required_set() || arg.is_positional() {
                continue;
            }
            // A single-valued flag keeps the last value a list gives it.
            let many = matches!(arg.get_action(), clap::ArgAction::Append) || arg.get_value_delimiter().is_some();
            let values: Vec<&'static str> = if many { e.values.clone() } else { e.values.last().cloned().into_iter().collect() }
                .into_iter()
                .map(|v| &*Box::leak(v.into_boxed_str()))
                .collect();
            let id = arg.get_id().clone();
            cmd = cmd.mut_arg(id, |a| a.default_values(values));
        }
        let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        for name in subs {
            cmd = cmd.mut_subcommand(name, |s| self.apply_to(s));
        }
        cmd
    }

    /// A command-line error caused by a value from the file, said at the file's line and
    /// column: a flag the command line did not give itself whose value clap refused.
    pub fn locate(&self, err: &clap::Error, args: &[OsString]) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return None };
        let long = arg.strip_prefix("--")?.split([' ', '=']).next()?.to_string();
        let given = args.iter().any(|a| a.to_string_lossy() == format!("--{long}") || a.to_string_lossy().starts_with(&format!("--{long}=")));
        let e = self.entries.iter().find(|e| e.key == long).filter(|_| !given)?;
        let rendered = err.to_string();
        let why = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
        Some(format!("{}: {long}: {why}", self.at(e)))
    }
}

fn collect_longs(cmd: &clap::Command, out: &mut Vec<String>) {
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long()
            && !out.iter().any(|x| x == l)
        {
            out.push(l.to_string());
        }
    }
    for s in cmd.get_subcommands() {
        collect_longs(s, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values() {
        let text = "# c\ntarget: http://x\nfilter:\n  - C9\nfail-on:   warn\n";
        assert_eq!(position(text, "target"), (2, 9));
        assert_eq!(position(text, "filter"), (3, 1));
        assert_eq!(position(text, "fail-on"), (5, 12));
        assert_eq!(position(text, "nope"), (1, 1));
    }
}
