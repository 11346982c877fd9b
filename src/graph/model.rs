//! Artifact graphs and the model of what a registry must answer for them.
//!
//! A [`Graph`] is a flat list of nodes whose edges (a `subject`, an index's children) point
//! only at earlier nodes: a DAG by construction, which shrinks well. [`Model`] builds every node
//! into the exact bytes that would be pushed (`oci::build`) and says, for the nodes pushed and
//! not deleted, what the registry must list: the referrers of each subject (with and without an
//! `artifactType` filter), the fallback index of a registry without the API, and the reverse
//! edges (which manifests point at a blob, which indexes and referrers at a manifest).

use crate::oci::{Algorithm, Built, Descriptor, Digest, IndexBuilder, ManifestBuilder};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The one rule of what a referrers list holds, shared by generated graphs ([`Model`]) and
/// scenarios (`manifests: { model: true }`): among the manifests present in the repository,
/// those whose `subject` names `subject` (by that exact digest, so a sha512 subject is listed
/// only under its sha512 digest), matching `artifact_type` when a filter applies (the
/// artifactType a list carries: the manifest's own, else its config's mediaType), in digest
/// order (the spec fixes no order).
pub fn listed_referrers<'a, K>(
    present: impl IntoIterator<Item = (K, &'a Built)>,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Vec<(K, &'a Built)> {
    let mut out: Vec<(K, &Built)> = present
        .into_iter()
        .filter(|(_, b)| b.subject.as_ref().is_some_and(|s| &s.digest == subject))
        .filter(|(_, b)| artifact_type.is_none_or(|at| b.listed_artifact_type().as_deref() == Some(at)))
        .collect();
    out.sort_by(|a, b| a.1.digest.as_str().cmp(b.1.digest.as_str()));
    out
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// An image manifest with a config and one layer.
    Image,
    /// An artifact manifest: empty config, one layer, `artifactType` when given.
    Artifact { artifact_type: Option<String> },
    /// An image index over earlier nodes (`children`, all earlier than the index).
    Index { children: Vec<usize> },
}

/// One node: what it is, what it refers to, how it is pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub kind: NodeKind,
    /// The node this one is a referrer of (always an earlier node).
    pub subject: Option<usize>,
    /// The subject is named by its sha512 digest instead of sha256.
    pub sha512_subject: bool,
    /// Bytes of annotation (a large manifest).
    pub annotation_bytes: usize,
    /// Never pushed (a subject a referrer names that the registry never saw).
    pub never_pushed: bool,
}

/// A generated case: nodes, the order they are pushed in (groups pushed concurrently, one
/// group after another), and the nodes deleted afterwards (in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub groups: Vec<Vec<usize>>,
    pub deletes: Vec<usize>,
}

