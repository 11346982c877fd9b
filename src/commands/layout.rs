//! `referee layout check|export|import` and `referee copy`.

use crate::{check_url, usage, with_docker_credentials};
use referee::cli::{ConnArgs, CopyArgs, LayoutArgs, LayoutCommand, RepoTarget};
use referee::client::{Client, ClientConfig};
use referee::exit;
use std::time::Duration;

/// A client of `url` with the command line's credentials (or the docker config's) and TLS choice.
fn conn_client(url: &str, conn: &ConnArgs) -> Result<Client, String> {
    let conn = &with_docker_credentials(conn, Some(url));
    Client::new(ClientConfig {
        username: conn.username.clone(),
        password: conn.password.clone(),
        token: conn.token.clone(),
        insecure: conn.insecure,
        timeout: Duration::from_secs(conn.timeout),
        ..ClientConfig::new(url)
    })
    .map_err(|e| e.to_string())
}

/// `referee copy SRC DST [--referrers] [--filter T]`.
pub async fn copy(a: CopyArgs) -> i32 {
    use referee::layout::copy::{copy, parse_location};
    let (src, dst) = match (parse_location(&a.src), parse_location(&a.dst)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    let (sc, dc) = match (conn_client(&src.base, &a.conn), conn_client(&dst.base, &a.conn)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    match copy(&sc, &src, &dc, &dst, a.referrers, a.filter.as_deref()).await {
        Ok(c) => {
            if let (Some(f), true) = (&a.filter, c.exported.referrers.is_empty()) {
                eprintln!("warning: no referrer of {} has artifactType {f}: only the manifest itself was copied", src.repo);
            }
            for (d, tag) in &c.imported.pushed {
                println!("copied {d}{}", tag.as_ref().map_or(String::new(), |t| format!(" as {}:{t}", dst.repo)));
            }
            for d in &c.imported.attached {
                println!("added {d} to its subject's referrers tag (the destination answered without OCI-Subject)");
            }
            println!(
                "{} manifest(s) and {} blob(s) read from {}/{}, {} referrer(s){}; {} push(es) and {} blob(s) ({} mounted from {}) to {}/{}",
                c.exported.manifests,
                c.exported.blobs + c.imported.fetched,
                src.base,
                src.repo,
                c.exported.referrers.len(),
                if c.exported.used_fallback { " (from the referrers tag)" } else { "" },
                c.imported.pushed.len(),
                c.imported.blobs.len(),
                c.imported.mounted.len(),
                src.repo,
                dst.base,
                dst.repo
            );
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: the copy stopped: {e}\n  anything already pushed stays there (pushing it again is harmless)");
            exit::HARNESS_ERROR
        }
    }
}

/// `referee layout check` and `referee layout export`.
pub async fn layout(a: LayoutArgs) -> i32 {
    use referee::layout;
    match a.command {
        LayoutCommand::Check { dir, report_dir, quiet } => {
            if !dir.is_dir() {
                eprintln!("error: {} is not a directory (an OCI image layout is one); nothing was checked", dir.display());
                return exit::INVALID_INPUT;
            }
            let started = std::time::Instant::now();
            let found = layout::check::check(&dir);
            for f in &found.findings {
                eprintln!("{}/{f}", dir.display());
            }
            let report = layout::to_report(&dir, &found, started.elapsed().as_millis() as u64);
            let term = referee::report::Terminal::new(false);
            if !quiet {
                for c in &report.checks {
                    term.event(referee::exec::RunEvent::CheckFinished(c));
                }
                for r in &found.referrers {
                    println!("referrer {} of {} ({}, via {})", r.referrer, r.subject, r.artifact_type.as_deref().unwrap_or("no artifactType"), r.via);
                }
            }
            let mut files = vec![];
            if let Err(e) = std::fs::create_dir_all(&report_dir) {
                eprintln!("error: cannot create {}: {e}", report_dir.display());
                return exit::HARNESS_ERROR;
            }
            let (junit, json, html) = (report_dir.join("layout-junit.xml"), report_dir.join("layout-results.json"), report_dir.join("layout-report.html"));
            let written = referee::report::junit::write(&report, &junit)
                .and_then(|_| referee::report::json::write(&report, &json))
                .and_then(|_| referee::report::html::write(&report, "referee layout check", &html));
            if let Err(e) = written {
                eprintln!("error: cannot write the reports: {e}");
                return exit::HARNESS_ERROR;
            }
            files.extend([junit.display().to_string(), json.display().to_string(), html.display().to_string()]);
            term.summary(&report, &files);
            exit::for_outcome(report.outcome(), exit::FailOn::Fail)
        }
        LayoutCommand::Import { dir, at: RepoTarget { target, conn, repo } } => {
            if let Err(e) = check_url("--target", &target) {
                return usage(e);
            }
            if !dir.join("index.json").is_file() {
                eprintln!("error: {} has no index.json: not an OCI image layout; nothing was sent", dir.display());
                return exit::INVALID_INPUT;
            }
            // A layout that breaks a MUST is not imported: its findings say why.
            let found = layout::check::check(&dir);
            let broken: Vec<String> = found.findings.iter().filter(|f| f.severity == layout::check::Severity::Fail).map(|f| format!("{}/{f}", dir.display())).collect();
            if !broken.is_empty() {
                eprintln!("{}\nerror: the layout is broken (above); nothing was sent", broken.join("\n"));
                return exit::INVALID_INPUT;
            }
            // A sparse layout (allowed: M7) cannot be pushed: the registry needs every blob.
            let missing: Vec<String> = found.findings.iter().filter(|f| f.check == "M7").map(|f| format!("{}/{f}", dir.display())).collect();
            if !missing.is_empty() {
                eprintln!("{}\nerror: the layout lacks blobs it references (a layout may, a registry push may not); nothing was sent", missing.join("\n"));
                return exit::INVALID_INPUT;
            }
            let client = match conn_client(&target, &conn) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            match layout::import::import(&client, &repo, &dir).await {
                Ok(x) => {
                    for (d, tag) in &x.pushed {
                        println!("pushed {d}{}", tag.as_ref().map_or(String::new(), |t| format!(" as {repo}:{t}")));
                    }
                    for d in &x.attached {
                        println!("added {d} to its subject's referrers tag (the registry answered without OCI-Subject)");
                    }
                    println!("{} push(es) to {target}/{repo}; {} referrer(s) through the referrers tag", x.pushed.len(), x.attached.len());
                    exit::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: the import stopped: {e}\n  anything already pushed stays there (pushing it again is harmless)");
                    exit::HARNESS_ERROR
                }
            }
        }
        LayoutCommand::Export { at: RepoTarget { target, conn, repo }, reference, to, mode } => {
            if let Err(e) = check_url("--target", &target) {
                return usage(e);
            }
            let client = match conn_client(&target, &conn) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            let source = match mode.as_str() {
                "api" => layout::export::Source::Api,
                "fallback" => layout::export::Source::Fallback,
                _ => layout::export::Source::Auto,
            };
            // A layout is written whole: into a new or empty directory only.
            let existed = to.exists();
            if existed && (!to.is_dir() || std::fs::read_dir(&to).map_or(true, |mut d| d.next().is_some())) {
                eprintln!("error: {} exists and is not an empty directory: export writes a new layout; nothing was sent", to.display());
                return exit::INVALID_INPUT;
            }
            match layout::export::export(&client, &repo, &reference, &to, source).await {
                Ok(x) => {
                    let subject = x.subject.as_ref().map_or(String::new(), |s| s.digest.to_string());
                    println!(
                        "exported {repo}@{subject} ({reference}): {} manifest(s), {} blob(s), {} referrer(s){} into {}",
                        x.manifests,
                        x.blobs,
                        x.referrers.len(),
                        if x.used_fallback { " (from the referrers tag)" } else { "" },
                        to.display()
                    );
                    for (s, r) in &x.referrers {
                        println!("  {} → {} ({})", r.digest, s, r.artifact_type.as_deref().unwrap_or("no artifactType"));
                    }
                    exit::SUCCESS
                }
                Err(e) => {
                    // Nothing half-written is left behind.
                    if existed {
                        if let Ok(entries) = std::fs::read_dir(&to) {
                            for e in entries.flatten() {
                                let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
                            }
                        }
                    } else {
                        let _ = std::fs::remove_dir_all(&to);
                    }
                    eprintln!("error: the export stopped: {e}; nothing was written");
                    exit::HARNESS_ERROR
                }
            }
        }
    }
}
