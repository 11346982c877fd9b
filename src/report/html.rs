//! `report.html`: one self-contained page (inline CSS and a few lines of script, nothing
//! fetched) for people: the summary, verdict filters, the checks by area — each with its rule
//! (section, keyword, spec version), reason, notes, measurements and HTTP transcript (redacted
//! when it was recorded) — the capability matrix, measurements, what was left behind, and the
//! graph run's seed. The page reads only the [`RunReport`], like every other reporter.

use crate::exec::{CheckResult, Outcome, RunReport};
use std::fmt::Write as _;
use std::path::Path;

/// Text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Terminal colour codes and other controls never reach the page.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The CSS class of a verdict.
pub fn class(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "pass",
        Outcome::Warned => "warn",
        Outcome::Skipped => "skip",
        Outcome::Failed => "fail",
        Outcome::Errored => "error",
        Outcome::Disabled => "disabled",
    }
}

/// The verdicts a report shows, in the order the filters list them.
pub const SHOWN: [Outcome; 5] = [Outcome::Failed, Outcome::Errored, Outcome::Warned, Outcome::Skipped, Outcome::Passed];

/// Shared by every page referee writes (this report and the matrix).
pub const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 16px 24px; color: #1d1d1f; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px 0; } h2 { font-size: 17px; margin: 22px 0 6px 0; }
p.meta { margin: 0 0 10px 0; color: #555; font-size: 13px; }
.badge { display: inline-block; min-width: 44px; text-align: center; border-radius: 4px; padding: 1px 6px; font-size: 12px; font-weight: 600; color: #fff; }
.pass .badge, .badge.pass { background: #2e7d32; } .fail .badge, .badge.fail { background: #c62828; }
.warn .badge, .badge.warn { background: #00838f; } .skip .badge, .badge.skip { background: #9e7d00; }
.error .badge, .badge.error { background: #6a1b9a; }
.counts span { margin-right: 14px; font-size: 15px; }
.summary { background: #e8f0fe; border-radius: 6px; padding: 6px 12px 10px 12px; margin: 8px 0; }
.summary h2 { margin-top: 4px; }
.filters label { margin-right: 12px; font-size: 14px; cursor: pointer; }
details.area { border: 1px solid #ddd; border-radius: 6px; margin: 8px 0; padding: 4px 10px; }
details.area > summary { font-weight: 600; cursor: pointer; padding: 4px 0; }
details.check { border-top: 1px solid #eee; padding: 4px 0 4px 8px; }
details.check > summary { cursor: pointer; list-style-position: outside; }
details.check > summary .id { font-family: ui-monospace, monospace; margin: 0 6px; }
.rule { border-left: 3px solid #bbb; padding: 2px 8px; margin: 6px 0; color: #333; font-size: 13px; white-space: pre-wrap; }
.reason { margin: 6px 0; font-size: 14px; white-space: pre-wrap; }
.fail .reason { color: #b71c1c; } .error .reason { color: #6a1b9a; } .warn .reason { color: #006064; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; margin: 6px 0; }
dt { color: #666; } dd { margin: 0; }
pre.transcript { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; padding: 8px; font-size: 12px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; max-height: 480px; overflow-y: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.pass { background: #e8f5e9; } td.fail { background: #ffebee; } td.warn { background: #e0f7fa; }
td.skip { background: #fff8e1; } td.error { background: #f3e5f5; } td.none { color: #999; }
.hidden { display: none; }
"#;

/// The filter script: a verdict's checkbox shows or hides its checks, and an area whose checks
/// are all hidden.
const SCRIPT: &str = r#"
function refereeFilter() {
  var on = {};
  document.querySelectorAll('.filters input').forEach(function (b) { on[b.value] = b.checked; });
  document.querySelectorAll('details.check').forEach(function (c) { c.classList.toggle('hidden', !on[c.dataset.outcome]); });
  document.querySelectorAll('details.area').forEach(function (a) {
    a.classList.toggle('hidden', a.querySelectorAll('details.check:not(.hidden)').length === 0);
  });
}
document.querySelectorAll('.filters input').forEach(function (b) { b.addEventListener('change', refereeFilter); });
"#;

/// A UTC timestamp (`2026-11-30 16:47:03 UTC`) from milliseconds since the epoch.
pub fn utc(unix_ms: u128) -> String {
    let secs = (unix_ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, written out).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// How many checks have each shown verdict.
pub fn counts<'a>(checks: impl IntoIterator<Item = &'a CheckResult> + Clone) -> Vec<(Outcome, usize)> {
    SHOWN.iter().map(|o| (*o, checks.clone().into_iter().filter(|c| c.outcome == *o).count())).collect()
}

/// One check; `anchor` prefixes its element id (a check appears under "Failed" and in its area).
fn check_html(c: &CheckResult, anchor: &str, out: &mut String) {
    let cls = class(c.outcome);
    // Failures and errors open, so the page shows them (and their exchange) at once.
    let open = if matches!(c.outcome, Outcome::Failed | Outcome::Errored) { " open" } else { "" };
    let _ = writeln!(
        out,
        "<details class=\"check {cls}\" data-outcome=\"{cls}\" id=\"{anchor}-{id}\"{open}><summary><span class=\"badge\">{label}</span><span class=\"id\">{id}</span>{title}</summary>",
        id = esc(&c.info.id),
        label = c.outcome.label(),
        title = esc(&c.info.title),
    );
    if !c.reason.is_empty() {
        // The rule is shown below: a reason that ends by quoting it does not say it twice.
        let shown = c.reason.strip_suffix(&format!(" — rule: {}", c.info.rule)).unwrap_or(&c.reason);
        let _ = writeln!(out, "<div class=\"reason\">{}</div>", esc(shown));
    }
    let _ = write!(
        out,
        "<dl><dt>keyword</dt><dd>{}</dd><dt>section</dt><dd>{}</dd><dt>spec version</dt><dd>{}</dd><dt>scenario</dt><dd>{}</dd><dt>time</dt><dd>{} ms</dd>",
        esc(c.info.keyword_str()),
        esc(&c.info.section),
        esc(&c.info.since),
        esc(&c.info.scenario),
        c.duration_ms
    );
    if let Some(r) = &c.info.reading {
        let _ = write!(out, "<dt>referee's reading</dt><dd>{}</dd>", esc(r));
    }
    for (k, v) in &c.measurements {
        let _ = write!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    }
    out.push_str("</dl>\n");
    let _ = writeln!(out, "<div class=\"rule\">{}</div>", esc(&c.info.rule));
    if !c.notes.is_empty() {
        out.push_str("<ul class=\"notes\">");
        for n in &c.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>\n");
    }
    if !c.transcript.is_empty() {
        let _ = write!(out, "<div>HTTP transcript ({} exchanges; credentials redacted)</div><pre class=\"transcript\">", c.transcript.len());
        for ex in &c.transcript {
            out.push_str(&esc(&ex.render()));
            out.push('\n');
        }
        out.push_str("</pre>\n");
    }
    out.push_str("</details>\n");
}

/// The whole page.
pub fn render(report: &RunReport, title: &str) -> String {
    render_with(report, title, &[])
}

/// The page, with sections of HTML put after the checks (the load reports' plots).
pub fn render_with(report: &RunReport, title: &str, extra: &[(String, String)]) -> String {
    let mut body = String::new();
    let all = counts(&report.checks);
    let total: usize = all.iter().map(|(_, n)| n).sum();
    let _ = write!(
        body,
        "<h1>{title}</h1>\n<p class=\"meta\">target {target} · profile {profile} · run {run} · {when} · {secs:.2} s · referee {version}{interrupted}</p>\n",
        title = esc(title),
        target = esc(&report.target),
        profile = esc(&report.profile),
        run = esc(&report.run_id),
        when = utc(report.started_unix_ms),
        secs = report.duration_ms as f64 / 1000.0,
        version = esc(&report.referee_version),
        interrupted = if report.interrupted { " · <b>interrupted</b>" } else { "" },
    );
    body.push_str("<div class=\"summary\" id=\"summary\"><h2>Summary</h2>\n<div class=\"counts\">");
    let _ = write!(body, "<span><b>{total}</b> checks</span>");
    for (o, n) in &all {
        let _ = write!(body, "<span class=\"{}\"><span class=\"badge\">{}</span> {n}</span>", class(*o), o.label());
    }
    body.push_str("</div></div>\n");
    if let Some(e) = &report.run_error {
        let _ = writeln!(body, "<p class=\"reason\"><b>The run stopped:</b> {}</p>", esc(e));
    }
    if let Some(g) = &report.graph {
        let _ = writeln!(
            body,
            "<p class=\"meta\">graph: seed {} · {} of {} cases · {} mode{}</p>",
            g.seed,
            g.cases_run,
            g.cases,
            esc(&g.mode),
            g.counterexample.as_ref().map(|f| format!(" · counterexample {}", esc(f))).unwrap_or_default()
        );
    }
    body.push_str("<div class=\"filters\">show: ");
    for o in SHOWN {
        let _ = write!(body, "<label><input type=\"checkbox\" value=\"{c}\" checked> {}</label>", o.label(), c = class(o));
    }
    body.push_str("</div>\n");
    let broken: Vec<&CheckResult> = report.checks.iter().filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Errored)).collect();
    if !broken.is_empty() {
        let _ = writeln!(body, "<h2 id=\"failed\">Failed and errored ({})</h2>", broken.len());
        for c in broken {
            check_html(c, "failed", &mut body);
        }
    }
    body.push_str("<h2>Checks by area</h2>\n");
    for (area, checks) in super::by_area(&report.checks) {
        let c = counts(checks.iter().copied());
        let tally: Vec<String> = c.iter().filter(|(_, n)| *n > 0).map(|(o, n)| format!("{n} {}", o.label())).collect();
        let open = if checks.iter().any(|c| matches!(c.outcome, Outcome::Failed | Outcome::Errored | Outcome::Warned)) { " open" } else { "" };
        let _ = writeln!(body, "<details class=\"area\" id=\"area-{a}\"{open}><summary>{a} — {}</summary>", tally.join(", "), a = esc(area));
        for c in checks {
            check_html(c, "check", &mut body);
        }
        body.push_str("</details>\n");
    }
    if !report.capabilities.is_empty() {
        body.push_str("<h2>Capabilities (the probe)</h2>\n<table><tr><th>capability</th><th>supported</th><th>observed</th></tr>\n");
        for c in &report.capabilities {
            let cls = if c.supported { "pass" } else { "skip" };
            let _ = writeln!(body, "<tr><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td></tr>", esc(&c.name), if c.supported { "yes" } else { "no" }, esc(&c.observed));
        }
        body.push_str("</table>\n");
    }
    let measured: Vec<_> = report.checks.iter().flat_map(|c| c.measurements.iter().map(move |(k, v)| (c, k, v))).collect();
    if !measured.is_empty() {
        body.push_str("<h2>Measurements</h2>\n<table><tr><th>check</th><th>measurement</th><th>value</th></tr>\n");
        for (c, k, v) in measured {
            let _ = writeln!(body, "<tr><td><a href=\"#check-{id}\">{id}</a></td><td>{}</td><td>{v}</td></tr>", esc(k), id = esc(&c.info.id));
        }
        body.push_str("</table>\n");
    }
    for (heading, section) in extra {
        let _ = writeln!(body, "<h2>{}</h2>\n{section}", esc(heading));
    }
    if !report.residue.is_empty() {
        body.push_str("<h2>Left in the registry</h2>\n<table><tr><th>repository</th><th>kind</th><th>reference</th><th>why</th></tr>\n");
        for r in &report.residue {
            let _ = writeln!(body, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&r.repository), esc(&r.kind), esc(&r.reference), esc(&r.why));
        }
        body.push_str("</table>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>{STYLE}</style></head>\n<body>\n{body}<script>{SCRIPT}</script>\n</body></html>\n",
        t = esc(title)
    )
}

pub fn write(report: &RunReport, title: &str, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, render(report, title))
}

/// [`write`], with the plots of every load report in `<dir>/load/*.json` (what `referee load`
/// wrote next to this run's reports), if there are any.
pub fn write_with_load(report: &RunReport, title: &str, path: &Path, dir: &Path) -> std::io::Result<()> {
    let mut extra = vec![];
    let mut files: Vec<_> = std::fs::read_dir(dir.join("load")).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    for f in files.iter().take(20) {
        if let Ok(load) = crate::load::report::LoadReport::read(f) {
            extra.push(("Load: ".to_string() + &load.profile, load.plots_section()));
        }
    }
    std::fs::write(path, render_with(report, title, &extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_057_223_000), "2026-11-30 16:47:03 UTC");
    }

    #[test]
    fn escaping_drops_controls_and_quotes_markup() {
        assert_eq!(esc("<a href=\"x\">'&'</a>\u{1b}[31m"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;[31m");
    }
}
