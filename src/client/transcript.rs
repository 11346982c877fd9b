//! One recorded HTTP exchange, with `Authorization` and tokens redacted before it is stored.

use serde::{Deserialize, Serialize};

/// What one request and its answer looked like, as the reports show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body_bytes: usize,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub body_excerpt: String,
    pub body_bytes: usize,
    pub elapsed_ms: u64,
    pub error: Option<String>,
}

pub(crate) const EXCERPT: usize = 1024;

/// Headers whose values never reach a report.
pub(crate) fn redact_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n == "authorization" || n == "proxy-authorization" || n == "cookie" || n == "set-cookie" {
        match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} <redacted>"),
            None => "<redacted>".into(),
        }
    } else {
        value.to_string()
    }
}

pub(crate) fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(EXCERPT)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if body.len() > EXCERPT {
        s.push_str(&format!("… ({} bytes in all)", body.len()));
    }
    s
}

impl Exchange {
    /// One line for terminal output and failure messages.
    pub fn summary(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("{} {} → {}", self.method, self.url, s),
            (None, Some(e)) => format!("{} {} → error: {}", self.method, self.url, e),
            (None, None) => format!("{} {}", self.method, self.url),
        }
    }

    /// A multi-line rendering for JUnit system-out and the JSON report.
    pub fn render(&self) -> String {
        let mut s = format!("> {} {}\n", self.method, self.url);
        for (k, v) in &self.request_headers {
            s.push_str(&format!("> {k}: {v}\n"));
        }
        if self.request_body_bytes > 0 {
            s.push_str(&format!("> ({} bytes)\n", self.request_body_bytes));
        }
        match (self.status, &self.error) {
            (Some(st), _) => s.push_str(&format!("< {st} ({} ms)\n", self.elapsed_ms)),
            (None, Some(e)) => s.push_str(&format!("< error: {e} ({} ms)\n", self.elapsed_ms)),
            _ => {}
        }
        for (k, v) in &self.response_headers {
            s.push_str(&format!("< {k}: {v}\n"));
        }
        if !self.body_excerpt.is_empty() {
            s.push_str(&format!("< {}\n", self.body_excerpt));
        }
        s
    }
}