impl Graph {
    /// Whether every edge points at an earlier node and every index follows its children in
    /// the push order: what the strategies promise.
    pub fn well_formed(&self) -> Result<(), String> {
        let mut position = BTreeMap::new();
        for (g, group) in self.groups.iter().enumerate() {
            for &n in group {
                if n >= self.nodes.len() || position.insert(n, g).is_some() {
                    return Err(format!("node {n} is pushed twice or does not exist"));
                }
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.subject.is_some_and(|s| s >= i) {
                return Err(format!("node {i}'s subject is not an earlier node"));
            }
            if let NodeKind::Index { children } = &node.kind {
                for &c in children {
                    if c >= i {
                        return Err(format!("index {i} has a child {c} that is not earlier"));
                    }
                    match (position.get(&i), position.get(&c)) {
                        (Some(pi), Some(pc)) if pc >= pi => {
                            return Err(format!("index {i} is pushed before (or with) its child {c}"));
                        }
                        (Some(_), None) => return Err(format!("index {i} is pushed but its child {c} is not")),
                        _ => {}
                    }
                }
            }
            if node.never_pushed == position.contains_key(&i) {
                return Err(format!("node {i}: never_pushed disagrees with the push order"));
            }
        }
        Ok(())
    }

    /// The graph without node `k`: its referrers lose their subject, indexes lose it as a child,
    /// later nodes move down by one. Still well formed when `self` is.
    pub fn without(&self, k: usize) -> Graph {
        let at = |i: usize| if i > k { i - 1 } else { i };
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != k)
            .map(|(_, n)| {
                let mut n = n.clone();
                if n.subject == Some(k) {
                    n.subject = None;
                    n.sha512_subject = false;
                }
                n.subject = n.subject.map(at);
                if let NodeKind::Index { children } = &mut n.kind {
                    children.retain(|&c| c != k);
                    children.iter_mut().for_each(|c| *c = at(*c));
                }
                n
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|g| g.iter().copied().filter(|&i| i != k).map(at).collect::<Vec<_>>())
            .filter(|g| !g.is_empty())
            .collect();
        let deletes = self.deletes.iter().copied().filter(|&i| i != k).map(at).collect();
        Graph { nodes, groups, deletes }
    }

    /// Simpler graphs than this one, most reducing first: each node removed (last first), each
    /// delete dropped, each concurrent group pushed one by one, a sha512 subject named by
    /// sha256, a large annotation dropped. What a greedy shrink tries after proptest's own.
    pub fn simpler(&self) -> Vec<Graph> {
        let mut out: Vec<Graph> = (0..self.nodes.len()).rev().map(|k| self.without(k)).collect();
        for d in 0..self.deletes.len() {
            let mut g = self.clone();
            g.deletes.remove(d);
            out.push(g);
        }
        for (gi, group) in self.groups.iter().enumerate().filter(|(_, g)| g.len() > 1) {
            let mut g = self.clone();
            let split: Vec<Vec<usize>> = group.iter().map(|&i| vec![i]).collect();
            g.groups.splice(gi..=gi, split);
            out.push(g);
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.sha512_subject {
                let mut g = self.clone();
                g.nodes[i].sha512_subject = false;
                out.push(g);
            }
            // Only an artifact (or an image with a subject) carries the annotation in a scenario.
            let padded = matches!(n.kind, NodeKind::Artifact { .. }) || (n.kind == NodeKind::Image && n.subject.is_some());
            if n.annotation_bytes > 0 && padded {
                let mut g = self.clone();
                g.nodes[i].annotation_bytes = 0;
                out.push(g);
            }
        }
        out.retain(|g| g.well_formed().is_ok() && !g.nodes.is_empty());
        out
    }

    /// The most referrers any one node has.
    pub fn max_fanout(&self) -> usize {
        let mut count = BTreeMap::new();
        for n in &self.nodes {
            if let Some(s) = n.subject {
                *count.entry(s).or_insert(0) += 1;
            }
        }
        count.values().copied().max().unwrap_or(0)
    }

    /// The longest referrer-of-referrer chain (a referrer of an image is depth 1).
    pub fn max_depth(&self) -> usize {
        let mut depth = vec![0usize; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(s) = n.subject {
                depth[i] = depth[s] + 1;
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }

    /// The largest group of pushes sent at the same moment.
    pub fn max_group(&self) -> usize {
        self.groups.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// The exact manifests of a graph and what a registry must answer about them.
#[derive(Debug, Clone)]
pub struct Model {
    /// Node `i`'s bytes (built in node order, so every subject and child is built first).
    pub built: Vec<Built>,
    pushed: BTreeSet<usize>,
    graph: Graph,
}

impl Model {
    /// Builds every node of `graph`; `seed` makes the bytes unique to a case.
    pub fn new(graph: &Graph, seed: &str) -> Model {
        let mut built: Vec<Built> = Vec::with_capacity(graph.nodes.len());
        for (i, node) in graph.nodes.iter().enumerate() {
            let tag = format!("{seed}-{i}");
            let subject = node.subject.map(|s| {
                let b: &Built = &built[s];
                if node.sha512_subject { b.descriptor_with(Algorithm::Sha512) } else { b.descriptor() }
            });
            let b = match &node.kind {
                NodeKind::Image | NodeKind::Artifact { .. } => {
                    let mut m = match &node.kind {
                        NodeKind::Artifact { artifact_type } => {
                            ManifestBuilder::artifact(&tag, artifact_type.as_deref().unwrap_or("")).artifact_type(artifact_type.clone())
                        }
                        _ => ManifestBuilder::image(&tag),
                    };
                    if node.annotation_bytes > 0 {
                        m = m.annotation("dev.referee.graph.padding", &"x".repeat(node.annotation_bytes));
                    }
                    if let Some(d) = subject {
                        m = m.subject(d);
                    }
                    m.build()
                }
                NodeKind::Index { children } => {
                    let mut ix = IndexBuilder::new().annotation("dev.referee.graph.node", &tag);
                    for &c in children {
                        ix = ix.manifest(built[c].descriptor());
                    }
                    if let Some(d) = subject {
                        ix = ix.subject(d);
                    }
                    ix.build()
                }
            };
            built.push(b);
        }
        let mut pushed: BTreeSet<usize> = graph.groups.iter().flatten().copied().collect();
        for d in &graph.deletes {
            pushed.remove(d);
        }
        Model { built, pushed, graph: graph.clone() }
    }

    /// Whether node `i` is in the registry at the end (pushed and not deleted).
    pub fn present(&self, i: usize) -> bool {
        self.pushed.contains(&i)
    }

    /// The digest a referrers request for node `subject` asks about: sha512 when its referrers
    /// name it so (only those referrers are listed under that digest).
    fn subject_digest(&self, subject: usize, sha512: bool) -> Digest {
        let b = &self.built[subject];
        if sha512 { Digest::of(Algorithm::Sha512, &b.bytes) } else { b.digest.clone() }
    }

    /// What the referrers API must list for `subject` (named by sha256, or sha512), optionally
    /// filtered by `artifact_type`: every present referrer, as its descriptor (digest,
    /// mediaType, size, artifactType, annotations), in digest order (the spec fixes no order).
    pub fn referrers(&self, subject: usize, sha512: bool, artifact_type: Option<&str>) -> Vec<Descriptor> {
        let digest = self.subject_digest(subject, sha512);
        let present = (0..self.built.len()).filter(|i| self.present(*i)).map(|i| (i, &self.built[i]));
        listed_referrers(present, &digest, artifact_type).into_iter().map(|(_, b)| b.referrer_descriptor()).collect()
    }

    /// The subjects a case asks about: every node some present referrer names, with the digest
    /// algorithm it is named by.
    pub fn subjects(&self) -> Vec<(usize, bool, Digest)> {
        let set: BTreeSet<(usize, bool)> = self
            .graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.present(*i))
            .filter_map(|(_, n)| n.subject.map(|s| (s, n.sha512_subject)))
            .collect();
        set.into_iter().map(|(s, sha512)| (s, sha512, self.subject_digest(s, sha512))).collect()
    }

    /// The image index a client following the spec's fallback steps leaves under the subject's
    /// `sha256-<hex>` tag: the same descriptors as the API lists, unfiltered.
    pub fn fallback_index(&self, subject: usize, sha512: bool) -> Built {
        let mut b = IndexBuilder::new();
        for d in self.referrers(subject, sha512, None) {
            b = b.manifest(d);
        }
        b.build()
    }

    /// Reverse edges of `digest` among present nodes: the manifests whose config or layers are
    /// that blob, the indexes that list that manifest, and its referrers. Sorted node numbers.
    pub fn pointing_at(&self, digest: &Digest) -> Vec<usize> {
        let mut out = vec![];
        for (i, n) in self.graph.nodes.iter().enumerate().filter(|(i, _)| self.present(*i)) {
            let b = &self.built[i];
            let by_blob = b.blobs.iter().any(|blob| &blob.digest == digest);
            let by_child = matches!(&n.kind, NodeKind::Index { children } if children.iter().any(|&c| &self.built[c].digest == digest));
            let by_subject = b.subject.as_ref().is_some_and(|s| &s.digest == digest);
            if by_blob || by_child || by_subject {
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind, subject: Option<usize>) -> Node {
        Node { kind, subject, sha512_subject: false, annotation_bytes: 0, never_pushed: false }
    }

    fn artifact(at: &str, subject: usize) -> Node {
        node(NodeKind::Artifact { artifact_type: Some(at.into()) }, Some(subject))
    }

    #[test]
    fn the_model_lists_present_referrers_filters_and_walks_back() {
        // 0 image; 1, 2 signatures of 0; 3 an SBOM of 0; 4 a referrer of the signature 1;
        // 5 an index over 0 with 6 a referrer of the index. 2 is deleted.
        let g = Graph {
            nodes: vec![
                node(NodeKind::Image, None),
                artifact("application/sig", 0),
                artifact("application/sig", 0),
                artifact("application/sbom", 0),
                artifact("application/sig", 1),
                node(NodeKind::Index { children: vec![0] }, None),
                artifact("application/sig", 5),
            ],
            groups: vec![vec![0, 1, 2, 3, 4], vec![5, 6]],
            deletes: vec![2],
        };
        g.well_formed().unwrap();
        assert_eq!((g.max_fanout(), g.max_depth(), g.max_group()), (3, 2, 5));
        let m = Model::new(&g, "t");
        let digests = |ds: Vec<Descriptor>| ds.into_iter().map(|d| d.digest).collect::<BTreeSet<_>>();
        assert_eq!(digests(m.referrers(0, false, None)), [&m.built[1], &m.built[3]].map(|b| b.digest.clone()).into());
        assert_eq!(digests(m.referrers(0, false, Some("application/sbom"))), [m.built[3].digest.clone()].into());
        assert_eq!(m.referrers(1, false, None).len(), 1);
        assert_eq!(m.referrers(5, false, None).len(), 1);
        assert_eq!(m.subjects().len(), 3);
        // Reverse walk: the image's layer is pointed at by the image; the image by its index and
        // its present referrers.
        assert_eq!(m.pointing_at(&m.built[0].blobs[1].digest), vec![0]);
        assert_eq!(m.pointing_at(&m.built[0].digest), vec![1, 3, 5]);
        // The fallback index lists exactly what the API lists, unfiltered.
        let index: serde_json::Value = serde_json::from_slice(&m.fallback_index(0, false).bytes).unwrap();
        let listed: BTreeSet<String> = index["manifests"].as_array().unwrap().iter().map(|d| d["digest"].as_str().unwrap().to_string()).collect();
        assert_eq!(listed, [&m.built[1], &m.built[3]].map(|b| b.digest.to_string()).into());
    }

    #[test]
    fn simpler_graphs_stay_well_formed_and_renumber_edges() {
        let g = Graph {
            nodes: vec![
                node(NodeKind::Image, None),
                artifact("application/sig", 0),
                node(NodeKind::Index { children: vec![0] }, Some(1)),
                artifact("application/sig", 2),
            ],
            groups: vec![vec![0, 1], vec![2], vec![3]],
            deletes: vec![1],
        };
        let w = g.without(1);
        assert_eq!(w.nodes.len(), 3);
        assert_eq!(w.nodes[1].subject, None, "the index lost its subject");
        assert_eq!(w.nodes[2].subject, Some(1), "the referrer of the index follows it down");
        assert_eq!((w.groups.clone(), w.deletes.clone()), (vec![vec![0], vec![1], vec![2]], vec![]));
        let all = g.simpler();
        assert!(all.iter().all(|s| s.well_formed().is_ok()));
        assert!(all.iter().any(|s| s.groups.len() == 4), "the concurrent group split");
        assert!(all.iter().any(|s| s.deletes.is_empty() && s.nodes.len() == 4), "the delete dropped");
    }

    #[test]
    fn malformed_graphs_are_refused() {
        let mut g = Graph { nodes: vec![node(NodeKind::Image, None), node(NodeKind::Index { children: vec![0] }, None)], groups: vec![vec![0, 1]], deletes: vec![] };
        assert!(g.well_formed().is_err(), "an index pushed with its child");
        g.groups = vec![vec![0], vec![1]];
        g.well_formed().unwrap();
        g.nodes[0].subject = Some(1);
        assert!(g.well_formed().is_err(), "a subject that is not earlier");
    }
}
