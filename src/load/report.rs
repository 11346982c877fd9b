//! Load reports: versioned JSON (with every histogram, so shards merge and baselines compare
//! exactly), Markdown, one self-contained HTML page with two SVG plots (latency by fan-out, and
//! latency by percentile), and JUnit for the gate.

use super::gate::{GateResult, show_us};
use super::histo::{Series, SeriesKey};
use super::profile::Workload;
use crate::exec::Residue;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The JSON format's name and version; a reader refuses any other.
pub const FORMAT: &str = "referee-load/1";

/// This shard of a run (`--shard i/N`, `i` from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// One load run (or the merge of its shards).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub format: String,
    pub referee: String,
    pub profile: String,
    pub workload: Workload,
    pub description: String,
    pub target: String,
    /// Seconds since the Unix epoch at the start.
    pub started_unix: u64,
    /// The profile's users (all shards together).
    pub users: usize,
    pub run_time_ms: Option<u64>,
    pub iterations: Option<usize>,
    pub co_mitigation: bool,
    pub shard: Option<Shard>,
    /// Shard reports merged into this one (1 for a plain run).
    pub merged_from: usize,
    pub series: Vec<SeriesReport>,
    pub notes: Vec<String>,
    /// `mixed`: the users step after which throughput stopped growing.
    pub knee_users: Option<u64>,
    pub residue: Vec<Residue>,
    pub gate: Vec<GateResult>,
    pub interrupted: bool,
}

/// One series in JSON: its key, summary figures, and its histogram.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesReport {
    #[serde(flatten)]
    pub key: SeriesKey,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
    pub window_ms: f64,
    pub rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// Microsecond histogram buckets, `[highest equivalent value, count]`.
    pub buckets: Vec<[u64; 2]>,
}

impl SeriesReport {
    pub fn new(key: &SeriesKey, s: &Series) -> SeriesReport {
        SeriesReport {
            key: key.clone(),
            requests: s.requests(),
            errors: s.errors.clone(),
            counters: s.counters.clone(),
            window_ms: s.window.as_secs_f64() * 1000.0,
            rps: s.rps(),
            p50_us: s.quantile_us(0.5),
            p90_us: s.quantile_us(0.9),
            p99_us: s.quantile_us(0.99),
            p999_us: s.quantile_us(0.999),
            max_us: if s.hist.is_empty() { 0 } else { s.hist.max() },
            mean_us: if s.hist.is_empty() { 0.0 } else { s.hist.mean() },
            buckets: s.buckets(),
        }
    }

    /// The series as measured (from its buckets, not its summary figures).
    pub fn series(&self) -> Series {
        let mut s = Series::default();
        s.hist = Series::from_buckets(&self.buckets);
        s.errors = self.errors.clone();
        s.counters = self.counters.clone();
        // A hostile or hand-edited file cannot make this panic: out of range is no window.
        s.window = Duration::try_from_secs_f64(self.window_ms / 1000.0).unwrap_or_default();
        s.set_successes(self.requests.saturating_sub(self.errors.values().sum::<u64>()));
        s
    }
}

impl LoadReport {
    pub fn series_map(&self) -> BTreeMap<SeriesKey, Series> {
        self.series.iter().map(|s| (s.key.clone(), s.series())).collect()
    }

    pub fn set_series(&mut self, map: &BTreeMap<SeriesKey, Series>) {
        self.series = map.iter().map(|(k, s)| SeriesReport::new(k, s)).collect();
    }

