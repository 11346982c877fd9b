//! `referee matrix RESULTS.json…`: registries side by side — one column per `results.json`,
//! one row per check grouped by area (in the library's order), each cell a verdict with its
//! reason (on hover in `matrix.html`, as a numbered note under the table in `matrix.md`), and
//! per-area totals. The Markdown fits a GitHub job summary; `run` writes its own one-column
//! summary there through [`job_summary`] when `$GITHUB_STEP_SUMMARY` is set.

use super::html::{STYLE, class, esc};
use crate::exec::{CheckResult, Outcome, RunReport};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Longest reason a Markdown note keeps (a job summary is at most 1 MiB).
const NOTE_CHARS: usize = 240;

/// One column: a registry's run.
pub struct Column {
    pub label: String,
    pub report: RunReport,
}

/// The label a column gets when none is given: `embedded`, or the target's host and port, with
/// the profile it was judged against.
pub fn default_label(r: &RunReport) -> String {
    if r.embedded {
        return if r.profile == "embedded" { "embedded".into() } else { format!("embedded ({})", r.profile) };
    }
    let host = r.target.split("://").nth(1).unwrap_or(&r.target).trim_end_matches('/');
    format!("{host} ({})", r.profile)
}

/// Labels made unique (`name`, `name #2`, …), so no column hides another.
pub fn unique_labels(cols: &mut [Column]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in cols.iter_mut() {
        let n = seen.entry(c.label.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            c.label = format!("{} #{n}", c.label);
        }
    }
}

/// A row: a check (id, title, area) and each column's result for it, if it ran there.
struct Row<'a> {
    id: &'a str,
    title: &'a str,
    keyword: &'a str,
    cells: Vec<Option<&'a CheckResult>>,
}

/// Areas in the order they first appear, each with its rows; checks in the order they first
/// appear across the columns.
fn rows(cols: &[Column]) -> Vec<(&str, Vec<Row<'_>>)> {
    let mut out: Vec<(&str, Vec<Row>)> = vec![];
    for col in cols {
        for c in col.report.checks.iter().filter(|c| c.outcome != Outcome::Disabled) {
            let area = match out.iter().position(|(a, _)| *a == c.info.area) {
                Some(i) => i,
                None => {
                    out.push((c.info.area.as_str(), vec![]));
                    out.len() - 1
                }
            };
            if out[area].1.iter().any(|r| r.id == c.info.id) {
                continue;
            }
            let cells = cols.iter().map(|k| k.report.checks.iter().find(|x| x.info.id == c.info.id && x.outcome != Outcome::Disabled)).collect();
            out[area].1.push(Row { id: &c.info.id, title: &c.info.title, keyword: c.info.keyword_str(), cells });
        }
    }
    out
}

/// "12 PASS · 1 FAIL" for the results of one column in one area.
fn tally<'a>(cells: impl Iterator<Item = Option<&'a CheckResult>>) -> String {
    let present: Vec<&CheckResult> = cells.flatten().collect();
    let counts = super::html::counts(present.iter().copied());
    let shown: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(o, n)| format!("{n} {}", o.label())).collect();
    if shown.is_empty() { "—".into() } else { shown.join(" · ") }
}

/// The reason a cell shows (the title for a pass).
fn reason(c: &CheckResult) -> &str {
    if c.reason.is_empty() { &c.info.title } else { &c.reason }
}

fn cut(s: &str, n: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= n { one_line } else { format!("{}…", one_line.chars().take(n).collect::<String>()) }
}

/// The reason a note gives: for a check Skipped because the probe found a capability missing,
/// which one (the probe's observation is long, kept in the reports, and the same for them all).
fn note_reason(c: &CheckResult, lacking: &[String]) -> String {
    match super::lacking_capability(&c.info.requires, lacking).filter(|_| c.outcome == Outcome::Skipped) {
        Some(cap) => format!("requires {cap}, which the registry lacks"),
        None => reason(c).to_string(),
    }
}

/// Text safe inside a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace('`', "'")
}

