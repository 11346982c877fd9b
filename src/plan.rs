//! Validate and resolve loaded scenarios into a [`Plan`]: each step's options (as its family in
//! `exec::steps` says), names are defined before use, check ids are declared, evaluated, and unique across files.
//! Errors are [`Diagnostic`]s at `file:line:col`; nothing is sent while any exists.

use crate::profile::HookName;
use crate::scenario::{Action, Capability, Diagnostic, Expect, Keyword, Loaded, Parallel, ScenarioFile, Step};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

/// What a check is and which rule it enforces (terminal line, JUnit properties, JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckInfo {
    pub id: String,
    pub title: String,
    pub area: String,
    pub section: String,
    pub keyword: Keyword,
    pub rule: String,
    /// With `keyword: READING`: how referee reads the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
    pub since: String,
    pub scenario: String,
    pub requires: Vec<Capability>,
    /// Skipped when the profile declares one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if_declared: Option<crate::scenario::SkipIfDeclared>,
    /// The fault that proves the check can fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven_by: Option<crate::scenario::ProvenBy>,
}

/// One scenario ready to run.
#[derive(Debug, Clone)]
pub struct PlannedScenario {
    pub id: String,
    pub path: PathBuf,
    pub file: ScenarioFile,
    /// The checks to report, in catalogue order.
    pub checks: Vec<CheckInfo>,
    /// Checks evaluated but filtered out by `--filter` (Disabled).
    pub disabled: HashSet<String>,
}

/// The whole run, in order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub scenarios: Vec<PlannedScenario>,
}

impl Plan {
    pub fn checks(&self) -> impl Iterator<Item = &CheckInfo> {
        self.scenarios.iter().flat_map(|s| s.checks.iter())
    }
}

