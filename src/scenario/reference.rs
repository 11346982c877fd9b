//! The scenario language reference, generated from the code: the structs of `ast`, `actions`
//! and `expect` with their fields' doc comments (read by `build.rs`), the step kinds of the
//! `actions!` table, and examples taken from the check library. `referee help scenario` prints
//! it; `docs/scenario-language.md` is its output, kept in sync by a test.

use super::load::Loaded;

mod source {
    include!(concat!(env!("OUT_DIR"), "/reference.rs"));
}

/// Words for fields many step kinds share, said once here instead of at every struct.
const COMMON: &[(&str, &str)] = &[
    ("name", "The name later steps and checks use for what this step builds."),
    ("tag", "The tag it is pushed under (with `by: tag`; default: the name)."),
    ("by", "`digest` (default) or `tag`: the reference it is pushed under or read by."),
    ("repo", "`main` (default), `other`, `fresh` (never pushed to) or `limited` (rate-limited)."),
    ("build_only", "Build it but do not push it (a subject that arrives later)."),
    ("of", "The name of the manifest it is about."),
    ("subject", "The name of the manifest this one refers to (its `subject`)."),
    ("artifact_type", "`artifactType`; omitted when absent."),
    ("annotations", "Annotations, key → value."),
    ("manifests", "The names of the manifests it lists."),
    ("method", "`get` (default) or `head`."),
    ("random", "A digest nothing has."),
    ("which", "`layer` (default) or `config`: which blob of the manifest."),
    ("blob_of", "The name of a pushed blob, or of a manifest whose blob is meant."),
    ("then", "After a 202, read it again with `get` or `head` (the follow-up)."),
    ("alg", "Address it by this digest algorithm (`sha256`, `sha512`)."),
    ("referrer", "The name of the referrer it is about."),
    ("steps", "The steps."),
    ("reason", "Why, in words the report shows."),
    ("when", "The expectation that, when it holds, applies this."),
    ("key", "A profile key (see `profiles/`)."),
    ("variants", "Declared value → what the answer must look like under it."),
    ("keyword", "`MUST`, `SHOULD` or `READING` (with `reading:`)."),
    ("rule", "The quoted spec sentence."),
    ("reading", "With `READING`: how referee reads the rule."),
    ("title", "One line saying what is checked."),
    ("section", "The spec and section the rule comes from."),
    ("requires", "Capabilities it needs (`referrers-api`, `bearer-auth`); Skipped without them."),
    ("id", "The scenario's id (its area and a name, e.g. `referrers-response/listing`)."),
    ("count", "How many."),
    ("fault", "A fault of the embedded registry (`referee serve --list-faults`) or a policy switch."),
    ("also", "The other checks of the file that fault breaks too."),
    ("values", "The declared values that apply it."),
    ("into", "The repository it goes into."),
    ("from", "The repository (or registry) it comes from."),
    ("to", "The registry it goes to."),
    ("target", "Another registry of the scenario, by name (`--mirror NAME=URL`)."),
];

/// The doc of `field` of `ty`: its own comment, else the common words.
fn doc(ty: &str, field: &str) -> Option<String> {
    let own = source::FIELDS.iter().find(|(s, f, _)| *s == ty && *f == field).map(|(_, _, d)| d.trim()).filter(|d| !d.is_empty());
    own.map(str::to_string).or_else(|| COMMON.iter().find(|(f, _)| *f == field).map(|(_, d)| d.to_string()))
}

fn fields(ty: &str) -> Vec<&'static str> {
    source::FIELDS.iter().filter(|(s, _, _)| *s == ty).map(|(_, f, _)| *f).collect()
}

/// Fields the reference has no words for (the test keeps this empty).
pub fn undocumented() -> Vec<String> {
    let mut out = vec![];
    for (ty, field, _) in source::FIELDS {
        if *ty != "Step" && doc(ty, field).is_none() {
            out.push(format!("{ty}.{field}"));
        }
    }
    for (key, _, d) in source::ACTIONS {
        if d.trim().is_empty() && doc("Step", key).is_none() && !has_default_doc(key) {
            out.push(format!("step kind {key}"));
        }
    }
    out
}

/// What the step kinds the `actions!` table leaves without a comment do.
const KIND_DOCS: &[(&str, &str)] = &[
    ("push_image", "Build an image (config and one layer, unique to the run) and push its blobs and manifest."),
    ("push_artifact", "Build an artifact (the empty config or a custom one, `artifactType`, a `subject`, annotations …) and push it."),
    ("push_index", "Build an image index of manifests pushed before (optionally with a `subject`) and push it."),
    ("referrers", "`GET /v2/<name>/referrers/<digest>` (with a filter, a raw query, every `Link` page); read again, and again after an unrelated push, unless `repeat: false`."),
    ("wait_listed", "List the referrers of `of` again and again until `referrer` appears, within `within_ms`."),
    ("push_blob", "Upload a blob: `post_put` (default), `single_post` or `chunked`."),
    ("upload_session", "Open an upload session and poke it: an out-of-order chunk, its status, or cancel it."),
    ("fallback_read", "`GET` the referrers tag (`sha256-<hex>`) of `of`, judged as a referrers list."),
    ("get_manifest", "`GET` or `HEAD` `/v2/<name>/manifests/<reference>`."),
    ("delete_manifest", "`DELETE /v2/<name>/manifests/<reference>`."),
    ("tags_list", "`GET /v2/<name>/tags/list`."),
    ("mount", "`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>` (without `from` when `anonymous`)."),
    ("get_blob", "`GET` or `HEAD` `/v2/<name>/blobs/<digest>`."),
    ("delete_blob", "`DELETE /v2/<name>/blobs/<digest>`."),
];

