//! Load testing (`referee load`): goose load profiles against a registry's referrers API and
//! its fallback, with latency histograms, thresholds, baselines, shards and plots.
//!
//! - `profile`: the profile files (`load-profiles/`, built in) and their validation.
//! - `workloads`: what each profile seeds, does and checks; `seed`: seeding and cleanup.
//! - `attack`: goose as a library (one attack per measured step).
//! - `histo`: HdrHistogram series per request kind, merged exactly across shards.
//! - `gate`: thresholds and baseline comparison; `report`: JSON, Markdown, HTML, JUnit.
//! - `stub`: the `ceiling` workload's in-process server; `run`: the command itself.

pub mod attack;
pub mod gate;
pub mod histo;
pub mod profile;
pub mod report;
pub mod run;
pub mod seed;
pub mod stub;
pub mod workloads;

pub use histo::{Recorder, Series, SeriesKey};
pub use profile::{LoadProfile, Workload};
pub use report::{LoadReport, Shard, merge};
pub use run::{LoadConfig, LoadOutput, parse_shard, run};
