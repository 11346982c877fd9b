//! Authentication of `/v2` requests (HTTP Basic, bearer challenges) and the `/token` endpoint.
//!
//! The bearer flow is Docker's: 401 challenge → `GET /token` with Basic credentials → retry
//! with the token (the tokens themselves live in `tokens`).
//!
//! Any configured user may obtain any scope: the point is to exercise a client's challenge
//! handling, not to model permissions.
// Handlers return a ready axum `Response` as their error: it is the answer, not a fault.
#![allow(clippy::result_large_err)]

use super::config::AuthMode;
use super::errors::OciError;
use super::shared::Shared;
use super::syntax::parse_query;
use super::tokens::{Access, TOKEN_TTL, parse_scopes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::Arc;

const SERVICE: &str = "referee-embedded";

/// `(user, password)` from an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn valid_user(users: &[(String, String)], headers: &HeaderMap) -> bool {
    basic_credentials(headers).is_some_and(|(u, p)| users.iter().any(|(uu, pp)| *uu == u && *pp == p))
}

fn unauthorized(challenge: String) -> Response {
    let mut resp = OciError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required").into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Checks a `/v2` request. `target` is `None` for `/v2/` itself.
pub fn check(shared: &Shared, headers: &HeaderMap, uri: &Uri, target: Option<(&str, Access)>) -> Result<(), Response> {
    match &shared.config.auth {
        AuthMode::None => Ok(()),
        AuthMode::Basic { users } => {
            if valid_user(users, headers) {
                Ok(())
            } else {
                Err(unauthorized(format!("Basic realm=\"{SERVICE}\"")))
            }
        }
        AuthMode::Token { .. } => {
            if let Some(token) = bearer_token(headers)
                && shared.tokens.permits(token, target) == Some(true)
            {
                return Ok(());
            }
            // The realm must be reachable by the client, so it is built from the address the
            // client used (Host header; HTTP/2 carries it in the URI), not from our bind address.
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or("127.0.0.1");
            let mut challenge = format!("Bearer realm=\"http://{host}/token\",service=\"{SERVICE}\"");
            if let Some((name, access)) = target {
                challenge.push_str(&format!(",scope=\"repository:{name}:{}\"", access.scope_actions()));
            }
            Err(unauthorized(challenge))
        }
    }
}

/// `GET /token?service=…&scope=…`: issues a token for exactly the requested scopes to a
/// caller with valid Basic credentials.
pub async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let AuthMode::Token { users } = &shared.config.auth else {
        return OciError::new(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "token endpoint is only served in token mode",
        )
        .into_response();
    };
    if !valid_user(users, &headers) {
        return OciError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "invalid or missing credentials",
        )
        .into_response();
    }
    let params = parse_query(query.as_deref().unwrap_or(""));
    // A scope parameter may repeat and may itself hold several space-separated scopes.
    let scopes = params
        .iter()
        .filter(|p| p.key == "scope")
        .flat_map(|p| p.value.split_whitespace());
    let token = shared.tokens.issue(parse_scopes(scopes));
    let body = serde_json::json!({ "token": token, "access_token": token, "expires_in": TOKEN_TTL.as_secs() });
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dTpwOng="));
        assert_eq!(basic_credentials(&h), Some(("u".into(), "p:x".into())));
    }
}
