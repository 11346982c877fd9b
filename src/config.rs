//! `referee.yaml`: defaults for the command line, the way the ecosystem layers them. Which
//! file: `--config FILE`, else `$REFEREE_CONFIG`, else `./referee.yaml` when there is one.
//! Keys are long flag names (`fail_on` is read as `fail-on`); a value becomes that flag's
//! default. `target`, `username`, `insecure`, `timeout`, `profile` and `repo-prefix` apply to
//! every command that has the flag (`password` and `token` are refused: secrets go in the
//! environment or the docker config); any other top-level key is a flag of
//! `referee run`; another command's flags go under its name (`graph: { cases: 50 }`,
//! `layout: { export: { mode: api } }`), since the same name can mean something else there
//! (`copy --filter` is an artifactType). So a value on the command line beats the `REFEREE_*`
//! environment variable, which beats the file, which beats referee's own default.
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

/// One key of the file, where it is: values for a flag, or a section for a command.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    value: Val,
    line: usize,
    col: usize,
}

#[derive(Debug, Clone)]
enum Val {
    /// A flag's values (one, a list, or `name=value` pairs from a mapping).
    Flag(Vec<String>),
    /// A command's own keys (`graph: { cases: 50 }`).
    Section(Vec<Entry>),
}

/// Keys that mean the same to every command (how to reach a registry, against which profile,
/// in which repositories): they apply wherever the flag exists. Any other top-level key is a
/// flag of `referee run`; other commands' flags go under a section named after the command.
pub const EVERYWHERE: &[&str] = &["target", "username", "insecure", "timeout", "profile", "repo-prefix"];

/// A read `referee.yaml`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    entries: Vec<Entry>,
}

