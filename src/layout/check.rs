//! `referee layout check DIR`: an OCI image layout read the way the image-layout spec describes
//! it, and its referrers found by each of the three conventions in use — every finding located
//! at `file:line:col` inside the layout.
//!
//! - M1 (MUST): `oci-layout` is a JSON object with `imageLayoutVersion`; `index.json` is an
//!   image index; `blobs/` exists; every blob's name follows the digest grammar and its content
//!   matches its digest; every descriptor reached from `index.json` is well formed and, when
//!   its blob is there, of the size it says.
//! - M2 (SHOULD): `org.opencontainers.image.ref.name` only on descriptors of `index.json`.
//! - M3 (reading): a descriptor of `index.json` named by the referrers tag schema
//!   (`sha256-<hex>`) is an image index whose entries name that digest as their subject.
//! - M4 (reading): manifests listed in `index.json` with a `subject` are referrers of it, found
//!   without reading every blob; a referrer whose subject the layout does not hold is reported.
//! - M5 (reading): the proposed annotations `org.opencontainers.image.referrer.subject` and
//!   `.convert` (image-spec PR #1171) are read and must agree with the manifest's own subject.
//! - M7 (MAY): referenced blobs may be missing (a sparse layout); they are noted, not failed,
//!   and the referrers the layout still describes are listed.

use crate::oci::{Algorithm, Digest, media};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::path::Path;

/// Most blob files and descriptors a check reads (a layout is someone else's input).
pub const MAX_ENTRIES: usize = 1_000_000;
/// Most bytes of a manifest or index the check parses.
pub const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const REFERRER_SUBJECT: &str = "org.opencontainers.image.referrer.subject";
pub const REFERRER_CONVERT: &str = "org.opencontainers.image.referrer.convert";

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing, no verdict: a missing blob the spec allows, a bound referee reached.
    Info,
    /// A SHOULD or a reading broken.
    Warn,
    /// A MUST broken.
    Fail,
}

/// One thing the check found, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    /// Relative to the layout's directory.
    pub file: String,
    /// 1-based; 0 when the finding is about a whole file or directory.
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Info => "info",
            Severity::Warn => "warning",
            Severity::Fail => "error",
        };
        if self.line > 0 {
            write!(f, "{}:{}:{}: {sev} [{}]: {}", self.file, self.line, self.col, self.check, self.message)
        } else {
            write!(f, "{}: {sev} [{}]: {}", self.file, self.check, self.message)
        }
    }
}

/// A referrer the layout describes, and by which convention it was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Referrer {
    pub subject: String,
    pub referrer: String,
    pub artifact_type: Option<String>,
    /// `index.json` (an untagged manifest with a subject), `referrers tag`, or `annotation`.
    pub via: &'static str,
}

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct LayoutCheck {
    pub findings: Vec<Finding>,
    pub referrers: Vec<Referrer>,
    /// Blob files whose content was hashed.
    pub blobs: usize,
    /// Descriptors reached from index.json.
    pub descriptors: usize,
}

impl LayoutCheck {
    pub fn worst(&self, check: &str) -> Option<Severity> {
        self.findings.iter().filter(|f| f.check == check).map(|f| f.severity).max()
    }
}

/// Line and column (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, col)
}

/// Where `needle` first appears in `text` (as a JSON string, so `"needle"`), after `from`.
fn locate(text: &str, needle: &str, from: usize) -> (usize, usize) {
    let quoted = format!("\"{needle}\"");
    match text.get(from..).and_then(|t| t.find(&quoted)) {
        Some(i) => line_col(text, from + i),
        None => text.find(&quoted).map_or((1, 1), |i| line_col(text, i)),
    }
}

/// A referrer relation as found: (subject, referrer, artifactType, convention, the file that
/// says so, its text for locating).
type Relation = (String, String, Option<String>, &'static str, String, std::rc::Rc<String>);

/// Where `needle` first appears after `anchor` (both as JSON strings): a key of one descriptor
/// among many, found by that descriptor's digest.
fn locate_after(text: &str, anchor: &str, needle: &str) -> (usize, usize) {
    let from = text.find(&format!("\"{anchor}\"")).unwrap_or(0);
    locate(text, needle, from)
}

struct Checker<'a> {
    dir: &'a Path,
    out: LayoutCheck,
    /// Hash of every blob file: digest string → (size, content matches its name).
    blobs: BTreeMap<String, (u64, bool)>,
}

