//! The OCI error body ([`OciError`]), the standard error answers and the response helpers.
//!
//! Shared by every part of the registry that answers HTTP.

use axum::body::Body;
use axum::http::{StatusCode, header, response::Builder};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An OCI error response: `{"errors":[{"code","message","detail"}]}` as `application/json`.
#[derive(Debug, Clone)]
pub struct OciError {
    status: StatusCode,
    errors: Vec<(&'static str, String, Value)>,
}

impl OciError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OciError {
        OciError {
            status,
            errors: vec![(code, message.into(), Value::Null)],
        }
    }

    /// Sets the detail of the most recently added error.
    pub fn detail(mut self, detail: Value) -> OciError {
        if let Some(last) = self.errors.last_mut() {
            last.2 = detail;
        }
        self
    }

    /// Adds another error to the same response.
    pub fn and(mut self, code: &'static str, message: impl Into<String>, detail: Value) -> OciError {
        self.errors.push((code, message.into(), detail));
        self
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let errors: Vec<Value> = self
            .errors
            .into_iter()
            .map(|(code, message, detail)| json!({ "code": code, "message": message, "detail": detail }))
            .collect();
        let body = json!({ "errors": errors }).to_string();
        (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

pub fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    OciError::new(status, code, message).into_response()
}

/// Go's `http.NotFound`, which is what distribution 2.8 answers for routes it does not have.
pub fn plain_404() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

pub fn reply(status: StatusCode) -> Builder {
    Response::builder().status(status)
}

pub fn finish(builder: Builder, body: impl Into<Body>) -> Response {
    builder.body(body.into()).unwrap_or_else(|e| {
        err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNSUPPORTED",
            format!("cannot build response: {e}"),
        )
    })
}

/// A 500 with an OCI body (for faults that break a server).
pub fn internal_error(message: &str) -> Response {
    err(StatusCode::INTERNAL_SERVER_ERROR, "UNSUPPORTED", message.to_string())
}

pub fn unknown_name(name: &str) -> Response {
    OciError::new(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "repository name not known to registry",
    )
    .detail(json!({ "name": name }))
    .into_response()
}

pub fn unknown_manifest(reference: &str) -> Response {
    OciError::new(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        "manifest unknown to registry",
    )
    .detail(json!({ "reference": reference }))
    .into_response()
}
