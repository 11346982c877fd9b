//! What a scenario knows while it runs: its repositories, the manifests it built by name, what
//! it pushed (for cleanup), what failed, and the other registries it may talk to. One [`Ctx`]
//! per scenario, and one per client of a `parallel` block.

use crate::client::{Client, ClientError};
use crate::oci::{Built, Digest};
use crate::scenario::RepoRef;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh id for this run: 8 hex characters from the time and the process id.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}-{}", std::process::id());
    Digest::sha256(seed.as_bytes()).encoded()[..8].to_string()
}

/// A repository-name component from free text (lowercase, `[a-z0-9]` runs joined by `-`).
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// A manifest the scenario built, and whether (and where) it was pushed.
#[derive(Clone)]
pub struct Entry {
    pub built: Built,
    pub repo: String,
    /// The tag it was last pushed under, if any.
    pub tag: Option<String>,
    pub pushed: bool,
    /// Why it is unusable: (message, whether a check — not setup — failed).
    pub failure: Option<(String, bool)>,
    /// Deleted by digest (202) at this step label.
    pub deleted: Option<String>,
}

impl Entry {
    pub fn new(built: Built, repo: String, tag: Option<String>, pushed: bool) -> Entry {
        Entry { built, repo, tag, pushed, failure: None, deleted: None }
    }
}

pub struct Ctx<'a> {
    pub client: &'a Client,
    pub main: String,
    pub other: String,
    pub fresh: String,
    pub entries: HashMap<String, Entry>,
    /// Push order, for cleanup.
    pub order: Vec<(String, Built)>,
    /// Blobs that arrived by mount or upload outside a manifest push, for cleanup.
    pub extra_blobs: Vec<(String, Digest)>,
    pub max_pages: usize,
    pub hooks: &'a super::hooks::Hooks,
    pub target: String,
    /// A hook that failed or is missing stops the scenario: (why, whether it is a Skip).
    pub halted: Option<(String, bool)>,
    /// Names whose defining step did not run: why, and whether that is a Skip.
    pub missing: HashMap<String, (String, bool)>,
    /// Other registries by name.
    pub mirrors: HashMap<String, Client>,
    /// What was written to other registries, for cleanup: (target, repo, manifest).
    pub remote_order: Vec<(String, String, Built)>,
    /// Added to every seed, so each client of a `parallel` block builds its own content.
    pub seed_suffix: String,
    /// Layouts `layout_export` wrote, by name: temporary directories, removed with the last
    /// context that holds them, and why the export stopped if it did.
    pub layouts: HashMap<String, (std::sync::Arc<tempfile::TempDir>, Option<String>)>,
}