/// The text of a file of the layout, when it is there (and not too large).
fn read_text(path: &Path) -> Result<Option<String>, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
        Ok(m) if m.len() > MAX_JSON_BYTES => Err(format!("{} bytes, more than the {MAX_JSON_BYTES} referee reads as JSON", m.len())),
        Ok(_) => std::fs::read_to_string(path).map(Some).map_err(|e| e.to_string()),
    }
}

fn is_index(mt: &str) -> bool {
    mt == media::IMAGE_INDEX || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn is_manifest(mt: &str) -> bool {
    mt == media::IMAGE_MANIFEST || mt == media::DOCKER_MANIFEST_V2
}

impl Checker<'_> {
    fn add(&mut self, check: &'static str, severity: Severity, file: &str, at: (usize, usize), message: String) {
        self.out.findings.push(Finding { check, severity, file: file.to_string(), line: at.0, col: at.1, message });
    }

    /// Hashes every file under `blobs/<alg>/`, checking names (M1).
    fn scan_blobs(&mut self) {
        let root = self.dir.join("blobs");
        let Ok(algs) = std::fs::read_dir(&root) else {
            self.add("M1", Severity::Fail, "blobs", (0, 0), "the blobs directory is missing (\"Directory MUST exist and MAY be empty\")".into());
            return;
        };
        let mut seen = 0usize;
        let mut algs: Vec<_> = algs.flatten().collect();
        algs.sort_by_key(|e| e.file_name());
        for alg in algs {
            let alg_name = alg.file_name().to_string_lossy().to_string();
            let Ok(files) = std::fs::read_dir(alg.path()) else { continue };
            let mut files: Vec<_> = files.flatten().collect();
            files.sort_by_key(|e| e.file_name());
            for f in files {
                seen += 1;
                if seen > MAX_ENTRIES {
                    self.add("M1", Severity::Info, "blobs", (0, 0), format!("referee's bound: more than {MAX_ENTRIES} blob files, the rest were not checked"));
                    return;
                }
                let enc = f.file_name().to_string_lossy().to_string();
                let rel = format!("blobs/{alg_name}/{enc}");
                let Ok(d) = Digest::parse(&format!("{alg_name}:{enc}")) else {
                    self.add(
                        "M1",
                        Severity::Fail,
                        &rel,
                        (0, 0),
                        "the name is not a digest (\"The character set of the entry name for `<alg>` and `<encoded>` MUST match the respective grammar elements described in descriptor\")".into(),
                    );
                    continue;
                };
                let Some(alg) = d.known_algorithm() else {
                    self.add("M1", Severity::Info, &rel, (0, 0), format!("algorithm {alg_name} is not one referee can compute: its content is not checked"));
                    continue;
                };
                match hash_file(&f.path(), alg) {
                    Ok((size, got)) => {
                        let ok = got == d;
                        if !ok {
                            self.add(
                                "M1",
                                Severity::Fail,
                                &rel,
                                (0, 0),
                                format!("the content hashes to {got}, not {d} (\"The content of `blobs/<alg>/<encoded>` MUST match the digest `<alg>:<encoded>`\")"),
                            );
                        }
                        self.out.blobs += 1;
                        self.blobs.insert(d.to_string(), (size, ok));
                    }
                    Err(e) => self.add("M1", Severity::Fail, &rel, (0, 0), format!("cannot be read: {e}")),
                }
            }
        }
    }

    fn blob_path(d: &Digest) -> String {
        format!("blobs/{}/{}", d.algorithm(), d.encoded())
    }

    /// `oci-layout` (M1).
    fn oci_layout(&mut self) {
        match read_text(&self.dir.join("oci-layout")) {
            Ok(None) => self.add("M1", Severity::Fail, "oci-layout", (0, 0), "the oci-layout file is missing (\"It MUST exist\")".into()),
            Err(e) => self.add("M1", Severity::Fail, "oci-layout", (0, 0), format!("cannot be read: {e}")),
            Ok(Some(text)) => match serde_json::from_str::<Value>(&text) {
                Err(e) => self.add("M1", Severity::Fail, "oci-layout", (e.line(), e.column()), format!("not JSON: {e} (\"It MUST be a JSON object\")")),
                Ok(Value::Object(o)) => match o.get("imageLayoutVersion") {
                    Some(Value::String(_)) => {}
                    Some(other) => {
                        let at = locate(&text, "imageLayoutVersion", 0);
                        self.add("M1", Severity::Fail, "oci-layout", at, format!("imageLayoutVersion is {other}, not a string"));
                    }
                    None => self.add("M1", Severity::Fail, "oci-layout", (1, 1), "no imageLayoutVersion field (\"It MUST contain an `imageLayoutVersion` field\")".into()),
                },
                Ok(_) => self.add("M1", Severity::Fail, "oci-layout", (1, 1), "not a JSON object (\"It MUST be a JSON object\")".into()),
            },
        }
    }

    /// Parses a JSON file of the layout; findings for what is wrong with it.
    fn json(&mut self, rel: &str, text: &str) -> Option<Value> {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.add("M1", Severity::Fail, rel, (e.line(), e.column()), format!("not JSON: {e}"));
                None
            }
        }
    }

    /// Walks from `index.json` through every descriptor, checking each (M1, M2, M7), and
    /// collects referrers (M3, M4, M5).
    fn walk(&mut self) {
        let text = match read_text(&self.dir.join("index.json")) {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.add("M1", Severity::Fail, "index.json", (0, 0), "the index.json file is missing (\"It MUST exist\")".into());
                return;
            }
            Err(e) => {
                self.add("M1", Severity::Fail, "index.json", (0, 0), format!("cannot be read: {e}"));
                return;
            }
        };
        let Some(index) = self.json("index.json", &text) else { return };
        if !self.index_shape("index.json", &text, &index) {
            return;
        }
        // (descriptor, the file it is in, that file's text, whether that file is index.json)
        let mut queue: VecDeque<(Value, String, std::rc::Rc<String>, bool)> = VecDeque::new();
        let top = std::rc::Rc::new(text);
        for d in index["manifests"].as_array().into_iter().flatten() {
            queue.push_back((d.clone(), "index.json".into(), top.clone(), true));
        }
        // Manifests parsed: digest → (subject digest, artifactType, file).
        let mut parsed: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        let mut present: BTreeSet<String> = BTreeSet::new();
        // Every digest the layout names (a descriptor reached), its blob there or not.
        let mut named: BTreeSet<String> = BTreeSet::new();
        let mut visited: BTreeSet<String> = BTreeSet::new();
        // (subject, referrer, artifactType, via, where: file and text offset needle)
        let mut relations: Vec<Relation> = vec![];
        // Bounded: each digest is expanded once, and at most MAX_ENTRIES descriptors are read.
        while let Some((d, file, ftext, top_level)) = queue.pop_front() {
            self.out.descriptors += 1;
            if self.out.descriptors > MAX_ENTRIES {
                self.add("M1", Severity::Info, &file, (0, 0), format!("referee's bound: more than {MAX_ENTRIES} descriptors, the rest were not checked"));
                break;
            }
            let digest_s = d.get("digest").and_then(Value::as_str).unwrap_or("");
            let at = locate(&ftext, digest_s, 0);
            let mt = d.get("mediaType").and_then(Value::as_str).unwrap_or("");
            let size = d.get("size").and_then(Value::as_u64);
            let Ok(digest) = Digest::parse(digest_s) else {
                self.add("M1", Severity::Fail, &file, at, format!("a descriptor's digest {digest_s:?} is not a digest (descriptor: digest REQUIRED, in the digest grammar)"));
                continue;
            };
            if mt.is_empty() || size.is_none() {
                self.add("M1", Severity::Fail, &file, at, format!("the descriptor of {digest} lacks mediaType or size (both REQUIRED)"));
            }
            named.insert(digest.to_string());
            let annotations = d.get("annotations").and_then(Value::as_object);
            let ref_name = annotations.and_then(|a| a.get(REF_NAME)).and_then(Value::as_str);
            if ref_name.is_some() && !top_level {
                let at = locate_after(&ftext, digest_s, REF_NAME);
                self.add(
                    "M2",
                    Severity::Warn,
                    &file,
                    at,
                    format!("{REF_NAME} on a descriptor outside index.json (\"SHOULD only be considered valid when on descriptors on `index.json`\")"),
                );
            }
            // M5: the proposed referrer annotations.
            if top_level && let Some(s) = annotations.and_then(|a| a.get(REFERRER_SUBJECT)).and_then(Value::as_str) {
                relations.push((s.to_string(), digest.to_string(), d.get("artifactType").and_then(Value::as_str).map(str::to_string), "annotation", file.clone(), ftext.clone()));
            }
            let rel = Self::blob_path(&digest);
            match self.blobs.get(digest.as_str()).copied() {
                None => {
                    self.add("M7", Severity::Info, &file, at, format!("{rel} is not in the layout (\"The blobs directory MAY be missing referenced blobs\")"));
                    continue;
                }
                Some((have, _)) if size.is_some_and(|s| s != have) => {
                    self.add("M1", Severity::Fail, &file, at, format!("the descriptor says size {}, {rel} has {have} bytes", size.unwrap_or(0)));
                }
                _ => {}
            }
            present.insert(digest.to_string());
            if !visited.insert(digest.to_string()) || !(is_index(mt) || is_manifest(mt)) {
                // M3: a referrers tag in index.json, even when the index was seen before.
                if top_level && let Some(name) = ref_name {
                    self.referrers_tag(name, &digest, mt, &file, &ftext, &mut relations);
                }
                continue;
            }
            let path = self.dir.join(&rel);
            let btext = match read_text(&path) {
                Ok(Some(t)) => std::rc::Rc::new(t),
                Ok(None) => continue,
                Err(e) => {
                    self.add("M1", Severity::Fail, &rel, (0, 0), format!("cannot be read: {e}"));
                    continue;
                }
            };
            let Some(v) = self.json(&rel, &btext) else { continue };
            if is_index(mt) {
                if self.index_shape(&rel, &btext, &v) {
                    for c in v["manifests"].as_array().into_iter().flatten() {
                        queue.push_back((c.clone(), rel.clone(), btext.clone(), false));
                    }
                }
            } else {
                for key in ["config"] {
                    if let Some(c) = v.get(key) {
                        queue.push_back((c.clone(), rel.clone(), btext.clone(), false));
                    }
                }
                for l in v.get("layers").and_then(Value::as_array).into_iter().flatten() {
                    queue.push_back((l.clone(), rel.clone(), btext.clone(), false));
                }
            }
            let subject = v.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str).map(str::to_string);
            let artifact_type = v
                .get("artifactType")
                .and_then(Value::as_str)
                .or_else(|| v.get("config").and_then(|c| c.get("mediaType")).and_then(Value::as_str).filter(|_| is_manifest(mt)))
                .map(str::to_string);
            parsed.insert(digest.to_string(), (subject.clone(), artifact_type.clone()));
            if let Some(s) = &subject {
                // (The subject descriptor is not walked: naming a subject does not put it in
                // the layout, which M4 reports.)
                if top_level {
                    relations.push((s.clone(), digest.to_string(), artifact_type, "index.json", rel.clone(), btext.clone()));
                }
            }
            if top_level && let Some(name) = ref_name {
                self.referrers_tag(name, &digest, mt, &file, &ftext, &mut relations);
            }
        }
        // M5: an annotation that names another subject than the manifest's own.
        for (s, r, _, via, file, ftext) in &relations {
            if *via != "annotation" {
                continue;
            }
            let at = || locate_after(ftext, r, REFERRER_SUBJECT);
            match parsed.get(r) {
                Some((Some(own), _)) if own != s => {
                    self.add("M5", Severity::Warn, file, at(), format!("{REFERRER_SUBJECT} says {s}, but {r}'s own subject is {own}"));
                }
                Some((None, _)) => {
                    self.add("M5", Severity::Warn, file, at(), format!("{REFERRER_SUBJECT} says {s}, but {r} has no subject"));
                }
                _ => {}
            }
        }
        // M4: a referrer whose subject the layout does not hold cannot be found from it.
        let mut reported = BTreeSet::new();
        // An annotation that disagrees with the manifest's own subject is M5's; the manifest's own
        // subject is what M4 looks for.
        let relations: Vec<Relation> = relations
            .into_iter()
            .filter(|(s, r, _, via, _, _)| *via != "annotation" || parsed.get(r).is_none_or(|(own, _)| own.as_ref().is_some_and(|o| o == s)))
            .collect();
        for (s, r, at, via, file, ftext) in relations {
            // A subject the layout names (even without its blob, M7) can be looked up.
            if !named.contains(&s) && !present.contains(&s) && reported.insert((s.clone(), r.clone())) {
                let here = match via {
                    "index.json" => locate(&ftext, "subject", 0),
                    "annotation" => locate_after(&ftext, &r, REFERRER_SUBJECT),
                    _ => locate(&ftext, &r, 0),
                };
                self.add(
                    "M4",
                    Severity::Warn,
                    &file,
                    here,
                    format!("{r} is a referrer of {s}, which this layout does not hold: nothing in the layout can be looked up to find it"),
                );
            }
            self.out.referrers.push(Referrer { subject: s, referrer: r, artifact_type: at, via });
        }
        self.out.referrers.sort();
        self.out.referrers.dedup();
    }

    /// A descriptor of index.json named `name`: if it follows the referrers tag schema, the
    /// index it names lists referrers of the digest the name encodes (M3).
    fn referrers_tag(
        &mut self,
        name: &str,
        digest: &Digest,
        mt: &str,
        file: &str,
        ftext: &std::rc::Rc<String>,
        relations: &mut Vec<Relation>,
    ) {
        let Some((alg, hex)) = name.split_once('-') else { return };
        if !matches!(alg, "sha256" | "sha512") || hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            return;
        }
        let at = locate(ftext, name, 0);
        if !is_index(mt) {
            self.add("M3", Severity::Warn, file, at, format!("{name} follows the referrers tag schema but names a {mt}, not an image index"));
            return;
        }
        let rel = Self::blob_path(digest);
        let Ok(Some(text)) = read_text(&self.dir.join(&rel)) else { return };
        let Ok(v) = serde_json::from_str::<Value>(&text) else { return };
        let text = std::rc::Rc::new(text);
        for e in v.get("manifests").and_then(Value::as_array).into_iter().flatten() {
            let Some(r) = e.get("digest").and_then(Value::as_str) else { continue };
            // The subject the tag encodes (a sha512 tag is cut to 64 characters).
            let subject_prefix = format!("{alg}:{hex}");
            // What the referrer itself says, when its blob is there.
            let own = Digest::parse(r).ok().and_then(|d| read_text(&self.dir.join(Self::blob_path(&d))).ok().flatten()).and_then(|t| {
                serde_json::from_str::<Value>(&t).ok().and_then(|v| v.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str).map(str::to_string))
            });
            let subject = match &own {
                Some(s) if s.starts_with(&subject_prefix) => s.clone(),
                Some(s) => {
                    let here = locate(&text, r, 0);
                    self.add("M3", Severity::Warn, &rel, here, format!("the referrers tag {name} lists {r}, whose subject is {s}"));
                    continue;
                }
                None if hex.len() == 64 && alg == "sha256" => subject_prefix.clone(),
                None => continue,
            };
            relations.push((subject, r.to_string(), e.get("artifactType").and_then(Value::as_str).map(str::to_string), "referrers tag", rel.clone(), text.clone()));
        }
    }

    /// Whether `v` is an image index (`schemaVersion` 2, a `manifests` array); findings if not.
    fn index_shape(&mut self, rel: &str, text: &str, v: &Value) -> bool {
        let Some(o) = v.as_object() else {
            self.add("M1", Severity::Fail, rel, (1, 1), "not a JSON object (index.json \"MUST be an image index JSON object\")".into());
            return false;
        };
        if o.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            let at = if o.contains_key("schemaVersion") { locate(text, "schemaVersion", 0) } else { (1, 1) };
            self.add("M1", Severity::Fail, rel, at, "schemaVersion is not 2 (image index: \"This REQUIRED property specifies the image manifest schema version. For this version of the specification, this MUST be `2`\")".into());
        }
        if let Some(mt) = o.get("mediaType").and_then(Value::as_str)
            && !is_index(mt)
        {
            let at = locate(text, "mediaType", 0);
            self.add("M1", Severity::Fail, rel, at, format!("mediaType is {mt}, not an image index"));
        }
        match o.get("manifests") {
            Some(Value::Array(_)) => true,
            _ => {
                let at = if o.contains_key("manifests") { locate(text, "manifests", 0) } else { (1, 1) };
                self.add("M1", Severity::Fail, rel, at, "no manifests array (image index: `manifests` is REQUIRED)".into());
                false
            }
        }
    }
}

