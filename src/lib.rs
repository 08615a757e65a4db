//! BookChat: a self-hosted chat server in one binary; every message lands in SQLite first.
#![forbid(unsafe_code)]

pub mod backup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod live;
pub mod lock;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod process;
pub mod ratelimit;
pub mod secret;
pub mod state;
pub mod sync;
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
