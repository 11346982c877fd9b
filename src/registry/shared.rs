//! [`Shared`]: the state of a running registry that every request handler can reach.

use super::config::{Mode, RegistryConfig};
use super::referrers_index::ReferrersIndex;
use super::store::Store;
use super::tokens::Tokens;
use crate::oci::Digest;

/// Everything a request handler can reach.
#[derive(Debug)]
pub struct Shared {
    pub config: RegistryConfig,
    pub store: Store,
    pub tokens: Tokens,
    /// Signs blob redirect URLs, like a storage backend's presigned links.
    pub redirect_secret: String,
    /// Whether the referrers API is served (`POST /admin/referrers-api` flips it at runtime).
    /// Off behaves like [`Mode::Legacy`]; the referrers index is maintained either way.
    pub referrers_api: std::sync::atomic::AtomicBool,
    /// Lists the referrers API's answers.
    pub referrers: ReferrersIndex,
    /// The response cache of the `cache_*` faults: referrers pages by request, as first served.
    pub referrers_cache: std::sync::Mutex<std::collections::HashMap<String, super::referrers_index::Listing>>,
}

impl Shared {
    pub fn new(config: RegistryConfig) -> Shared {
        let store = Store::new();
        let redirect_secret = store.fresh_id(32);
        let referrers_api = std::sync::atomic::AtomicBool::new(config.mode == Mode::Full);
        let referrers = ReferrersIndex::new(&config.faults, config.page_size, config.page_bytes);
        Shared {
            config,
            store,
            tokens: Tokens::default(),
            redirect_secret,
            referrers_api,
            referrers,
            referrers_cache: Default::default(),
        }
    }

    /// Whether the referrers API is currently on (see [`Shared::referrers_api`]).
    pub fn referrers_api_enabled(&self) -> bool {
        self.referrers_api.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The signature of a redirect URL for `digest`.
    pub fn sign(&self, digest: &Digest) -> String {
        Digest::sha256(format!("{}:{digest}", self.redirect_secret).as_bytes()).encoded()[..32].to_string()
    }
}
