//! A generated graph as a normal scenario file: what `referee graph` runs for each case, and
//! what it writes when a case fails (after shrinking), so `referee run --scenarios <file>`
//! replays it. The expectations are `manifests: { model: true }`: the executor asks the same
//! model code (`model::listed_referrers`) what each listing holds, from what the scenario
//! pushed and deleted.
//!
//! Every node is built first (`build_only`, in node order, so subjects and children exist),
//! then pushed in the graph's order, a group of several as one `together` block; in fallback
//! mode each referrer is then added to its subject's referrers tag by the spec's client steps.
//! Every subject is listed; after the deletes, the subjects whose chain lost nothing are listed
//! again (what happens to the referrers of a deleted subject is left open by the spec).

use super::model::{Graph, NodeKind};
use std::collections::BTreeSet;
use std::fmt::Write;

/// How the registry is asked for referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The referrers API (`GET /v2/<name>/referrers/<digest>`).
    Api,
    /// The referrers tag schema, as a client without the API maintains it.
    Fallback,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Api => "api",
            Mode::Fallback => "fallback",
        }
    }
}

const PUSH_RULE: &str = "A registry MUST initially accept an otherwise valid manifest with a `subject` field that references a manifest that does not exist in the repository, allowing clients to push a manifest and referrers to that manifest in either order. … [\\\"Pushing Manifests\\\"] Upon a successful upload, the registry MUST return response code `201 Created`";
const LIST_RULE: &str = "After the referrers API is enabled, Registries MUST include all newly pushed image manifests with a valid `subject` field in the referrers API response. [\\\"Listing Referrers\\\"] Assuming a repository is found, this request MUST return a `200 OK` response code. … Upon success, the response MUST be a JSON body with an image index containing a list of descriptors. … Each descriptor is of an image manifest or index in the same `<name>` namespace with a `subject` field that specifies the value of `<digest>`. The descriptors MUST include an `artifactType` field that is set to the value of the `artifactType` in the image manifest or index, if present. If the `artifactType` is empty or missing in the image manifest, the value of `artifactType` MUST be set to the config descriptor `mediaType` value. The descriptors MUST include annotations from the image manifest or index.";
const TAG_RULE: &str = "[what the registry answers the client's steps] Upon a successful upload, the registry MUST return response code `201 Created` … A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be `200 OK`. (The client: \\\"A client querying the referrers API and receiving a `404 Not Found` MUST fallback to using an image index pushed to a tag described by the referrers tag schema\\\" — which works only if the tag holds the index last pushed to it)";

