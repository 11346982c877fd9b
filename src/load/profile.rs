//! Load profiles: YAML files naming a workload and how hard to drive it (`load-profiles/` in
//! the repository, built into the binary; `--profile-file` reads another). Errors point at
//! file:line:col like scenario errors, and nothing is sent before a profile is valid.

use crate::scenario::Diagnostic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The built-in profiles: (file name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("referrers-read.yaml", include_str!("../../load-profiles/referrers-read.yaml")),
    ("referrers-push.yaml", include_str!("../../load-profiles/referrers-push.yaml")),
    ("fallback-read.yaml", include_str!("../../load-profiles/fallback-read.yaml")),
    ("fallback-push.yaml", include_str!("../../load-profiles/fallback-push.yaml")),
    ("mixed.yaml", include_str!("../../load-profiles/mixed.yaml")),
    ("ceiling.yaml", include_str!("../../load-profiles/ceiling.yaml")),
];

/// What the users do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// `GET /v2/<name>/referrers/<digest>` on subjects seeded with `fanouts` referrers: time to
    /// first byte (`referrers-read`) and to the whole list across every `Link` page
    /// (`referrers-list`).
    ReferrersRead,
    /// Push artifacts with a `subject`: latency, share of answers with `OCI-Subject`, and the
    /// final list checked against what was pushed.
    ReferrersPush,
    /// What a client does against a registry without the API: the referrers API probe, then
    /// `GET` of the `sha256-<hex>` tag.
    FallbackRead,
    /// Push a referrer and add it to the referrers tag (read-modify-write), with and without
    /// `If-Match`; updates lost to races are counted.
    FallbackPush,
    /// Reads and pushes mixed (`read_percent`), users stepped up (`user_steps`) to find the knee.
    Mixed,
    /// An in-process stub serving a referrers-shaped body: the machine's own limit.
    Ceiling,
}

/// A load profile as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadProfile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub workload: Workload,
    /// Referrers per subject, one measured step each (read workloads; push workloads seed the
    /// first).
    #[serde(default = "default_fanouts")]
    pub fanouts: Vec<u64>,
    /// Also read with an `artifactType` filter (half the seeded referrers match it).
    #[serde(default)]
    pub filter: bool,
    /// Concurrent users (goose users).
    #[serde(default = "default_users")]
    pub users: usize,
    /// Users started per second.
    #[serde(default = "default_increase_rate")]
    pub increase_rate: f64,
    /// How long each step runs (`5s`, `1m`, `500ms`), unless `iterations` is given.
    #[serde(default, with = "opt_duration")]
    pub run_time: Option<Duration>,
    /// Iterations per user per step, instead of `run_time`.
    #[serde(default)]
    pub iterations: Option<usize>,
    /// `mixed`: users per step.
    #[serde(default)]
    pub user_steps: Vec<usize>,
    /// `mixed`: share of iterations that read (the rest push).
    #[serde(default = "default_read_percent")]
    pub read_percent: u8,
    /// `fallback-push`: the variants run, with and without `If-Match`.
    #[serde(default)]
    pub conditional: Vec<bool>,
    /// Thresholds checked after the run, as on the command line (`referrers-read p99 < 50ms`).
    #[serde(default)]
    pub thresholds: Vec<String>,
}

fn default_fanouts() -> Vec<u64> {
    vec![10]
}
fn default_users() -> usize {
    8
}
fn default_increase_rate() -> f64 {
    1000.0
}
fn default_read_percent() -> u8 {
    90
}

/// The most referrers one subject is seeded with, the most users, the longest step: bounds so
/// a typo cannot keep a registry busy for a day.
pub const MAX_FANOUT: u64 = 100_000;
pub const MAX_USERS: usize = 10_000;
pub const MAX_RUN_TIME: Duration = Duration::from_secs(3600);
pub const MAX_ITERATIONS: usize = 10_000_000;

/// A profile file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    #[error("cannot read {path}: {msg}")]
    Io { path: String, msg: String },
    #[error("no load profile named {name:?}; the built-in ones are: {known}")]
    Unknown { name: String, known: String },
}

/// Finds a profile: a built-in name, or a path to a YAML file.
pub fn find(name_or_path: &str) -> Result<LoadProfile, ProfileError> {
    let file = format!("{name_or_path}.yaml");
    if let Some((f, text)) = BUILTIN.iter().find(|(f, _)| *f == file) {
        return parse(Path::new(&format!("load-profiles/{f}")), text);
    }
    let path = PathBuf::from(name_or_path);
    if path.extension().is_some_and(|e| e == "yaml" || e == "yml") || path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ProfileError::Io { path: path.display().to_string(), msg: e.to_string() })?;
        return parse(&path, &text);
    }
    Err(ProfileError::Unknown { name: name_or_path.to_string(), known: names().join(", ") })
}

