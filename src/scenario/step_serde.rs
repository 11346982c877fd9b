//! A step's YAML form: one action key (`push_image:`, `referrers:`, …) beside `checks:` and
//! `stop_if:`. Read key by key through the deserializer's own map access, so every error keeps
//! its line, column and path (`steps[1].checks.C8`), an unknown key gets the list of known ones
//! (the did-you-mean), and a second action is refused at its key.

use super::ast::{ACTION_KEYS, Action, Step};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Every key a step may have: the actions, then `checks`, `stop_if` and `eventually`.
fn step_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| ACTION_KEYS.iter().copied().chain(["checks", "stop_if", "eventually"]).collect())
}

enum Key {
    Action(&'static str),
    Checks,
    StopIf,
    Eventually,
}

/// Reads one key of a step; knows the action already read, so a second one is an error at
/// its own place.
struct KeySeed(Option<&'static str>);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        match v {
            "checks" => return Ok(Key::Checks),
            "stop_if" => return Ok(Key::StopIf),
            "eventually" => return Ok(Key::Eventually),
            _ => {}
        }
        let Some(key) = ACTION_KEYS.iter().copied().find(|k| *k == v) else {
            return Err(E::unknown_field(v, step_keys()));
        };
        match self.0 {
            None => Ok(Key::Action(key)),
            Some(first) if first == key => Err(E::duplicate_field(key)),
            Some(first) => Err(E::custom(format!("step has 2 actions ({first}, {key}); a step does exactly one thing"))),
        }
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a step: one action key (push_image, referrers, …) with optional checks and stop_if")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let (mut action, mut checks, mut stop_if, mut eventually) = (None, None, None, None);
        while let Some(key) = map.next_key_seed(KeySeed(action.as_ref().map(Action::key)))? {
            match key {
                Key::Action(k) => action = Some(Action::read(k, &mut map)?),
                Key::Checks if checks.is_some() => return Err(de::Error::duplicate_field("checks")),
                Key::Checks => checks = Some(map.next_value()?),
                Key::StopIf if stop_if.is_some() => return Err(de::Error::duplicate_field("stop_if")),
                Key::StopIf => stop_if = Some(map.next_value()?),
                Key::Eventually if eventually.is_some() => return Err(de::Error::duplicate_field("eventually")),
                Key::Eventually => eventually = Some(map.next_value()?),
            }
        }
        let Some(action) = action else {
            return Err(de::Error::custom(format!("step has no action (one of {}, …)", ACTION_KEYS[..16].join(", "))));
        };
        Ok(Step { action, checks: checks.unwrap_or_default(), stop_if: stop_if.flatten(), eventually: eventually.unwrap_or(false) })
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        d.deserialize_struct("Step", step_keys(), StepVisitor)
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        self.action.write(&mut map)?;
        if !self.checks.is_empty() {
            map.serialize_entry("checks", &self.checks)?;
        }
        if let Some(u) = &self.stop_if {
            map.serialize_entry("stop_if", u)?;
        }
        if self.eventually {
            map.serialize_entry("eventually", &true)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Vec<Step>, String> {
        serde_yaml_ng::from_str::<Vec<Step>>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn every_action_key_reads_and_writes_back() {
        for key in ACTION_KEYS {
            let body = match *key {
                "push_image" | "push_artifact" | "push_index" | "push" | "push_blob" => "{ name: x }",
                "referrers" | "get_manifest" | "delete_manifest" | "tags_list" | "get_blob" | "ping" | "detect" => "{}",
                "wait_listed" => "{ of: a, referrer: b, within_ms: 5 }",
                "copy" => "{ of: a, to: m }",
                "list_on" | "fallback_read" => "{ of: a }",
                "hook" => "{ name: gc }",
                "wait" => "{ ms: 1 }",
                "burst" => "{ count: 2 }",
                "upload_session" => "{ action: status }",
                "fallback_add" | "fallback_remove" => "{ referrer: r }",
                "mount" => "{ into: other }",
                "delete_blob" => "{ blob_of: a }",
                "parallel" => "{ clients: 2, each: [ { ping: {} } ] }",
                "together" => "{ steps: [ { ping: {} } ] }",
                "reverse" => "{ of: a }",
                "layout_export" => "{ of: a, as: l }",
                "layout_import" => "{ from: l }",
                other => panic!("no example for {other}"),
            };
            let steps = parse(&format!("- {key}: {body}\n  checks: {{ X1: {{ status: 200 }} }}\n")).unwrap();
            assert_eq!(steps[0].action.key(), *key);
            let json = serde_json::to_value(&steps[0]).unwrap();
            let back: Step = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), json, "{key}");
        }
    }

    #[test]
    fn mistakes_are_errors_at_their_key() {
        let e = parse("- ping: {}\n  referrers: {}\n").unwrap_err();
        assert!(e.contains("step has 2 actions (ping, referrers)") && e.contains("line 2 column 3"), "{e}");
        let e = parse("- checks: { X1: { status: 200 } }\n").unwrap_err();
        assert!(e.contains("step has no action (one of push_image"), "{e}");
        let e = parse("- pign: {}\n").unwrap_err();
        assert!(e.contains("unknown field `pign`, expected one of `push_image`") && e.contains("`stop_if`"), "{e}");
        let e = parse("- ping: {}\n  checks: {}\n  checks: {}\n").unwrap_err();
        assert!(e.contains("duplicate field `checks`"), "{e}");
    }
}
