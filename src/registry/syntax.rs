//! The text grammar of the API: names, tags, referrers tags, query strings and `/v2/…` paths.
//!
//! Pure functions with no state ([`Route`] is a parsed path), shared by the endpoints,
//! authentication, GC and the chaos middleware.

use axum::http::Method;

/// Repository name grammar of the distribution spec:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.split('/').all(valid_name_component)
}

fn valid_name_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // An alphanumeric run is required at the start and after every separator.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Tag grammar: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

/// One `key=value` pair of a query string.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryParam {
    pub key: String,
    /// Decoded like Go's `url.ParseQuery`: `%XX` and `+` as space.
    pub value: String,
    /// Exactly as it appeared in the URL.
    pub raw: String,
}

pub fn parse_query(query: &str) -> Vec<QueryParam> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            QueryParam {
                key: pct_decode(k, true),
                value: pct_decode(v, true),
                raw: v.to_string(),
            }
        })
        .collect()
}

pub fn param<'a>(params: &'a [QueryParam], key: &str) -> Option<&'a str> {
    params.iter().find(|p| p.key == key).map(|p| p.value.as_str())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s`; `plus_as_space` for query strings. Malformed escapes stay literal.
pub fn pct_decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `alg-<hex>`: the shape of a referrers tag for a registered algorithm.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(alg, hex)| {
        matches!(alg, "sha256" | "sha512") && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A parsed `/v2/<rest>` path.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Manifest { name: String, reference: String },
    UploadStart { name: String },
    Upload { name: String, uuid: String },
    Blob { name: String, digest: String },
    Tags { name: String },
    Referrers { name: String, digest: String },
}

impl Route {
    pub fn name(&self) -> &str {
        match self {
            Route::Manifest { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Blob { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => name,
        }
    }

    pub fn allowed_methods(&self) -> &'static [Method] {
        match self {
            Route::Manifest { .. } => &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE],
            Route::UploadStart { .. } => &[Method::POST],
            Route::Upload { .. } => &[Method::GET, Method::PATCH, Method::PUT, Method::DELETE],
            Route::Blob { .. } => &[Method::GET, Method::HEAD, Method::DELETE],
            Route::Tags { .. } | Route::Referrers { .. } => &[Method::GET, Method::HEAD],
        }
    }
}

/// Parses the part of the path after `/v2/` by its last structural suffix, so a repository
/// name may itself contain words like `manifests` or `blobs`.
pub fn parse_route(rest: &str) -> Option<Route> {
    let (body, trailing_slash) = match rest.strip_suffix('/') {
        Some(b) => (b, true),
        None => (rest, false),
    };
    // Decode per segment so an encoded slash cannot change the structure.
    let segs: Vec<String> = body.split('/').map(|s| pct_decode(s, false)).collect();
    let n = segs.len();
    if n < 3 {
        return None;
    }
    let name = |k: usize| segs[..n - k].join("/");
    let (a, b) = (segs[n - 2].as_str(), segs[n - 1].clone());
    if a == "blobs" && b == "uploads" {
        return Some(Route::UploadStart { name: name(2) });
    }
    if trailing_slash {
        return None;
    }
    if n >= 4 && segs[n - 3] == "blobs" && a == "uploads" {
        return Some(Route::Upload { name: name(3), uuid: b });
    }
    match a {
        "tags" if b == "list" => Some(Route::Tags { name: name(2) }),
        "manifests" => Some(Route::Manifest {
            name: name(2),
            reference: b,
        }),
        "blobs" => Some(Route::Blob {
            name: name(2),
            digest: b,
        }),
        "referrers" => Some(Route::Referrers {
            name: name(2),
            digest: b,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "a/b", "a0.b_c__d---e/f", "library/ubuntu", "x-y"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "a.", "-a", "a___b", "a._b", "a:b", "a..b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert!(valid_tag("v1.0_rc-1") && valid_tag("_x") && valid_tag(&"a".repeat(128)));
        assert!(!valid_tag("") && !valid_tag(".a") && !valid_tag("a:b") && !valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn routes() {
        let r = |s: &str| parse_route(s);
        assert_eq!(r("a/b/blobs/uploads/"), Some(Route::UploadStart { name: "a/b".into() }));
        assert_eq!(
            r("a/blobs/uploads/xyz"),
            Some(Route::Upload {
                name: "a".into(),
                uuid: "xyz".into()
            })
        );
        assert_eq!(
            r("a/manifests/x/tags/list"),
            Some(Route::Tags {
                name: "a/manifests/x".into()
            })
        );
        assert_eq!(
            r("a/referrers/sha256%3Aab"),
            Some(Route::Referrers {
                name: "a".into(),
                digest: "sha256:ab".into()
            })
        );
        assert_eq!(
            r("a/manifests/latest"),
            Some(Route::Manifest {
                name: "a".into(),
                reference: "latest".into()
            })
        );
        assert_eq!(r("a/manifests/"), None);
        assert_eq!(r("manifests/x"), None);
    }

    #[test]
    fn query_decoding() {
        let q = parse_query("artifactType=application%2Fvnd.x%2Bjson&b=a+b&c");
        assert_eq!(q[0].value, "application/vnd.x+json");
        assert_eq!(q[0].raw, "application%2Fvnd.x%2Bjson");
        assert_eq!(q[1].value, "a b");
        assert_eq!(q[2].value, "");
        assert_eq!(pct_decode("%zz%4", true), "%zz%4");
        assert_eq!(pct_encode("a/b+c"), "a%2Fb%2Bc");
    }
}
