//! What a registry promises and what it really does. Two halves:
//!
//! - [`vendor`]: vendor profiles, the declarations and hooks a registry is judged against (the
//!   main type is [`Profile`]); split into the declarable keys, hooks, file parsing with
//!   file:line:col diagnostics, and built-in / `extends` resolution.
//! - [`probe`](mod@probe): the capability matrix [`probe()`] observes in throwaway repositories,
//!   one [`Cell`] per capability in a [`ProbeReport`] (`referee probe`); split into the driver,
//!   the probe rows, the report, and how answers are described.

pub mod probe;
pub mod vendor;

pub use probe::{Cell, FORMAT_VERSION, ProbeReport, names, probe};
pub use vendor::{Hook, HookName, Profile, ProfileError};
