//! The workloads: what is seeded before each measured step, what every user does in it, and
//! what is checked after it. Each step is one goose attack ([`super::attack::run`]).

use super::attack::{self, Drive, Job};
use super::histo::{Recorder, SeriesKey};
use super::profile::{LoadProfile, Workload};
use super::seed::{self, Pushed};
use crate::client::referrers_tag::{TagOp, TagUpdate, TagWrite, update};
use crate::client::{Client, ClientError, Scope};
use crate::oci::{Built, ManifestBuilder, referrers_tag};
use reqwest::{Method, Url};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a workload works with.
#[derive(Clone)]
pub struct Env {
    pub client: Client,
    /// The repository this run seeds and pushes to (fresh; removed afterwards).
    pub repo: String,
    pub rec: Recorder,
    pub stop: Arc<AtomicBool>,
    /// The base URL goose is pointed at.
    pub host: String,
    /// What was observed besides latencies (a list shorter than seeded, no referrers API, …).
    pub notes: Arc<Mutex<Vec<String>>>,
    pub pushed: Arc<Mutex<Pushed>>,
    /// The step being measured, for the progress line.
    pub step: Arc<Mutex<String>>,
    /// How long a list may take to show what was pushed (the profile's listing convergence).
    pub convergence: Duration,
}

impl Env {
    pub fn note(&self, s: String) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    fn pushed(&self, p: Pushed) {
        self.pushed.lock().unwrap_or_else(|e| e.into_inner()).add(p);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || attack::interrupted()
    }

    async fn step(&self, name: String, drive: &Drive, job: Job) -> Result<(), String> {
        if self.stopped() || drive.users == 0 {
            return Ok(());
        }
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = name;
        let window = attack::run(&self.host, drive, job, self.stop.clone()).await?;
        self.rec.set_unset_windows(window);
        Ok(())
    }
}

/// Runs the profile's workload; `drive` already holds this shard's share of users.
pub async fn run(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    match p.workload {
        Workload::ReferrersRead => referrers_read(env, p, drive).await,
        Workload::ReferrersPush => referrers_push(env, p, drive).await,
        Workload::FallbackRead => fallback_read(env, p, drive).await,
        Workload::FallbackPush => fallback_push(env, p, drive).await,
        Workload::Mixed => mixed(env, p, drive).await,
        Workload::Ceiling => ceiling(env, p, drive).await,
    }
}

/// The request kinds a workload records (thresholds must name one of them).
pub fn kinds(w: Workload) -> &'static [&'static str] {
    match w {
        Workload::ReferrersRead => &["referrers-read", "referrers-list"],
        Workload::ReferrersPush => &["referrers-push"],
        Workload::FallbackRead => &["fallback-probe", "fallback-tag-get", "fallback-read"],
        Workload::FallbackPush => &["fallback-push", "fallback-push-if-match"],
        Workload::Mixed => &["mixed-read", "mixed-push"],
        Workload::Ceiling => &["ceiling-read", "ceiling-list"],
    }
}

fn failure(e: &ClientError) -> &'static str {
    match e {
        ClientError::Timeout { .. } => "timeout",
        ClientError::Connect { .. } => "connect",
        ClientError::BodyIncomplete { .. } | ClientError::BodyTooLarge { .. } => "body",
        ClientError::Unauthorized(_) => "unauthorized",
        _ => "other",
    }
}

/// One read of a referrers list: time to the first page's headers under `first`, time to the
/// end of the last page under `whole` (following `Link`, at most [`seed::MAX_PAGES`] pages).
pub async fn read_list(client: &Client, rec: &Recorder, repo: &str, url: Url, first: &SeriesKey, whole: &SeriesKey) {
    let started = Instant::now();
    let mut url = url;
    for page in 0..seed::MAX_PAGES {
        let (resp, ttfb) = match client.send_timed(Method::GET, url, &[], None, Scope::Pull(repo.into())).await {
            Ok(r) => r,
            Err(e) => {
                if page == 0 {
                    rec.error(first, failure(&e));
                }
                rec.error(whole, failure(&e));
                return;
            }
        };
        if resp.status != 200 {
            let status = resp.status.to_string();
            if page == 0 {
                rec.error(first, &status);
            }
            rec.error(whole, &status);
            return;
        }
        if page == 0 {
            rec.ok(first, ttfb);
        }
        let next = resp
            .header_all("link")
            .iter()
            .find_map(|v| crate::client::parse_link_next(v).ok().flatten())
            .and_then(|t| resp.url.join(&t).ok());
        match next {
            Some(n) => url = n,
            None => {
                rec.ok(whole, started.elapsed());
                return;
            }
        }
    }
    rec.error(whole, "too-many-pages");
}

