//! proptest strategies for artifact graphs ([`Graph`]).
//!
//! Nodes are generated in order, each edge choosing among the nodes before it, so every graph is
//! a DAG and shrinking (fewer nodes, earlier choices) keeps it one. Wide fan-out is a parameter
//! of its own ([`GraphParams::fanout`]): a hub node gets that many referrers, since choosing a
//! subject uniformly almost never makes a wide one. The push order is a shuffle (referrers may
//! come before their subject) repaired so an index follows its children, cut into groups that
//! are pushed concurrently; a sequence of deletes follows.

use super::model::{Graph, Node, NodeKind};
use proptest::prelude::*;
use proptest::sample::Index;

/// The shape of the graphs a strategy makes.
#[derive(Debug, Clone)]
pub struct GraphParams {
    /// Nodes besides the hub's extra referrers.
    pub nodes: std::ops::RangeInclusive<usize>,
    /// Extra referrers of one hub node.
    pub fanout: std::ops::RangeInclusive<usize>,
    /// Largest group pushed at the same moment.
    pub max_group: usize,
    /// Largest annotation a node may carry.
    pub max_annotation: usize,
    /// Whether image indexes are generated (off for a registry whose profile declares it
    /// rejects them).
    pub indexes: bool,
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams { nodes: 1..=12, fanout: 0..=3, max_group: 12, max_annotation: 4096, indexes: true }
    }
}

/// Artifact types referrers take (some referrers have none).
const TYPES: [&str; 3] = ["application/vnd.referee.sig", "application/vnd.referee.sbom", "application/vnd.referee.attest"];

/// One generated node before its edges are resolved against the nodes before it.
#[derive(Debug, Clone)]
struct Draft {
    kind: u8,
    artifact_type: Option<usize>,
    subject: Option<Index>,
    children: Vec<Index>,
    sha512_subject: bool,
    annotation_bytes: usize,
    never_pushed: bool,
}

fn draft(max_annotation: usize, indexes: bool) -> impl Strategy<Value = Draft> {
    (
        0u8..if indexes { 3 } else { 2 },
        proptest::option::of(0usize..TYPES.len()),
        proptest::option::weighted(0.7, any::<Index>()),
        proptest::collection::vec(any::<Index>(), 1..4),
        proptest::bool::weighted(0.1),
        prop_oneof![8 => Just(0usize), 1 => 0..=max_annotation],
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(kind, artifact_type, subject, children, sha512_subject, annotation_bytes, never_pushed)| Draft {
            kind,
            artifact_type,
            subject,
            children,
            sha512_subject,
            annotation_bytes,
            never_pushed,
        })
}

/// Resolves drafts into nodes: node 0 is always an image; an edge picks among earlier nodes.
fn resolve(drafts: Vec<Draft>, hub: Index, fanout: usize) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::with_capacity(drafts.len() + fanout);
    for (i, d) in drafts.into_iter().enumerate() {
        if i == 0 {
            nodes.push(Node { kind: NodeKind::Image, subject: None, sha512_subject: false, annotation_bytes: d.annotation_bytes, never_pushed: d.never_pushed });
            continue;
        }
        let kind = match d.kind {
            0 => NodeKind::Image,
            1 => NodeKind::Artifact { artifact_type: d.artifact_type.map(|t| TYPES[t].to_string()) },
            _ => {
                let mut children: Vec<usize> = d.children.iter().map(|c| c.index(i)).collect();
                children.sort_unstable();
                children.dedup();
                NodeKind::Index { children }
            }
        };
        let subject = d.subject.map(|s| s.index(i));
        nodes.push(Node { kind, subject, sha512_subject: subject.is_some() && d.sha512_subject, annotation_bytes: d.annotation_bytes, never_pushed: d.never_pushed });
    }
    let hub = hub.index(nodes.len());
    for k in 0..fanout {
        nodes.push(Node {
            kind: NodeKind::Artifact { artifact_type: Some(TYPES[k % TYPES.len()].to_string()) },
            subject: Some(hub),
            sha512_subject: false,
            annotation_bytes: 0,
            never_pushed: false,
        });
    }
    // An index's children must be pushed for the index to be accepted: a node that is never
    // pushed is not anyone's child.
    // Nor is a node with a sha512 subject: a registry may refuse its push (sha512 is optional),
    // and then the index would name a manifest that is not there.
    let unpushed: Vec<bool> = nodes.iter().map(|n| n.never_pushed || n.sha512_subject).collect();
    for n in &mut nodes {
        if let NodeKind::Index { children } = &mut n.kind {
            children.retain(|&c| !unpushed[c]);
        }
    }
    nodes
}

