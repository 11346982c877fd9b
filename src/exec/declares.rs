//! What the vendor profile declares where the spec leaves room (`declared:` expectations and
//! `skip_if_declared` are judged against it), and the values referee assumes for what it left
//! out — kept apart, so a message never puts words in the profile's mouth.

use std::collections::{BTreeMap, BTreeSet};

/// Values referee assumes when the profile says nothing.
pub const DEFAULTS: &[(&str, &str)] = &[
    // A registry that does not say which distribution-spec it implements is held to main, the
    // strictest text (rules main made MUSTs are SHOULDs in v1.1.x).
    ("spec_version", "main"),
    // A listing read `eventually` may take this long to show what was written before it.
    ("listing_convergence", "within:2s"),
];

/// Key → value, from the profile or from [`DEFAULTS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declares {
    values: BTreeMap<String, String>,
    /// Keys whose value is referee's default, not the profile's.
    defaulted: BTreeSet<String>,
}

impl Declares {
    /// Nothing declared, nothing assumed (the `judge` of a bare expectation).
    pub fn new() -> Declares {
        Declares::default()
    }

    /// What a profile declares (its `unknown` values already left out), with [`DEFAULTS`] for
    /// the keys it does not mention.
    pub fn from_profile(declared: impl IntoIterator<Item = (String, String)>) -> Declares {
        let mut d: Declares = declared.into_iter().collect();
        for (key, value) in DEFAULTS {
            if !d.values.contains_key(*key) {
                d.values.insert(key.to_string(), value.to_string());
                d.defaulted.insert(key.to_string());
            }
        }
        d
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.values.get(key)
    }

    /// How long a listing may lag behind the writes before it (`listing_convergence`).
    pub fn convergence_window(&self) -> std::time::Duration {
        let ms = match self.get("listing_convergence").map(String::as_str) {
            Some("immediate") => 0,
            Some(v) => v.strip_prefix("within:").and_then(crate::profile::vendor::duration_ms).unwrap_or(2000),
            None => 2000,
        };
        std::time::Duration::from_millis(ms)
    }

    /// Whether `key`'s value is referee's default rather than the profile's word.
    pub fn is_defaulted(&self, key: &str) -> bool {
        self.defaulted.contains(key)
    }
}

/// Exactly what is given, no defaults.
impl FromIterator<(String, String)> for Declares {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Declares {
        Declares { values: iter.into_iter().collect(), defaulted: BTreeSet::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_what_the_profile_leaves_out_and_say_so() {
        let d = Declares::from_profile([("gc_trigger".to_string(), "online".to_string())]);
        assert_eq!(d.get("spec_version").map(String::as_str), Some("main"));
        assert!(d.is_defaulted("spec_version") && !d.is_defaulted("gc_trigger"));
        let d = Declares::from_profile([("spec_version".to_string(), "v1.1".to_string())]);
        assert_eq!(d.get("spec_version").map(String::as_str), Some("v1.1"));
        assert!(!d.is_defaulted("spec_version"));
        assert_eq!(Declares::new().get("spec_version"), None);
        assert_eq!(d.convergence_window().as_millis(), 2000);
        let quick = Declares::from_profile([("listing_convergence".to_string(), "within:250ms".to_string())]);
        assert_eq!(quick.convergence_window().as_millis(), 250);
        let now = Declares::from_profile([("listing_convergence".to_string(), "immediate".to_string())]);
        assert_eq!(now.convergence_window().as_millis(), 0);
    }
}