/// Streams a file through the hash; (size, digest).
fn hash_file(path: &Path, alg: Algorithm) -> std::io::Result<(u64, Digest)> {
    use sha2::Digest as _;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    let (mut a, mut b) = (sha2::Sha256::new(), sha2::Sha512::new());
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        match alg {
            Algorithm::Sha256 => a.update(&buf[..n]),
            Algorithm::Sha512 => b.update(&buf[..n]),
        }
    }
    let hex = match alg {
        Algorithm::Sha256 => hex::encode(a.finalize()),
        Algorithm::Sha512 => hex::encode(b.finalize()),
    };
    let name = match alg {
        Algorithm::Sha256 => "sha256",
        Algorithm::Sha512 => "sha512",
    };
    Ok((size, Digest::parse(&format!("{name}:{hex}")).expect("a hex digest parses")))
}

/// Checks the layout in `dir`.
pub fn check(dir: &Path) -> LayoutCheck {
    let mut c = Checker { dir, out: LayoutCheck::default(), blobs: BTreeMap::new() };
    c.oci_layout();
    c.scan_blobs();
    c.walk();
    c.out.findings.sort_by(|a, b| (a.check, &a.file, a.line, a.col).cmp(&(b.check, &b.file, b.line, b.col)));
    c.out
}