/// `matrix.html`.
pub fn html(cols: &[Column], title: &str) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", esc(title));
    body.push_str("<p class=\"meta\">");
    for c in cols {
        let r = &c.report;
        let _ = write!(body, "<b>{}</b>: {} · profile {} · run {} · {}<br>", esc(&c.label), esc(&r.target), esc(&r.profile), esc(&r.run_id), super::html::utc(r.started_unix_ms));
    }
    body.push_str("</p>\n<table><tr><th>check</th>");
    for c in cols {
        let _ = write!(body, "<th>{}</th>", esc(&c.label));
    }
    body.push_str("</tr>\n");
    let all = rows(cols);
    body.push_str("<tr><th>all</th>");
    for i in 0..cols.len() {
        let _ = write!(body, "<th>{}</th>", tally(all.iter().flat_map(|(_, r)| r.iter().map(move |r| r.cells[i]))));
    }
    body.push_str("</tr>\n");
    for (area, rows) in &all {
        let _ = write!(body, "<tr class=\"area\"><th>{}</th>", esc(area));
        for i in 0..cols.len() {
            let _ = write!(body, "<th>{}</th>", tally(rows.iter().map(|r| r.cells[i])));
        }
        body.push_str("</tr>\n");
        for r in rows {
            let _ = write!(body, "<tr><td title=\"{}\"><b>{}</b> {} <small>{}</small></td>", esc(r.title), esc(r.id), esc(r.title), esc(r.keyword));
            for cell in &r.cells {
                match cell {
                    Some(c) => {
                        let _ = write!(body, "<td class=\"{}\" title=\"{}\">{}</td>", class(c.outcome), esc(reason(c)), c.outcome.label());
                    }
                    None => body.push_str("<td class=\"none\" title=\"not run against this registry\">—</td>"),
                }
            }
            body.push_str("</tr>\n");
        }
    }
    body.push_str("</table>\n<p class=\"meta\">Hover a verdict for its reason; — means the check did not run there.</p>\n");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}\ntr.area th {{ background: #e8eaf6; text-align: left; }}</style></head>\n<body>\n{body}</body></html>\n",
        t = esc(title)
    )
}

/// `matrix.md`: the same table; every verdict other than PASS points at a numbered reason under
/// it. With `only_broken`, rows where every column passed are left out (the per-area totals
/// still count them): what a one-registry job summary shows.
pub fn markdown(cols: &[Column], title: &str, only_broken: bool) -> String {
    let mut out = format!("## {}\n\n", md_cell(title));
    for c in cols {
        let r = &c.report;
        let _ = writeln!(out, "- **{}**: {} · profile `{}` · run `{}` · {}", md_cell(&c.label), md_cell(&r.target), md_cell(&r.profile), md_cell(&r.run_id), super::html::utc(r.started_unix_ms));
    }
    out.push('\n');
    let all = rows(cols);
    let _ = writeln!(out, "| check | {} |", cols.iter().map(|c| md_cell(&c.label)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(cols.len()));
    let totals: Vec<String> = (0..cols.len()).map(|i| tally(all.iter().flat_map(|(_, r)| r.iter().map(move |r| r.cells[i])))).collect();
    let _ = writeln!(out, "| **all** | {} |", totals.join(" | "));
    // Identical reasons (the same verdict on the same registry for the same cause) share one
    // number: (registry, verdict, reason) and the checks that have it.
    let mut notes: Vec<(String, String, String, Vec<String>)> = vec![];
    for (area, rows) in &all {
        let t: Vec<String> = (0..cols.len()).map(|i| tally(rows.iter().map(|r| r.cells[i]))).collect();
        let _ = writeln!(out, "| **{}** | {} |", md_cell(area), t.join(" | "));
        for r in rows {
            if only_broken && r.cells.iter().all(|c| c.is_none_or(|c| c.outcome == Outcome::Passed)) {
                continue;
            }
            let cells: Vec<String> = r
                .cells
                .iter()
                .zip(cols)
                .map(|(cell, col)| match cell {
                    None => "—".to_string(),
                    Some(c) if c.outcome == Outcome::Passed => "PASS".to_string(),
                    Some(c) => {
                        let why = cut(&note_reason(c, &super::lacking(&col.report)), NOTE_CHARS);
                        let key = (col.label.clone(), c.outcome.label().to_string(), why);
                        let n = match notes.iter().position(|(l, v, w, _)| (l, v, w) == (&key.0, &key.1, &key.2)) {
                            Some(i) => {
                                notes[i].3.push(c.info.id.clone());
                                i + 1
                            }
                            None => {
                                notes.push((key.0, key.1, key.2, vec![c.info.id.clone()]));
                                notes.len()
                            }
                        };
                        format!("{} ({n})", c.outcome.label())
                    }
                })
                .collect();
            let _ = writeln!(out, "| {} {} | {} |", md_cell(r.id), md_cell(&cut(r.title, 80)), cells.join(" | "));
        }
    }
    if !notes.is_empty() {
        out.push_str("\n**Reasons**\n\n");
        for (i, (label, verdict, why, ids)) in notes.iter().enumerate() {
            let _ = writeln!(out, "{}. {} {verdict} on {}: {}", i + 1, md_cell(&ids.join(", ")), md_cell(label), md_cell(why));
        }
    }
    out.push('\n');
    out
}

/// What `run` appends to `$GITHUB_STEP_SUMMARY`: its one registry, totals per area, and the
/// checks that did not pass, with their reasons.
pub fn job_summary(report: &RunReport) -> String {
    let col = Column { label: default_label(report), report: report.clone() };
    markdown(std::slice::from_ref(&col), "referee run", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md_cell("a|b<c>\n`x`"), "a\\|b&lt;c&gt; 'x'");
        assert_eq!(cut("x\ny", 10), "x y");
        assert_eq!(cut("abcdef", 3), "abc…");
    }
}
