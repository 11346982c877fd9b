//! `referee matrix`, and the summary `referee run` appends to a GitHub job's page.

use referee::cli::MatrixArgs;
use referee::exit;

/// `referee matrix [LABEL=]RESULTS.json…`: matrix.html and matrix.md in --report-dir.
pub fn matrix(a: MatrixArgs) -> i32 {
    use referee::report::matrix::{self, Column};
    let mut cols = vec![];
    for arg in &a.results {
        // `LABEL=PATH`, unless the whole argument is a file (a path may hold `=`).
        let (label, path) = match arg.split_once('=') {
            Some((l, p)) if !std::path::Path::new(arg).is_file() && !l.is_empty() => (Some(l.to_string()), p),
            _ => (None, arg.as_str()),
        };
        let report = match referee::report::json::read(std::path::Path::new(path)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {path}: not a referee results.json ({e}); nothing was written");
                return exit::INVALID_INPUT;
            }
        };
        cols.push(Column { label: label.unwrap_or_else(|| matrix::default_label(&report)), report });
    }
    matrix::unique_labels(&mut cols);
    if let Err(e) = std::fs::create_dir_all(&a.report_dir) {
        eprintln!("error: cannot create {}: {e}", a.report_dir.display());
        return exit::HARNESS_ERROR;
    }
    let (html, md) = (a.report_dir.join("matrix.html"), a.report_dir.join("matrix.md"));
    let written = std::fs::write(&html, matrix::html(&cols, &a.title)).and_then(|_| std::fs::write(&md, matrix::markdown(&cols, &a.title, false)));
    if let Err(e) = written {
        eprintln!("error: cannot write the matrix: {e}");
        return exit::HARNESS_ERROR;
    }
    println!("{} registries: {}", cols.len(), cols.iter().map(|c| c.label.as_str()).collect::<Vec<_>>().join(", "));
    println!("wrote {}\nwrote {}", html.display(), md.display());
    exit::SUCCESS
}

/// On GitHub Actions (`$GITHUB_STEP_SUMMARY` set), the run's summary is appended to the job's
/// page: totals per area, and every check that did not pass with its reason.
pub fn job_summary(report: &referee::exec::RunReport) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else { return };
    let summary = referee::report::matrix::job_summary(report);
    let appended = std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| std::io::Write::write_all(&mut f, summary.as_bytes()));
    if let Err(e) = appended {
        eprintln!("warning: cannot append the job summary to {}: {e}", std::path::Path::new(&path).display());
    }
}
