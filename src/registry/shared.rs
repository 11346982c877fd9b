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
    /// Whether referrers pages are served from [`Shared::pages`]: only without faults, since
    /// several faults make a listing depend on the clock or on the request's history.
    pub fast_listing: bool,
    /// Referrers pages as answered, by request, valid for one store generation.
    pub pages: PageCache,
}

/// Referrers answers (headers and body) by request (`"<name> <subject> <query>"`), each valid
/// while the store's generation is the one it was built at. Bounded: past [`PageCache::MAX`]
/// entries it starts over.
#[derive(Debug, Default)]
pub struct PageCache {
    pages: std::sync::RwLock<Pages>,
}

/// The cached answers and the bytes their bodies hold.
#[derive(Debug, Default)]
struct Pages {
    by_request: std::collections::HashMap<String, (u64, CachedPage)>,
    bytes: usize,
}

/// One referrers answer, ready to be served again.
#[derive(Debug, Clone)]
pub struct CachedPage {
    status: axum::http::StatusCode,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
}

impl CachedPage {
    /// The parts of an answer being built; a builder that cannot build keeps its error's 500.
    pub fn new(builder: axum::http::response::Builder, body: String) -> CachedPage {
        match builder.body(()) {
            Ok(resp) => {
                let (parts, ()) = resp.into_parts();
                CachedPage {
                    status: parts.status,
                    headers: parts.headers,
                    body: body.into(),
                }
            }
            Err(e) => CachedPage {
                status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                headers: axum::http::HeaderMap::new(),
                body: format!("cannot build response: {e}").into(),
            },
        }
    }

    pub fn response(&self) -> axum::response::Response {
        let mut resp = axum::response::Response::new(axum::body::Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}

impl PageCache {
    /// Most answers kept.
    pub const MAX: usize = 4096;
    /// Most body bytes kept (a page may be up to the registry's page size in bytes).
    pub const MAX_BYTES: usize = 256 << 20;

    /// The page cached under `key` if it was built at `generation`.
    pub fn get(&self, key: &str, generation: u64) -> Option<CachedPage> {
        let pages = self.pages.read().unwrap_or_else(|e| e.into_inner());
        pages.by_request.get(key).filter(|(g, _)| *g == generation).map(|(_, p)| p.clone())
    }

    pub fn put(&self, key: String, generation: u64, page: CachedPage) {
        let mut pages = self.pages.write().unwrap_or_else(|e| e.into_inner());
        let size = page.body.len();
        if pages.by_request.len() >= Self::MAX || pages.bytes + size > Self::MAX_BYTES {
            pages.by_request.clear();
            pages.bytes = 0;
        }
        if let Some((_, old)) = pages.by_request.insert(key, (generation, page)) {
            pages.bytes -= old.body.len();
        }
        pages.bytes += size;
    }
}

impl Shared {
    pub fn new(config: RegistryConfig) -> Shared {
        let store = Store::new();
        let redirect_secret = store.fresh_id(32);
        let referrers_api = std::sync::atomic::AtomicBool::new(config.mode == Mode::Full);
        let referrers = ReferrersIndex::new(&config.faults, config.page_size, config.page_bytes);
        let fast_listing = config.faults == super::faults::Faults::default();
        Shared {
            config,
            store,
            tokens: Tokens::default(),
            redirect_secret,
            referrers_api,
            referrers,
            referrers_cache: Default::default(),
            fast_listing,
            pages: PageCache::default(),
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
