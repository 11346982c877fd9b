//! The capability matrix: [`ProbeReport`] with one [`Cell`] per row, as a table or as JSON.

use crate::exec::Residue;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the JSON form of [`ProbeReport`]; bumped when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub name: String,
    /// `None` when the row does not apply (the capability it depends on is absent), was not
    /// probed, or is an observation without a right answer.
    pub supported: Option<bool>,
    /// What the registry answered: status, Content-Type, a short body, header values.
    pub observed: String,
}

/// The capability matrix of one registry. Versioned ([`FORMAT_VERSION`]) for later readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeReport {
    pub format_version: u32,
    pub referee_version: String,
    pub target: String,
    pub run_id: String,
    /// The repositories the probe worked in.
    pub repositories: Vec<String>,
    pub duration_ms: u64,
    /// One per name in [`names::ALL`](super::names::ALL), in that order.
    pub cells: Vec<Cell>,
    /// What referee pushed and could not delete.
    pub residue: Vec<Residue>,
    /// Harness trouble: the registry unreachable, credentials refused, a request unanswered.
    pub errors: Vec<String>,
}

impl ProbeReport {
    pub fn capability(&self, name: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.name == name)
    }

    /// True when the probe itself had trouble (exit code 3).
    pub fn harness_error(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The matrix as a terminal table.
    pub fn render(&self) -> String {
        let mut s = format!("probe of {} (run {}, {} ms)\n", self.target, self.run_id, self.duration_ms);
        let w = self.cells.iter().map(|c| c.name.len()).max().unwrap_or(0).max("capability".len());
        s.push_str(&format!("{:<w$}  {:<9}  observed\n", "capability", "supported"));
        for c in &self.cells {
            let sup = match c.supported {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            s.push_str(&format!("{:<w$}  {sup:<9}  {}\n", c.name, c.observed));
        }
        if self.residue.is_empty() {
            s.push_str("residue: none\n");
        }
        for r in &self.residue {
            s.push_str(&format!("residue: {} {} {} ({})\n", r.repository, r.kind, r.reference, r.why));
        }
        for e in &self.errors {
            s.push_str(&format!("error: {e}\n"));
        }
        s
    }

    /// Writes the JSON form to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }
}
