//! Hostile answers to referrers API requests: the [`Chaos`] modes and their middleware.
//!
//! [`Chaos`] turns the answers to referrers API requests
//! (`GET /v2/<name>/referrers/<digest>`) into broken HTTP — cut bodies, lying lengths, invalid
//! JSON, huge bodies, wrong media types, redirect loops, stalls — so the harness can show that
//! it reports a broken registry as a failure or an error with a reason, and never hangs,
//! panics or buffers without bound.
//!
//! Everything else (pushes, pulls, deletes, tokens, and the authentication challenge of a
//! referrers request) is answered normally, so the harness reaches the hostile answer with
//! valid credentials.
//!
//! Bodies that must stop mid-stream are produced by a small generator task on a loopback socket
//! and relayed as a stream: when the generator hangs up early, the relayed stream ends in an
//! error and hyper aborts the client's connection instead of finishing the message. (The crate
//! has no direct `futures-core`/`http-body` dependency to implement a body stream in place.)

use super::syntax::{Route, parse_route};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One way of breaking every referrers API answer (the default breaks nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chaos {
    #[default]
    None,
    TruncatedBody,
    WrongContentLength,
    InvalidJson,
    HugeBody,
    WrongContentType,
    RedirectLoop,
    SlowResponse,
    CloseMidBody,
}

impl Chaos {
    /// Every variant, in declaration order (the order of [`Chaos::NAMES`]).
    pub const ALL: [Chaos; 9] = [
        Chaos::None,
        Chaos::TruncatedBody,
        Chaos::WrongContentLength,
        Chaos::InvalidJson,
        Chaos::HugeBody,
        Chaos::WrongContentType,
        Chaos::RedirectLoop,
        Chaos::SlowResponse,
        Chaos::CloseMidBody,
    ];

    /// `(name, description)` of every variant, in declaration order; the names are the serde
    /// names.
    pub const NAMES: &'static [(&'static str, &'static str)] = &[
        ("none", "referrers answers are left alone (default)"),
        (
            "truncated_body",
            "referrers answers keep their status, headers and Content-Length, but the connection closes after half of the body",
        ),
        (
            "wrong_content_length",
            "referrers answers claim a Content-Length 1000 bytes larger than the body sent before the connection closes",
        ),
        (
            "invalid_json",
            "referrers answers are 200 with the image index Content-Type and a body cut off in the middle of the JSON",
        ),
        (
            "huge_body",
            "referrers answers are 200 with a valid image index of 70 MiB, generated while it is sent",
        ),
        (
            "wrong_content_type",
            "referrers answers carry the real body with Content-Type: text/html; charset=utf-8",
        ),
        (
            "redirect_loop",
            "referrers requests are answered 307 to the same URL with ?loop=N counting up, forever",
        ),
        (
            "slow_response",
            "referrers answers come after 60 s (the wait ends when the client goes away)",
        ),
        (
            "close_mid_body",
            "referrers answers use chunked transfer encoding and the connection closes after a few hundred bytes of the body",
        ),
    ];

    /// The public name (as in [`Chaos::NAMES`], CLI flags and config files).
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize].0
    }

    pub fn description(self) -> &'static str {
        Self::NAMES[self as usize].1
    }

    pub fn from_name(name: &str) -> Result<Chaos, String> {
        Self::ALL.iter().copied().find(|c| c.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown chaos '{name}' (expected one of: {})", known.join(", "))
        })
    }
}

impl FromStr for Chaos {
    type Err = String;

    fn from_str(s: &str) -> Result<Chaos, String> {
        Chaos::from_name(s)
    }
}

impl std::fmt::Display for Chaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The image index media type of every referrers answer.
pub(super) const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// [`Chaos::InvalidJson`]'s body: an index cut off inside its first descriptor.
pub(super) const INVALID_JSON: &str =
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"#;

/// [`Chaos::HugeBody`]'s size: above the client's 64 MiB body cap, so the cap (not the
/// timeout, not the memory) is what stops the client.
pub(super) const HUGE_BODY_BYTES: u64 = 70 * 1024 * 1024;

/// [`Chaos::WrongContentLength`]'s lie.
const EXTRA_LENGTH: u64 = 1000;

/// How much of the body [`Chaos::CloseMidBody`] sends before hanging up.
pub(super) const CLOSE_AFTER_BYTES: usize = 300;

/// [`Chaos::SlowResponse`]'s stall.
const SLOW_RESPONSE: Duration = Duration::from_secs(60);

/// The middleware: installed on the whole router, it acts only on referrers `GET`s.
pub async fn middleware(State(chaos): State<Chaos>, req: Request, next: Next) -> Response {
    if chaos == Chaos::None || !is_referrers_get(&req) {
        return next.run(req).await;
    }
    let target = req.uri().path_and_query().map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let real = next.run(req).await;
    // The challenge passes untouched: the client then asks again with a token and meets the
    // hostile answer as an authorized client.
    if real.status() == StatusCode::UNAUTHORIZED {
        return real;
    }
    match hostile(chaos, &target, real).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(error = %e, chaos = chaos.name(), "chaos answer could not be produced");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("chaos {chaos}: {e}")).into_response()
        }
    }
}