fn read_job(env: &Env, url: Url, first: SeriesKey, whole: SeriesKey) -> Job {
    let (client, rec, repo) = (env.client.discarding(), env.rec.clone(), env.repo.clone());
    Arc::new(move |_| {
        let (client, rec, repo, url, first, whole) = (client.clone(), rec.clone(), repo.clone(), url.clone(), first.clone(), whole.clone());
        Box::pin(async move { read_list(&client, &rec, &repo, url, &first, &whole).await })
    })
}

/// Seeds a fresh subject with `n` referrers (outside the measured window) and checks the
/// registry lists them all; gives the subject, and whether the registry has a referrers API
/// (its first page did not answer 404).
async fn seeded_subject(env: &Env, n: u64, tag: &str) -> Result<(Built, bool), String> {
    *env.step.lock().unwrap_or_else(|e| e.into_inner()) = format!("seeding {n} referrers");
    let mut pushed = Pushed::default();
    let result = async {
        let subject = seed::subject(&env.client, &env.repo, &format!("{}-{tag}", env.repo), &mut pushed).await?;
        seed::referrers(&env.client, &env.repo, &subject, n, tag, &env.stop, &mut pushed).await?;
        Ok::<Built, String>(subject)
    }
    .await;
    env.pushed(pushed);
    let subject = result?;
    match seed::list_converged(&env.client, &env.repo, subject.digest.as_str(), n as usize, env.convergence).await? {
        Some(l) if l.len() as u64 != n => env.note(format!(
            "fan-out {n}: the registry listed {} of the {n} referrers seeded (after waiting up to {} s)",
            l.len(),
            env.convergence.as_secs()
        )),
        Some(_) => {}
        None => return Ok((subject, false)),
    }
    Ok((subject, true))
}

/// The note for a read workload against a registry without the referrers API.
fn no_api(env: &Env, what: &str) {
    env.note(format!(
        "the registry has no referrers API (GET /v2/{}/referrers/<digest> answered 404): {what}; the fallback-read and fallback-push profiles measure what clients do instead",
        env.repo
    ));
}

async fn referrers_read(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    for &f in &p.fanouts {
        if env.stopped() {
            break;
        }
        let (subject, api) = seeded_subject(env, f, &format!("f{f}")).await?;
        if !api {
            no_api(env, "nothing was measured");
            break;
        }
        for filtered in [false, true].into_iter().filter(|&x| !x || p.filter) {
            let at = filtered.then_some(seed::TYPE_A);
            let url = env.client.referrers_url(&env.repo, subject.digest.as_str(), at, None).map_err(|e| e.to_string())?;
            let key = |kind: &str| SeriesKey { fanout: Some(f), filtered, ..SeriesKey::new(kind) };
            let (first, whole) = (key("referrers-read"), key("referrers-list"));
            let label = first.label();
            env.step(label, drive, read_job(env, url, first, whole)).await?;
        }
    }
    Ok(())
}

/// A unique referrer of `subject` for iteration `n` (blobs shared with every load referrer).
fn fresh_referrer(subject: &Built, n: u64, tag: &str) -> Built {
    seed::referrer(subject, n, tag)
}

async fn referrers_push(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    let f = p.fanouts.first().copied().unwrap_or(0);
    let (subject, _) = seeded_subject(env, f, "push-base").await?;
    let mut blobs = Pushed::default();
    seed::referrer_blobs(&env.client, &env.repo, &subject, &mut blobs).await?;
    env.pushed(blobs);
    let key = SeriesKey { fanout: Some(f), ..SeriesKey::new("referrers-push") };
    let log: Arc<PushLog> = Arc::default();
    let job: Job = {
        let (client, rec, repo, subject, key, log) = (env.client.clone(), env.rec.clone(), env.repo.clone(), subject.clone(), key.clone(), log.clone());
        Arc::new(move |n| {
            let (client, rec, repo, key, log) = (client.clone(), rec.clone(), repo.clone(), key.clone(), log.clone());
            let built = fresh_referrer(&subject, n, "push");
            Box::pin(async move { push_one(&client, &rec, &repo, &key, built, &log).await })
        })
    };
    let stepped = env.step(key.label(), drive, job).await;
    let (sent, written) = log.take();
    env.pushed(Pushed { manifests: sent, blobs: vec![] });
    stepped?;
    check_listed(env, &subject, f, &written, &key).await
}

