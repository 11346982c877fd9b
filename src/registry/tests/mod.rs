//! End-to-end tests: a real registry on a loopback port, driven over HTTP.
//!
//! The client is reqwest (and, for the chaos answers, a raw TCP client). Unit tests stay next
//! to the code they test.

mod auth;
mod chaos;
mod faults;
mod push_and_pull;
mod referrers;
mod support;