fn is_referrers_get(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .uri()
            .path()
            .strip_prefix("/v2/")
            .and_then(parse_route)
            .is_some_and(|r| matches!(r, Route::Referrers { .. }))
}

/// Turns the real answer into the hostile one.
async fn hostile(chaos: Chaos, target: &str, real: Response) -> io::Result<Response> {
    let (mut parts, body) = real.into_parts();
    // A referrers answer is one in-memory buffer (bounded by the registry's page size).
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(io::Error::other)?;
    parts.headers.remove(header::CONTENT_LENGTH);
    let resp = match chaos {
        Chaos::None => Response::from_parts(parts, Body::from(body)),
        Chaos::TruncatedBody => {
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            let half = body.slice(..body.len() / 2);
            Response::from_parts(parts, streamed([half], End::Cut).await?)
        }
        Chaos::WrongContentLength => {
            let claimed = body.len() as u64 + EXTRA_LENGTH;
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(claimed));
            Response::from_parts(parts, streamed([body], End::Cut).await?)
        }
        Chaos::InvalidJson => {
            parts.status = StatusCode::OK;
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(INDEX));
            Response::from_parts(parts, Body::from(INVALID_JSON))
        }
        Chaos::HugeBody => {
            let listing = Listing::at_least(HUGE_BODY_BYTES);
            parts.status = StatusCode::OK;
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(INDEX));
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(listing.len()));
            parts.headers.remove(header::LINK);
            Response::from_parts(parts, streamed(listing, End::Complete).await?)
        }
        Chaos::WrongContentType => {
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            Response::from_parts(parts, Body::from(body))
        }
        Chaos::RedirectLoop => {
            let location = HeaderValue::try_from(next_hop(target)).map_err(io::Error::other)?;
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            if let Some(v) = parts.headers.get("docker-distribution-api-version") {
                resp.headers_mut().insert("docker-distribution-api-version", v.clone());
            }
            resp
        }
        Chaos::SlowResponse => {
            // Dropped (and so cancelled) with the request when the client hangs up.
            tokio::time::sleep(SLOW_RESPONSE).await;
            Response::from_parts(parts, Body::from(body))
        }
        Chaos::CloseMidBody => {
            // Without a length the body goes out chunked; the listing is long enough to cut
            // after a few hundred bytes whatever the real list holds.
            let first = Listing::at_least(CLOSE_AFTER_BYTES as u64 * 2).next().unwrap_or_default();
            let cut = first.slice(..CLOSE_AFTER_BYTES.min(first.len()));
            Response::from_parts(parts, streamed([cut], End::Cut).await?)
        }
    };
    Ok(resp)
}

/// The `Location` of the next hop of a redirect loop: the same request with `loop=N+1`.
fn next_hop(target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut hop: u64 = 0;
    let mut kept = String::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        match p.strip_prefix("loop=") {
            Some(n) => hop = n.parse().unwrap_or(0),
            None => {
                kept.push_str(p);
                kept.push('&');
            }
        }
    }
    format!("{path}?{kept}loop={}", hop.saturating_add(1))
}

// ---------------------------------------------------------------------------------------------
// Generated bodies

/// A syntactically valid image index of made-up descriptors, produced a chunk at a time so a
/// huge one never exists in memory at once. Every descriptor has the same length, so the
/// total length is known up front.
#[derive(Debug, Clone)]
struct Listing {
    next: u64,
    count: u64,
    opened: bool,
    closed: bool,
}

pub(super) const LISTING_OPEN: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["#;
const LISTING_CLOSE: &str = "]}";
/// Bytes per generated chunk.
const LISTING_CHUNK: usize = 64 * 1024;

fn write_entry(i: u64, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{i:064x}","size":1024,"artifactType":"application/vnd.dev.referee.chaos"}}"#
    );
}

fn entry_len() -> u64 {
    let mut v = Vec::new();
    write_entry(0, &mut v);
    v.len() as u64
}

impl Listing {
    /// The smallest listing of at least `bytes` bytes (at least one descriptor).
    fn at_least(bytes: u64) -> Listing {
        let frame = (LISTING_OPEN.len() + LISTING_CLOSE.len()) as u64;
        // n entries take n * entry + (n - 1) commas.
        let per = entry_len() + 1;
        let count = (bytes.saturating_sub(frame) + 1).div_ceil(per).max(1);
        Listing { next: 0, count, opened: false, closed: false }
    }

    /// Total length in bytes.
    fn len(&self) -> u64 {
        (LISTING_OPEN.len() + LISTING_CLOSE.len()) as u64 + self.count * entry_len() + self.count.saturating_sub(1)
    }
}

