//! The load gate: thresholds (`--threshold "referrers-read p99 < 20ms"`) and the comparison
//! with a baseline run (`--baseline previous.json`), each one JUnit testcase; any of them
//! failing makes `referee load` exit with [`crate::exit::LOAD_THRESHOLD`].

use super::histo::{Series, SeriesKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a threshold measures of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Metric {
    /// A latency percentile (0–100), e.g. 99.9.
    Percentile(f64),
    Max,
    Mean,
    /// Requests per second over the measured window.
    Rps,
    /// Failed requests.
    Errors,
    /// Failed requests as a percentage of all.
    ErrorRate,
    /// A workload counter (`lost-updates`, `missing`, `without-oci-subject`, …).
    Counter(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => (a - b).abs() < 1e-9,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

/// `<kind> [fanout=N] [filtered] [users=N] <metric> <op> <value>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub text: String,
    pub kind: String,
    pub fanout: Option<u64>,
    pub filtered: Option<bool>,
    pub users: Option<u64>,
    pub metric: Metric,
    pub op: Op,
    /// Latencies in microseconds, rates per second, error rates in percent, counts as counts.
    pub value: f64,
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [kind, rest @ ..] = words.as_slice() else {
            return Err("empty; write it as `<kind> <metric> <op> <value>`, e.g. `referrers-read p99 < 20ms`".into());
        };
        if rest.len() < 3 {
            return Err("write it as `<kind> [fanout=N] [filtered] <metric> <op> <value>`, e.g. `referrers-read p99 < 20ms`".into());
        }
        let (quals, tail) = rest.split_at(rest.len() - 3);
        let mut t = Threshold {
            text: text.trim().to_string(),
            kind: kind.to_string(),
            fanout: None,
            filtered: None,
            users: None,
            metric: Metric::Errors,
            op: Op::Lt,
            value: 0.0,
        };
        for q in quals {
            match q.split_once('=') {
                Some(("fanout", n)) => t.fanout = Some(n.parse().map_err(|_| format!("fanout={n}: not a number"))?),
                Some(("users", n)) => t.users = Some(n.parse().map_err(|_| format!("users={n}: not a number"))?),
                None if *q == "filtered" => t.filtered = Some(true),
                None if *q == "unfiltered" => t.filtered = Some(false),
                _ => return Err(format!("unknown qualifier {q:?}: use fanout=N, users=N, filtered or unfiltered")),
            }
        }
        let [metric, op, value] = tail else { unreachable!("split at len - 3") };
        t.metric = match *metric {
            "max" => Metric::Max,
            "mean" => Metric::Mean,
            "rps" => Metric::Rps,
            "errors" => Metric::Errors,
            "error-rate" => Metric::ErrorRate,
            m if m.starts_with('p') && m[1..].parse::<f64>().is_ok() => {
                let p: f64 = m[1..].parse().unwrap_or(0.0);
                if !(0.0..=100.0).contains(&p) {
                    return Err(format!("{m}: a percentile is p0 to p100"));
                }
                Metric::Percentile(p)
            }
            m if m.chars().all(|c| c.is_ascii_lowercase() || c == '-') => Metric::Counter(m.to_string()),
            m => return Err(format!("unknown metric {m:?}: use p50, p90, p99, p99.9, max, mean, rps, errors, error-rate or a counter name")),
        };
        t.op = match *op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "=" | "==" => Op::Eq,
            o => return Err(format!("unknown comparison {o:?}: use <, <=, >, >= or ==")),
        };
        t.value = match t.metric {
            Metric::Percentile(_) | Metric::Max | Metric::Mean => {
                let d = super::profile::parse_duration(value)?;
                if value.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return Err(format!("{value}: give the unit (e.g. {value}ms)"));
                }
                d.as_secs_f64() * 1e6
            }
            Metric::ErrorRate => value.trim_end_matches('%').parse().map_err(|_| format!("{value}: a percentage such as 1%"))?,
            _ => value.parse().map_err(|_| format!("{value}: not a number"))?,
        };
        Ok(t)
    }

    pub fn selects(&self, k: &SeriesKey) -> bool {
        k.kind == self.kind
            && self.fanout.is_none_or(|f| k.fanout == Some(f))
            && self.filtered.is_none_or(|f| k.filtered == f)
            && self.users.is_none_or(|u| k.users == Some(u))
    }

    /// The series' value of this metric (same unit as [`Threshold::value`]).
    pub fn measure(&self, s: &Series) -> f64 {
        measure(&self.metric, s)
    }
}

