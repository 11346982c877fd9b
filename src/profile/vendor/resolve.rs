//! Where profiles come from: the built-ins compiled in from `profiles/`, and `extends` chains
//! resolved into one [`Profile`].

use super::parse::{Checker, Parsed, parse_one};
use super::{MAX_EXTENDS_DEPTH, Profile, ProfileError};
use crate::scenario::diag::suggest;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../profiles/", $name, ".yaml")))),*]
    };
}

/// The files of `profiles/`, by name (sorted).
pub(super) const BUILTINS: &[(&str, &str)] = builtins!(
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

pub(super) fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub(super) fn builtin_source(name: &str) -> PathBuf {
    PathBuf::from(format!("<builtin>/{name}.yaml"))
}

/// Whether `load` and `extends` read `s` as a path rather than a built-in name.
pub(super) fn is_path(s: &str) -> bool {
    s.contains('/') || s.contains(std::path::MAIN_SEPARATOR) || s.ends_with(".yaml") || s.ends_with(".yml")
}

/// Where a profile's text came from: what `extends` is relative to, and its identity for cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
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

pub(super) fn resolve(origin: Origin, source: PathBuf, text: String) -> Result<Profile, ProfileError> {
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
    fn tidy_keeps_paths_as_written() {
        assert_eq!(tidy(Path::new("a/./b/../c.yaml")), PathBuf::from("a/c.yaml"));
        assert_eq!(tidy(Path::new("../x.yaml")), PathBuf::from("../x.yaml"));
    }
}