impl Iterator for Listing {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.closed {
            return None;
        }
        let mut out = Vec::with_capacity(LISTING_CHUNK + 256);
        if !self.opened {
            out.extend_from_slice(LISTING_OPEN.as_bytes());
            self.opened = true;
        }
        while self.next < self.count && out.len() < LISTING_CHUNK {
            if self.next > 0 {
                out.push(b',');
            }
            write_entry(self.next, &mut out);
            self.next += 1;
        }
        if self.next == self.count {
            out.extend_from_slice(LISTING_CLOSE.as_bytes());
            self.closed = true;
        }
        Some(Bytes::from(out))
    }
}

/// How a streamed body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The body ends normally.
    Complete,
    /// The connection to the client is aborted after the last chunk.
    Cut,
}

/// How long a generator waits for the relay to connect.
const ACCEPT_WAIT: Duration = Duration::from_secs(10);

/// Before cutting, the generator lets the bytes sent so far reach the client: hyper drops
/// whatever it has not flushed when a body fails.
const CUT_PAUSE: Duration = Duration::from_millis(100);

/// A body made of `chunks` (pulled one at a time, as the client reads), ending as `end` says.
async fn streamed<I>(chunks: I, end: End) -> io::Result<Body>
where
    I: IntoIterator<Item = Bytes>,
    I::IntoIter: Send + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let chunks = chunks.into_iter();
    tokio::spawn(async move {
        if let Err(e) = generate(listener, chunks, end).await {
            // The client went away (or never came): nothing left to send.
            tracing::debug!(error = %e, "chaos body generator stopped");
        }
    });
    let upstream = relay_client()?.get(url).send().await.map_err(io::Error::other)?;
    Ok(Body::from_stream(upstream.bytes_stream()))
}

/// Serves one chunked HTTP/1.1 response made of `chunks` to the relay.
async fn generate(listener: TcpListener, chunks: impl Iterator<Item = Bytes>, end: End) -> io::Result<()> {
    let (mut conn, _) = tokio::time::timeout(ACCEPT_WAIT, listener.accept())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the relay never connected"))??;
    drop(listener);
    // The request head is read and ignored.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no request head from the relay"));
        }
        head.extend_from_slice(&buf[..n]);
    }
    conn.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n").await?;
    for chunk in chunks.filter(|c| !c.is_empty()) {
        conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
        conn.write_all(&chunk).await?;
        conn.write_all(b"\r\n").await?;
    }
    match end {
        End::Complete => {
            conn.write_all(b"0\r\n\r\n").await?;
            conn.shutdown().await?;
        }
        End::Cut => {
            conn.flush().await?;
            tokio::time::sleep(CUT_PAUSE).await;
            // Dropping the socket without the last chunk fails the relayed stream.
        }
    }
    Ok(())
}

/// The relay's own HTTP client: loopback only, no proxy, no pooling (each generator serves
/// one response and closes).
fn relay_client() -> io::Result<reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().map_err(io::Error::other)?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_agree_with_variants_and_serde() {
        assert_eq!(Chaos::NAMES.len(), Chaos::ALL.len());
        for (i, c) in Chaos::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{}\"", c.name()));
            assert_eq!(c.name().parse::<Chaos>(), Ok(*c));
            assert_eq!(serde_json::from_str::<Chaos>(&format!("\"{c}\"")).unwrap(), *c);
            assert!(!c.description().is_empty());
        }
        assert_eq!(Chaos::default(), Chaos::None);
        let e = Chaos::from_name("HugeBody").unwrap_err();
        assert!(e.starts_with("unknown chaos 'HugeBody' (expected one of: none, truncated_body,"), "{e}");
    }

    #[test]
    fn listing_is_valid_and_its_length_is_exact() {
        for want in [0, 1, 500, 200_000] {
            let l = Listing::at_least(want);
            let len = l.len();
            let bytes: Vec<u8> = l.flat_map(|b| b.to_vec()).collect();
            assert_eq!(bytes.len() as u64, len);
            assert!(len >= want);
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["mediaType"], INDEX);
            assert!(!v["manifests"].as_array().unwrap().is_empty());
        }
        // The huge one is generated in bounded chunks.
        let huge = Listing::at_least(HUGE_BODY_BYTES);
        assert!(huge.len() >= HUGE_BODY_BYTES && huge.len() < HUGE_BODY_BYTES + 1024);
        assert!(huge.take(3).all(|c| c.len() <= LISTING_CHUNK + 256));
    }

    #[test]
    fn redirect_hops_count_up_and_keep_the_query() {
        assert_eq!(next_hop("/v2/r/referrers/sha256:ab"), "/v2/r/referrers/sha256:ab?loop=1");
        assert_eq!(next_hop("/v2/r/referrers/x?loop=1"), "/v2/r/referrers/x?loop=2");
        assert_eq!(
            next_hop("/v2/r/referrers/x?artifactType=a%2Fb&loop=7&n=1"),
            "/v2/r/referrers/x?artifactType=a%2Fb&n=1&loop=8"
        );
    }
}
