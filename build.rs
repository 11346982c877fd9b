//! Builds the check library into the binary: every `scenarios/**/*.yaml`, by its path, so
//! `referee run` works from any directory and after `cargo install`.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = root.join("scenarios");
    println!("cargo:rerun-if-changed=scenarios");
    let mut files = vec![];
    collect(&dir, &mut files);
    files.sort();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let mut code = String::from("/// The check library as built in: (path under the repository, text).\npub const LIBRARY: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f.strip_prefix(&root).expect("under the manifest dir").to_string_lossy().replace('\\', "/");
        code.push_str(&format!("    ({rel:?}, include_str!({:?})),\n", f.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("library.rs");
    std::fs::write(out, code).expect("write the library");
    reference(&root);
}

/// The scenario language as the source says it: every options struct of `scenario/actions.rs`,
/// `scenario/expect.rs` and `Step` in `scenario/ast.rs` with its fields and their `///` lines,
/// and the step kinds of the `actions!` table with theirs (for `referee help scenario`).
fn reference(root: &Path) {
    let mut structs = String::from("/// (struct, field as written in YAML, its doc comment).\npub const FIELDS: &[(&str, &str, &str)] = &[\n");
    for file in ["src/scenario/ast.rs", "src/scenario/actions.rs", "src/scenario/expect.rs"] {
        let path = root.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).expect("scenario source");
        let (mut current, mut doc): (Option<String>, Vec<String>) = (None, vec![]);
        for line in text.lines() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix("pub struct ").and_then(|r| r.strip_suffix(" {")) {
                current = Some(name.to_string());
                doc.clear();
            } else if t == "}" {
                current = None;
            } else if let Some(d) = t.strip_prefix("///") {
                doc.push(d.trim().to_string());
            } else if let (Some(s), Some(rest)) = (&current, t.strip_prefix("pub ")) {
                if let Some((field, _)) = rest.split_once(':') {
                    let field = field.trim().trim_start_matches("r#");
                    structs.push_str(&format!("    ({s:?}, {field:?}, {:?}),\n", doc.join(" ")));
                }
                doc.clear();
            } else if !t.starts_with("#[") {
                doc.clear();
            }
        }
    }
    structs.push_str("];\n");
    // The `actions!` table: `/// doc` lines, then `Variant(Options) = "key",`.
    let ast = std::fs::read_to_string(root.join("src/scenario/ast.rs")).expect("ast.rs");
    let table = ast.split("actions! {\n").nth(1).and_then(|r| r.split("\n}\n").next()).unwrap_or("");
    let mut actions = String::from("/// (YAML key, options struct, doc comment) of every step kind.\npub const ACTIONS: &[(&str, &str, &str)] = &[\n");
    let mut doc: Vec<String> = vec![];
    for line in table.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.trim().to_string());
        } else if let Some((variant, key)) = t.split_once(" = ") {
            let options = variant.split_once('(').map_or("", |(_, o)| o.trim_end_matches(')'));
            let key = key.trim_end_matches(',').trim_matches('"');
            actions.push_str(&format!("    ({key:?}, {options:?}, {:?}),\n", doc.join(" ")));
            doc.clear();
        }
    }
    actions.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("reference.rs");
    std::fs::write(out, structs + &actions).expect("write the reference");
}
