//! [`RegistryConfig`]: everything the embedded registry needs to know before it starts.
//!
//! Which API generation it imitates ([`Mode`]), how it authenticates ([`AuthMode`]), its
//! paging and size limits, and which [`Faults`], chaos, GC policy and lock answers it uses.

use super::chaos::Chaos;
use super::faults::Faults;
use super::gc::GcPolicy;
use super::locks::LockStatus;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Which registry generation the embedded registry imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// distribution-spec 1.1: referrers API and `OCI-Subject` on pushes.
    #[default]
    Full,
    /// A pre-1.1 registry (distribution 2.8): no referrers route, no `OCI-Subject`, so
    /// clients must fall back to the referrers tag schema.
    Legacy,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "full" => Ok(Mode::Full),
            "legacy" => Ok(Mode::Legacy),
            other => Err(format!("unknown mode '{other}' (expected 'full' or 'legacy')")),
        }
    }
}

/// How `/v2/` requests are authenticated. Users are `(username, password)` pairs.
#[derive(Clone, Debug, Default)]
pub enum AuthMode {
    /// Everything is open.
    #[default]
    None,
    /// Every `/v2` request needs `Authorization: Basic`.
    Basic { users: Vec<(String, String)> },
    /// Every `/v2` request needs a bearer token from `GET /token` (obtained with Basic
    /// credentials) whose scope covers the request.
    Token { users: Vec<(String, String)> },
}

/// Everything the embedded registry needs to know before it starts.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub mode: Mode,
    pub auth: AuthMode,
    /// Maximum referrers per page.
    pub page_size: usize,
    /// Maximum serialized size of a referrers page (a page always holds at least one entry).
    pub page_bytes: usize,
    /// Manifests above this size are refused with 413.
    pub max_manifest_bytes: usize,
    pub faults: Faults,
    /// Hostile answers to referrers API requests (transport-level breakage, not a spec rule).
    pub chaos: Chaos,
    /// The conditional-request proposal (distribution-spec PR #251): manifests carry an
    /// `ETag`, and a tag PUT honours `If-Match` / `If-None-Match: *` with 412.
    pub conditional_put: bool,
    /// `GET` of a blob answers `307` to a signed URL on the other loopback host name
    /// (`localhost` ⇄ `127.0.0.1`), as registries with object-store backends do.
    pub redirect_blobs: bool,
    /// Manifest and tag deletion; when off, DELETE answers 405 UNSUPPORTED (allowed by the spec).
    pub manifest_delete: bool,
    /// `Docker-Content-Digest` on a finished blob upload's `201`; the spec requires only
    /// `Location` there, so off is allowed (registries that omit it must pass).
    pub upload_digest_header: bool,
    /// What `POST /admin/gc` collects (see [`GcPolicy`]).
    pub gc: GcPolicy,
    /// How a refused change to a locked tag is answered (see [`LockStatus`]).
    pub lock_status: LockStatus,
    /// Serve the `/admin/…` API (GC, tag locks, the referrers API switch, restart).
    pub admin: bool,
    /// When set, the store is loaded from `<dir>/state.json` and `<dir>/blobs/` at start and
    /// written there at shutdown and on `POST /admin/restart`; `None` keeps everything in memory.
    pub storage_dir: Option<std::path::PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            mode: Mode::Full,
            auth: AuthMode::None,
            page_size: 256,
            page_bytes: 4 * 1024 * 1024,
            max_manifest_bytes: 8 * 1024 * 1024,
            faults: Faults::default(),
            chaos: Chaos::None,
            conditional_put: true,
            redirect_blobs: true,
            manifest_delete: true,
            upload_digest_header: true,
            gc: GcPolicy::default(),
            lock_status: LockStatus::default(),
            admin: true,
            storage_dir: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names() {
        assert_eq!("legacy".parse::<Mode>(), Ok(Mode::Legacy));
        assert!("Full".parse::<Mode>().is_err());
    }
}