    /// Reads a report written by `referee load` (any shard or a merge).
    pub fn read(path: &Path) -> Result<LoadReport, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(format!("{}: format {other:?}, this referee reads {FORMAT:?}", path.display())),
            None => return Err(format!("{}: not a referee load report (no \"format\")", path.display())),
        }
        serde_json::from_value(v).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The gate's overall verdict.
    pub fn gate_passed(&self) -> bool {
        self.gate.iter().all(|g| g.passed)
    }

    /// File stem for this report's files: `<profile>` or `<profile>-shard-<i>-of-<n>`.
    pub fn stem(&self) -> String {
        match self.shard {
            Some(s) => format!("{}-shard-{}-of-{}", self.profile, s.index, s.count),
            None if self.merged_from > 1 => format!("{}-merged", self.profile),
            None => self.profile.clone(),
        }
    }

    /// Writes `<stem>.json`, `.md`, `.html` and `<stem>-junit.xml` into `dir`.
    pub fn write_all(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let stem = self.stem();
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let files = [
            (dir.join(format!("{stem}.json")), json),
            (dir.join(format!("{stem}.md")), self.markdown()),
            (dir.join(format!("{stem}.html")), self.html()),
            (dir.join(format!("{stem}-junit.xml")), self.junit()?),
        ];
        let mut out = vec![];
        for (path, text) in files {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            out.push(path);
        }
        Ok(out)
    }

    fn heading(&self) -> String {
        let shard = match self.shard {
            Some(s) => format!(", shard {} of {}", s.index, s.count),
            None if self.merged_from > 1 => format!(", {} shards merged", self.merged_from),
            None => String::new(),
        };
        let how = match (self.run_time_ms, self.iterations) {
            (Some(ms), _) => format!("{} s per step", ms as f64 / 1000.0),
            (_, Some(i)) => format!("{i} iterations per user per step"),
            _ => String::new(),
        };
        format!("{} users, {how}{shard}{}", self.users, if self.co_mitigation { ", coordinated-omission correction on" } else { "" })
    }

    pub fn markdown(&self) -> String {
        let mut s = format!("# referee load: {}\n\n{}\n\n", self.profile, self.description);
        s += &format!("- target: {}\n- {}\n- referee {}\n", self.target, self.heading(), self.referee);
        if self.interrupted {
            s += "- **interrupted** (Ctrl-C): the figures cover what ran before\n";
        }
        if let Some(k) = self.knee_users {
            s += &format!("- knee: throughput stopped growing after {k} users\n");
        }
        s += "\n| series | requests | req/s | p50 | p90 | p99 | p99.9 | max | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
        for r in &self.series {
            s += &format!(
                "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
                r.key.label(),
                r.requests,
                r.rps,
                show_us(r.p50_us as f64),
                show_us(r.p90_us as f64),
                show_us(r.p99_us as f64),
                show_us(r.p999_us as f64),
                show_us(r.max_us as f64),
                errors_text(&r.errors)
            );
        }
        let counters: Vec<String> = self
            .series
            .iter()
            .filter(|r| !r.counters.is_empty())
            .map(|r| format!("- {}: {}", r.key.label(), r.counters.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")))
            .collect();
        if !counters.is_empty() {
            s += &format!("\n## Counters\n\n{}\n", counters.join("\n"));
        }
        if !self.notes.is_empty() {
            s += &format!("\n## Observed\n\n{}\n", self.notes.iter().map(|n| format!("- {n}")).collect::<Vec<_>>().join("\n"));
        }
        if !self.gate.is_empty() {
            s += "\n## Gate\n\n| | check | result |\n|---|---|---|\n";
            for g in &self.gate {
                s += &format!("| {} | {} | {} |\n", if g.passed { "PASS" } else { "FAIL" }, g.name, g.message);
            }
        }
        if !self.residue.is_empty() {
            s += &format!("\n## Left in the registry\n\n{}\n", self.residue.iter().map(|r| format!("- {} {} {}: {}", r.repository, r.kind, r.reference, r.why)).collect::<Vec<_>>().join("\n"));
        }
        s
    }

    pub fn html(&self) -> String {
        let esc = html_escape;
        let mut rows = String::new();
        for r in &self.series {
            rows += &format!(
                "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&r.key.label()),
                r.requests,
                r.rps,
                show_us(r.p50_us as f64),
                show_us(r.p90_us as f64),
                show_us(r.p99_us as f64),
                show_us(r.p999_us as f64),
                show_us(r.max_us as f64),
                esc(&errors_text(&r.errors))
            );
        }
        let notes: String = self.notes.iter().map(|n| format!("<li>{}</li>", esc(n))).collect();
        let counters: String = self
            .series
            .iter()
            .filter(|r| !r.counters.is_empty())
            .map(|r| format!("<li>{}: {}</li>", esc(&r.key.label()), esc(&r.counters.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))))
            .collect();
        let gate: String = self
            .gate
            .iter()
            .map(|g| format!("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td></tr>", if g.passed { "pass" } else { "fail" }, if g.passed { "PASS" } else { "FAIL" }, esc(&g.name), esc(&g.message)))
            .collect();
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>referee load: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px 0; }}
p.meta {{ margin: 0 0 12px 0; color: #555; font-size: 13px; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 16px; }}
figure {{ margin: 0; }}
figcaption {{ font-size: 13px; color: #555; }}
table {{ border-collapse: collapse; font-size: 13px; margin-top: 12px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.fail td {{ background: #fdd; }} tr.pass td {{ background: #dfd; }}
</style></head>
<body>
<h1>referee load: {title}</h1>
<p class="meta">{desc} · target {target} · {heading}{interrupted}</p>
<div class="plots">
<figure id="fanout-plot">{fanout}<figcaption>Latency by fan-out (referrers per subject): p50 and p99</figcaption></figure>
<figure id="percentile-plot">{percentiles}<figcaption>Latency by percentile, one line per series</figcaption></figure>
</div>
<table><tr><th>series</th><th>requests</th><th>req/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th></tr>
{rows}</table>
{counters}
{notes}
{gate}
</body></html>
"#,
            title = esc(&self.profile),
            desc = esc(&self.description),
            target = esc(&self.target),
            heading = esc(&self.heading()),
            interrupted = if self.interrupted { " · <b>interrupted</b>" } else { "" },
            fanout = fanout_plot(&self.series),
            percentiles = percentile_plot(&self.series),
            counters = if counters.is_empty() { String::new() } else { format!("<h2>Counters</h2><ul>{counters}</ul>") },
            notes = if notes.is_empty() { String::new() } else { format!("<h2>Observed</h2><ul>{notes}</ul>") },
            gate = if gate.is_empty() { String::new() } else { format!("<h2>Gate</h2><table>{gate}</table>") },
        )
    }

    /// The two plots and the series table, for a section of another page (`report.html`).
    pub fn plots_section(&self) -> String {
        let esc = html_escape;
        let rows: String = self
            .series
            .iter()
            .map(|r| format!("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&r.key.label()), r.requests, show_us(r.p50_us as f64), show_us(r.p99_us as f64)))
            .collect();
        format!(
            "<h3>{} <small>({})</small></h3>\n<div style=\"display:flex;flex-wrap:wrap;gap:16px\"><figure>{}<figcaption>Latency by fan-out: p50 and p99</figcaption></figure><figure>{}<figcaption>Latency by percentile</figcaption></figure></div>\n<table><tr><th>series</th><th>requests</th><th>p50</th><th>p99</th></tr>{rows}</table>\n",
            esc(&self.profile),
            esc(&self.heading()),
            fanout_plot(&self.series),
            percentile_plot(&self.series)
        )
    }

    pub fn junit(&self) -> Result<String, String> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new(format!("referee load {}", self.profile));
        // Every series measured, as a passing testcase carrying its figures: CI shows what ran.
        let mut measured = TestSuite::new(format!("load series: {}", self.profile));
        for r in &self.series {
            let mut tc = TestCase::new(r.key.label(), TestCaseStatus::success());
            tc.set_system_out(format!(
                "{} requests, {:.1}/s, p50 {}, p99 {}, p99.9 {}, errors: {}",
                r.requests,
                r.rps,
                show_us(r.p50_us as f64),
                show_us(r.p99_us as f64),
                show_us(r.p999_us as f64),
                errors_text(&r.errors)
            ));
            measured.add_test_case(tc);
        }
        report.add_test_suite(measured);
        for gate in ["threshold", "baseline"] {
            let mut suite = TestSuite::new(format!("load {gate}s: {}", self.profile));
            for g in self.gate.iter().filter(|g| g.gate == gate) {
                let status = if g.passed {
                    TestCaseStatus::success()
                } else {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(g.message.clone());
                    s
                };
                let mut tc = TestCase::new(g.name.clone(), status);
                tc.set_system_out(g.message.clone());
                suite.add_test_case(tc);
            }
            if suite.tests > 0 {
                report.add_test_suite(suite);
            }
        }
        report.to_string().map_err(|e| e.to_string())
    }
}

fn errors_text(e: &BTreeMap<String, u64>) -> String {
    if e.is_empty() {
        return "none".into();
    }
    e.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(", ")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Plot size in pixels; both fit side by side in a 1400-pixel-wide window.
const PLOT: (u32, u32) = (640, 400);
/// Each plot's background: distinct, so a screenshot test can find both.
pub const FANOUT_BG: RGBColor = RGBColor(0xf2, 0xf7, 0xff);
pub const PERCENTILE_BG: RGBColor = RGBColor(0xff, 0xf7, 0xee);

const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// p50 and p99 against fan-out, one line per (kind, filter); fan-outs are evenly spaced
/// categories (0, 1, 10, … do not fit a log axis).
fn fanout_plot(series: &[SeriesReport]) -> String {
    let mut fanouts: Vec<u64> = series.iter().filter_map(|s| s.key.fanout).collect();
    fanouts.sort_unstable();
    fanouts.dedup();
    let mut lines: BTreeMap<(String, bool), Vec<&SeriesReport>> = BTreeMap::new();
    for s in series.iter().filter(|s| s.key.fanout.is_some() && s.key.users.is_none() && s.requests > 0) {
        lines.entry((s.key.kind.clone(), s.key.filtered)).or_default().push(s);
    }
    let ymax = series.iter().filter(|s| s.key.fanout.is_some()).map(|s| ms(s.p99_us)).fold(0.0f64, f64::max).max(0.01) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT).into_drawing_area();
        let _ = root.fill(&FANOUT_BG);
        if lines.is_empty() {
            // A profile without fan-out steps (fallback-push): say so rather than draw empty axes.
            let style = ("sans-serif", 16).into_font().color(&BLACK);
            let _ = root.draw_text("this profile has no fan-out steps", &style, (180, 190));
            let _ = root.present();
            drop(root);
            return svg;
        }
        let n = fanouts.len().max(1);
        let chart = ChartBuilder::on(&root)
            .caption("latency by fan-out", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax);
        let Ok(mut chart) = chart else { return svg_fallback("cannot draw") };
        let labels = fanouts.clone();
        let _ = chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(n)
            .x_label_formatter(&|x| labels.get(x.round().max(0.0) as usize).map(|f| f.to_string()).unwrap_or_default())
            .x_desc("referrers per subject")
            .y_desc("ms")
            .draw();
        for (i, ((kind, filtered), list)) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            for (q, dashed) in [("p50", false), ("p99", true)] {
                let pts: Vec<(f64, f64)> = list
                    .iter()
                    .filter_map(|s| {
                        let x = fanouts.iter().position(|f| Some(*f) == s.key.fanout)? as f64;
                        Some((x, ms(if q == "p50" { s.p50_us } else { s.p99_us })))
                    })
                    .collect();
                let style = if dashed { color.stroke_width(1) } else { color.stroke_width(2) };
                let name = format!("{kind}{} {q}", if *filtered { " filtered" } else { "" });
                if let Ok(a) = chart.draw_series(LineSeries::new(pts.clone(), style)) {
                    a.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                }
                let _ = chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())));
            }
        }
        let _ = chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperLeft).draw();
        let _ = root.present();
    }
    svg
}

