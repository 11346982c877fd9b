//! ARCHITECTURE.md matches the tree: every module it names exists, and every module of `src/`
//! is named in it.

use std::path::{Path, PathBuf};

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap()
}

/// Backticked names in the first column of the module tables (`exec/run.rs`, `steps/`…).
fn named(section: &str) -> Vec<String> {
    let mut out = vec![];
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        out.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_named_exists_and_every_module_is_named() {
    let text = doc();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (top, registry) = text.split_once("### `registry/`").expect("a registry section");
    let mut missing = vec![];
    for (base, names) in [(src.clone(), named(top)), (src.join("registry"), named(registry))] {
        for n in names {
            if !base.join(&n).exists() {
                missing.push(format!("{} (under {})", n, base.display()));
            }
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md names modules that do not exist: {missing:?}");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut unnamed = vec![];
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        // A module is named by its file, its directory (`steps/`) or its name in a list (`push`).
        let dir = rel.parent().and_then(|p| p.file_name()).map(|d| d.to_string_lossy().to_string()).unwrap_or_default();
        let known = |w: &str| text.contains(&format!("`{w}`")) || text.contains(&format!("{w}.rs")) || text.contains(&format!("{w}/"));
        let ok = if stem == "mod" { known(&dir) } else { known(&stem) || (rel.starts_with("registry/tests") && known("tests/")) };
        if !ok {
            unnamed.push(rel.display().to_string());
        }
    }
    assert!(unnamed.is_empty(), "modules ARCHITECTURE.md does not mention: {unnamed:?}");
}