impl<'a> Ctx<'a> {
    /// The context of a scenario working in `repo` (and `repo-other`, `repo-fresh`).
    pub fn new(client: &'a Client, repo: &str, opts: &'a super::RunOptions) -> Ctx<'a> {
        Ctx {
            client,
            main: repo.to_string(),
            other: format!("{repo}-other"),
            fresh: format!("{repo}-fresh"),
            entries: HashMap::new(),
            order: vec![],
            extra_blobs: vec![],
            max_pages: opts.max_pages,
            hooks: &opts.hooks,
            target: client.base().as_str().trim_end_matches('/').to_string(),
            halted: None,
            missing: HashMap::new(),
            mirrors: opts.mirrors.iter().map(|(n, c)| (n.clone(), c.fork())).collect(),
            remote_order: vec![],
            seed_suffix: String::new(),
            layouts: HashMap::new(),
        }
    }

    pub fn repo(&self, r: RepoRef) -> String {
        match r {
            RepoRef::Main => self.main.clone(),
            RepoRef::Other => self.other.clone(),
            RepoRef::Fresh => self.fresh.clone(),
            RepoRef::Limited => format!("{}-ratelimited", self.main),
        }
    }

    pub fn built(&self, name: &str) -> Option<&Built> {
        self.entries.get(name).map(|e| &e.built)
    }

    /// A manifest a validated scenario defined earlier.
    pub fn named(&self, name: &str) -> &Built {
        self.built(name).expect("validated: defined earlier")
    }

    /// The repository a named manifest was pushed to (the main one if unknown).
    pub fn repo_of(&self, name: &str) -> String {
        self.entries.get(name).map_or(self.main.clone(), |e| e.repo.clone())
    }

    /// The seed content built under `name` derives from: unique to the run, the scenario and
    /// the client.
    pub fn seed(&self, name: &str) -> String {
        format!("{}/{name}{}", self.main, self.seed_suffix)
    }

    /// The client of the registry named `name` (`main` is the target under test).
    pub fn target_client(&self, name: &str) -> Result<Client, ClientError> {
        if name == "main" {
            return Ok(self.client.clone());
        }
        self.mirrors
            .get(name)
            .cloned()
            .ok_or_else(|| ClientError::Other { url: name.into(), msg: format!("no registry named '{name}' (give --mirror {name}=URL)") })
    }

    /// A context for one client of a `parallel` block: what is known so far, its own client
    /// and seed, nothing pushed yet.
    pub fn sub<'b>(&self, client: &'b Client, suffix: &str) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            client,
            main: self.main.clone(),
            other: self.other.clone(),
            fresh: self.fresh.clone(),
            entries: self.entries.clone(),
            order: vec![],
            extra_blobs: vec![],
            max_pages: self.max_pages,
            hooks: self.hooks,
            target: self.target.clone(),
            halted: None,
            missing: self.missing.clone(),
            mirrors: self.mirrors.iter().map(|(n, c)| (n.clone(), c.fork())).collect(),
            remote_order: vec![],
            seed_suffix: format!("{}{suffix}", self.seed_suffix),
            layouts: self.layouts.clone(),
        }
    }

    /// `tag` of `repo` now names something new: entries it named lose it.
    pub fn untag(&mut self, repo: &str, tag: &str) {
        for e in self.entries.values_mut().filter(|e| e.repo == repo && e.tag.as_deref() == Some(tag)) {
            e.tag = None;
        }
    }

    /// Takes over what one step of a `together` block did: the name it defines (or why it is
    /// missing), whether a known manifest was pushed or deleted since `before`, and what
    /// [`absorb`](Self::absorb) takes.
    pub fn absorb_together(&mut self, mut sub: Ctx, defined: Option<&str>, before: &HashMap<String, (bool, Option<String>)>) {
        if let Some(name) = defined {
            match sub.entries.remove(name) {
                Some(e) => {
                    self.entries.insert(name.to_string(), e);
                }
                None => {
                    if let Some(m) = sub.missing.remove(name) {
                        self.missing.insert(name.to_string(), m);
                    }
                }
            }
        }
        for (name, e) in &sub.entries {
            if let (Some(mine), Some(was)) = (self.entries.get_mut(name), before.get(name))
                && (e.pushed, &e.tag) != (was.0, &was.1)
            {
                mine.pushed = e.pushed;
                mine.tag = e.tag.clone();
                mine.deleted = e.deleted.clone();
            }
        }
        self.absorb(sub);
    }

    /// Takes over what a client's context pushed (for cleanup), a hook failure, and what it
    /// learnt of names known before the block (e.g. one that is gone).
    pub fn absorb(&mut self, sub: Ctx) {
        for (name, e) in sub.entries {
            if let Some(mine) = self.entries.get_mut(&name)
                && mine.failure.is_none()
                && e.failure.is_some()
            {
                mine.failure = e.failure;
            }
        }
        self.order.extend(sub.order);
        self.extra_blobs.extend(sub.extra_blobs);
        self.remote_order.extend(sub.remote_order);
        self.layouts.extend(sub.layouts);
        if self.halted.is_none() {
            self.halted = sub.halted;
        }
    }
}