/// What push users sent: every manifest (recorded before it is sent, so cleanup deletes it
/// whatever the answer, even a timeout), and those answered 201.
#[derive(Debug, Default)]
struct PushLog {
    sent: Mutex<Vec<Built>>,
    written: Mutex<Vec<Built>>,
}

impl PushLog {
    fn take(&self) -> (Vec<Built>, Vec<Built>) {
        let take = |m: &Mutex<Vec<Built>>| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()));
        (take(&self.sent), take(&self.written))
    }
}

/// One push of a referrer: its latency, and whether the answer carried `OCI-Subject`.
async fn push_one(client: &Client, rec: &Recorder, repo: &str, key: &SeriesKey, built: Built, log: &PushLog) {
    log.sent.lock().unwrap_or_else(|e| e.into_inner()).push(built.clone());
    let written = &log.written;
    let started = Instant::now();
    match client.put_manifest(repo, built.digest.as_str(), &built.media_type, &built.bytes).await {
        Ok(r) if r.status == 201 => {
            rec.ok(key, started.elapsed());
            let with = r.header("oci-subject").is_some_and(|s| s == built.subject.as_ref().map_or("", |d| d.digest.as_str()));
            rec.count(key, if with { "with-oci-subject" } else { "without-oci-subject" }, 1);
            written.lock().unwrap_or_else(|e| e.into_inner()).push(built);
        }
        Ok(r) => rec.error(key, &r.status.to_string()),
        Err(e) => rec.error(key, failure(&e)),
    }
}

/// After pushing: the subject's list must hold every referrer pushed (plus the seeded ones).
async fn check_listed(env: &Env, subject: &Built, seeded: u64, written: &[Built], key: &SeriesKey) -> Result<(), String> {
    let want = seeded as usize + written.len();
    match seed::list_converged(&env.client, &env.repo, subject.digest.as_str(), want, env.convergence).await? {
        None => env.note(format!(
            "{}: the registry has no referrers API (GET …/referrers/ answered 404): the final list was not checked",
            key.label()
        )),
        Some(listed) => {
            let listed: std::collections::HashSet<String> = listed.into_iter().collect();
            let missing = written.iter().filter(|b| !listed.contains(b.digest.as_str())).count();
            env.rec.count(key, "missing", missing as u64);
            if missing > 0 {
                env.note(format!("{}: {missing} of {} pushed referrers are missing from the list", key.label(), written.len()));
            }
        }
    }
    Ok(())
}

async fn fallback_read(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    for &f in &p.fanouts {
        if env.stopped() {
            break;
        }
        let mut pushed = Pushed::default();
        let seeded = async {
            let subject = seed::subject(&env.client, &env.repo, &format!("{}-fb{f}", env.repo), &mut pushed).await?;
            let refs = seed::referrers(&env.client, &env.repo, &subject, f, &format!("fb{f}"), &env.stop, &mut pushed).await?;
            seed::fallback_index(&env.client, &env.repo, &subject, &refs, &mut pushed).await?;
            Ok::<Built, String>(subject)
        }
        .await;
        env.pushed(pushed);
        let subject = seeded?;
        let key = |kind: &str| SeriesKey { fanout: Some(f), ..SeriesKey::new(kind) };
        let (probe, tag_get, both) = (key("fallback-probe"), key("fallback-tag-get"), key("fallback-read"));
        let label = both.label();
        let (client, rec, repo) = (env.client.discarding(), env.rec.clone(), env.repo.clone());
        let tag = referrers_tag(subject.digest.as_str());
        let api = env.client.referrers_url(&env.repo, subject.digest.as_str(), None, None).map_err(|e| e.to_string())?;
        let job: Job = Arc::new(move |_| {
            let (client, rec, repo, tag, api) = (client.clone(), rec.clone(), repo.clone(), tag.clone(), api.clone());
            let (probe, tag_get, both) = (probe.clone(), tag_get.clone(), both.clone());
            Box::pin(async move {
                let started = Instant::now();
                match client.send_timed(Method::GET, api, &[], None, Scope::Pull(repo.clone())).await {
                    Ok((r, _)) => {
                        rec.ok(&probe, started.elapsed());
                        rec.count(&probe, &format!("answered-{}", r.status), 1);
                    }
                    Err(e) => return rec.error(&probe, failure(&e)),
                }
                let t = Instant::now();
                match client.get_manifest(&repo, &tag).await {
                    Ok(r) if r.status == 200 => {
                        rec.ok(&tag_get, t.elapsed());
                        rec.ok(&both, started.elapsed());
                    }
                    Ok(r) => {
                        rec.error(&tag_get, &r.status.to_string());
                        rec.error(&both, &r.status.to_string());
                    }
                    Err(e) => {
                        rec.error(&tag_get, failure(&e));
                        rec.error(&both, failure(&e));
                    }
                }
            })
        });
        env.step(label, drive, job).await?;
    }
    Ok(())
}