pub fn measure(metric: &Metric, s: &Series) -> f64 {
    match metric {
        Metric::Percentile(p) => s.quantile_us(p / 100.0) as f64,
        Metric::Max => s.hist.max() as f64,
        Metric::Mean => s.hist.mean(),
        Metric::Rps => s.rps(),
        Metric::Errors => s.errors.values().sum::<u64>() as f64,
        Metric::ErrorRate => {
            let all = s.requests();
            if all == 0 { 0.0 } else { 100.0 * s.errors.values().sum::<u64>() as f64 / all as f64 }
        }
        Metric::Counter(c) => s.counters.get(c).copied().unwrap_or(0) as f64,
    }
}

/// A value for people: latencies as ms/µs, the rest as numbers.
pub fn show(metric: &Metric, v: f64) -> String {
    match metric {
        Metric::Percentile(_) | Metric::Max | Metric::Mean => show_us(v),
        Metric::Rps => format!("{v:.1}/s"),
        Metric::ErrorRate => format!("{v:.2}%"),
        _ => format!("{v}"),
    }
}

pub fn show_us(us: f64) -> String {
    if us >= 1000.0 { format!("{:.2}ms", us / 1000.0) } else { format!("{us:.0}µs") }
}

/// One gate decision: a JUnit testcase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateResult {
    /// `threshold` or `baseline`.
    pub gate: String,
    pub name: String,
    pub passed: bool,
    pub message: String,
}

/// Judges every threshold against every series it selects. A threshold that selects nothing
/// fails: a gate that cannot see its series must not pass.
pub fn thresholds(list: &[Threshold], series: &BTreeMap<SeriesKey, Series>) -> Vec<GateResult> {
    let mut out = vec![];
    for t in list {
        let selected: Vec<(&SeriesKey, &Series)> = series.iter().filter(|(k, _)| t.selects(k)).collect();
        if selected.is_empty() {
            let measured: Vec<String> = series.keys().map(SeriesKey::label).collect();
            out.push(GateResult {
                gate: "threshold".into(),
                name: t.text.clone(),
                passed: false,
                message: format!("no measured series matches {:?} (measured: {})", t.text, measured.join("; ")),
            });
            continue;
        }
        for (k, s) in selected {
            let latency = matches!(t.metric, Metric::Percentile(_) | Metric::Max | Metric::Mean);
            if latency && s.successes() == 0 {
                // No latency was measured: every request failed. A gate must not pass on that.
                out.push(GateResult {
                    gate: "threshold".into(),
                    name: format!("{}: {}", k.label(), t.text),
                    passed: false,
                    message: format!("{}: no request succeeded ({} failed: {:?}), so there is no latency to compare", k.label(), s.requests(), s.errors),
                });
                continue;
            }
            let got = t.measure(s);
            let passed = t.op.holds(got, t.value);
            let metric_text = t.text.split_whitespace().rev().nth(2).unwrap_or("");
            out.push(GateResult {
                gate: "threshold".into(),
                name: format!("{}: {} {} {}", k.label(), metric_text, t.op.symbol(), show(&t.metric, t.value)),
                passed,
                message: format!(
                    "{} {metric_text} was {} (threshold {} {}) over {} requests",
                    k.label(),
                    show(&t.metric, got),
                    t.op.symbol(),
                    show(&t.metric, t.value),
                    s.requests()
                ),
            });
        }
    }
    out
}

