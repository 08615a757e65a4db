//! BookChat: a self-hosted chat server in one binary; every message lands in SQLite first.
#![forbid(unsafe_code)]
// `cargo clippy -- -W clippy::pedantic` is clean; these pedantic lints are off on purpose.
#![allow(
    clippy::missing_errors_doc,
    reason = "the library exists for our binary and tests; every error type says what failed"
)]
#![allow(
    clippy::must_use_candidate,
    reason = "an internal API: marking every getter #[must_use] is noise, not safety"
)]
#![allow(
    clippy::cast_precision_loss,
    reason = "counters, byte sizes and durations become f64 only for display and percentiles, \
              far below 2^52 where f64 is exact"
)]

pub mod app;
pub mod auth;
pub mod backup;
pub mod cidr;
pub mod cli;
pub mod client_counts;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod fdlimit;
pub mod http;
pub mod live;
pub mod lock;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod process;
pub mod ratelimit;
pub mod request_id;
pub mod route;
pub mod secret;
pub mod state;
pub mod store;
pub mod sync;
pub mod tls;
pub mod worker_thread;

/// Settings shared by the property tests (our fuzz targets): a fixed number of generated
/// cases, the same in CI as locally, and no regression files written into the tree.
#[cfg(test)]
pub(crate) fn fuzz_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: 2000,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
