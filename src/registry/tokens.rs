//! Bearer tokens: what a request wants ([`Access`]), token scopes and the issued [`Tokens`].
//!
//! Tokens are random opaque strings remembered in a map together with the repositories and
//! actions they were issued for.

use super::store::fresh_id;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an issued token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// What a request wants to do to a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// GET/HEAD.
    Pull,
    /// POST/PUT/PATCH: needs both pull and push.
    Push,
    /// DELETE: push, delete or `*` suffices.
    Delete,
}

impl Access {
    /// The actions advertised in the challenge's scope.
    pub fn scope_actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
            Access::Delete => "delete",
        }
    }

    fn allowed_by(self, granted: &HashSet<String>) -> bool {
        let has = |a: &str| granted.contains(a) || granted.contains("*");
        match self {
            Access::Pull => has("pull"),
            Access::Push => has("pull") && has("push"),
            Access::Delete => has("push") || has("delete"),
        }
    }
}

#[derive(Debug)]
struct Grant {
    repos: HashMap<String, HashSet<String>>,
    expires: Instant,
}

/// Issued bearer tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    grants: Mutex<HashMap<String, Grant>>,
    ids: AtomicU64,
}

impl Tokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn issue(&self, repos: HashMap<String, HashSet<String>>) -> String {
        let token = fresh_id(&self.ids, 64);
        let now = Instant::now();
        let mut grants = self.lock();
        // Forget expired tokens so a long load test does not grow the map forever.
        grants.retain(|_, g| g.expires > now);
        grants.insert(
            token.clone(),
            Grant {
                repos,
                expires: now + TOKEN_TTL,
            },
        );
        token
    }

    /// Forgets every issued token (a simulated restart, `POST /admin/restart`).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// `Some(allowed)` when the token is known and unexpired, `None` otherwise.
    pub fn permits(&self, token: &str, target: Option<(&str, Access)>) -> Option<bool> {
        let grants = self.lock();
        let grant = grants.get(token).filter(|g| g.expires > Instant::now())?;
        Some(match target {
            None => true,
            Some((name, access)) => grant.repos.get(name).is_some_and(|actions| access.allowed_by(actions)),
        })
    }
}

/// Parses `repository:<name>:<actions>` scopes; other resource types are ignored.
pub fn parse_scopes<'a>(scopes: impl Iterator<Item = &'a str>) -> HashMap<String, HashSet<String>> {
    let mut repos: HashMap<String, HashSet<String>> = HashMap::new();
    for scope in scopes {
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        if kind != "repository" || name.is_empty() {
            continue;
        }
        let entry = repos.entry(name.to_string()).or_default();
        entry.extend(
            actions
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
        );
    }
    repos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_access() {
        let repos = parse_scopes(
            [
                "repository:a/b:pull",
                "repository:a/b:push",
                "registry:catalog:*",
                "repository:c:delete",
            ]
            .into_iter(),
        );
        assert_eq!(repos.len(), 2);
        assert!(Access::Push.allowed_by(&repos["a/b"]));
        assert!(Access::Delete.allowed_by(&repos["a/b"]));
        assert!(!Access::Pull.allowed_by(&repos["c"]));
        assert!(Access::Delete.allowed_by(&repos["c"]));
        let star: HashSet<String> = ["*".to_string()].into();
        assert!(Access::Push.allowed_by(&star));
    }
}