/// The built-in profiles' names.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(f, _)| f.trim_end_matches(".yaml")).collect()
}

/// Parses and validates one profile text.
pub fn parse(path: &Path, text: &str) -> Result<LoadProfile, ProfileError> {
    let p: LoadProfile = crate::scenario::load::parse_as(path, text).map_err(|d| ProfileError::Invalid(Box::new(d)))?;
    validate(&p).map_err(|(key, msg)| ProfileError::Invalid(Box::new(Diagnostic::at_token(path, text, 1, key, msg))))?;
    Ok(p)
}

/// The limits a profile must keep: (key to point at, message).
fn validate(p: &LoadProfile) -> Result<(), (&'static str, String)> {
    if p.fanouts.is_empty() {
        return Err(("fanouts", "fanouts: give at least one fan-out".into()));
    }
    if let Some(f) = p.fanouts.iter().find(|&&f| f > MAX_FANOUT) {
        return Err(("fanouts", format!("fan-out {f} is over the limit of {MAX_FANOUT} referrers per subject")));
    }
    if p.users == 0 || p.users > MAX_USERS {
        return Err(("users", format!("users must be 1 to {MAX_USERS}, not {}", p.users)));
    }
    if !(p.increase_rate > 0.0 && p.increase_rate.is_finite()) {
        return Err(("increase_rate", "increase_rate must be a positive number of users per second".into()));
    }
    match (p.run_time, p.iterations) {
        (Some(_), Some(_)) => return Err(("iterations", "give run_time or iterations, not both".into())),
        (None, None) => return Err(("workload", "give run_time (e.g. 5s) or iterations".into())),
        (Some(t), None) if t.is_zero() || t > MAX_RUN_TIME => {
            return Err(("run_time", format!("run_time must be above 0 and at most {} s", MAX_RUN_TIME.as_secs())));
        }
        (None, Some(i)) if i == 0 || i > MAX_ITERATIONS => {
            return Err(("iterations", format!("iterations must be 1 to {MAX_ITERATIONS}")));
        }
        _ => {}
    }
    if p.read_percent > 100 {
        return Err(("read_percent", "read_percent is a share: 0 to 100".into()));
    }
    if let Some(u) = p.user_steps.iter().find(|&&u| u == 0 || u > MAX_USERS) {
        return Err(("user_steps", format!("user_steps must each be 1 to {MAX_USERS}, not {u}")));
    }
    if p.user_steps.len() > 32 {
        return Err(("user_steps", "at most 32 user steps".into()));
    }
    if p.fanouts.len() > 32 {
        return Err(("fanouts", "at most 32 fan-out steps".into()));
    }
    for t in &p.thresholds {
        super::gate::Threshold::parse(t).map_err(|e| ("thresholds", format!("threshold {t:?}: {e}")))?;
    }
    Ok(())
}

/// Parses `500ms`, `5s`, `2m`, `1h` (a plain number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration such as 500ms, 5s or 2m"))?;
    let secs = match unit.trim() {
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown unit {u:?} in {s:?}: use us, ms, s, m or h")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v: Option<serde_yaml_ng::Value> = Option::deserialize(d)?;
        match v {
            None => Ok(None),
            Some(serde_yaml_ng::Value::Number(n)) => {
                let secs = n.as_f64().ok_or_else(|| serde::de::Error::custom("bad number"))?;
                Duration::try_from_secs_f64(secs).map(Some).map_err(|_| serde::de::Error::custom(format!("{secs} s is not a duration")))
            }
            Some(serde_yaml_ng::Value::String(s)) => super::parse_duration(&s).map(Some).map_err(serde::de::Error::custom),
            Some(_) => Err(serde::de::Error::custom("a duration such as 500ms, 5s or 2m")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        for name in names() {
            find(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_bad_profile_points_at_its_line() {
        let text = "name: x\nworkload: referrers-read\nrun_time: 1s\nusers: 0\n";
        let e = parse(Path::new("p.yaml"), text).unwrap_err().to_string();
        assert!(e.contains("p.yaml:4:1"), "{e}");
        let text = "name: x\nworkload: referrers-read\nrun_tme: 1s\n";
        let e = parse(Path::new("p.yaml"), text).unwrap_err().to_string();
        assert!(e.contains("p.yaml:3:1") && e.contains("run_time"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").is_err());
    }
}
