//! Latency histograms per request kind ([`Series`]), recorded by the load transactions and
//! merged exactly across shards.
//!
//! A histogram is an HdrHistogram of microseconds (3 significant digits). In JSON it is the
//! list of its non-empty buckets, `[value, count]`, where `value` is the bucket's highest
//! equivalent value: recording each pair back lands in the same bucket, so a histogram read
//! from JSON, merged and written again loses nothing. Percentiles are always computed from a
//! histogram, never averaged.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Highest latency recorded: 10 minutes in microseconds (longer is clamped to it).
const MAX_US: u64 = 600_000_000;
const SIGFIG: u8 = 3;

/// Which requests a series holds: the kind, and the dimension the profile steps over.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    /// `referrers-read`, `referrers-list`, `referrers-push`, `fallback-probe`, …
    pub kind: String,
    /// Referrers per subject (profiles that step over fan-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<u64>,
    /// Read with an `artifactType` filter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filtered: bool,
    /// Concurrent users (profiles that step over users, such as `mixed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
}

impl SeriesKey {
    pub fn new(kind: &str) -> SeriesKey {
        SeriesKey { kind: kind.to_string(), fanout: None, filtered: false, users: None }
    }

    /// `referrers-read fanout=1000 filtered users=8`: how reports and thresholds name it.
    pub fn label(&self) -> String {
        let mut s = self.kind.clone();
        if let Some(f) = self.fanout {
            s.push_str(&format!(" fanout={f}"));
        }
        if self.filtered {
            s.push_str(" filtered");
        }
        if let Some(u) = self.users {
            s.push_str(&format!(" users={u}"));
        }
        s
    }
}

/// One request kind's measurements.
#[derive(Debug, Clone)]
pub struct Series {
    pub hist: Histogram<u64>,
    /// Failed requests by status (`404`) or by failure (`timeout`, `connect`, `body`).
    pub errors: BTreeMap<String, u64>,
    /// Counters a workload keeps (`oci-subject`, `lost-updates`, `pushed`, …).
    pub counters: BTreeMap<String, u64>,
    /// The measured window this series was recorded in (for requests per second).
    pub window: Duration,
    /// Real (not back-filled) successful requests and the sum of their latencies: the mean
    /// the coordinated-omission correction uses, and the request count.
    real: u64,
    sum_us: u128,
}

impl Default for Series {
    fn default() -> Series {
        Series {
            hist: new_histogram(),
            errors: BTreeMap::new(),
            counters: BTreeMap::new(),
            window: Duration::ZERO,
            real: 0,
            sum_us: 0,
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, SIGFIG).expect("valid histogram bounds")
}

impl Series {
    /// Records one successful request. With `co_correct`, a request slower than the mean so far
    /// also records the requests a closed-loop user could not send meanwhile (HdrHistogram's
    /// coordinated-omission correction, with the mean latency as the expected interval).
    pub fn record(&mut self, latency: Duration, co_correct: bool) {
        let us = (latency.as_micros().min(u128::from(MAX_US)) as u64).max(1);
        let n = self.real;
        if co_correct && n >= 10 {
            let mean = (self.sum_us / u128::from(n)).max(1) as u64;
            // Bounded: record_correct adds at most us / mean extra values.
            let _ = self.hist.record_correct(us, mean.max(us / 1000));
        } else {
            self.hist.saturating_record(us);
        }
        self.sum_us += u128::from(us);
        self.real += 1;
    }

    pub fn error(&mut self, what: &str) {
        *self.errors.entry(what.to_string()).or_default() += 1;
    }

    pub fn count(&mut self, counter: &str, n: u64) {
        *self.counters.entry(counter.to_string()).or_default() += n;
    }

    /// Requests sent: successes (not the values the coordinated-omission correction adds) and
    /// failures.
    pub fn requests(&self) -> u64 {
        self.real + self.errors.values().sum::<u64>()
    }

    /// Successful requests.
    pub fn successes(&self) -> u64 {
        self.real
    }

    /// Restores the success count of a series read back from its buckets.
    pub fn set_successes(&mut self, n: u64) {
        self.real = n;
    }

    /// The latency at `q` (0–1) in microseconds; 0 for an empty series.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.hist.is_empty() { 0 } else { self.hist.value_at_quantile(q) }
    }

