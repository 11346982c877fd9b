//! Benchmark (not a timed test) of the referrers endpoint, everything measured in one run on
//! this machine: the registries pinned to CPU 0, the clients (wrk and referee) to CPU 1.
//!
//! 1. referee's own request rate against the embedded registry's referrers endpoint next to
//!    `wrk`'s on the same URL (target: referee ≥ 0.9× wrk);
//! 2. the embedded registry against ferro-oci-server 1.0.0 at 1 000 referrers, same client (wrk)
//!    for both (target ≥ 5×);
//! 3. the embedded registry's p99 time to first byte at 10, 1 000 and 10 000 referrers (target:
//!    p99 at 10 000 within 1.5× of p99 at 10);
//! 4. the whole check library against ferro-oci-server with `--jobs` against its slowest
//!    scenario alone (target ≤ 1.5×).
//!
//! Run with `./scripts/bench.sh` (installs wrk, then `cargo bench --bench load`).
//! `REFEREE_BENCH_SECONDS` sets each measurement's length (default 5).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)] // the support module's own #[test]s do not run in a bench
mod support;

use referee::client::{Client, ClientConfig};
use referee::load::attack::{self, Drive, Job};
use referee::load::{Recorder, SeriesKey, seed};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const FANOUTS: [u64; 3] = [10, 1000, 10_000];
const CONNECTIONS: usize = 8;

