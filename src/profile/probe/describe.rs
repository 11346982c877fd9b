//! Answers described for the report: status, Content-Type, an OCI error or a short body excerpt.

use crate::client::Response;

const EXCERPT_CHARS: usize = 80;

pub(super) fn is_2xx(r: &Response) -> bool {
    (200..300).contains(&r.status)
}

/// `status (Content-Type) body`, the body summarised: an image index by its entry count, an
/// OCI error by its first code and message, anything else as a one-line excerpt.
pub(super) fn answer(r: &Response) -> String {
    let ct = r.header("content-type").unwrap_or("no Content-Type");
    let body = match (listed_digests_of(r), oci_error(r)) {
        (Some(l), _) => format!("image index, {}", entries(l.len())),
        (None, Some(e)) => e,
        (None, None) => body_excerpt(&r.body),
    };
    format!("{} ({ct}) {body}", r.status)
}

/// `CODE: message (detail)` of the first error of an OCI error body.
fn oci_error(r: &Response) -> Option<String> {
    let v = r.json().ok()?;
    let e = v.get("errors")?.get(0)?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("?");
    let mut msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string();
    if let Some(d) = e.get("detail").and_then(|d| d.as_str()).filter(|d| !d.is_empty()) {
        msg = format!("{msg} ({d})");
    }
    Some(format!("{code}: {}", cut(&msg)))
}

pub(super) fn entries(n: usize) -> String {
    if n == 1 { "1 entry".into() } else { format!("{n} entries") }
}

/// `status` and the content type only.
pub(super) fn brief(r: &Response) -> String {
    format!("{} {}", r.status, r.header("content-type").unwrap_or("without Content-Type"))
}

/// `status` for a success; `status CODE: message` for an OCI error; else [`answer`].
pub(super) fn status_line(r: &Response) -> String {
    if is_2xx(r) {
        return r.status.to_string();
    }
    match oci_error(r) {
        Some(e) => format!("{} {e}", r.status),
        None => answer(r),
    }
}

/// The body on one line, cut to [`EXCERPT_CHARS`] characters.
fn body_excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_CHARS * 4)]);
    let line = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = format!("`{}`", cut(&line));
    if body.len() > EXCERPT_CHARS * 4 {
        s.push_str(&format!(" ({} bytes)", body.len()));
    }
    s
}

fn cut(s: &str) -> String {
    if s.chars().count() > EXCERPT_CHARS {
        let mut c: String = s.chars().take(EXCERPT_CHARS).collect();
        c.push('…');
        c
    } else {
        s.to_string()
    }
}

/// The digests of a 200 referrers answer's `manifests`, if it is an image index.
pub(super) fn listed_digests(r: &Response) -> Option<Vec<String>> {
    if r.status != 200 {
        return None;
    }
    listed_digests_of(r)
}

/// The digests of the body's `manifests`, whatever the status.
fn listed_digests_of(r: &Response) -> Option<Vec<String>> {
    let v = r.json().ok()?;
    let list = v.get("manifests")?.as_array()?;
    Some(list.iter().filter_map(|m| m.get("digest")?.as_str().map(str::to_string)).collect())
}

pub(super) fn is_empty_index(r: &Response) -> bool {
    listed_digests(r).is_some_and(|l| l.is_empty())
}

/// `sha256:0123456789ab…`.
pub(super) fn short(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, enc)) if enc.len() > 12 => format!("{alg}:{}…", &enc[..12]),
        _ => d.to_string(),
    }
}

pub(super) fn mib(n: usize) -> String {
    format!("{} MiB", n >> 20)
}

pub(super) fn mb(n: usize) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(body_excerpt(b"404 page not found\n"), "`404 page not found`");
        assert_eq!(body_excerpt(b""), "(empty body)");
        let long = body_excerpt(&vec![b'a'; 1000]);
        assert!(long.ends_with("(1000 bytes)") && long.contains('…'), "{long}");
        assert_eq!(short("sha256:0123456789abcdef"), "sha256:0123456789ab…");
    }
}