/// Compares each series measured in both runs: p50 and p99 may grow, and the request rate
/// shrink, by at most `tolerance` (0.2 = 20 %). Series only one run has are reported, not
/// judged.
pub fn baseline(base: &BTreeMap<SeriesKey, Series>, now: &BTreeMap<SeriesKey, Series>, tolerance: f64) -> Vec<GateResult> {
    let mut out = vec![];
    for (k, cur) in now {
        let Some(old) = base.get(k) else { continue };
        if old.successes() == 0 {
            continue;
        }
        if cur.successes() == 0 {
            out.push(GateResult {
                gate: "baseline".into(),
                name: format!("{}: vs baseline", k.label()),
                passed: false,
                message: format!("no request succeeded ({:?}), where the baseline had {} successes", cur.errors, old.successes()),
            });
            continue;
        }
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            let (a, b) = (cur.quantile_us(q) as f64, old.quantile_us(q) as f64);
            let ratio = a / b.max(1.0);
            out.push(GateResult {
                gate: "baseline".into(),
                name: format!("{}: {name} vs baseline", k.label()),
                passed: ratio <= 1.0 + tolerance,
                message: format!(
                    "{name} {} is {ratio:.2}× the baseline's {} (tolerance {:.0} %)",
                    show_us(a),
                    show_us(b),
                    tolerance * 100.0
                ),
            });
        }
        let (a, b) = (cur.rps(), old.rps());
        if b > 0.0 {
            let ratio = a / b;
            out.push(GateResult {
                gate: "baseline".into(),
                name: format!("{}: rps vs baseline", k.label()),
                passed: ratio * (1.0 + tolerance) >= 1.0,
                message: format!("{a:.1} requests/s is {ratio:.2}× the baseline's {b:.1}/s (tolerance {:.0} %)", tolerance * 100.0),
            });
        }
    }
    out
}

/// Parses `10%` or `0.1`.
pub fn parse_tolerance(s: &str) -> Result<f64, String> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("{s:?}: a tolerance such as 20% or 0.2"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{s:?}: out of range"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn series(us: &[u64]) -> Series {
        let mut s = Series::default();
        for &u in us {
            s.record(Duration::from_micros(u), false);
        }
        s.window = Duration::from_secs(1);
        s
    }

    #[test]
    fn thresholds_parse_and_judge() {
        let t = Threshold::parse("referrers-read fanout=1000 p99 < 20ms").unwrap();
        assert_eq!(t.metric, Metric::Percentile(99.0));
        assert_eq!(t.value, 20_000.0);
        let mut m = BTreeMap::new();
        let k = SeriesKey { fanout: Some(1000), ..SeriesKey::new("referrers-read") };
        m.insert(k.clone(), series(&[100, 200, 30_000]));
        let r = thresholds(&[t], &m);
        assert_eq!(r.len(), 1);
        assert!(!r[0].passed, "{r:?}");
        let ok = thresholds(&[Threshold::parse("referrers-read p50 < 1ms").unwrap()], &m);
        assert!(ok[0].passed, "{ok:?}");
        let none = thresholds(&[Threshold::parse("referrers-push p99 < 1ms").unwrap()], &m);
        assert!(!none[0].passed);
        assert!(Threshold::parse("referrers-read p99 < 20").is_err());
        assert!(Threshold::parse("referrers-read p99 ~ 20ms").is_err());
        assert_eq!(Threshold::parse("fallback-push lost-updates == 0").unwrap().metric, Metric::Counter("lost-updates".into()));
        // Every request failed: no latency threshold passes, nor the baseline.
        let mut failed = Series::default();
        failed.error("500");
        failed.window = std::time::Duration::from_secs(1);
        let all_failed: BTreeMap<_, _> = [(SeriesKey::new("referrers-read"), failed)].into();
        assert!(!thresholds(&[Threshold::parse("referrers-read p99 < 20ms").unwrap()], &all_failed)[0].passed);
        let base: BTreeMap<_, _> = [(SeriesKey::new("referrers-read"), series(&[100, 200]))].into();
        let r = baseline(&base, &all_failed, 0.2);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(!r[0].passed, "{r:?}");
    }

    #[test]
    fn a_baseline_twice_as_fast_fails() {
        let k = SeriesKey::new("referrers-read");
        let now: BTreeMap<_, _> = [(k.clone(), series(&[1000, 2000, 4000]))].into();
        let fast: BTreeMap<_, _> = [(k.clone(), series(&[500, 1000, 2000]))].into();
        let same: BTreeMap<_, _> = [(k, series(&[1000, 2000, 4000]))].into();
        assert!(baseline(&fast, &now, 0.2).iter().any(|r| !r.passed));
        assert!(baseline(&same, &now, 0.2).iter().all(|r| r.passed));
        assert_eq!(parse_tolerance("10%").unwrap(), 0.1);
    }
}