/// Latency against percentile on a "nines" axis (x = -log10(1 - q)): 0 is p0, 1 p90, 2 p99,
/// 3 p99.9.
fn percentile_plot(series: &[SeriesReport]) -> String {
    let shown: Vec<&SeriesReport> = series.iter().filter(|s| !s.buckets.is_empty()).take(PALETTE.len() * 2).collect();
    let qs: Vec<f64> = (0..=40).map(|i| 1.0 - 10f64.powf(-(i as f64) / 10.0)).collect();
    let ymax = shown.iter().map(|s| ms(s.max_us)).fold(0.0f64, f64::max).max(0.01) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT).into_drawing_area();
        let _ = root.fill(&PERCENTILE_BG);
        let chart = ChartBuilder::on(&root)
            .caption("latency by percentile", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..4.0, 0f64..ymax);
        let Ok(mut chart) = chart else { return svg_fallback("cannot draw") };
        let _ = chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(5)
            .x_label_formatter(&|x| match x.round() as i64 {
                0 => "p0".into(),
                1 => "p90".into(),
                2 => "p99".into(),
                3 => "p99.9".into(),
                _ => "p99.99".into(),
            })
            .x_desc("percentile")
            .y_desc("ms")
            .draw();
        for (i, s) in shown.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let series = s.series();
            let pts: Vec<(f64, f64)> = qs.iter().map(|&q| (-(1.0 - q).max(1e-4).log10(), ms(series.quantile_us(q)))).collect();
            if let Ok(a) = chart.draw_series(LineSeries::new(pts, color.stroke_width(2))) {
                a.label(s.key.label()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
        }
        let _ = chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperLeft).draw();
        let _ = root.present();
    }
    svg
}

