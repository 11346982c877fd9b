//! `WWW-Authenticate` challenges (RFC 7235 auth-params as registries send them).

/// A parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic { realm: Option<String> },
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    Other(String),
}

/// Parses the first challenge of a `WWW-Authenticate` value. Quoted values may contain commas
/// (scopes such as `repository:a:pull,push` do), so this walks the string instead of splitting.
pub fn parse_challenge(value: &str) -> Challenge {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let params = parse_params(rest);
    let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Challenge::Basic { realm: get("realm") },
        "bearer" => match get("realm") {
            Some(realm) => Challenge::Bearer { realm, service: get("service"), scope: get("scope") },
            None => Challenge::Other(value.to_string()),
        },
        _ => Challenge::Other(value.to_string()),
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    // Bounded by the input length: every iteration consumes at least one character.
    while i < b.len() {
        while i < b.len() && (b[i] == ',' || b[i].is_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != '=' && b[i] != ',' {
            i += 1;
        }
        let name: String = b[start..i].iter().collect::<String>().trim().to_string();
        if i >= b.len() || b[i] == ',' {
            if !name.is_empty() {
                out.push((name, String::new()));
            }
            continue;
        }
        i += 1; // '='
        let mut val = String::new();
        if i < b.len() && b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != ',' {
                val.push(b[i]);
                i += 1;
            }
            val = val.trim().to_string();
        }
        if !name.is_empty() {
            out.push((name, val));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_commas_in_scope() {
        let c = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:5000/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "http://127.0.0.1:5000/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into())
            }
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), Challenge::Basic { realm: Some("x".into()) });
        assert!(matches!(parse_challenge("Bearer service=x"), Challenge::Other(_)));
    }
}
