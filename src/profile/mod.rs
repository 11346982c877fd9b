//! What a registry really does, as opposed to what a vendor profile declares. The main type is
//! [`ProbeReport`]: the capability matrix [`probe`] observes in throwaway repositories, one
//! [`Cell`] per capability (`referee probe`).

pub mod probe;
pub mod vendor;

pub use probe::{Cell, FORMAT_VERSION, ProbeReport, names, probe};
pub use vendor::{Hook, HookName, Profile, ProfileError};