async fn fallback_push(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    let variants = if p.conditional.is_empty() { vec![false, true] } else { p.conditional.clone() };
    for conditional in variants {
        if env.stopped() {
            break;
        }
        let kind = if conditional { "fallback-push-if-match" } else { "fallback-push" };
        let key = SeriesKey::new(kind);
        let (subject, _) = seeded_subject(env, 0, kind).await?;
        let mut blobs = Pushed::default();
        seed::referrer_blobs(&env.client, &env.repo, &subject, &mut blobs).await?;
        env.pushed(blobs);
        let written: Arc<TagWrites> = Arc::default();
        let job: Job = {
            let (client, rec, repo, subject, key, written) = (env.client.clone(), env.rec.clone(), env.repo.clone(), subject.clone(), key.clone(), written.clone());
            Arc::new(move |n| {
                let (client, rec, repo, key, written) = (client.clone(), rec.clone(), repo.clone(), key.clone(), written.clone());
                let built = fresh_referrer(&subject, n, kind);
                Box::pin(async move {
                    let how = TagUpdate { op: TagOp::Add, mode: Default::default(), conditional, retries: 10 };
                    tag_add(&client, &rec, &repo, &key, built, how, &written).await
                })
            })
        };
        let stepped = env.step(key.label(), drive, job).await;
        let take = |m: &Mutex<Vec<Built>>| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()));
        let (manifests, indexes, believed) = (take(&written.manifests), take(&written.indexes), take(&written.believed));
        env.pushed(Pushed { manifests: manifests.into_iter().chain(indexes).collect(), blobs: vec![] });
        stepped?;
        count_lost(env, &subject, &believed, &key).await;
    }
    Ok(())
}

/// What the `fallback-push` users wrote.
#[derive(Debug, Default)]
struct TagWrites {
    /// Every referrer manifest pushed (for cleanup, whatever became of its tag update).
    manifests: Mutex<Vec<Built>>,
    /// The referrers whose tag update was answered 201: the client believes them listed.
    believed: Mutex<Vec<Built>>,
    /// Every index written under the tag with a 201 (each is a manifest to delete).
    indexes: Mutex<Vec<Built>>,
}

/// Pushes a referrer and adds it to the referrers tag (the spec's client steps), recording the
/// whole read-modify-write's latency.
async fn tag_add(client: &Client, rec: &Recorder, repo: &str, key: &SeriesKey, built: Built, how: TagUpdate, w: &TagWrites) {
    let push = |m: &Mutex<Vec<Built>>, b: &Built| m.lock().unwrap_or_else(|e| e.into_inner()).push(b.clone());
    let started = Instant::now();
    push(&w.manifests, &built);
    match client.put_manifest(repo, built.digest.as_str(), &built.media_type, &built.bytes).await {
        Ok(r) if r.status == 201 => {}
        Ok(r) => return rec.error(key, &format!("manifest-{}", r.status)),
        Err(e) => return rec.error(key, failure(&e)),
    }
    match update(client, repo, &built, how).await {
        Ok(out) => {
            rec.count(key, "retries", u64::from(out.retries));
            let written = matches!(&out.write, TagWrite::Put(r) if r.status == 201);
            if let Some(i) = out.index().filter(|_| written) {
                push(&w.indexes, i);
            }
            match out.write {
                TagWrite::Put(r) if r.status == 201 => {
                    rec.ok(key, started.elapsed());
                    push(&w.believed, &built);
                }
                TagWrite::Put(r) => rec.error(key, &r.status.to_string()),
                TagWrite::NoEtag => rec.error(key, "no-etag"),
                // The client wrote nothing: the tag held something other than an index, or
                // its read answered neither 200 nor 404.
                _ if !matches!(out.read.status, 200 | 404) => rec.error(key, &format!("not-written-read-{}", out.read.status)),
                _ => rec.error(key, "not-written"),
            }
        }
        Err(e) => rec.error(key, failure(&e)),
    }
}

