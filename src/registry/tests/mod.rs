//! End-to-end tests of the embedded registry: a real server on a loopback port, driven with
//! reqwest (and, for the chaos answers, a raw TCP client). Unit tests stay next to the code
//! they test.

mod auth;
mod chaos;
mod faults;
mod push_and_pull;
mod referrers;
mod support;
