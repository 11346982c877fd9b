//! Hostile registries on the wire: a raw TCP client sees exactly what each chaos sends.

use crate::registry::chaos::{CLOSE_AFTER_BYTES, HUGE_BODY_BYTES, INDEX, INVALID_JSON, LISTING_OPEN};
use crate::registry::{Chaos, EmbeddedRegistry, RegistryConfig};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const EMPTY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

async fn start(chaos: Chaos) -> EmbeddedRegistry {
    let cfg = RegistryConfig { chaos, ..RegistryConfig::default() };
    EmbeddedRegistry::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// What a raw client read: the response head, the raw bytes after it, and whether the
/// server closed the connection (as opposed to the read timing out).
#[derive(Debug)]
struct Wire {
    head: String,
    body: Vec<u8>,
    closed: bool,
}

impl Wire {
    fn status(&self) -> u16 {
        self.head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 GET on a fresh keep-alive connection; reads until the server closes or
/// `wait` passes without a byte.
async fn raw_get(addr: SocketAddr, path: &str, wait: Duration) -> Wire {
    raw_get_with(addr, path, wait, "").await
}

async fn raw_get_with(addr: SocketAddr, path: &str, wait: Duration, extra_headers: &str) -> Wire {
    let (path, extra) = (path.to_string(), extra_headers.to_string());
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        std::io::Write::write_all(&mut s, format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{extra}\r\n").as_bytes()).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break false,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
                Err(e) => panic!("read: {e}"),
            }
        };
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").map_or(all.len(), |i| i + 4);
        let head = String::from_utf8_lossy(&all[..split]).to_string();
        Wire { head, body: all[split..].to_vec(), closed }
    })
    .await
    .unwrap()
}

fn referrers_path() -> String {
    format!("/v2/r/referrers/{EMPTY}")
}

/// The real answer, for comparison.
fn real_body() -> &'static str {
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_requests_are_untouched() {
    let reg = start(Chaos::CloseMidBody).await;
    let w = raw_get(reg.addr(), "/v2/", Duration::from_secs(1)).await;
    assert_eq!(w.status(), 200);
    // Keep-alive: a normal answer leaves the connection open.
    assert!(!w.closed);
    let c = reqwest::Client::new();
    let d = crate::oci::Digest::sha256(b"x");
    let r = c.post(format!("{}/v2/r/blobs/uploads/?digest={d}", reg.url())).body("x").send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = c.get(format!("{}/v2/r/blobs/{d}", reg.url())).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"x");
    // HEAD of the referrers endpoint is not a referrers listing.
    let r = c.head(format!("{}{}", reg.url(), referrers_path())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    reg.shutdown().await;

    let reg = start(Chaos::None).await;
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_millis(500)).await;
    assert_eq!((w.status(), w.body.as_slice()), (200, real_body().as_bytes()));
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_closes_after_half() {
    let reg = start(Chaos::TruncatedBody).await;
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_secs(5)).await;
    let full = real_body().len();
    assert_eq!(w.status(), 200, "{w:?}");
    assert_eq!(w.header("content-type").as_deref(), Some(INDEX));
    assert_eq!(w.header("content-length"), Some(full.to_string()));
    assert_eq!(w.body, real_body().as_bytes()[..full / 2], "{w:?}");
    assert!(w.closed, "the server must close the connection");
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_length_claims_more_than_it_sends() {
    let reg = start(Chaos::WrongContentLength).await;
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_secs(5)).await;
    assert_eq!(w.status(), 200);
    assert_eq!(w.header("content-length"), Some((real_body().len() + 1000).to_string()));
    assert_eq!(w.body, real_body().as_bytes());
    assert!(w.closed);
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_cut() {
    let reg = start(Chaos::InvalidJson).await;
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_millis(500)).await;
    assert_eq!(w.status(), 200);
    assert_eq!(w.header("content-type").as_deref(), Some(INDEX));
    assert_eq!(w.header("content-length"), Some(INVALID_JSON.len().to_string()));
    assert_eq!(w.body, INVALID_JSON.as_bytes());
    assert!(serde_json::from_slice::<serde_json::Value>(&w.body).is_err());
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_keeps_the_body() {
    let reg = start(Chaos::WrongContentType).await;
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_millis(500)).await;
    assert_eq!(w.status(), 200);
    assert_eq!(w.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(w.body, real_body().as_bytes());
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_forever() {
    let reg = start(Chaos::RedirectLoop).await;
    let mut path = format!("{}?artifactType=x", referrers_path());
    for hop in 1..=15 {
        let w = raw_get_with(reg.addr(), &path, Duration::from_secs(2), "connection: close\r\n").await;
        assert_eq!(w.status(), 307);
        let loc = w.header("location").unwrap();
        assert_eq!(loc, format!("{}?artifactType=x&loop={hop}", referrers_path()));
        path = loc;
    }
    // A following client gives up.
    let e = reqwest::get(format!("{}{}", reg.url(), referrers_path())).await.unwrap_err();
    assert!(e.is_redirect(), "{e}");
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_response_stalls_and_is_cancelled_with_the_client() {
    let reg = start(Chaos::SlowResponse).await;
    let started = Instant::now();
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_millis(700)).await;
    assert!(w.head.is_empty() && !w.closed, "{w:?}");
    assert!(started.elapsed() >= Duration::from_millis(700));
    // The client hung up: the stalled request is dropped, so shutdown does not wait for
    // it (the grace period is 5 s).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = Instant::now();
    reg.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(2), "shutdown took {:?}", stopping.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_mid_body_cuts_a_chunked_body() {
    let reg = start(Chaos::CloseMidBody).await;
    let w = raw_get(reg.addr(), &referrers_path(), Duration::from_secs(5)).await;
    assert_eq!(w.status(), 200);
    assert_eq!(w.header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(w.header("content-length"), None);
    assert!(w.closed);
    // Decode the chunks: a few hundred bytes of an index, and no terminating chunk.
    let (mut rest, mut data) = (w.body.as_slice(), Vec::new());
    let mut terminated = false;
    while let Some(i) = rest.windows(2).position(|x| x == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..i]).unwrap(), 16).unwrap();
        if size == 0 {
            terminated = true;
            break;
        }
        let end = (i + 2 + size).min(rest.len());
        data.extend_from_slice(&rest[i + 2..end]);
        rest = &rest[(end + 2).min(rest.len())..];
    }
    assert!(!terminated, "{w:?}");
    assert_eq!(data.len(), CLOSE_AFTER_BYTES);
    assert!(data.starts_with(LISTING_OPEN.as_bytes()));
    reg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_body_is_a_valid_streamed_index() {
    let reg = start(Chaos::HugeBody).await;
    let mut r = reqwest::get(format!("{}{}", reg.url(), referrers_path())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], INDEX);
    let claimed: u64 = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert!(claimed >= HUGE_BODY_BYTES);
    let (mut got, mut head, mut tail) = (0u64, Vec::new(), Vec::new());
    while let Some(c) = r.chunk().await.unwrap() {
        got += c.len() as u64;
        if head.len() < 200 {
            head.extend_from_slice(&c[..c.len().min(200)]);
        }
        tail = c.to_vec();
    }
    assert_eq!(got, claimed);
    assert!(head.starts_with(LISTING_OPEN.as_bytes()));
    assert!(tail.ends_with(b"\"}]}"));
    reg.shutdown().await;
}