    pub fn rps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 { self.requests() as f64 / secs } else { 0.0 }
    }

    /// Adds `other` into this series (shards of one run): histograms and counts add up, the
    /// window is the longer of the two (shards run side by side).
    pub fn merge(&mut self, other: &Series) {
        // Both histograms have the same bounds, so addition cannot fail.
        let _ = self.hist.add(&other.hist);
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
        self.window = self.window.max(other.window);
        self.sum_us += other.sum_us;
        self.real += other.real;
    }

    /// The histogram's non-empty buckets as `[highest equivalent value, count]`.
    pub fn buckets(&self) -> Vec<[u64; 2]> {
        self.hist.iter_recorded().map(|v| [v.value_iterated_to(), v.count_at_value()]).collect()
    }

    /// A histogram from its buckets (as [`buckets`](Series::buckets) wrote them).
    pub fn from_buckets(buckets: &[[u64; 2]]) -> Histogram<u64> {
        let mut h = new_histogram();
        for [v, c] in buckets {
            h.saturating_record_n((*v).clamp(1, MAX_US), *c);
        }
        h
    }
}

/// Where a run's transactions record: one [`Series`] per key, shared by every user.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    series: Arc<Mutex<BTreeMap<SeriesKey, Series>>>,
    /// Coordinated-omission correction (`--co-mitigation`).
    pub co_correct: bool,
}

impl Recorder {
    pub fn new(co_correct: bool) -> Recorder {
        Recorder { series: Arc::default(), co_correct }
    }

    fn with<T>(&self, key: &SeriesKey, f: impl FnOnce(&mut Series) -> T) -> T {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        // The key is cloned only the first time a series is seen.
        if let Some(s) = all.get_mut(key) {
            return f(s);
        }
        f(all.entry(key.clone()).or_default())
    }

    pub fn ok(&self, key: &SeriesKey, latency: Duration) {
        let co = self.co_correct;
        self.with(key, |s| s.record(latency, co));
    }

    pub fn error(&self, key: &SeriesKey, what: &str) {
        self.with(key, |s| s.error(what));
    }

    pub fn count(&self, key: &SeriesKey, counter: &str, n: u64) {
        self.with(key, |s| s.count(counter, n));
    }

    /// Sets the measured window of every series that has none yet (those of the step that
    /// just ran: every step records under keys of its own).
    pub fn set_unset_windows(&self, window: Duration) {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for s in all.values_mut().filter(|s| s.window.is_zero()) {
            s.window = window;
        }
    }

    /// Requests recorded so far, all series together (for the progress line).
    pub fn total(&self) -> u64 {
        self.series.lock().unwrap_or_else(|e| e.into_inner()).values().map(Series::requests).sum()
    }

    /// Every series recorded so far.
    pub fn take(&self) -> BTreeMap<SeriesKey, Series> {
        std::mem::take(&mut *self.series.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_merge_exactly() {
        let mut a = Series::default();
        let mut b = Series::default();
        for i in 1..=1000u64 {
            a.record(Duration::from_micros(i * 7), false);
            b.record(Duration::from_micros(i * 13 + 5000), false);
        }
        let back = Series::from_buckets(&a.buckets());
        assert_eq!(back, a.hist);
        let mut one = Series::default();
        for i in 1..=1000u64 {
            one.record(Duration::from_micros(i * 7), false);
            one.record(Duration::from_micros(i * 13 + 5000), false);
        }
        a.merge(&b);
        assert_eq!(a.hist, one.hist);
        assert_eq!(a.buckets(), one.buckets());
        // Percentiles come from the merged histogram: averaging a's and b's p99 would not
        // give this.
        assert_eq!(a.quantile_us(0.99), one.quantile_us(0.99));
    }

    #[test]
    fn co_correction_backfills_a_stall() {
        let mut plain = Series::default();
        let mut corrected = Series::default();
        for _ in 0..100 {
            plain.record(Duration::from_millis(1), false);
            corrected.record(Duration::from_millis(1), true);
        }
        plain.record(Duration::from_millis(100), false);
        corrected.record(Duration::from_millis(100), true);
        assert_eq!(plain.hist.len(), 101);
        assert!(corrected.hist.len() > 150, "{}", corrected.hist.len());
        // Back-filled values are not requests, and do not drag the mean down.
        assert_eq!(corrected.requests(), 101);
        for _ in 0..100 {
            corrected.record(Duration::from_millis(1), true);
        }
        assert!(corrected.hist.len() < 400, "the correction fed on itself: {}", corrected.hist.len());
        assert!(corrected.quantile_us(0.9) > plain.quantile_us(0.9));
    }
}
