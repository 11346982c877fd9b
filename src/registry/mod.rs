//! The embedded reference registry: an in-memory OCI distribution-spec 1.1 registry served
//! with axum, used by the conformance harness to test itself. Every rule the harness checks
//! has a fault switch ([`Faults`]) that breaks exactly that rule, so each check can be shown
//! to fail against a registry that violates it.
//!
//! - `config`: [`RegistryConfig`], [`Mode`], [`AuthMode`], [`Faults`].
//! - `store`: in-memory repositories, blobs, uploads, manifests, tags, referrers index.
//! - `handlers`: routing of `/v2/…`, the OCI error body, and all endpoint semantics.
//! - `auth`: Basic and bearer-token authentication, the `/token` endpoint.
//! - `server`: [`router`] and the [`EmbeddedRegistry`] lifecycle.

mod auth;
mod chaos;
mod config;
mod handlers;
mod server;
mod store;

pub use chaos::Chaos;
pub use config::{AuthMode, Faults, Mode, RegistryConfig};
pub use server::{EmbeddedRegistry, router};