/// Lost updates: referrers whose tag write was answered 201 but that the tag's index does not
/// list at the end.
async fn count_lost(env: &Env, subject: &Built, believed: &[Built], key: &SeriesKey) {
    let tag = referrers_tag(subject.digest.as_str());
    let listed: std::collections::HashSet<String> = match env.client.get_manifest(&env.repo, &tag).await {
        Ok(r) if r.status == 200 => r
            .json()
            .ok()
            .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("digest").and_then(|d| d.as_str()).map(str::to_string))
            .collect(),
        _ => Default::default(),
    };
    let lost = believed.iter().filter(|b| !listed.contains(b.digest.as_str())).count();
    env.rec.count(key, "written", believed.len() as u64);
    env.rec.count(key, "lost-updates", lost as u64);
    if lost > 0 {
        env.note(format!(
            "{}: {lost} of {} referrers whose tag update was answered 201 are missing from {tag} (lost updates, {:.1} %)",
            key.label(),
            believed.len(),
            100.0 * lost as f64 / believed.len().max(1) as f64
        ));
    }
}

async fn mixed(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    let f = p.fanouts.first().copied().unwrap_or(100);
    let (subject, api) = seeded_subject(env, f, "mixed").await?;
    if !api {
        no_api(env, "the reads of every step are 404s, counted as errors");
    }
    let mut blobs = Pushed::default();
    seed::referrer_blobs(&env.client, &env.repo, &subject, &mut blobs).await?;
    env.pushed(blobs);
    let steps = if p.user_steps.is_empty() { vec![p.users] } else { p.user_steps.clone() };
    let url = env.client.referrers_url(&env.repo, subject.digest.as_str(), None, None).map_err(|e| e.to_string())?;
    let log: Arc<PushLog> = Arc::default();
    let ids = Arc::new(AtomicU64::new(0));
    for users in steps {
        if env.stopped() {
            break;
        }
        let step_users = drive.share_of(users);
        let key = |kind: &str| SeriesKey { users: Some(users as u64), fanout: Some(f), ..SeriesKey::new(kind) };
        let (read, push) = (key("mixed-read"), key("mixed-push"));
        let list = SeriesKey { kind: "mixed-list".into(), ..read.clone() };
        let read_share = u64::from(p.read_percent);
        let job: Job = {
            let (client, rec, repo, subject, url, log, ids) = (env.client.discarding(), env.rec.clone(), env.repo.clone(), subject.clone(), url.clone(), log.clone(), ids.clone());
            Arc::new(move |n| {
                let (client, rec, repo, url, log) = (client.clone(), rec.clone(), repo.clone(), url.clone(), log.clone());
                let (read, push, list) = (read.clone(), push.clone(), list.clone());
                let built = (n % 100 >= read_share).then(|| fresh_referrer(&subject, ids.fetch_add(1, Ordering::Relaxed), "mixed"));
                Box::pin(async move {
                    match built {
                        None => read_list(&client, &rec, &repo, url, &read, &list).await,
                        Some(b) => push_one(&client, &rec, &repo, &push, b, &log).await,
                    }
                })
            })
        };
        let d = Drive { users: step_users, ..drive.clone() };
        let stepped = env.step(format!("mixed users={users}"), &d, job).await;
        env.pushed(Pushed { manifests: log.take().0, blobs: vec![] });
        stepped?;
    }
    Ok(())
}

/// A referrers-shaped image index with `n` descriptors, as a registry would serve it.
pub fn stub_body(n: u64) -> Vec<u8> {
    let subject = ManifestBuilder::image("ceiling").build();
    let mut b = crate::oci::IndexBuilder::new();
    for i in 0..n {
        b = b.manifest(seed::referrer(&subject, i, "ceiling").referrer_descriptor());
    }
    b.build().bytes
}

async fn ceiling(env: &Env, p: &LoadProfile, drive: &Drive) -> Result<(), String> {
    for &f in &p.fanouts {
        if env.stopped() {
            break;
        }
        let stub = super::stub::Stub::start(stub_body(f)).await.map_err(|e| format!("cannot start the ceiling stub: {e}"))?;
        let client = Client::new(crate::client::ClientConfig { record: false, ..crate::client::ClientConfig::new(&stub.url()) })
            .map_err(|e| e.to_string())?;
        let url = client.resolve("/v2/ceiling/referrers/sha256:0").map_err(|e| e.to_string())?;
        let key = |kind: &str| SeriesKey { fanout: Some(f), ..SeriesKey::new(kind) };
        let (first, whole) = (key("ceiling-read"), key("ceiling-list"));
        let label = first.label();
        let stub_env = Env { client, host: stub.url(), ..env.clone() };
        let job = read_job(&stub_env, url, first, whole);
        let r = stub_env.step(label, drive, job).await;
        stub.stop().await;
        r?;
    }
    Ok(())
}
