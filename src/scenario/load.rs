//! Reading scenario files: YAML → [`ScenarioFile`], with serde errors turned into
//! [`Diagnostic`]s that carry line, column and a did-you-mean.

use super::ast::ScenarioFile;
use super::diag::{Diagnostic, suggest};
use std::path::{Path, PathBuf};

/// A parsed file and its text (kept for later diagnostics).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub file: ScenarioFile,
}

/// Parses one scenario text.
pub fn parse(path: &Path, text: &str) -> Result<ScenarioFile, Diagnostic> {
    parse_as::<ScenarioFile>(path, text)
}

/// Parses any YAML file referee reads (scenarios, load profiles) with the same diagnostics:
/// line, column, did-you-mean.
pub fn parse_as<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, Diagnostic> {
    serde_yaml_ng::from_str::<T>(text).map_err(|e| to_diagnostic(path, text, &e))
}

fn to_diagnostic(path: &Path, text: &str, e: &serde_yaml_ng::Error) -> Diagnostic {
    let full = e.to_string();
    // serde_yaml_ng appends " at line L column C"; the diagnostic shows the place itself.
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full.clone(),
    };
    // serde_yaml_ng prefixes the path of the offending node ("steps[1].checks.C8: …").
    let (path_ctx, message) = match message.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (Some(p.to_string()), m.to_string()),
        _ => (None, message),
    };
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let mut help = None;
    let mut message = message;
    // "unknown field `stauts`, expected one of `status`, ..." → did you mean 'status'?
    for (prefix, what) in [("unknown field `", "unknown key"), ("unknown variant `", "unknown value")] {
        let Some(rest) = message.strip_prefix(prefix).map(str::to_string) else { continue };
        let Some((word, tail)) = rest.split_once('`') else { continue };
        let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        help = suggest(word, candidates.iter().copied()).map(|s| format!("did you mean '{s}'?"));
        if help.is_none() && !candidates.is_empty() {
            help = Some(format!("expected one of: {}", candidates.join(", ")));
        }
        message = format!("{what} '{word}'");
        break;
    }
    if let Some(p) = path_ctx {
        message = format!("{message} (in {p})");
    }
    Diagnostic::at(path, text, line, column, message).with_help(help)
}

/// Collects `*.yaml` / `*.yml` files under `path` (a file or a directory), sorted.
pub fn collect_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = vec![];
    let mut stack = vec![path.to_path_buf()];
    // Bounded by the directory tree; symlinked directories are not followed.
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            let p = entry.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Errors from loading: I/O or the file's content.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/library.rs"));
}

/// The check library built into the binary (`scenarios/` of the source tree), parsed; every
/// diagnostic is gathered before failing.
pub fn load_builtin() -> Result<Vec<Loaded>, LoadError> {
    let mut loaded = vec![];
    let mut diags = vec![];
    for (path, text) in builtin::LIBRARY {
        let path = PathBuf::from(path);
        match parse(&path, text) {
            Ok(file) => loaded.push(Loaded { path, text: text.to_string(), file }),
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() { Ok(loaded) } else { Err(LoadError::Invalid(diags)) }
}

/// Loads every scenario under `path`; all diagnostics are gathered before failing.
pub fn load_all(path: &Path) -> Result<Vec<Loaded>, LoadError> {
    let files = collect_files(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
    let mut loaded = vec![];
    let mut diags = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| LoadError::Io { path: f.clone(), source })?;
        match parse(&f, &text) {
            Ok(file) => loaded.push(Loaded { path: f, text, file }),
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() { Ok(loaded) } else { Err(LoadError::Invalid(diags)) }
}
