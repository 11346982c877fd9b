//! Reporters over a finished [`RunReport`](crate::exec::RunReport) (and, for the terminal,
//! the event stream): terminal, JUnit (quick-junit) and `results.json`. They never send requests.

pub mod json;
pub mod junit;
pub mod terminal;

pub use terminal::Terminal;
