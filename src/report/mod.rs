//! Reporters over a finished [`RunReport`](crate::exec::RunReport) (and, for the terminal,
//! the event stream): terminal, JUnit (quick-junit), `results.json` and `report.html`. They never send requests.

pub mod html;
pub mod json;
pub mod junit;
pub mod matrix;
pub mod progress;
pub mod terminal;

pub use terminal::Terminal;
