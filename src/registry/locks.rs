//! Tag locks (immutable tags): the rules pushes and deletes obey, how a refusal is answered.
//!
//! The manifest endpoints enforce the rules with the store locked; [`LockStatus`] says how a
//! refusal is answered. The locks themselves are kept in the store (`State::locks`) and set
//! through the admin API.
//!
//! A locked tag cannot be moved to another manifest (re-pushing the same digest is fine) nor
//! deleted, and a manifest a locked tag points at cannot be deleted by digest; the refusal is
//! answered as `RegistryConfig::lock_status` says. New manifests whose subject is locked are
//! pushed normally. A lock may name a tag that does not exist yet: it is locked at creation.

use super::errors::{OciError, internal_error};
use super::faults::Faults;
use super::store::State;
use crate::oci::Digest;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::str::FromStr;

/// How a registry answers a change to a locked (immutable) tag; the variants imitate what real
/// registries send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStatus {
    /// 412, code `PRECONDITION` (Harbor; not a spec code).
    Precondition412,
    /// 409, code `TAG_IMMUTABLE` (Quay; not a spec code).
    TagImmutable409,
    /// 403, code `DENIED`: the spec's code, the default.
    #[default]
    Denied403,
    /// 400, code `TAG_INVALID`.
    TagInvalid400,
}

impl LockStatus {
    pub const ALL: [LockStatus; 4] = [
        LockStatus::Precondition412,
        LockStatus::TagImmutable409,
        LockStatus::Denied403,
        LockStatus::TagInvalid400,
    ];

    /// The serde / command-line name, e.g. `tag_immutable409`.
    pub fn name(self) -> &'static str {
        match self {
            LockStatus::Precondition412 => "precondition412",
            LockStatus::TagImmutable409 => "tag_immutable409",
            LockStatus::Denied403 => "denied403",
            LockStatus::TagInvalid400 => "tag_invalid400",
        }
    }

    /// The HTTP status of the refusal.
    pub fn http_status(self) -> u16 {
        match self {
            LockStatus::Precondition412 => 412,
            LockStatus::TagImmutable409 => 409,
            LockStatus::Denied403 => 403,
            LockStatus::TagInvalid400 => 400,
        }
    }

    /// The OCI error code of the refusal.
    pub fn code(self) -> &'static str {
        match self {
            LockStatus::Precondition412 => "PRECONDITION",
            LockStatus::TagImmutable409 => "TAG_IMMUTABLE",
            LockStatus::Denied403 => "DENIED",
            LockStatus::TagInvalid400 => "TAG_INVALID",
        }
    }
}

impl FromStr for LockStatus {
    type Err = String;

    /// A name (`precondition412`, …) or the bare status (`412`, `409`, `403`, `400`).
    fn from_str(s: &str) -> Result<LockStatus, String> {
        LockStatus::ALL
            .into_iter()
            .find(|l| l.name() == s || l.http_status().to_string() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = LockStatus::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "unknown lock status '{s}' (expected one of {} or 412/409/403/400)",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for LockStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Enforcement (called by the manifest handlers with the store locked)

fn is_locked(st: &State, repo: &str, tag: &str) -> bool {
    st.locks.get(repo).is_some_and(|tags| tags.contains(tag))
}

fn refusal(s: LockStatus, message: String, detail: Value) -> Response {
    let status = StatusCode::from_u16(s.http_status()).unwrap_or(StatusCode::PRECONDITION_FAILED);
    OciError::new(status, s.code(), message)
        .detail(detail)
        .into_response()
}

/// The refusal of pushing `digest` under the locked `tag`, if it would move the tag. A tag
/// that does not exist yet may be created; re-pushing its current target is allowed.
pub fn tag_move_refused(
    lock_status: LockStatus,
    faults: &Faults,
    st: &State,
    name: &str,
    tag: &str,
    digest: &Digest,
) -> Option<Response> {
    if !is_locked(st, name, tag) {
        return None;
    }
    let current = st.repo(name)?.tags.get(tag)?;
    if current == digest && faults.locked_same_digest_500 {
        return Some(internal_error("cannot re-tag a locked tag"));
    }
    (current != digest).then(|| {
        refusal(
            lock_status,
            format!("tag {tag} is locked"),
            json!({ "tag": tag, "digest": current.to_string() }),
        )
    })
}

/// The refusal of `DELETE /v2/<name>/manifests/<reference>` when it would remove a locked tag
/// (by tag, or by the digest a locked tag points at).
pub fn delete_refused(
    lock_status: LockStatus,
    faults: &Faults,
    st: &State,
    name: &str,
    reference: &str,
) -> Option<Response> {
    let repo = st.repo(name)?;
    let locked = st.locks.get(name)?;
    match Digest::parse(reference) {
        Ok(d) if faults.lock_blocks_referrer_delete
            && repo
                .manifests
                .get(&d)
                .and_then(|r| r.facts.subject.as_ref())
                .is_some_and(|s| locked.iter().any(|t| repo.tags.get(t) == Some(&s.digest))) =>
        {
            Some(refusal(lock_status, format!("the subject of {d} is locked"), json!({ "digest": d.to_string() })))
        }
        Ok(d) => {
            let tags: Vec<&String> = locked
                .iter()
                .filter(|t| repo.tags.get(*t) == Some(&d))
                .collect();
            (!tags.is_empty()).then(|| {
                refusal(
                    lock_status,
                    format!("manifest {d} is the target of locked tags"),
                    json!({ "digest": d.to_string(), "tags": tags }),
                )
            })
        }
        Err(_) => (locked.contains(reference) && repo.tags.contains_key(reference)).then(|| {
            refusal(
                lock_status,
                format!("tag {reference} is locked"),
                json!({ "tag": reference }),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_status_names() {
        for s in LockStatus::ALL {
            assert_eq!(s.name().parse::<LockStatus>(), Ok(s));
            assert_eq!(s.http_status().to_string().parse::<LockStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.name()));
        }
        assert_eq!(LockStatus::default().code(), "DENIED");
        assert!("418".parse::<LockStatus>().is_err());
    }
}
