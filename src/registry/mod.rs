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
//! - `admin`: the `/admin/…` API (GC, tag locks, referrers API switch, restart), [`LockStatus`]
//!   and [`admin_client_call`].
//! - `gc`: mark-and-sweep garbage collection under a [`GcPolicy`].
//! - `persist`: saving and loading the store (`RegistryConfig::storage_dir`).

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
