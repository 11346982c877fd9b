//! Whether each shipped profile (`profiles/`) says the same thing in its declarations as in the
//! comments that cite them, where referee can judge it from the text:
//!
//! - every declared value is one the key allows;
//! - a key is written once per file, and a declaration that replaces an inherited value with
//!   another says so: its comment (on its line, or the comment lines directly above it) names
//!   the value it replaces, quoted (`` `collected` `` or `"400"`);
//! - what the comment of an `untagged_referrer_gc` declaration says GC does agrees with the
//!   value: a comment that says untagged referrers are collected unless a tagged index lists
//!   them cannot go with plain `protected`, one that says they are collected with `collected`
//!   or `protected-if-listed-in-tagged-index` only as it also says, and one that says they are
//!   kept with `protected`.

use super::parse::{Checker, parse_one};
use super::resolve::BUILTINS;
use super::{Profile, allows};
use std::path::Path;

/// One declaration of a file, with the comment that goes with it.
struct Decl {
    key: String,
    value: String,
    line: usize,
    comment: String,
}

/// The declarations of one profile file, each with its comment: the text after `#` on its line
/// and the comment lines directly above it.
fn declarations(path: &Path, text: &str) -> Result<(Option<String>, Vec<Decl>), String> {
    let parsed = parse_one(path, text).map_err(|d| d.iter().map(|d| d.to_string()).collect::<String>())?;
    let checker = Checker::new(path, text);
    let lines: Vec<&str> = text.lines().collect();
    let section = checker.key(None, "declares");
    let mut out = vec![];
    for (key, value) in parsed.declares {
        let place = checker.key(section, &key).ok_or_else(|| format!("cannot find '{key}' in the text"))?;
        let end = checker.value(Some(place)).map_or(place.tok.start + place.tok.width, |v| v.tok.start + v.tok.width);
        let rest: String = lines[place.line].chars().skip(end).collect();
        let mut comment: Vec<&str> = rest.trim_start().strip_prefix('#').map(str::trim).into_iter().collect();
        for above in lines[..place.line].iter().rev() {
            match above.trim_start().strip_prefix('#') {
                Some(c) => comment.push(c.trim()),
                None => break,
            }
        }
        comment.reverse();
        out.push(Decl { key, value, line: place.line + 1, comment: comment.join(" ") });
    }
    Ok((parsed.extends, out))
}

/// A comment's words, without the punctuation around them (`collected`, "400", (601b37d)).
fn words(comment: &str) -> Vec<String> {
    comment
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| "`\"'()[],.;:!?".contains(c)).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// What an `untagged_referrer_gc` comment says GC does, as the value it amounts to; `None`
/// when it says neither that untagged referrers are kept nor that they are collected.
fn untagged_gc_claim(comment: &str) -> Option<&'static str> {
    const COLLECTS: &[&str] = &["collected", "collects", "removes", "removed"];
    const KEEPS: &[&str] = &["kept", "keeps", "survive", "survives", "protected", "protects", "skips"];
    let w = words(comment);
    let has = |set: &[&str]| w.iter().any(|w| set.contains(&w.as_str()));
    let index = w.iter().any(|w| w.contains("index"));
    match (has(COLLECTS), has(KEEPS)) {
        (true, true) if index => Some("protected-if-listed-in-tagged-index"),
        (true, false) => Some("collected"),
        (false, true) => Some("protected"),
        _ => None,
    }
}

