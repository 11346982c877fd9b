//! Benchmark (not a timed test): the whole check library against the embedded registry,
//! in-process, several rounds; prints wall time per round and the median.
//! Run with `cargo bench --bench library`; `REFEREE_BENCH_FILTER=subject-push,referrers-response`
//! (ids, areas or scenario ids, comma-separated) benchmarks a part of the library.

use referee::app::{self, RunConfig};
use referee::exec::Outcome;
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::var("REFEREE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut times = vec![];
    for i in 0..rounds {
        let filter: Vec<String> = std::env::var("REFEREE_BENCH_FILTER")
            .map(|f| f.split(',').map(str::to_string).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let cfg = RunConfig { filter, ..RunConfig::new(&scenarios) };
        let t = Instant::now();
        let out = rt.block_on(app::run(cfg)).expect("run");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(out.report.outcome(), Outcome::Passed, "the library must pass while benchmarked");
        println!("round {}: {} checks in {:.3} s", i + 1, out.report.checks.len(), secs);
        times.push(secs);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("library against the embedded registry: median {:.3} s, min {:.3} s, max {:.3} s over {rounds} rounds", times[rounds / 2], times[0], times[rounds - 1]);
}