impl PlannedScenario {
    /// The lifecycle hooks its steps call, those inside `parallel` blocks included.
    pub fn hooks(&self) -> BTreeSet<HookName> {
        fn walk(steps: &[Step], out: &mut BTreeSet<HookName>) {
            for s in steps {
                match &s.action {
                    Action::Hook(h) => {
                        out.insert(h.name);
                    }
                    Action::Parallel(p) => {
                        walk(&p.each, out);
                        if let Some(d) = &p.during {
                            walk(&d.steps, out);
                        }
                        walk(&p.then, out);
                    }
                    _ => {}
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(&self.file.steps, &mut out);
        out
    }
}

/// The catalogue group an id belongs to (`C9` → `referrers-response`).
pub fn area_of(id: &str) -> &'static str {
    match id.chars().next() {
        Some('A') => "baseline",
        Some('B') => "subject-push",
        Some('C') => "referrers-response",
        Some('D') => "filtering",
        Some('E') => "pagination",
        Some('F') => "fallback",
        Some('G') => "backward-compatibility",
        Some('H') => "deletion",
        Some('I') => "mount",
        Some('J') => "tag-locking",
        Some('K') => "gc-retention",
        Some('L') => "concurrency",
        Some('M') => "layout",
        Some('N') => "errors-transport",
        Some('P') => "graph",
        Some('R') => "multi-registry",
        _ => "custom",
    }
}

/// Sort key for catalogue ids: letter, then number (`B2` before `B10`).
pub fn id_key(id: &str) -> (String, u32, String) {
    let letters: String = id.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let digits: String = id[letters.len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = id[letters.len() + digits.len()..].to_string();
    (letters, digits.parse().unwrap_or(0), rest)
}

/// Line (1-based) of each step of `steps:` in the file text.
fn step_lines(text: &str) -> Vec<usize> {
    let mut lines = vec![];
    let mut in_steps = false;
    let mut indent: Option<usize> = None;
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("steps:") {
            in_steps = true;
            continue;
        }
        if !in_steps {
            continue;
        }
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let ind = l.len() - trimmed.len();
        if ind == 0 && !trimmed.starts_with('-') {
            break;
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            match indent {
                None => {
                    indent = Some(ind);
                    lines.push(i + 1);
                }
                Some(x) if x == ind => lines.push(i + 1),
                _ => {}
            }
        }
    }
    lines
}

/// Validates one file; returns its diagnostics.
fn validate(l: &Loaded) -> Vec<Diagnostic> {
    let mut d = vec![];
    let lines = step_lines(&l.text);
    let mut defined: HashSet<&str> = HashSet::new();
    let mut used_checks: HashSet<&str> = HashSet::new();
    for (i, step) in l.file.steps.iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        validate_step(l, step, line, false, &mut defined, &mut used_checks, &mut d);
    }
    for (id, c) in &l.file.checks {
        let Some(s) = &c.skip_if_declared else { continue };
        if !crate::profile::vendor::declared_keys().any(|k| k == s.key) {
            let help = crate::scenario::diag::suggest(&s.key, crate::profile::vendor::declared_keys()).map(|k| format!("did you mean '{k}'?"));
            d.push(
                Diagnostic::at_token(&l.path, &l.text, 1, &s.key, format!("check '{id}': '{}' is not a profile key", s.key))
                    .with_help(help),
            );
            continue;
        }
        for v in &s.values {
            if !crate::profile::vendor::allows(&s.key, v) {
                d.push(Diagnostic::at_token(
                    &l.path,
                    &l.text,
                    1,
                    v,
                    format!("check '{id}': '{v}' is not a value a profile can declare for {}", s.key),
                ));
            }
        }
    }
    for (id, c) in &l.file.checks {
        if let Some(why) = reading_problem(c.keyword, c.reading.as_deref()) {
            d.push(Diagnostic::at_token(&l.path, &l.text, 1, id, format!("check '{id}': {why}")));
        }
        for other in c.proven_by.iter().flat_map(|p| &p.also) {
            if other == id || !l.file.checks.contains_key(other) {
                d.push(Diagnostic::at_token(
                    &l.path,
                    &l.text,
                    1,
                    other,
                    format!("check '{id}': proven_by.also names '{other}', which is not another check of this file"),
                ));
            }
        }
    }
    for id in l.file.checks.keys() {
        if !used_checks.contains(id.as_str()) {
            d.push(Diagnostic::at_token(&l.path, &l.text, 1, id, format!("check '{id}' is declared but no step evaluates it")));
        }
    }
    d
}

/// A READING states its reading; nothing else has one.
fn reading_problem(keyword: Keyword, reading: Option<&str>) -> Option<&'static str> {
    match (keyword, reading.map(str::trim)) {
        (Keyword::READING, None | Some("")) => Some("a READING says how referee reads the rule: add `reading:`"),
        (Keyword::READING, _) | (_, None) => None,
        (_, Some(_)) => Some("`reading:` goes only with `keyword: READING`"),
    }
}

/// Where an expectation of a check may cite its own sentence: on the check's expectation and
/// in its `all_of` groups, not inside alternatives or conditions.
fn cite_problems(e: &Expect, top: bool, out: &mut Vec<String>) {
    if let Some(c) = &e.cite {
        if !top {
            out.push("`cite` goes on a check's expectation or an `all_of` group, not inside `any_of`, `unsupported_if`, `stop_if` or `declared`".into());
        }
        if let Some(why) = reading_problem(c.keyword, c.reading.as_deref()) {
            out.push(format!("cite: {why}"));
        }
    }
    for g in &e.all_of {
        cite_problems(g, top, out);
    }
    for a in &e.any_of {
        cite_problems(a, false, out);
    }
    if let Some(u) = &e.unsupported_if {
        cite_problems(&u.when, false, out);
    }
    if let Some(dv) = &e.declared {
        for v in dv.variants.values() {
            cite_problems(v, false, out);
        }
    }
}

