//! goose as a library: one measured step is one goose attack built from a
//! [`GooseConfiguration`] made in code (the process's argv is never parsed, `initialize()` is
//! never called), with a single transaction that runs referee's own request code (the same
//! reqwest client as the conformance run) and records into a [`Recorder`](super::Recorder).
//!
//! goose's stop switch is process-wide and it installs its own Ctrl-C handler when an attack
//! starts: the first Ctrl-C ends the attack in flight, [`interrupted`] tells the caller, who then
//! cleans up; goose ends the process on a second one.

use goose::config::GooseConfiguration;
use goose::prelude::*;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every user does once per iteration: `job(n)` with a run-wide iteration number `n`.
pub type Job = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How hard one step drives the registry.
#[derive(Debug, Clone)]
pub struct Drive {
    pub users: usize,
    /// Users started per second.
    pub increase_rate: f64,
    pub run_time: Option<Duration>,
    /// Iterations per user (instead of `run_time`).
    pub iterations: Option<usize>,
    /// goose's own coordinated-omission mitigation (its request metrics; referee's histograms
    /// correct themselves, see `Series::record`).
    pub co_mitigation: bool,
    /// This process's share of the users (`--shard i/N`).
    pub shard: Option<super::report::Shard>,
}

impl Drive {
    /// This shard's share of `users`: an even split, the first shards taking one more each
    /// until the remainder is used up (so the shards' users add up to `users`).
    pub fn share_of(&self, users: usize) -> usize {
        match self.shard {
            None => users,
            Some(s) => users / s.count + usize::from(s.index - 1 < users % s.count),
        }
    }
}

/// Only one attack runs at a time in a process: goose's stop switch is global.
static ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether an attack was ended by Ctrl-C (goose's stop switch).
pub fn interrupted() -> bool {
    goose::is_killswitch_triggered()
}

/// The measured window: from the first iteration's start to the last one's end.
#[derive(Debug, Default)]
struct Window {
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Runs `job` with `drive.users` users against `host`; returns the measured window (zero when
/// no iteration ran).
pub async fn run(host: &str, drive: &Drive, job: Job, stop: Arc<AtomicBool>) -> Result<Duration, String> {
    let _one = ATTACK.lock().await;
    if stop.load(Ordering::SeqCst) || interrupted() {
        return Ok(Duration::ZERO);
    }
    let window = Arc::new(Mutex::new(Window::default()));
    let counter = Arc::new(AtomicU64::new(0));
    let tx = {
        let window = window.clone();
        let stop = stop.clone();
        Transaction::new(Arc::new(move |_user: &mut GooseUser| {
            let job = job.clone();
            let window = window.clone();
            let counter = counter.clone();
            let stop = stop.clone();
            Box::pin(async move {
                if stop.load(Ordering::SeqCst) || interrupted() {
                    // Asked to stop: goose's switch ends the attack. The pause yields to goose's
                    // controller, which a user spinning on a ready future would starve.
                    goose::trigger_killswitch("referee: interrupted");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    return Ok(());
                }
                let started = Instant::now();
                job(counter.fetch_add(1, Ordering::Relaxed)).await;
                let ended = Instant::now();
                let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
                w.first = Some(w.first.map_or(started, |f| f.min(started)));
                w.last = Some(w.last.map_or(ended, |l| l.max(ended)));
                Ok(())
            })
        }))
        .set_name("referee")
    };
    let attack = GooseAttack::initialize_with_config(configuration(host, drive))
        .map_err(|e| format!("cannot set up the load generator: {e}"))?
        .register_scenario(scenario!("referee").register_transaction(tx));
    attack.execute().await.map_err(|e| format!("the load generator failed: {e}"))?;
    let w = window.lock().unwrap_or_else(|e| e.into_inner());
    Ok(match (w.first, w.last) {
        (Some(a), Some(b)) => b.duration_since(a),
        _ => Duration::ZERO,
    })
}

/// The goose configuration for one step, built in code. Nothing listens: the telnet and
/// WebSocket controllers are off, goose prints no metrics of its own.
fn configuration(host: &str, drive: &Drive) -> GooseConfiguration {
    let run_time = drive.run_time.map(|t| format!("{}", t.as_secs_f64().ceil().max(1.0) as u64));
    let mut c = GooseConfiguration::default();
    c.host = Some(host.to_string());
    c.users = Some(drive.users);
    c.increase_rate = Some(format!("{}", drive.increase_rate));
    c.run_time = run_time;
    c.iterations = drive.iterations;
    c.quiet = 1;
    c.no_print_metrics = true;
    c.no_error_summary = true;
    c.no_telnet = true;
    c.co_mitigation = drive.co_mitigation.then_some(goose::metrics::GooseCoordinatedOmissionMitigation::Average);
    // referee records its own histograms: goose's metrics would only cost time per request,
    // except that its coordinated-omission mitigation works on them.
    c.no_metrics = !drive.co_mitigation;
    c
}