/// Line and column (1-based) of the value of `key` at `indent` in `text`, searching from line
/// `from` (0-based); (from + 1, 1) if not found.
fn position(text: &str, key: &str, from: usize) -> (usize, usize) {
    for (i, l) in text.lines().enumerate().skip(from) {
        let Some(rest) = l.trim_start().strip_prefix(key) else { continue };
        if let Some(after) = rest.trim_start().strip_prefix(':') {
            let value_at = l.len() - after.trim_start().len();
            return (i + 1, if after.trim().is_empty() { l.len() - l.trim_start().len() + 1 } else { value_at + 1 });
        }
    }
    (from + 1, 1)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The entries of `map` (a section is a mapping under a command's name, `commands` holding the
/// names at this level).
fn entries(path: &Path, text: &str, map: serde_yaml_ng::Mapping, commands: &clap::Command, from: usize) -> Result<Vec<Entry>, String> {
    let mut out = vec![];
    let mut after = from;
    for (k, v) in map {
        let Some(raw) = k.as_str().map(str::to_string) else {
            return Err(format!("{}:{}:1: every key is a flag name (a string)", path.display(), after + 1));
        };
        let (line, col) = position(text, &raw, after);
        after = line - 1;
        let at = format!("{}:{line}:{col}", path.display());
        let key = raw.replace('_', "-");
        // Secrets stay out of a file that sits next to the code (and would become the flags'
        // shown defaults, and follow any --target given later).
        if matches!(key.as_str(), "password" | "token") {
            return Err(format!("{at}: {raw}: keep secrets out of referee.yaml: use REFEREE_PASSWORD / REFEREE_TOKEN, or the docker config (docker login)"));
        }
        let value = match (&v, commands.find_subcommand(&key)) {
            (Value::Mapping(m), Some(sub)) => Val::Section(entries(path, text, m.clone(), sub, line)?),
            (Value::Null, _) => return Err(format!("{at}: {raw} has no value: give one, or remove the key")),
            (Value::Sequence(s), _) => Val::Flag(s.iter().map(|x| scalar(x).ok_or_else(|| format!("{at}: {raw}: a list of plain values"))).collect::<Result<Vec<_>, _>>()?),
            (Value::Mapping(m), None) => Val::Flag(
                m.iter()
                    .map(|(a, b)| match (scalar(a), scalar(b)) {
                        (Some(a), Some(b)) => Ok(format!("{a}={b}")),
                        _ => Err(format!("{at}: {raw}: a mapping of names to plain values")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            (other, _) => Val::Flag(vec![scalar(other).ok_or_else(|| format!("{at}: {raw}: not a value"))?]),
        };
        out.push(Entry { key, value, line, col });
    }
    Ok(out)
}

/// `cmd` with its subcommand `name` replaced by what `f` makes of it, or `f`'s error (clap's
/// `mut_subcommand` takes no fallible edit).
fn try_sub(cmd: clap::Command, name: &str, f: impl FnOnce(clap::Command) -> Result<clap::Command, String>) -> Result<clap::Command, String> {
    let Some(sub) = cmd.find_subcommand(name).cloned() else { return Ok(cmd) };
    let edited = f(sub)?;
    Ok(cmd.mut_subcommand(name, |_| edited))
}

/// The long flag names of `cmd` (not its subcommands').
fn longs(cmd: &clap::Command) -> Vec<&str> {
    cmd.get_arguments().filter_map(|a| a.get_long()).filter(|l| *l != "config").collect()
}

impl ConfigFile {
    /// Reads `path`; sections are told from flags by `cmd`'s command names.
    pub fn load(path: &Path, cmd: &clap::Command) -> Result<ConfigFile, String> {
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
        Ok(ConfigFile { path: path.to_path_buf(), entries: entries(path, &text, map, cmd, 0)? })
    }

    fn at(&self, e: &Entry) -> String {
        format!("{}:{}:{}", self.path.display(), e.line, e.col)
    }

    /// An unknown key, said at its line with the nearest name it could be.
    fn unknown(&self, e: &Entry, candidates: &[&str], whose: &str) -> String {
        let help = crate::scenario::diag::suggest(&e.key, candidates.iter().copied()).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
        format!("{}:{}:1: unknown key '{}'{help}: {whose}", self.path.display(), e.line, e.key)
    }

    /// `cmd` with the file's values as defaults: the keys in [`EVERYWHERE`] for every command
    /// with that flag, other top-level keys for `referee run`, a section's keys for its command.
    pub fn apply(&self, mut cmd: clap::Command) -> Result<clap::Command, String> {
        let run_longs: Vec<String> = cmd.find_subcommand("run").map(|r| longs(r).into_iter().map(str::to_string).collect()).unwrap_or_default();
        let commands: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        for e in &self.entries {
            match &e.value {
                Val::Section(inner) => cmd = try_sub(cmd, &e.key, |s| self.section(s, inner, &e.key))?,
                Val::Flag(values) if EVERYWHERE.contains(&e.key.as_str()) => cmd = self.everywhere(cmd, e, values)?,
                Val::Flag(values) => {
                    if !run_longs.contains(&e.key) {
                        let mut cands: Vec<&str> = run_longs.iter().map(String::as_str).collect();
                        cands.extend(commands.iter().map(String::as_str));
                        return Err(self.unknown(
                            e,
                            &cands,
                            "top-level keys are `referee run`'s flags (and target, username, insecure, timeout, profile, repo-prefix for every command); another command's go under its name, e.g. `graph: { cases: 50 }`",
                        ));
                    }
                    cmd = try_sub(cmd, "run", |r| self.set(r, e, values))?;
                }
            }
        }
        Ok(cmd)
    }

    /// A section's keys on its command (and nested sections on its subcommands).
    fn section(&self, mut cmd: clap::Command, inner: &[Entry], name: &str) -> Result<clap::Command, String> {
        for e in inner {
            match &e.value {
                Val::Section(deeper) => {
                    let label = format!("{name} {}", e.key);
                    cmd = try_sub(cmd, &e.key, |s| self.section(s, deeper, &label))?;
                }
                Val::Flag(values) => {
                    if !longs(&cmd).contains(&e.key.as_str()) {
                        let cands = longs(&cmd);
                        return Err(self.unknown(e, &cands, &format!("not a flag of `referee {name}`")));
                    }
                    cmd = self.set(cmd, e, values)?;
                }
            }
        }
        Ok(cmd)
    }

    /// An [`EVERYWHERE`] key on every command that has the flag.
    fn everywhere(&self, mut cmd: clap::Command, e: &Entry, values: &[String]) -> Result<clap::Command, String> {
        if longs(&cmd).contains(&e.key.as_str()) {
            cmd = self.set(cmd, e, values)?;
        }
        let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        for name in subs {
            cmd = try_sub(cmd, &name, |s| self.everywhere(s, e, values))?;
        }
        Ok(cmd)
    }

    /// One flag's default from the file. A flag the command requires is left alone; a list for a
    /// flag that takes one value is an error.
    fn set(&self, cmd: clap::Command, e: &Entry, values: &[String]) -> Result<clap::Command, String> {
        let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(e.key.as_str())) else { return Ok(cmd) };
        if arg.is_required_set() || arg.is_positional() {
            return Ok(cmd);
        }
        let many = matches!(arg.get_action(), clap::ArgAction::Append) || arg.get_value_delimiter().is_some();
        if !many && values.len() != 1 {
            return Err(format!("{}: {} takes one value, not a list", self.at(e), e.key));
        }
        let leaked: Vec<&'static str> = values.iter().map(|v| &*Box::leak(v.clone().into_boxed_str())).collect();
        let id = arg.get_id().clone();
        Ok(cmd.mut_arg(id, |a| a.default_values(leaked)))
    }

    /// Every flag entry, sections included.
    fn flags(&self) -> Vec<&Entry> {
        fn walk<'a>(es: &'a [Entry], out: &mut Vec<&'a Entry>) {
            for e in es {
                match &e.value {
                    Val::Flag(_) => out.push(e),
                    Val::Section(inner) => walk(inner, out),
                }
            }
        }
        let mut out = vec![];
        walk(&self.entries, &mut out);
        out
    }

    /// The entry for `--long`, when the command line did not give that flag itself.
    fn given_by_file(&self, long: &str, args: &[OsString]) -> Option<&Entry> {
        let given = args.iter().any(|a| a.to_string_lossy() == format!("--{long}") || a.to_string_lossy().starts_with(&format!("--{long}=")));
        // A value from the environment is not the file's either.
        let from_env = std::env::var_os(format!("REFEREE_{}", long.to_ascii_uppercase().replace('-', "_"))).is_some_and(|v| !v.is_empty());
        if given || from_env {
            return None;
        }
        self.flags().into_iter().find(|e| e.key == long)
    }

    /// A command-line error caused by a value from the file, said at the file's line and
    /// column: a flag the command line did not give itself whose value clap refused.
    pub fn locate(&self, err: &clap::Error, args: &[OsString]) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return None };
        let long = arg.strip_prefix("--")?.split([' ', '=']).next()?.to_string();
        let e = self.given_by_file(&long, args)?;
        let rendered = err.to_string();
        let why = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
        Some(format!("{}: {long}: {why}", self.at(e)))
    }

    /// A message about `--flag` (a value referee itself refused after parsing), located in the
    /// file when that flag's value came from it.
    pub fn locate_message(&self, msg: &str, args: &[OsString]) -> Option<String> {
        let long = msg.split("--").skip(1).find_map(|rest| {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            (!name.is_empty()).then_some(name)
        })?;
        let e = self.given_by_file(&long, args)?;
        Some(format!("{}: {long}: {msg}", self.at(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values() {
        let text = "# c\ntarget: http://x\nfilter:\n  - C9\nfail-on:   warn\ngraph:\n  cases: 5\n";
        assert_eq!(position(text, "target", 0), (2, 9));
        assert_eq!(position(text, "filter", 0), (3, 1));
        assert_eq!(position(text, "fail-on", 0), (5, 12));
        assert_eq!(position(text, "cases", 5), (7, 10));
        assert_eq!(position(text, "nope", 0), (1, 1));
    }
}