/// Validates one step at `line` (steps inside a `parallel` block are shown at the block's line):
/// the action's own options (its family in `exec::steps` says what is wrong), `stop_if`, and
/// the names and checks it refers to.
fn validate_step<'a>(
    l: &'a Loaded,
    step: &'a Step,
    line: usize,
    nested: bool,
    defined: &mut HashSet<&'a str>,
    used_checks: &mut HashSet<&'a str>,
    d: &mut Vec<Diagnostic>,
) {
    let problems = crate::exec::steps::validate(&step.action);
    d.extend(problems.into_iter().map(|p| Diagnostic::at_token(&l.path, &l.text, line, &p.token, p.message)));
    if step.stop_if.is_some() && !step.checks.is_empty() {
        d.push(Diagnostic::at_token(
            &l.path,
            &l.text,
            line,
            "stop_if",
            "`stop_if` goes on a step without checks (a step whose checks are all filtered out is not sent, so its stop would not be seen)".into(),
        ));
    }
    if step.eventually {
        if !matches!(step.action, Action::Referrers(_) | Action::FallbackRead(_) | Action::GetManifest(_) | Action::ListOn(_) | Action::TagsList(_)) {
            d.push(Diagnostic::at_token(&l.path, &l.text, line, "eventually", format!("`eventually` reads again until the checks hold, so it goes only on a read (referrers, fallback_read, get_manifest, list_on, tags_list), not on {}", step.action.key())));
        } else if step.stop_if.is_some() {
            d.push(Diagnostic::at_token(&l.path, &l.text, line, "eventually", "`eventually` cannot go with `stop_if`".into()));
        }
    }
    if let Action::Parallel(p) = &step.action {
        validate_parallel(l, p, step.checks.keys().next(), line, nested, defined, used_checks, d);
    }
    if let Action::Together(t) = &step.action {
        validate_together(l, t, step.checks.keys().next(), line, nested, defined, used_checks, d);
    }
    validate_names(l, step, line, defined, d);
    let mut cites = vec![];
    for e in step.checks.values() {
        cite_problems(e, true, &mut cites);
    }
    if let Some(u) = &step.stop_if {
        cite_problems(&u.when, false, &mut cites);
    }
    d.extend(cites.into_iter().map(|m| Diagnostic::at_token(&l.path, &l.text, line, "cite", m)));
    for id in step.checks.keys() {
        used_checks.insert(id);
        if !l.file.checks.contains_key(id) {
            let help =
                crate::scenario::diag::suggest(id, l.file.checks.keys().map(String::as_str)).map(|s| format!("did you mean '{s}'?"));
            d.push(
                Diagnostic::at_token(&l.path, &l.text, line, id, format!("check '{id}' is not declared under `checks:`"))
                    .with_help(help),
            );
        }
    }
}