/// Everything a profile's text and its `extends` chain disagree on, one line each.
fn problems(name: &str, text: &str) -> Vec<String> {
    let path = Path::new(name);
    let (extends, decls) = match declarations(path, text) {
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let inherited = extends.map(|p| Profile::load(&p).expect("a shipped profile extends a loadable one").declares);
    let mut out = vec![];
    for (i, d) in decls.iter().enumerate() {
        let at = format!("{name}:{}: {}: {}", d.line, d.key, d.value);
        if !allows(&d.key, &d.value) {
            out.push(format!("{at}: not a value {} allows", d.key));
        }
        if decls[..i].iter().any(|e| e.key == d.key) {
            out.push(format!("{at}: declared twice"));
        }
        if let Some(before) = inherited.as_ref().and_then(|m| m.get(&d.key)).filter(|b| **b != d.value)
            && !["`", "\"", "'"].iter().any(|q| d.comment.contains(&format!("{q}{before}{q}")))
        {
            out.push(format!("{at}: replaces the inherited `{before}` without saying so (name it in the comment)"));
        }
        if d.key == "untagged_referrer_gc"
            && let Some(claim) = untagged_gc_claim(&d.comment)
            && claim != d.value
        {
            out.push(format!("{at}: its comment describes `{claim}`: \"{}\"", d.comment));
        }
    }
    out
}

fn assert_consistent(name: &str) {
    let text = BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).expect("a shipped profile");
    let found = problems(&format!("profiles/{name}.yaml"), text);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

macro_rules! each_shipped_profile {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                assert_consistent($name);
            }
        )*

        #[test]
        fn every_shipped_profile_is_checked() {
            let checked: Vec<&str> = vec![$($name),*];
            assert_eq!(checked, BUILTINS.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        }
    };
}

each_shipped_profile! {
    acr => "acr",
    artifactory => "artifactory",
    container_registry_crate => "container-registry-crate",
    distribution_2_8 => "distribution-2.8",
    distribution_3 => "distribution-3",
    dockerhub => "dockerhub",
    ecr => "ecr",
    embedded => "embedded",
    gar => "gar",
    ghcr => "ghcr",
    gitlab => "gitlab",
    harbor => "harbor",
    olareg => "olareg",
    quay => "quay",
    strict => "strict",
    trow => "trow",
    zot => "zot",
}

/// The checks catch what they are for: distribution-3 as it was shipped (its comment says
/// unlisted untagged referrers are collected, its value said `protected`, and neither override
/// named what it replaced), an override that does not say what it replaces, and a duplicate key.
#[test]
fn the_checks_catch_what_they_are_for() {
    let old_v3 = "name: distribution-3\nextends: distribution-2.8\ndeclares:\n  tag_delete: \"202\"\n  # Since v3.0.0 (601b37d) `--delete-untagged` keeps manifests a tagged index references, so\n  # referrers listed in a fallback index survive; untagged referrers no fallback index lists are\n  # still collected.\n  untagged_referrer_gc: protected\n";
    let found = problems("old-v3.yaml", old_v3);
    assert_eq!(
        found,
        [
            "old-v3.yaml:4: tag_delete: 202: replaces the inherited `400` without saying so (name it in the comment)",
            "old-v3.yaml:8: untagged_referrer_gc: protected: replaces the inherited `collected` without saying so (name it in the comment)",
            "old-v3.yaml:8: untagged_referrer_gc: protected: its comment describes `protected-if-listed-in-tagged-index`: \"Since v3.0.0 (601b37d) `--delete-untagged` keeps manifests a tagged index references, so referrers listed in a fallback index survive; untagged referrers no fallback index lists are still collected.\"",
        ]
    );
    let fixed = old_v3
        .replace("\"202\"\n", "\"202\"   # 2.8 answers \"400\"\n")
        .replace(": protected\n", ": protected-if-listed-in-tagged-index   # 2.8: `collected`\n");
    assert_eq!(problems("v3.yaml", &fixed), Vec::<String>::new());
    // A key written twice in one file is an error, not the last one winning.
    assert!(!problems("dup.yaml", "name: d\ndeclares:\n  tag_delete: \"202\"\n  tag_delete: \"400\"\n").is_empty());
    // A comment that says they are collected goes with `collected`, one that says they are kept
    // with `protected`; a comment that says neither is not judged.
    let claim = untagged_gc_claim;
    assert_eq!(claim("`garbage-collect --delete-untagged` removes untagged referrers even when a tagged fallback index lists them"), Some("collected"));
    assert_eq!(claim("the GC job's `notacc` filter skips accessories"), Some("protected"));
    assert_eq!(claim("no delete, no GC"), None);
}
