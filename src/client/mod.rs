//! The registry HTTP client. The main type is [`Client`]: raw HTTP on reqwest, so a check sees
//! exactly what the registry answered (no silent fallback, no retries that hide a bug).
//!
//! It owns authentication (anonymous, Basic, Bearer tokens from the `WWW-Authenticate`
//! challenge), uploads, manifests, tags, referrers with `Link` paging, the referrers-tag
//! read-modify-write under four client algorithms (`referrers_tag`), and a transcript of every
//! exchange with credentials redacted.

mod auth;
mod http;
mod ops;
pub mod docker_config;
pub mod referrers_tag;
mod transcript;

pub use auth::{Challenge, parse_challenge};
pub use http::{Client, ClientConfig, ClientError, Response, Scope};
pub use ops::{LinkError, Page, descriptor_from_json, parse_link_next};
pub use transcript::Exchange;
