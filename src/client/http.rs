//! The request path: every exchange goes through [`Client::send`], which adds credentials,
//! answers one authentication challenge, bounds time and body size, and records the exchange.

use super::auth::{Challenge, parse_challenge};
use super::transcript::{Exchange, excerpt, redact_header};
use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:5000`.
    pub base: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A registry token sent as `Authorization: Bearer <token>` until the registry asks for
    /// other credentials (a 401 then goes through the usual challenge).
    pub token: Option<String>,
    /// Accept self-signed TLS certificates.
    pub insecure: bool,
    /// Whole-request timeout (connect, send, and read the body).
    pub timeout: Duration,
    /// Largest response body read; more is an error, never an unbounded buffer.
    pub max_body: usize,
    /// Record exchanges (load tests switch this off).
    pub record: bool,
}

impl ClientConfig {
    pub fn new(base: &str) -> ClientConfig {
        ClientConfig {
            base: base.trim_end_matches('/').to_string(),
            username: None,
            password: None,
            token: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            max_body: 64 * 1024 * 1024,
            record: true,
        }
    }
}

/// Failure to get an HTTP answer at all (as opposed to an answer with an error status).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("request to {url} timed out after {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("cannot connect to {url}: {msg}")]
    Connect { url: String, msg: String },
    #[error("response body from {url} exceeds {limit} bytes")]
    BodyTooLarge { url: String, limit: usize },
    #[error("response body from {url} ended after {received} bytes{}: {msg}", .expected.map(|e| format!(" of the {e} announced")).unwrap_or_default())]
    BodyIncomplete { url: String, received: usize, expected: Option<u64>, msg: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("invalid URL {0:?}")]
    BadUrl(String),
    #[error("request to {url} failed: {msg}")]
    Other { url: String, msg: String },
    /// A problem that is not a request's: a file, a bound, what an answer said.
    #[error("{0}")]
    Stopped(String),
    /// Not the registry's doing: a local file that could not be read or written, or one of
    /// referee's own bounds reached.
    #[error("{0}")]
    Local(String),
    #[error("this does not look like an OCI registry: {0}")]
    NotARegistry(String),
}

/// An answer, body fully read (within the size bound).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: Url,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect()
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
    }

    /// The first OCI error code of a JSON error body, if any.
    pub fn error_code(&self) -> Option<String> {
        let v = self.json().ok()?;
        v.get("errors")?.get(0)?.get("code")?.as_str().map(str::to_string)
    }

    /// Status plus a short hint of the body, for messages.
    pub fn describe(&self) -> String {
        let ct = self.header("content-type").unwrap_or("no content-type");
        // One line: white space (an HTML page's newlines) folded, at most 120 characters.
        let body = excerpt(&self.body[..self.body.len().min(160)]).split_whitespace().collect::<Vec<_>>().join(" ");
        let body = match body.char_indices().nth(120) {
            Some((i, _)) => format!("{}…", &body[..i]),
            None => body,
        };
        format!("{} ({ct}) {body}", self.status)
    }
}

/// Which authorization a request needs; picks the cached token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `/v2/` and anything not tied to a repository.
    Registry,
    Pull(String),
    Push(String),
    /// A token asked for with exactly `repository:<name>:pull` (check C13), never widened.
    PullOnly(String),
}

impl Scope {
    fn token_scope(&self) -> Option<String> {
        match self {
            Scope::Registry => None,
            Scope::Pull(r) | Scope::PullOnly(r) => Some(format!("repository:{r}:pull")),
            Scope::Push(r) => Some(format!("repository:{r}:pull,push,delete")),
        }
    }
}

struct Shared {
    http: reqwest::Client,
    cfg: ClientConfig,
    base: Url,
    /// Authorization header values per scope (Bearer tokens or Basic).
    auth: Mutex<HashMap<Scope, String>>,
    /// Whether the registry ever challenged for a Bearer token.
    saw_bearer: std::sync::atomic::AtomicBool,
}

/// The registry client. Cheap to [`fork`](Client::fork): forks share connections and tokens
/// but keep their own transcript.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    transcript: Arc<Mutex<Vec<Exchange>>>,
    /// Read answers to the end but keep no body (load measurements, see [`Client::discarding`]).
    discard_body: bool,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, ClientError> {
        let base = Url::parse(&format!("{}/", cfg.base)).map_err(|_| ClientError::BadUrl(cfg.base.clone()))?;
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            // reqwest drops Authorization when a redirect changes host (DS "API": clients MUST
            // NOT forward it across hosts); ten hops bound a redirect loop.
            .redirect(reqwest::redirect::Policy::limited(10))
            .tls_danger_accept_invalid_certs(cfg.insecure)
            .user_agent(concat!("referee/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Other { url: cfg.base.clone(), msg: e.to_string() })?;
        Ok(Client {
            shared: Arc::new(Shared { http, cfg, base, auth: Mutex::new(HashMap::new()), saw_bearer: Default::default() }),
            transcript: Arc::new(Mutex::new(Vec::new())),
            discard_body: false,
        })
    }

    /// A client sharing connections and credentials, with an empty transcript of its own.
    pub fn fork(&self) -> Client {
        Client { shared: self.shared.clone(), transcript: Arc::new(Mutex::new(Vec::new())), discard_body: false }
    }

    /// A client sharing connections and credentials that reads every answer to its end (within
    /// the size bound) but keeps no body: what a load measurement needs (status, headers, the
    /// time to the last byte) without copying megabytes of lists it never looks at.
    pub fn discarding(&self) -> Client {
        Client { discard_body: true, ..self.fork() }
    }

    pub fn base(&self) -> &Url {
        &self.shared.base
    }

    pub fn config(&self) -> &ClientConfig {
        &self.shared.cfg
    }

    /// True once the registry has asked for a Bearer token.
    pub fn saw_bearer(&self) -> bool {
        self.shared.saw_bearer.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the exchanges recorded since the last call.
    pub fn take_transcript(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.transcript.lock().expect("transcript lock"))
    }

    /// Resolves a path (`/v2/...`) or an absolute URL (a `Link` or `Location`) against the base.
    pub fn resolve(&self, path_or_url: &str) -> Result<Url, ClientError> {
        self.shared.base.join(path_or_url).map_err(|_| ClientError::BadUrl(path_or_url.to_string()))
    }

    /// Sends one request. On a 401 it answers the challenge once (Basic or Bearer) and retries;
    /// a second 401 is returned as it is, for the caller to judge.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        scope: Scope,
    ) -> Result<Response, ClientError> {
        self.send_timed(method, url, headers, body, scope).await.map(|(r, _)| r)
    }

    /// [`send`](Client::send), also giving the time to the answer's headers (the first byte)
    /// of the request that was answered (the retry, after a challenge).
    pub async fn send_timed(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        scope: Scope,
    ) -> Result<(Response, Duration), ClientError> {
        // Credentials go only to the registry itself: a `Link` or `Location` naming another
        // host is followed without them, and that host's challenge is not answered.
        let same_origin = url.origin() == self.shared.base.origin();
        let keep = !self.discard_body;
        let cached = if same_origin {
            let given = || self.shared.cfg.token.as_ref().map(|t| format!("Bearer {t}"));
            self.shared.auth.lock().expect("auth lock").get(&scope).cloned().or_else(given)
        } else {
            None
        };
        let first = self.send_once(method.clone(), url.clone(), headers, body.clone(), cached.as_deref(), keep).await?;
        if first.0.status != 401 || !same_origin {
            return Ok(first);
        }
        let Some(challenge) = first.0.header("www-authenticate").map(parse_challenge) else {
            return Ok(first);
        };
        let auth = match challenge {
            Challenge::Basic { .. } => match self.basic() {
                Some(b) => b,
                None => return Ok(first),
            },
            Challenge::Bearer { realm, service, scope: challenged } => {
                self.shared.saw_bearer.store(true, std::sync::atomic::Ordering::Relaxed);
                // A pull-only request must not be widened by the registry's challenge.
                let want = match &scope {
                    Scope::PullOnly(_) => scope.token_scope(),
                    _ => challenged.or_else(|| scope.token_scope()),
                };
                format!("Bearer {}", self.fetch_token(&realm, service.as_deref(), want.as_deref()).await?)
            }
            Challenge::Other(_) => return Ok(first),
        };
        self.shared.auth.lock().expect("auth lock").insert(scope, auth.clone());
        self.send_once(method, url, headers, body, Some(&auth), keep).await
    }

    fn basic(&self) -> Option<String> {
        let cfg = &self.shared.cfg;
        let user = cfg.username.as_ref()?;
        let pass = cfg.password.clone().unwrap_or_default();
        Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))))
    }

    async fn fetch_token(&self, realm: &str, service: Option<&str>, scope: Option<&str>) -> Result<String, ClientError> {
        let mut url = Url::parse(realm).map_err(|_| ClientError::BadUrl(realm.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            if let Some(s) = scope {
                q.append_pair("scope", s);
            }
        }
        let basic = self.basic();
        // A token answer is read whole even by a discarding client: it is the token.
        let (resp, _) = self.send_once(Method::GET, url.clone(), &[], None, basic.as_deref(), true).await?;
        if resp.status == 401 || resp.status == 403 {
            let who = self.shared.cfg.username.as_deref().map_or("anonymous".to_string(), |u| format!("user '{u}'"));
            return Err(ClientError::Unauthorized(format!(
                "token endpoint {realm} refused {who} (status {})",
                resp.status
            )));
        }
        if resp.status != 200 {
            return Err(ClientError::Other { url: realm.into(), msg: format!("token endpoint answered {}", resp.status) });
        }
        let v = resp.json().map_err(|msg| ClientError::Other { url: realm.into(), msg })?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ClientError::Other { url: realm.into(), msg: "token response has no token".into() })
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        auth: Option<&str>,
        keep_body: bool,
    ) -> Result<(Response, Duration), ClientError> {
        let started = Instant::now();
        let mut req_headers = HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(*k), HeaderValue::from_str(v)) {
                req_headers.append(n, v);
            }
        }
        if let Some(a) = auth
            && let Ok(v) = HeaderValue::from_str(a)
        {
            req_headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let body_len = body.as_ref().map_or(0, Vec::len);
        let mut rb = self.shared.http.request(method.clone(), url.clone()).headers(req_headers.clone());
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let result = self.read(rb, &url, started, keep_body).await;
        // Load runs record nothing: building the record would cost time on every request.
        if self.shared.cfg.record {
            let exchange = record(method, &url, &req_headers, body_len, started, &result);
            self.transcript.lock().expect("transcript lock").push(exchange);
        }
        result
    }

    async fn read(&self, rb: reqwest::RequestBuilder, url: &Url, started: Instant, keep_body: bool) -> Result<(Response, Duration), ClientError> {
        let map = |e: reqwest::Error| {
            if e.is_timeout() {
                ClientError::Timeout { url: url.to_string(), secs: self.shared.cfg.timeout.as_secs() }
            } else if e.is_connect() {
                let mut msg = root_cause(&e);
                if msg.contains("certificate") && !self.shared.cfg.insecure {
                    msg.push_str(" (a self-signed or private-CA certificate? --insecure accepts it)");
                }
                ClientError::Connect { url: url.to_string(), msg }
            } else {
                ClientError::Other { url: url.to_string(), msg: root_cause(&e) }
            }
        };
        let mut resp = rb.send().await.map_err(map)?;
        let first_byte = started.elapsed();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let final_url = resp.url().clone();
        let limit = self.shared.cfg.max_body;
        let announced = resp.content_length();
        // A body announced as too large is refused before a byte of it is read.
        if announced.is_some_and(|n| n > limit as u64) {
            return Err(ClientError::BodyTooLarge { url: url.to_string(), limit });
        }
        // Room for what the answer announced (within the bound), so a large list is not
        // copied again and again as it grows.
        let room = if !keep_body { 0 } else { announced.map_or(0, |n| n.min(limit as u64).min(16 << 20) as usize) };
        let mut body = Vec::with_capacity(room);
        let mut received = 0usize;
        // Bounded: stops at `limit` bytes; the client timeout bounds the time.
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(map(e)),
                Err(e) => {
                    return Err(ClientError::BodyIncomplete {
                        url: url.to_string(),
                        received,
                        expected: announced,
                        msg: format!("the connection closed mid-body ({})", root_cause(&e)),
                    });
                }
            };
            received += chunk.len();
            if received > limit {
                return Err(ClientError::BodyTooLarge { url: url.to_string(), limit });
            }
            if keep_body {
                body.extend_from_slice(&chunk);
            }
        }
        Ok((Response { status, headers, body, url: final_url }, first_byte))
    }
}

/// The transcript entry of one exchange: headers redacted, a body excerpt (none for a token
/// response: it is a credential).
fn record(
    method: Method,
    url: &Url,
    req_headers: &HeaderMap,
    body_len: usize,
    started: Instant,
    result: &Result<(Response, Duration), ClientError>,
) -> Exchange {
    let headers = |h: &HeaderMap| -> Vec<(String, String)> {
        h.iter().map(|(k, v)| (k.to_string(), redact_header(k.as_str(), v.to_str().unwrap_or("<binary>")))).collect()
    };
    let mut exchange = Exchange {
        method: method.to_string(),
        url: url.to_string(),
        request_headers: headers(req_headers),
        request_body_bytes: body_len,
        status: None,
        response_headers: vec![],
        body_excerpt: String::new(),
        body_bytes: 0,
        elapsed_ms: started.elapsed().as_millis() as u64,
        error: None,
    };
    match result {
        Ok((r, _)) => {
            exchange.status = Some(r.status);
            exchange.response_headers = headers(&r.headers);
            exchange.body_bytes = r.body.len();
            let is_token = String::from_utf8_lossy(&r.body[..r.body.len().min(4096)]).contains("token\"");
            exchange.body_excerpt = if is_token { "<token response redacted>".into() } else { excerpt(&r.body) };
        }
        Err(e) => exchange.error = Some(e.to_string()),
    }
    exchange
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    let mut depth = 0;
    while let Some(s) = src {
        if depth > 8 {
            break;
        }
        msg = format!("{msg}: {s}");
        src = s.source();
        depth += 1;
    }
    msg
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints credentials.
        f.debug_struct("Client").field("base", &self.shared.cfg.base).finish_non_exhaustive()
    }
}