/// The checks a generated scenario may use, by mode (a run reports each of them, Skipped when
/// no case needed it).
pub fn check_ids(mode: Mode) -> &'static [&'static str] {
    match mode {
        Mode::Api => &["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
        Mode::Fallback => &["P1", "P2", "P4", "P6"],
    }
}

const FILTER_RULE: &str = "The registry SHOULD support filtering on `artifactType`. … If filtering is requested and applied, the response MUST include a header `OCI-Filters-Applied: artifactType` denoting that an `artifactType` filter was applied.";

/// A check's YAML under `checks:` (only those a scenario uses are written).
fn check(id: &str, mode: Mode) -> String {
    let api = mode == Mode::Api;
    let list_rule = if api { LIST_RULE } else { TAG_RULE };
    let (title, section, keyword, rule, reading): (&str, &str, &str, String, Option<&str>) = match id {
        "P1" if api => (
            "Every referrer pushed is accepted and listed under its subject, with its descriptor, and nothing else is",
            "distribution-spec \\\"Push\\\"; \\\"Enabling the Referrers API\\\"; \\\"Listing Referrers\\\"",
            "MUST",
            format!("{PUSH_RULE} … {LIST_RULE}"),
            None,
        ),
        "P1" => (
            "Every manifest pushed is accepted, and each subject's referrers tag holds exactly what the client wrote",
            "distribution-spec \\\"Push\\\"; \\\"Unavailable Referrers API\\\"; \\\"Referrers Tag Schema\\\"",
            "MUST",
            format!("{PUSH_RULE} … {TAG_RULE}"),
            None,
        ),
        "P2" if api => (
            "A referrer naming its subject by sha512 is accepted and listed under the sha512 digest",
            "distribution-spec \\\"Push\\\"; \\\"Listing Referrers\\\"; image-spec descriptor \\\"Digests\\\"",
            "MUST",
            format!("{PUSH_RULE} … {LIST_RULE} (sha512 itself is optional — \\\"Implementations MAY implement SHA-512 digest verification\\\" — so a rejected push is Skipped)"),
            None,
        ),
        "P2" => (
            "A referrer naming its subject by sha512 is accepted and its sha512-<hex> referrers tag holds it",
            "distribution-spec \\\"Push\\\"; \\\"Referrers Tag Schema\\\"; image-spec descriptor \\\"Digests\\\"",
            "MUST",
            format!("{PUSH_RULE} … {TAG_RULE} (sha512 itself is optional — \\\"Implementations MAY implement SHA-512 digest verification\\\" — so a rejected push is Skipped)"),
            None,
        ),
        "P3" => (
            "A filter the registry announces holds exactly the referrers of that artifactType",
            "distribution-spec \\\"Listing Referrers\\\"",
            "READING",
            FILTER_RULE.to_string(),
            Some("what an applied filter returns is shown by the spec's example, not said in a sentence: referee reads it as exactly the referrers whose artifactType equals the value asked for (filtering at all is a SHOULD: an answer without the header is judged as the whole list, which P7 checks)"),
        ),
        "P4" => (
            "After deletes, the list no longer names what was deleted and still names the rest",
            if api { "distribution-spec \\\"Deleting Manifests\\\"; \\\"Listing Referrers\\\"" } else { "distribution-spec \\\"Deleting Manifests\\\"; \\\"Referrers Tag Schema\\\"" },
            "READING",
            format!(
                "Upon success, the registry MUST respond with a `202 Accepted` code. … If manifest deletion is disabled, the registry MUST respond with either a `400 Bad Request` or a `405 Method Not Allowed`. Once deleted, a `GET` to `/v2/<name>/manifests/<digest>` and any tag pointing to that digest will return a 404. … {list_rule}"
            ),
            Some(if api {
                "the spec calls the 202 success and says a deleted manifest will return 404 (no MUST, no time): referee reads the 202 as the deletion done, so right after it the manifest answers 404 and the list no longer names it. Subjects whose chain lost a manifest are not asked about (what happens to the referrers of a deleted subject is left open, distribution-spec#378); a child of an index is never deleted (a registry may refuse)"
            } else {
                "the client removes a referrer from its subject's referrers tag, then deletes it: referee reads the 202 as the deletion done, so right after it the manifest answers 404 and the tag no longer names it. Subjects whose chain lost a manifest are not asked about; a child of an index is never deleted (a registry may refuse)"
            }),
        ),
        "P5" => (
            "The referrers of a subject that was never pushed are listed",
            "distribution-spec \\\"Push\\\"; \\\"Enabling the Referrers API\\\"",
            "READING",
            format!("{PUSH_RULE} … {LIST_RULE}"),
            Some("a referrer whose subject never arrives still has a valid `subject` field, so the listing of that digest names it"),
        ),
        "P6" => (
            "The reverse walk finds exactly the manifests that point at a node",
            if api { "distribution-spec \\\"Listing Referrers\\\"; \\\"Listing Tags\\\"; \\\"Pulling manifests\\\"" } else { "distribution-spec \\\"Referrers Tag Schema\\\"; \\\"Listing Tags\\\"; \\\"Pulling manifests\\\"" },
            "READING",
            format!("{list_rule} … A GET request to an existing manifest URL MUST provide the expected manifest, with a response code that MUST be `200 OK`."),
            Some("referee's walk: every manifest reachable from the repository's tags through index children and referrers (the API, or the referrers tags in fallback mode) is found, and those whose subject, children, config or layers name the node are exactly those the model has pointing at it"),
        ),
        "P7" => (
            "A filter is announced, or the whole list is returned",
            "distribution-spec \\\"Listing Referrers\\\"",
            "MUST",
            format!("{FILTER_RULE} (a registry that does not filter answers without the header, with the whole list)"),
            None,
        ),
        other => unreachable!("no generated check {other}"),
    };
    let mut out = format!("  {id}:\n    title: \"{title}\"\n    section: \"{section}\"\n    keyword: {keyword}\n    rule: \"{rule}\"\n");
    if let Some(r) = reading {
        let _ = writeln!(out, "    reading: \"{r}\"");
    }
    if api {
        out.push_str("    requires: [referrers-api]\n");
    }
    out
}

/// What a report says about check `id` of `mode` when no case ran it: its metadata, read the
/// way any scenario's checks are.
pub fn check_info(id: &str, mode: Mode, seed: u64) -> Option<crate::plan::CheckInfo> {
    let text = format!("id: graph/{seed}\ntitle: generated graphs\nchecks:\n{}steps:\n  - ping: {{}}\n    checks: {{ {id}: {{ status: 200 }} }}\n", check(id, mode));
    let path = std::path::PathBuf::from(format!("graph-{seed}.yaml"));
    let file = crate::scenario::parse(&path, &text).ok()?;
    let plan = crate::plan::plan(&[crate::scenario::Loaded { path, text, file }], &[]).ok()?;
    plan.scenarios.into_iter().next()?.checks.into_iter().next()
}

fn name(i: usize) -> String {
    format!("n{i}")
}

/// Whether node `i` or a node on its subject chain is in `gone`.
fn chain_lost(g: &Graph, i: usize, gone: &BTreeSet<usize>) -> bool {
    let mut at = Some(i);
    // Bounded: subjects are earlier nodes.
    for _ in 0..=g.nodes.len() {
        match at {
            Some(n) if gone.contains(&n) => return true,
            Some(n) => at = g.nodes[n].subject,
            None => return false,
        }
    }
    false
}

/// The deletes a case may make: not a child of an index still present (a registry may refuse
/// to delete what an index references), and not a node never pushed.
pub fn allowed_deletes(g: &Graph) -> Vec<usize> {
    let pushed: BTreeSet<usize> = g.groups.iter().flatten().copied().collect();
    let mut gone = BTreeSet::new();
    let mut out = vec![];
    for &d in &g.deletes {
        if !pushed.contains(&d) || gone.contains(&d) {
            continue;
        }
        let referenced = g.nodes.iter().enumerate().any(|(i, n)| {
            pushed.contains(&i) && !gone.contains(&i) && matches!(&n.kind, NodeKind::Index { children } if children.contains(&d))
        });
        if !referenced {
            gone.insert(d);
            out.push(d);
        }
    }
    out
}

/// Writes `g` as a scenario file. `id` names it (`graph/<id>`); `comment` heads the file.
pub fn to_scenario(g: &Graph, mode: Mode, id: &str, comment: &str) -> String {
    let pushed: BTreeSet<usize> = g.groups.iter().flatten().copied().collect();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut steps = String::new();
    // 1. Build every node, in node order.
    for (i, n) in g.nodes.iter().enumerate() {
        let subj = n.subject.map(|s| format!(", subject: {}{}", name(s), if n.sha512_subject { ", subject_alg: sha512" } else { "" })).unwrap_or_default();
        let line = match &n.kind {
            NodeKind::Image if n.subject.is_none() => format!("push_image: {{ name: {}, build_only: true }}", name(i)),
            // An image with a subject: an image config, no artifactType (so the list derives it
            // from the config's mediaType).
            NodeKind::Image | NodeKind::Artifact { .. } => {
                let at = match &n.kind {
                    NodeKind::Artifact { artifact_type: Some(t) } => format!(", artifact_type: {t}"),
                    NodeKind::Image => format!(", config_media_type: {}", crate::oci::media::IMAGE_CONFIG),
                    // No artifactType: a config of its own type (an empty config would need one:
                    // image-spec "artifactType MUST be set when config.mediaType is set to the
                    // empty value"), which the list then names as the artifactType.
                    _ => ", config_media_type: application/vnd.referee.graph.config.v1+json".to_string(),
                };
                let pad = if n.annotation_bytes > 0 { format!(", annotation_bytes: {}", n.annotation_bytes) } else { String::new() };
                format!("push_artifact: {{ name: {}{subj}{at}{pad}, annotations: {{ dev.referee.graph.node: {} }}, build_only: true }}", name(i), name(i))
            }
            NodeKind::Index { children } => {
                let kids: Vec<String> = children.iter().map(|c| name(*c)).collect();
                format!(
                    "push_index: {{ name: {}, manifests: [{}]{subj}, annotations: {{ dev.referee.graph.node: {} }}, build_only: true }}",
                    name(i),
                    kids.join(", "),
                    name(i)
                )
            }
        };
        let _ = writeln!(steps, "  - {line}");
    }
    // 2. Push, group by group.
    let push_check = |i: usize, used: &mut BTreeSet<&str>| -> String {
        let n = &g.nodes[i];
        if n.sha512_subject {
            used.insert("P2");
            "P2: { status: 201, unsupported_if: { reason: \"the registry rejects sha512 subject digests (image-spec: sha512 support is optional)\", when: { status: 400 } } }".to_string()
        } else {
            used.insert("P1");
            "P1: { status: 201 }".to_string()
        }
    };
    let push_line = |i: usize| -> String {
        let n = &g.nodes[i];
        if n.subject.is_none() { format!("push: {{ name: {}, by: tag, tag: {} }}", name(i), name(i)) } else { format!("push: {{ name: {} }}", name(i)) }
    };
    for group in &g.groups {
        if group.len() == 1 {
            let i = group[0];
            let _ = writeln!(steps, "  - {}\n    checks: {{ {} }}", push_line(i), push_check(i, &mut used));
        } else {
            let _ = writeln!(steps, "  - together:\n      steps:");
            for &i in group {
                let _ = writeln!(steps, "        - {}\n          checks: {{ {} }}", push_line(i), push_check(i, &mut used));
            }
        }
        if mode == Mode::Fallback {
            for &i in group.iter().filter(|i| g.nodes[**i].subject.is_some()) {
                let id = if g.nodes[i].sha512_subject { "P2" } else { "P1" };
                let _ = writeln!(steps, "  - fallback_add: {{ referrer: {}, client: spec }}\n    checks: {{ {id}: {{ status: 201 }} }}", name(i));
            }
        }
    }
    // 3. The reverse walk of the node most pointed at (as subject or index child).
    let pointed = |t: usize| {
        g.nodes.iter().enumerate().filter(|(i, n)| pushed.contains(i) && (n.subject == Some(t) && !n.sha512_subject || matches!(&n.kind, NodeKind::Index { children } if children.contains(&t)))).count()
    };
    if let Some(t) = (0..g.nodes.len()).filter(|t| pushed.contains(t)).max_by_key(|t| (pointed(*t), std::cmp::Reverse(*t))).filter(|t| pointed(*t) > 0) {
        used.insert("P6");
        let fb = if mode == Mode::Fallback { ", fallback: true" } else { "" };
        let _ = writeln!(steps, "  - reverse: {{ of: {}{fb} }}\n    checks: {{ P6: {{ walk_model: true }} }}", name(t));
    }
    // 4. List every subject.
    let subjects: BTreeSet<(usize, bool)> = g.nodes.iter().filter_map(|n| n.subject.map(|s| (s, n.sha512_subject))).collect();
    let model = |id: &str| format!("{id}: {{ status: 200, manifests: {{ model: true }} }}");
    let list_with = |s: usize, sha512: bool, filter: Option<&str>, checks: &str| -> String {
        let alg = if sha512 { ", alg: sha512" } else { "" };
        match mode {
            Mode::Api => {
                let f = filter.map(|t| format!(", artifact_type: {t}")).unwrap_or_default();
                format!("  - referrers: {{ of: {}{alg}{f}, pages: all }}\n    eventually: true\n    checks: {{ {checks} }}\n", name(s))
            }
            Mode::Fallback => format!("  - fallback_read: {{ of: {}{alg} }}\n    eventually: true\n    checks: {{ {checks} }}\n", name(s)),
        }
    };
    let list = |s: usize, sha512: bool, filter: Option<&str>, id: &str| {
        let checks = if sha512 {
            format!("{id}: {{ status: 200, manifests: {{ model: true }}, unsupported_if: {{ reason: \"the registry does not answer for sha512 digests (sha512 support is optional)\", when: {{ status: 400 }} }} }}")
        } else {
            model(id)
        };
        list_with(s, sha512, filter, &checks)
    };
    for &(s, sha512) in &subjects {
        // A subject no referrer of this kind was pushed to is not asked about (nothing to list,
        // and a fallback tag that was never written is a 404).
        let any = g.nodes.iter().enumerate().any(|(i, n)| n.subject == Some(s) && n.sha512_subject == sha512 && pushed.contains(&i));
        if !any {
            continue;
        }
        let id = if sha512 {
            "P2"
        } else if mode == Mode::Api && !pushed.contains(&s) {
            "P5"
        } else {
            "P1"
        };
        used.insert(id);
        steps.push_str(&list(s, sha512, None, id));
        if mode == Mode::Api && !sha512 {
            let first_type = g.nodes.iter().enumerate().find_map(|(i, n)| match &n.kind {
                NodeKind::Artifact { artifact_type: Some(t) } if n.subject == Some(s) && !n.sha512_subject && pushed.contains(&i) => Some(t.clone()),
                _ => None,
            });
            if let Some(t) = first_type {
                used.insert("P3");
                used.insert("P7");
                // P7: no silent filtering — the header, or the whole list.
                let p7 = "P7: { status: 200, any_of: [ { header_contains: { OCI-Filters-Applied: artifactType } }, { manifests: { model: true } } ] }";
                steps.push_str(&list_with(s, false, Some(&t), &format!("{}, {p7}", model("P3"))));
            }
        }
    }
    // 5. Delete, then list again what the deletes may not have touched.
    let deletes = allowed_deletes(g);
    if !deletes.is_empty() {
        used.insert("P4");
        for &d in &deletes {
            if mode == Mode::Fallback && g.nodes[d].subject.is_some() {
                let _ = writeln!(steps, "  - fallback_remove: {{ referrer: {}, client: spec }}\n    checks: {{ P4: {{ status: [201, 202] }} }}", name(d));
            }
            let _ = writeln!(
                steps,
                "  - delete_manifest: {{ of: {}, then: head }}\n    checks:\n      P4:\n        status: 202\n        then_status: 404\n        unsupported_if: {{ reason: \"manifest deletion is disabled on this registry (400/405 are allowed)\", when: {{ status: [400, 405] }} }}",
                name(d)
            );
        }
        let gone: BTreeSet<usize> = deletes.iter().copied().collect();
        for &(s, sha512) in &subjects {
            if chain_lost(g, s, &gone) {
                continue;
            }
            let had = g.nodes.iter().enumerate().any(|(i, n)| n.subject == Some(s) && n.sha512_subject == sha512 && pushed.contains(&i));
            let lost_one = g.nodes.iter().enumerate().any(|(i, n)| n.subject == Some(s) && n.sha512_subject == sha512 && gone.contains(&i));
            if !had || !lost_one {
                continue;
            }
            if mode == Mode::Fallback && !g.nodes.iter().enumerate().any(|(i, n)| n.subject == Some(s) && n.sha512_subject == sha512 && pushed.contains(&i) && !gone.contains(&i)) {
                // The spec client leaves an empty index or deletes the tag: either is "nothing".
                let alg = if sha512 { ", alg: sha512" } else { "" };
                let _ = writeln!(
                    steps,
                    "  - fallback_read: {{ of: {}{alg} }}\n    checks:\n      P4:\n        any_of:\n          - {{ status: 404 }}\n          - {{ status: 200, manifests: {{ empty: true }} }}",
                    name(s)
                );
                continue;
            }
            steps.push_str(&list(s, sha512, None, "P4"));
        }
    }
    let requires_api = mode == Mode::Api;
    let mut out = String::new();
    for line in comment.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "id: graph/{id}");
    let _ = writeln!(out, "title: \"A generated artifact graph ({} nodes, {} mode), checked against the model\"", g.nodes.len(), mode.name());
    if requires_api {
        let _ = writeln!(out, "requires: [referrers-api]");
    }
    out.push_str("checks:\n");
    for id in &used {
        out.push_str(&check(id, mode));
    }
    out.push_str("steps:\n");
    out.push_str(&steps);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::Node;

    fn node(kind: NodeKind, subject: Option<usize>) -> Node {
        Node { kind, subject, sha512_subject: false, annotation_bytes: 0, never_pushed: false }
    }

    /// Every generated scenario parses and plans (names defined before use, checks declared
    /// and used), in both modes, whatever the graph.
    #[test]
    fn generated_scenarios_are_valid_scenario_files() {
        use crate::graph::strategy::{GraphParams, graph};
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
        let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let strategy = graph(GraphParams { fanout: 0..=5, ..GraphParams::default() });
        for k in 0..150 {
            let g = strategy.new_tree(&mut runner).unwrap().current();
            for mode in [Mode::Api, Mode::Fallback] {
                let text = to_scenario(&g, mode, &format!("t-{k}"), "test");
                let path = std::path::PathBuf::from(format!("graph-{k}.yaml"));
                let file = crate::scenario::parse(&path, &text).unwrap_or_else(|d| panic!("{text}\n{d}"));
                let loaded = crate::scenario::Loaded { path, text: text.clone(), file };
                crate::plan::plan(&[loaded], &[]).unwrap_or_else(|d| panic!("{text}\n{}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")));
            }
        }
    }

    #[test]
    fn concurrent_groups_become_together_blocks_and_deletes_keep_index_children() {
        let g = Graph {
            nodes: vec![
                node(NodeKind::Image, None),
                node(NodeKind::Artifact { artifact_type: Some("application/a".into()) }, Some(0)),
                node(NodeKind::Artifact { artifact_type: Some("application/b".into()) }, Some(0)),
                node(NodeKind::Index { children: vec![0] }, None),
            ],
            groups: vec![vec![0, 1, 2], vec![3]],
            deletes: vec![0, 1],
        };
        assert_eq!(allowed_deletes(&g), vec![1], "node 0 is the index's child");
        let text = to_scenario(&g, Mode::Api, "x", "c");
        assert!(text.contains("  - together:\n      steps:\n        - push: { name: n0, by: tag, tag: n0 }"), "{text}");
        assert!(text.contains("delete_manifest: { of: n1, then: head }") && !text.contains("delete_manifest: { of: n0"), "{text}");
        assert!(text.contains("referrers: { of: n0, artifact_type: application/a, pages: all }"), "{text}");
        assert!(text.contains("P7: { status: 200, any_of:"), "{text}");
    }
}