/// Every name a step uses is defined by an earlier step; what it defines is new.
fn validate_names<'a>(l: &'a Loaded, step: &'a Step, line: usize, defined: &mut HashSet<&'a str>, d: &mut Vec<Diagnostic>) {
    let undefined = |u: &str, defined: &HashSet<&str>, what: &str| {
        let help = crate::scenario::diag::suggest(u, defined.iter().copied()).map(|s| format!("did you mean '{s}'?"));
        Diagnostic::at_token(&l.path, &l.text, line, u, format!("'{u}' is not defined by {what}")).with_help(help)
    };
    // A layout's name (`layout_export: { as }`) is for `layout_import: { from }` only.
    let layouts: HashSet<&str> = l
        .file
        .steps
        .iter()
        .flat_map(|s| std::iter::once(s).chain(if let crate::scenario::Action::Together(t) = &s.action { t.steps.iter().collect() } else { vec![] }))
        .filter_map(|s| if let crate::scenario::Action::LayoutExport(x) = &s.action { Some(x.r#as.as_str()) } else { None })
        .collect();
    let import_from = if let crate::scenario::Action::LayoutImport(x) = &step.action { Some(x.from.as_str()) } else { None };
    for u in step.uses() {
        if !defined.contains(u) {
            d.push(undefined(u, defined, "an earlier step"));
        } else if layouts.contains(u) && import_from != Some(u) {
            d.push(Diagnostic::at_token(&l.path, &l.text, line, u, format!("'{u}' names a layout (layout_export), not a manifest")));
        } else if import_from == Some(u) && !layouts.contains(u) {
            d.push(Diagnostic::at_token(&l.path, &l.text, line, u, format!("'{u}' names a manifest, not a layout: `from` takes a layout_export's `as`")));
        }
    }
    if let Some((name, _)) = step.defines()
        && !defined.insert(name)
    {
        d.push(Diagnostic::at_token(&l.path, &l.text, line, name, format!("'{name}' is defined twice")));
    }
    // Expectations may name what this very step defines (`digest_of: <pushed name>`).
    for u in step.judged_names() {
        if !defined.contains(u) {
            d.push(undefined(u, defined, "this or an earlier step"));
        } else if layouts.contains(u) {
            d.push(Diagnostic::at_token(&l.path, &l.text, line, u, format!("'{u}' names a layout (layout_export), not a manifest")));
        }
    }
}

/// A `parallel` step: its own bounds (`exec::steps::parallel::validate`), then the steps inside,
/// whose names stay inside.
#[allow(clippy::too_many_arguments)]
fn validate_parallel<'a>(
    l: &'a Loaded,
    p: &'a Parallel,
    own_check: Option<&String>,
    line: usize,
    nested: bool,
    defined: &HashSet<&'a str>,
    used_checks: &mut HashSet<&'a str>,
    d: &mut Vec<Diagnostic>,
) {
    let problems = crate::exec::steps::parallel::validate(p, nested, own_check);
    d.extend(problems.into_iter().map(|p| Diagnostic::at_token(&l.path, &l.text, line, &p.token, p.message)));
    if nested {
        return;
    }
    // The clients' names: visible to their later steps and to `then`, not after the block.
    let mut inner = defined.clone();
    for s in &p.each {
        validate_step(l, s, line, true, &mut inner, used_checks, d);
    }
    if let Some(du) = &p.during {
        let mut beside = defined.clone();
        for s in &du.steps {
            validate_step(l, s, line, true, &mut beside, used_checks, d);
        }
    }
    for s in &p.then {
        validate_step(l, s, line, true, &mut inner, used_checks, d);
    }
}

/// A `together` step: its own bounds (`exec::steps::together::validate`), then each step inside
/// against the names defined before the block (none may use what another defines); the names
/// they define are seen after it.
#[allow(clippy::too_many_arguments)]
fn validate_together<'a>(
    l: &'a Loaded,
    t: &'a crate::scenario::Together,
    own_check: Option<&String>,
    line: usize,
    nested: bool,
    defined: &mut HashSet<&'a str>,
    used_checks: &mut HashSet<&'a str>,
    d: &mut Vec<Diagnostic>,
) {
    let problems = crate::exec::steps::together::validate(t, nested, own_check);
    d.extend(problems.into_iter().map(|p| Diagnostic::at_token(&l.path, &l.text, line, &p.token, p.message)));
    if nested {
        return;
    }
    let before = defined.clone();
    for s in &t.steps {
        let mut scope = before.clone();
        validate_step(l, s, line, true, &mut scope, used_checks, d);
        if let Some((name, _)) = s.defines()
            && !before.contains(name)
            && !defined.insert(name)
        {
            d.push(Diagnostic::at_token(&l.path, &l.text, line, name, format!("'{name}' is defined twice")));
        }
    }
}

/// Builds the plan. `filter` keeps checks whose id or area equals one of its entries (all when
/// empty); scenarios with no kept check are left out.
pub fn plan(loaded: &[Loaded], filter: &[String]) -> Result<Plan, Vec<Diagnostic>> {
    let mut diags = vec![];
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut scenarios = vec![];
    for l in loaded {
        diags.extend(validate(l));
        for id in l.file.checks.keys() {
            if let Some(prev) = seen.insert(id.clone(), l.path.clone()) {
                diags.push(Diagnostic::at_token(
                    &l.path,
                    &l.text,
                    1,
                    id,
                    format!("check '{id}' is also declared in {}", prev.display()),
                ));
            }
        }
        let mut checks: Vec<CheckInfo> = l
            .file
            .checks
            .iter()
            .map(|(id, c)| {
                let mut requires = l.file.requires.clone();
                requires.extend(c.requires.iter().copied());
                requires.sort();
                requires.dedup();
                CheckInfo {
                    id: id.clone(),
                    title: c.title.clone(),
                    area: area_of(id).to_string(),
                    section: c.section.clone(),
                    keyword: c.keyword,
                    rule: c.rule.clone(),
                    reading: c.reading.clone(),
                    since: c.since.clone(),
                    scenario: l.file.id.clone(),
                    requires,
                    skip_if_declared: c.skip_if_declared.clone(),
                    proven_by: c.proven_by.clone(),
                }
            })
            .collect();
        checks.sort_by_key(|c| id_key(&c.id));
        let keep = |c: &CheckInfo| filter.is_empty() || filter.iter().any(|f| f == &c.id || f == &c.area || f == &c.scenario);
        let disabled: HashSet<String> = checks.iter().filter(|c| !keep(c)).map(|c| c.id.clone()).collect();
        checks.retain(keep);
        if !checks.is_empty() {
            scenarios.push(PlannedScenario { id: l.file.id.clone(), path: l.path.clone(), file: l.file.clone(), checks, disabled });
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    scenarios.sort_by_key(|s| s.checks.first().map(|c| id_key(&c.id)));
    Ok(Plan { scenarios })
}

/// The check catalogue as Markdown: one table per area, each check with its keyword, title,
/// rule (and reading), scenario and the fault that proves it (`referee list --markdown`,
/// `docs/catalogue.md`).
pub fn catalogue_markdown(plan: &Plan) -> String {
    let mut out = String::from("# The check catalogue\n\nGenerated by `referee list --markdown` from `scenarios/` (do not edit; a test keeps it in sync).\n");
    let mut checks: Vec<&CheckInfo> = plan.checks().collect();
    checks.sort_by_key(|c| id_key(&c.id));
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut area = "";
    for c in checks {
        if c.area != area {
            area = &c.area;
            out.push_str(&format!("\n## {area}\n\n| id | keyword | check | rule | scenario | proven by |\n|---|---|---|---|---|---|\n"));
        }
        let reading = c.reading.as_deref().map(|r| format!(" — *referee's reading:* {}", cell(r))).unwrap_or_default();
        let proof = c.proven_by.as_ref().map(|p| format!("`{}`", p.fault)).unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {}{reading} | `{}` | {proof} |\n",
            c.id,
            c.keyword_str(),
            cell(&c.title),
            cell(&c.rule),
            c.scenario
        ));
    }
    out
}

impl CheckInfo {
    pub fn keyword_str(&self) -> &'static str {
        self.keyword.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(text: &str) -> Result<Loaded, Diagnostic> {
        let path = Path::new("t.yaml");
        crate::scenario::parse(path, text).map(|file| Loaded { path: path.into(), text: text.into(), file })
    }

    const HEAD: &str = "id: t\nchecks:\n  K6:\n    title: t\n    section: s\n    keyword: MUST\n    rule: r\n";

    #[test]
    fn skip_if_declared_names_a_key_and_values_a_profile_can_declare() {
        let good = format!("{HEAD}    skip_if_declared: {{ key: gc_trigger, values: [offline-cli, none], reason: r }}\nsteps:\n  - ping: {{}}\n    checks: {{ K6: {{ status: 200 }} }}\n");
        assert!(plan(&[load(&good).unwrap()], &[]).is_ok());
        let bad_value = good.replace("offline-cli", "offline_cli");
        let d = plan(&[load(&bad_value).unwrap()], &[]).unwrap_err();
        assert!(d.iter().any(|d| d.message.contains("'offline_cli' is not a value")), "{d:?}");
        let bad_key = good.replace("key: gc_trigger", "key: gc_triger");
        let d = plan(&[load(&bad_key).unwrap()], &[]).unwrap_err();
        assert!(d.iter().any(|d| d.message.contains("'gc_triger' is not a profile key")), "{d:?}");
    }

    /// The hooks a scenario calls, those in a `parallel` block's `each`, `during` and `then`
    /// included (what `referee run` checks `needs_env` for before sending anything).
    #[test]
    fn hooks_are_found_inside_parallel_blocks() {
        let text = format!(
            "{HEAD}steps:\n  - hook: {{ name: restart }}\n  - parallel:\n      clients: 2\n      each:\n        - ping: {{}}\n          checks: {{ K6: {{ status: 200 }} }}\n      during:\n        steps:\n          - hook: {{ name: gc }}\n      then:\n        - hook: {{ name: unlock_tag, tag: v1 }}\n"
        );
        let p = plan(&[load(&text).unwrap()], &[]).unwrap();
        assert_eq!(p.scenarios[0].hooks().into_iter().collect::<Vec<_>>(), [HookName::Gc, HookName::UnlockTag, HookName::Restart]);
        let p = plan(&[load(&format!("{HEAD}steps:\n  - ping: {{}}\n    checks: {{ K6: {{ status: 200 }} }}\n")).unwrap()], &[]).unwrap();
        assert!(p.scenarios[0].hooks().is_empty());
    }

    #[test]
    fn the_catalogue_page_is_generated_from_the_library() {
        let plan = plan(&crate::scenario::load_builtin().unwrap(), &[]).unwrap();
        let generated = catalogue_markdown(&plan);
        let page = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/catalogue.md")).unwrap_or_default();
        assert!(page == generated, "docs/catalogue.md is stale: run `cargo run -- list --markdown > docs/catalogue.md`");
        for c in plan.checks() {
            assert!(generated.contains(&format!("| {} | {} |", c.id, c.keyword_str())), "{}", c.id);
        }
    }

    /// A layout's name is for `layout_import: { from }` only, and `from` takes nothing else:
    /// both mistakes are found before anything is sent, at the name.
    #[test]
    fn layout_names_and_manifest_names_are_not_mixed() {
        let steps = |body: &str| format!("{HEAD}steps:\n  - push_image: {{ name: img }}\n  - layout_export: {{ of: img, as: lay }}\n{body}");
        let good = steps("  - layout_import: { from: lay, repo: other }\n    checks: { K6: { layout: { imported: true } } }\n");
        assert!(plan(&[load(&good).unwrap()], &[]).is_ok());
        let d = plan(&[load(&steps("  - referrers: { of: lay }\n    checks: { K6: { status: 200 } }\n")).unwrap()], &[]).unwrap_err();
        assert!(d.iter().any(|d| d.message == "'lay' names a layout (layout_export), not a manifest" && d.line == 11), "{d:?}");
        let d = plan(&[load(&steps("  - layout_import: { from: img }\n    checks: { K6: { layout: { imported: true } } }\n")).unwrap()], &[]).unwrap_err();
        assert!(d.iter().any(|d| d.message.contains("'img' names a manifest, not a layout")), "{d:?}");
        let judged = "  - layout_export: { of: img, as: two }\n    checks: { K6: { layout: { referrers: { of: lay, via: index, exactly: [] } } } }\n";
        let d = plan(&[load(&steps(judged)).unwrap()], &[]).unwrap_err();
        assert!(d.iter().any(|d| d.message.contains("'lay' names a layout")), "{d:?}");
    }

    #[test]
    fn hook_steps_cannot_set_referees_own_variables() {
        for var in ["REFEREE_PASSWORD", "REFEREE_TARGET", "PATH", "REFEREE_"] {
            let text = format!("{HEAD}steps:\n  - hook: {{ name: gc, env: {{ {var}: x }} }}\n  - ping: {{}}\n    checks: {{ K6: {{ status: 200 }} }}\n");
            assert!(load(&text).is_err(), "{var} accepted");
        }
        let ok = format!("{HEAD}steps:\n  - hook: {{ name: gc, env: {{ REFEREE_GC_KEEP_NEWEST: \"2\" }} }}\n  - ping: {{}}\n    checks: {{ K6: {{ status: 200 }} }}\n");
        assert!(load(&ok).is_ok());
    }
}
