//! The embedded reference registry: an in-memory OCI distribution-spec 1.1 registry (axum).
//!
//! The conformance harness uses it to test itself. Every rule the harness checks has a fault
//! switch ([`Faults`]) that breaks exactly that rule, so each check can be shown to fail
//! against a registry that violates it.
//!
//! Modules, each depending only on modules listed before it (the graph has no cycles):
//!
//! - `syntax`: the text grammar — repository names, tags, referrers tags, query strings,
//!   `/v2/…` paths (`Route`).
//! - `store`: in-memory repositories, blobs, uploads, manifests, tags, the per-subject
//!   referrers map.
//! - `faults`: the fault switches, [`Faults`].
//! - `errors`: the OCI error body, the standard error answers, the response helpers.
//! - `persist`: saving and loading the store (`RegistryConfig::storage_dir`).
//! - `tokens`: bearer tokens, their scopes, what a request wants (`Access`).
//! - `gc`: mark-and-sweep garbage collection under a [`GcPolicy`].
//! - `locks`: tag locks — the rules pushes and deletes obey, [`LockStatus`].
//! - `chaos`: hostile answers to referrers requests, [`Chaos`], and their middleware.
//! - `referrers_index`: listing, `artifactType` filtering and paging of referrers
//!   (`ReferrersIndex`).
//! - `config`: [`RegistryConfig`], [`Mode`], [`AuthMode`].
//! - `shared`: `Shared`, the state of a running registry every handler reaches.
//! - `auth`: Basic and bearer-token authentication, the `/token` endpoint.
//! - `admin`: the `/admin/…` API (GC, tag locks, referrers API switch, restart) and
//!   [`admin_client_call`].
//! - `endpoints`: one module per endpoint family — `blobs`, `uploads`, `manifests`, `tags`,
//!   `referrers`.
//! - `routing`: `dispatch` of every `/v2/…` request, `GET /v2/`, the fallback 404.
//! - `server`: [`router`] and the [`EmbeddedRegistry`] lifecycle.
//! - `tests` (test builds): end-to-end tests over HTTP, by topic.

mod admin;
mod auth;
mod chaos;
mod config;
mod endpoints;
mod errors;
mod faults;
mod gc;
mod locks;
mod persist;
mod referrers_index;
mod routing;
mod server;
mod shared;
mod store;
mod syntax;
#[cfg(test)]
mod tests;
mod tokens;

pub use admin::admin_client_call;
pub use chaos::Chaos;
pub use config::{AuthMode, Mode, RegistryConfig};
pub use faults::Faults;
pub use gc::{GcPolicy, GcReport, OrphanPolicy, RepoGcReport, UntaggedPolicy};
pub use locks::LockStatus;
pub use server::{EmbeddedRegistry, router};