/// Repairs a shuffled push order so every index comes after its children, then cuts it into
/// groups (sizes from `cuts`, at least 1); a group never holds an index with one of its children.
fn order(nodes: &[Node], shuffled: Vec<usize>, cuts: Vec<usize>) -> Vec<Vec<usize>> {
    let pushed: Vec<usize> = shuffled.into_iter().filter(|&i| i < nodes.len() && !nodes[i].never_pushed).collect();
    // Depth of a node in the "index over children" relation: children first.
    let mut level = vec![0usize; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        if let NodeKind::Index { children } = &n.kind {
            level[i] = children.iter().map(|&c| level[c] + 1).max().unwrap_or(0);
        }
    }
    let mut groups: Vec<Vec<usize>> = vec![];
    let mut cuts = cuts.into_iter().cycle();
    // Level by level (stable within a level, so the shuffle survives), each level cut into groups.
    let top = level.iter().copied().max().unwrap_or(0);
    for l in 0..=top {
        let at: Vec<usize> = pushed.iter().copied().filter(|&i| level[i] == l).collect();
        let mut rest = at.as_slice();
        while !rest.is_empty() {
            let size = cuts.next().unwrap_or(1).clamp(1, rest.len());
            groups.push(rest[..size].to_vec());
            rest = &rest[size..];
        }
    }
    groups
}

/// Artifact graphs shaped by `p`.
pub fn graph(p: GraphParams) -> impl Strategy<Value = Graph> {
    let max_group = p.max_group.max(1);
    (proptest::collection::vec(draft(p.max_annotation, p.indexes), p.nodes.clone()), any::<Index>(), p.fanout.clone())
        .prop_map(|(drafts, hub, fanout)| resolve(drafts, hub, fanout))
        .prop_flat_map(move |nodes| {
            let n = nodes.len();
            let shuffled = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
            let cuts = proptest::collection::vec(1..=max_group, 1..8);
            let deletes = proptest::sample::subsequence((0..n).collect::<Vec<usize>>(), 0..=n.min(4)).prop_shuffle();
            (Just(nodes), shuffled, cuts, deletes)
        })
        .prop_map(|(nodes, shuffled, cuts, deletes)| {
            let groups = order(&nodes, shuffled, cuts);
            let deletes = deletes.into_iter().filter(|&d| !nodes[d].never_pushed).collect();
            Graph { nodes, groups, deletes }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    proptest! {
        #![proptest_config(Config { cases: 128, failure_persistence: None, ..Config::default() })]
        #[test]
        fn every_generated_graph_is_well_formed(g in graph(GraphParams { fanout: 0..=40, ..GraphParams::default() })) {
            prop_assert!(g.well_formed().is_ok(), "{:?}: {:?}", g.well_formed(), g);
            let m = super::super::model::Model::new(&g, "wf");
            prop_assert_eq!(m.built.len(), g.nodes.len());
        }
    }

    /// The strategies reach what hand-written cases rarely do: fan-out of 100 and more, chains of
    /// referrers of referrers three deep, and eight or more pushes at the same moment.
    #[test]
    fn the_strategies_reach_wide_fanout_deep_chains_and_large_concurrent_groups() {
        let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let strategy = graph(GraphParams { nodes: 1..=16, fanout: 0..=150, max_group: 16, max_annotation: 1024, indexes: true });
        let (mut fanout, mut depth, mut group) = (0, 0, 0);
        for _ in 0..300 {
            let g = strategy.new_tree(&mut runner).expect("a graph").current();
            fanout = fanout.max(g.max_fanout());
            depth = depth.max(g.max_depth());
            group = group.max(g.max_group());
        }
        assert!(fanout >= 100, "widest fan-out reached: {fanout}");
        assert!(depth >= 3, "deepest referrer chain reached: {depth}");
        assert!(group >= 8, "largest concurrent group reached: {group}");
        eprintln!("reached: fan-out {fanout}, depth {depth}, concurrent group {group}");
    }
}
