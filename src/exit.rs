//! Exit codes of the `referee` binary (documented in the README).

/// Every check passed or was skipped with a reason.
pub const SUCCESS: i32 = 0;
/// The command line was wrong.
pub const USAGE: i32 = 1;
/// A scenario or profile file is invalid; nothing was sent.
pub const INVALID_INPUT: i32 = 2;
/// The harness could not do its job: unreachable registry, bad credentials, an Errored check.
pub const HARNESS_ERROR: i32 = 3;
/// At least one check Failed: the registry broke a MUST (or its declared profile); with
/// `--fail-on warn`, also a SHOULD or a reading (Warned).
pub const CHECK_FAILED: i32 = 4;
/// A load profile missed its threshold.
pub const LOAD_THRESHOLD: i32 = 5;
/// The run was interrupted (Ctrl-C or SIGTERM), as shells report a SIGINT: 128 + 2.
pub const INTERRUPTED: i32 = 130;

/// Which verdicts make a run exit with [`CHECK_FAILED`] (`--fail-on`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Only a broken MUST (or a contradicted profile declaration): the default.
    #[default]
    Fail,
    /// A broken SHOULD or reading too (WARN).
    Warn,
}

/// The exit code for a run's overall outcome: Warned is a success unless `fail_on` is
/// [`FailOn::Warn`].
pub fn for_outcome(o: crate::exec::Outcome, fail_on: FailOn) -> i32 {
    use crate::exec::Outcome::*;
    match o {
        Disabled | Skipped | Passed => SUCCESS,
        Warned if fail_on == FailOn::Warn => CHECK_FAILED,
        Warned => SUCCESS,
        Failed => CHECK_FAILED,
        Errored => HARNESS_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Outcome;

    #[test]
    fn warnings_fail_the_run_only_when_asked() {
        assert_eq!(for_outcome(Outcome::Warned, FailOn::Fail), SUCCESS);
        assert_eq!(for_outcome(Outcome::Warned, FailOn::Warn), CHECK_FAILED);
        assert_eq!(for_outcome(Outcome::Failed, FailOn::Fail), CHECK_FAILED);
        assert_eq!(for_outcome(Outcome::Errored, FailOn::Warn), HARNESS_ERROR);
        assert_eq!(for_outcome(Outcome::Passed, FailOn::Warn), SUCCESS);
    }
}
