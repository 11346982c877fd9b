//! Handlers of the binary's commands that would crowd `main.rs`: `layout` and `copy`
//! (`layout`), `matrix` and the GitHub job summary (`reports`). Like `main.rs`, they parse,
//! call the library and map outcomes to exit codes.

pub mod layout;
pub mod reports;