fn svg_fallback(msg: &str) -> String {
    format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400"><text x="20" y="40">{msg}</text></svg>"#)
}

/// Merges shard reports of one run: series add up exactly (histograms, counts), notes and
/// residue are kept, the gate is judged again by the caller.
pub fn merge(reports: &[LoadReport]) -> Result<LoadReport, String> {
    let Some(first) = reports.first() else { return Err("nothing to merge".into()) };
    let mut indices = std::collections::BTreeSet::new();
    for r in reports {
        if r.profile != first.profile || r.workload != first.workload {
            return Err(format!("cannot merge profile {:?} with {:?}", r.profile, first.profile));
        }
        if (r.users, r.run_time_ms, r.iterations) != (first.users, first.run_time_ms, first.iterations) {
            return Err("cannot merge runs with different users, run time or iterations: shards of one run share them".into());
        }
        match (r.shard, first.shard) {
            (Some(a), Some(b)) if a.count == b.count => {
                if !indices.insert(a.index) {
                    return Err(format!("shard {}/{} is given twice", a.index, a.count));
                }
            }
            _ => return Err("only shards of one run merge: every report must come from --shard i/N with the same N".into()),
        }
    }
    let mut map: BTreeMap<SeriesKey, Series> = BTreeMap::new();
    for r in reports {
        for (k, s) in r.series_map() {
            map.entry(k).or_default().merge(&s);
        }
    }
    let mut merged = LoadReport {
        shard: None,
        merged_from: reports.iter().map(|r| r.merged_from.max(1)).sum(),
        notes: reports.iter().flat_map(|r| r.notes.clone()).collect(),
        residue: reports.iter().flat_map(|r| r.residue.clone()).collect(),
        interrupted: reports.iter().any(|r| r.interrupted),
        gate: vec![],
        ..first.clone()
    };
    merged.set_series(&map);
    Ok(merged)
}