fn pin(pid: u32, cpu: &str) {
    let ok = Command::new("taskset").args(["-a", "-cp", cpu, &pid.to_string()]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(ok, "taskset could not pin {pid} to CPU {cpu}");
}

/// The embedded registry as its own process (so it can be pinned).
struct Embedded {
    child: Child,
    url: String,
}

impl Embedded {
    /// `page_size`: referrers per page (the registry's default, 256, when `None`).
    fn start(page_size: Option<usize>) -> Embedded {
        let port = support::external::free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_referee"));
        cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")]);
        if let Some(n) = page_size {
            cmd.args(["--page-size", &n.to_string()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start referee serve");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "referee serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Embedded { child, url }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seeds one subject per fan-out; gives the subjects' referrers URLs.
async fn seed_all(client: &Client, repo: &str, fanouts: &[u64]) -> Vec<(u64, String)> {
    let stop = AtomicBool::new(false);
    let mut out = vec![];
    for &f in fanouts {
        let mut pushed = seed::Pushed::default();
        let subject = seed::subject(client, repo, &format!("bench-{f}"), &mut pushed).await.expect("subject");
        seed::referrers(client, repo, &subject, f, &format!("b{f}"), &stop, &mut pushed).await.expect("referrers");
        let url = client.referrers_url(repo, subject.digest.as_str(), None, None).expect("url");
        out.push((f, url.to_string()));
    }
    out
}

/// wrk's requests per second on `url` (one thread on CPU 1, [`CONNECTIONS`] connections).
fn wrk(url: &str, secs: u64) -> f64 {
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", &format!("-c{CONNECTIONS}"), &format!("-d{secs}s"), url])
        .output()
        .expect("wrk (scripts/bench.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok());
    rps.unwrap_or_else(|| panic!("cannot read wrk's output:\n{text}"))
}

/// referee's own load generator on `url`: `users` goose users reading the list.
async fn referee_rate(client: &Client, url: &str, secs: u64, users: usize) -> (f64, u64) {
    let rec = Recorder::new(false);
    let key = SeriesKey::new("referrers-read");
    let whole = SeriesKey::new("referrers-list");
    let url = reqwest::Url::parse(url).expect("url");
    let job: Job = {
        let (client, rec, key, whole) = (client.clone(), rec.clone(), key.clone(), whole.clone());
        Arc::new(move |_| {
            let (client, rec, key, whole, url) = (client.clone(), rec.clone(), key.clone(), whole.clone(), url.clone());
            Box::pin(async move { referee::load::workloads::read_list(&client, &rec, "bench", url, &key, &whole).await })
        })
    };
    let drive = Drive {
        users,
        increase_rate: 1000.0,
        run_time: Some(Duration::from_secs(secs)),
        iterations: None,
        co_mitigation: false,
        shard: None,
    };
    let window = attack::run(client.base().as_str(), &drive, job, Arc::default()).await.expect("goose");
    rec.set_unset_windows(window);
    let series = rec.take();
    let s = &series[&key];
    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    (s.rps(), s.quantile_us(0.99))
}

/// The library against ferro-oci-server (pinned to CPU 0): once with `--jobs 1`, where each
/// scenario runs alone and its duration is its wall, and once with the default `--jobs`.
/// Gives (whole library with --jobs, its slowest scenario, that scenario's wall alone).
/// p99 time to the first byte of the first page of the list at `url`, one user asking again and
/// again (only the first page: every fan-out asks the same request, and each yields a sample).
async fn first_page_p99(client: &Client, url: &str, secs: u64) -> (f64, u64) {
    let rec = Recorder::new(false);
    let key = SeriesKey::new("first-page");
    let url = reqwest::Url::parse(url).expect("url");
    let job: Job = {
        let (client, rec, key) = (client.discarding(), rec.clone(), key.clone());
        Arc::new(move |_| {
            let (client, rec, key, url) = (client.clone(), rec.clone(), key.clone(), url.clone());
            Box::pin(async move {
                match client.send_timed(reqwest::Method::GET, url, &[], None, referee::client::Scope::Pull("bench".into())).await {
                    Ok((r, ttfb)) if r.status == 200 => rec.ok(&key, ttfb),
                    Ok((r, _)) => rec.error(&key, &r.status.to_string()),
                    Err(e) => rec.error(&key, &e.to_string()),
                }
            })
        })
    };
    let drive = Drive { users: 1, increase_rate: 1000.0, run_time: Some(Duration::from_secs(secs)), iterations: None, co_mitigation: false, shard: None };
    let window = attack::run(client.base().as_str(), &drive, job, Arc::default()).await.expect("goose");
    rec.set_unset_windows(window);
    let series = rec.take();
    let s = &series[&key];
    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    (s.rps(), s.quantile_us(0.99))
}

fn library_wall() -> Option<(f64, String, f64)> {
    let ferro = support::external::ferro()?;
    pin(ferro.pid(), "0");
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |jobs: &str, out: &std::path::Path| {
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_referee"))
            .args(["run", "--target", &ferro.url, "--jobs", jobs, "--report-dir"])
            .arg(out)
            .stdout(Stdio::null())
            .status()
            .expect("referee run");
        assert!(status.code().is_some_and(|c| c == 0 || c == 4), "referee run failed: {status}");
        t.elapsed().as_secs_f64()
    };
    run("1", &dir.path().join("one"));
    let text = std::fs::read_to_string(dir.path().join("one/results.json")).expect("results.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut slowest = (String::new(), 0u64);
    for c in v["checks"].as_array().into_iter().flatten() {
        let ms = c["duration_ms"].as_u64().unwrap_or(0);
        if ms > slowest.1 {
            slowest = (c["scenario"].as_str().unwrap_or("").to_string(), ms);
        }
    }
    let whole = run(&referee::exec::DEFAULT_JOBS.to_string(), &dir.path().join("jobs"));
    Some((whole, slowest.0, slowest.1 as f64 / 1000.0))
}

fn main() {
    let secs: u64 = std::env::var("REFEREE_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // The clients (this process and wrk) on CPU 1; `referee run` in section 4 is a child
    // process and inherits this.
    pin(std::process::id(), "1");
    // One page per 1 000 referrers: at 1 000 it serves the same list as ferro, in one answer.
    let embedded = Embedded::start(Some(1000));
    pin(embedded.child.id(), "0");
    let ferro = support::external::ferro().expect("ferro-oci-server (scripts/test.sh installs it)");
    pin(ferro.pid(), "0");
    let cfg = |url: &str| Client::new(ClientConfig { record: false, ..ClientConfig::new(url) }).expect("client");
    let (emb_client, ferro_client) = (cfg(&embedded.url), cfg(&ferro.url));
    let t = Instant::now();
    let emb_urls = rt.block_on(seed_all(&emb_client, "bench/embedded", &FANOUTS));
    println!("seeded 10, 1 000 and 10 000 referrers in the embedded registry in {:.1} s", t.elapsed().as_secs_f64());
    // ferro-oci-server takes minutes for 10 000 on one core: it is compared at 1 000.
    let t = Instant::now();
    let ferro_urls = rt.block_on(seed_all(&ferro_client, "bench/ferro", &[1000]));
    println!("seeded 1 000 referrers in ferro-oci-server in {:.1} s", t.elapsed().as_secs_f64());
    let at = |urls: &[(u64, String)], f: u64| urls.iter().find(|(x, _)| *x == f).map(|(_, u)| u.clone()).expect("seeded");

    let emb_1000 = at(&emb_urls, 1000);
    let wrk_emb = wrk(&emb_1000, secs);
    let (ref_emb, _) = rt.block_on(referee_rate(&emb_client, &emb_1000, secs, CONNECTIONS));
    let wrk_ferro = wrk(&at(&ferro_urls, 1000), secs);
    println!("\n1. referrers endpoint, embedded registry, 1 000 referrers ({CONNECTIONS} connections, {secs} s each)");
    println!("   wrk     {wrk_emb:>9.0} req/s");
    println!("   referee {ref_emb:>9.0} req/s   = {:.2}× wrk (target ≥ 0.9×)", ref_emb / wrk_emb);
    println!("\n2. embedded vs ferro-oci-server 1.0.0, 1 000 referrers, wrk, registry pinned to CPU 0");
    println!("   embedded {wrk_emb:>9.0} req/s");
    println!("   ferro    {wrk_ferro:>9.0} req/s   embedded = {:.1}× ferro (target ≥ 5×)", wrk_emb / wrk_ferro);

    let (rps, p) = rt.block_on(first_page_p99(&ferro_client, &at(&ferro_urls, 1000), secs));
    let ferro_p99 = (rps, p);
    drop(embedded);
    drop(ferro);
    // One user asking for the first page: with several, a user's first byte waits while the
    // client's one CPU reads the other users' bodies, which measures the client. The registry
    // as it ships (256 referrers per page), alone on CPU 0.
    let paged = Embedded::start(None);
    pin(paged.child.id(), "0");
    let paged_client = cfg(&paged.url);
    let paged_urls = rt.block_on(seed_all(&paged_client, "bench/paged", &FANOUTS));
    println!("\n3. embedded registry (256 per page), p99 time to first byte of the list's first page (referee, 1 user, {secs} s each)");
    let mut p99 = vec![];
    for f in FANOUTS {
        let (rps, p) = rt.block_on(first_page_p99(&paged_client, &at(&paged_urls, f), secs));
        println!("   {f:>6} referrers: p99 {:>8.3} ms  ({rps:.0} req/s)", p as f64 / 1000.0);
        p99.push(p as f64);
    }
    println!("   p99 at 10 000 = {:.2}× p99 at 10 (target ≤ 1.5×)", p99[2] / p99[0].max(1.0));
    println!("   ferro-oci-server, 1 000 referrers, same measure: p99 {:>8.3} ms  ({:.0} req/s)", ferro_p99.1 as f64 / 1000.0, ferro_p99.0);
    drop(paged);

    if std::env::var("REFEREE_BENCH_SKIP_LIBRARY").is_err() {
        match library_wall() {
            Some((whole, slowest, one)) => {
                println!("\n4. check library against ferro-oci-server: whole library with --jobs {} {whole:.2} s; its slowest scenario, {slowest}, alone {one:.2} s", referee::exec::DEFAULT_JOBS);
                println!("   whole = {:.2}× slowest (target ≤ 1.5×)", whole / one.max(0.001));
            }
            None => println!("\n4. skipped: ferro-oci-server is not installed"),
        }
    }
}