/// Whether a step kind has words in [`KIND_DOCS`].
fn has_default_doc(key: &str) -> bool {
    KIND_DOCS.iter().any(|(k, _)| *k == key)
}

/// The first place the library uses `needle` at the start of a step or as a key: the line (and
/// the lines under it), as an example.
fn example(library: &[Loaded], step: bool, key: &str) -> Option<String> {
    for l in library {
        let lines: Vec<&str> = l.text.lines().collect();
        let start = lines.iter().position(|s| *s == "steps:").unwrap_or(0);
        for (i, line) in lines.iter().enumerate().skip(start) {
            let t = line.trim_start();
            let hit = if step {
                t.starts_with(&format!("- {key}:"))
            } else {
                t.starts_with(&format!("{key}:")) || line.contains(&format!("{{ {key}:")) || line.contains(&format!(", {key}:"))
            };
            if !hit {
                continue;
            }
            let indent = line.len() - t.len();
            let mut out = vec![line[indent..].to_string()];
            for more in lines.iter().skip(i + 1).take(16) {
                let ind = more.len() - more.trim_start().len();
                if more.trim().is_empty() || ind <= indent || (step && more.trim_start().starts_with("- ") && ind <= indent + 2) {
                    break;
                }
                out.push(more[indent..].to_string());
            }
            return Some(out.join("\n"));
        }
    }
    None
}

fn table(ty: &str, out: &mut String) {
    out.push_str("| key | what it says |\n|---|---|\n");
    for f in fields(ty) {
        out.push_str(&format!("| `{f}` | {} |\n", doc(ty, f).unwrap_or_default().replace('|', "\\|")));
    }
    out.push('\n');
}

/// The whole reference, in Markdown, with examples from `library`.
pub fn markdown(library: &[Loaded]) -> String {
    let mut out = String::from(
        "# The scenario language\n\nGenerated from the code by `referee help scenario` (do not edit; a test keeps it in sync).\n\
         Every key below is checked: a misspelled one is an error at its line and column.\n\n",
    );
    out.push_str("## A scenario file\n\n");
    table("ScenarioFile", &mut out);
    out.push_str("## A check (under `checks:`)\n\n");
    table("CheckDecl", &mut out);
    for (name, ty) in [("skip_if_declared", "SkipIfDeclared"), ("proven_by", "ProvenBy")] {
        out.push_str(&format!("### `{name}`\n\n"));
        table(ty, &mut out);
    }
    out.push_str("## A step\n\nOne step kind (below) as its key, and:\n\n| key | what it says |\n|---|---|\n");
    for f in fields("Step").into_iter().filter(|f| *f != "action") {
        out.push_str(&format!("| `{f}` | {} |\n", doc("Step", f).unwrap_or_default()));
    }
    out.push_str("\n## Step kinds\n\n");
    for (key, ty, d) in source::ACTIONS {
        out.push_str(&format!("### `{key}`\n\n"));
        let d = match KIND_DOCS.iter().find(|(k, _)| k == key) {
            _ if !d.trim().is_empty() => d.to_string(),
            Some((_, words)) => words.to_string(),
            None => format!("Options: `{ty}`."),
        };
        out.push_str(&format!("{d}\n\n"));
        if !fields(ty).is_empty() {
            table(ty, &mut out);
        }
        if let Some(e) = example(library, true, key) {
            out.push_str(&format!("```yaml\n{e}\n```\n\n"));
        }
    }
    out.push_str("## Assertions (a check's expectation at a step)\n\nEvery key is one assertion; all must hold.\n\n| key | what it says | example |\n|---|---|---|\n");
    for f in fields("Expect") {
        let e = example(library, false, f).map(|e| format!("`{}`", e.lines().next().unwrap_or("").replace('|', "\\|"))).unwrap_or_default();
        out.push_str(&format!("| `{f}` | {} | {e} |\n", doc("Expect", f).unwrap_or_default().replace('|', "\\|")));
    }
    out.push('\n');
    let nested = [
        ("manifests", "ManifestsExpect"),
        ("entries", "EntryExpect"),
        ("pages", "PagesExpect"),
        ("declared", "Declared"),
        ("unsupported_if, stop_if", "Unsupported"),
        ("cite", "Citation"),
    ];
    for (name, ty) in nested {
        out.push_str(&format!("### `{name}`\n\n"));
        table(ty, &mut out);
    }
    out.push_str("## Options used inside step kinds\n\n");
    let used: Vec<&str> = source::ACTIONS.iter().map(|(_, t, _)| *t).collect();
    let mut seen: Vec<&str> = vec![];
    for (ty, _, _) in source::FIELDS {
        let skip = ["ScenarioFile", "CheckDecl", "SkipIfDeclared", "ProvenBy", "Step", "Expect"].contains(ty)
            || nested.iter().any(|(_, t)| t == ty)
            || used.contains(ty)
            || seen.contains(ty);
        if skip {
            continue;
        }
        seen.push(ty);
        out.push_str(&format!("### `{ty}`\n\n"));
        table(ty, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_words() {
        assert!(undocumented().is_empty(), "keys without a doc comment or common words: {:?}", undocumented());
        assert_eq!(source::ACTIONS.len(), super::super::ACTION_KEYS.len());
    }

    #[test]
    fn the_docs_page_is_the_generated_reference() {
        let library = crate::scenario::load_builtin().unwrap();
        let generated = markdown(&library);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenario-language.md");
        let page = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(page == generated, "docs/scenario-language.md is stale: run `cargo run -- help scenario > docs/scenario-language.md`");
        for key in super::super::ACTION_KEYS {
            assert!(generated.contains(&format!("### `{key}`")), "{key}");
        }
    }
}
