//! Exit codes of the `referee` binary (documented in the README).

/// Every check passed or was skipped with a reason.
pub const SUCCESS: i32 = 0;
/// The command line was wrong.
pub const USAGE: i32 = 1;
/// A scenario or profile file is invalid; nothing was sent.
pub const INVALID_INPUT: i32 = 2;
/// The harness could not do its job: unreachable registry, bad credentials, an Errored check.
pub const HARNESS_ERROR: i32 = 3;
/// At least one check Failed: the registry broke a rule.
pub const CHECK_FAILED: i32 = 4;
/// A load profile missed its threshold.
pub const LOAD_THRESHOLD: i32 = 5;

/// The exit code for a run's overall outcome.
pub fn for_outcome(o: crate::exec::Outcome) -> i32 {
    use crate::exec::Outcome::*;
    match o {
        Disabled | Skipped | Passed => SUCCESS,
        Failed => CHECK_FAILED,
        Errored => HARNESS_ERROR,
    }
}
