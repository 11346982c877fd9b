//! Diagnostics that point at the user's file: `file:line:col`, the line, a caret, and a
//! did-you-mean when a key is misspelled.

use std::fmt;
use std::path::{Path, PathBuf};

/// An error in a scenario (or profile) file. Nothing is sent to a registry while one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    pub source_line: String,
    /// How many characters the caret underlines.
    pub width: usize,
}

impl Diagnostic {
    pub fn at(file: &Path, text: &str, line: usize, column: usize, message: String) -> Diagnostic {
        let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
        let width = source_line
            .chars()
            .skip(column.saturating_sub(1))
            .take_while(|c| !c.is_whitespace() && *c != ':' && *c != ',' && *c != '}' && *c != ']')
            .count()
            .max(1);
        Diagnostic { file: file.to_path_buf(), line, column, message, help: None, source_line, width }
    }

    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Points at the first occurrence of `token` on or after `from_line` (1-based), as a whole
    /// word; falls back to `from_line` itself.
    pub fn at_token(file: &Path, text: &str, from_line: usize, token: &str, message: String) -> Diagnostic {
        for (i, l) in text.lines().enumerate().skip(from_line.saturating_sub(1)) {
            let mut start = 0;
            while let Some(pos) = l[start..].find(token) {
                let p = start + pos;
                let before = l[..p].chars().last();
                let after = l[p + token.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
                if !word(before) && !word(after) {
                    return Diagnostic::at(file, text, i + 1, p + 1, message);
                }
                start = p + token.len().max(1);
            }
        }
        let col = text.lines().nth(from_line.saturating_sub(1)).map_or(1, |l| l.len() - l.trim_start().len() + 1);
        Diagnostic::at(file, text, from_line.max(1), col, message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "{pad}--> {}:{}:{}", self.file.display(), self.line, self.column)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        let caret = format!("{}{}", " ".repeat(self.column.saturating_sub(1)), "^".repeat(self.width));
        match &self.help {
            Some(h) => writeln!(f, "{pad} | {caret} {h}"),
            None => writeln!(f, "{pad} | {caret}"),
        }
    }
}

/// Levenshtein distance, for did-you-mean.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = if ca == *cb { 0 } else { 1 };
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
