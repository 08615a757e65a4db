//! `cargo bench --bench sync`: runs the real server in-process against the in-process fake
//! GitHub of the integration tests (`tests/it/fake_github/`, which enforces GitHub's limits)
//! and prints a table per scenario: sustained load with GitHub's real limits and the
//! worker's real timing, the hour budget with shortened windows, a burst, and an import.
//!
//! Timings are reported, never asserted. The program exits non-zero when an invariant
//! breaks: a message never synced, a 403 from the limits, a request sent inside a wait the
//! fake announced, writes over GitHub's limits, or an import that does not bring back every
//! message.
//!
//! `cargo bench --bench sync -- <filter>...` runs only the scenarios whose key contains a
//! filter (`sustained`, `hour-budget`, `burst`, `import`). `BOOKCHAT_BENCH_SECONDS` sets
//! the length of the sustained run (180 s by default).
#![allow(
    clippy::cast_precision_loss,
    reason = "counts and durations become f64 only to print them"
)]

#[path = "../../tests/it/fake_github/mod.rs"]
#[allow(
    dead_code,
    reason = "the fake's handle serves the whole test suite; the bench uses part of it"
)]
#[allow(
    unused_imports,
    reason = "under `cfg(test)` without a harness (`cargo clippy --all-targets`) the fake's \
              self-tests compile without their `#[test]` functions, so their imports go unused; \
              the suite itself still checks them"
)]
mod fake_github;

/// The suite's server arguments, shared so the bench runs the server exactly as the tests
/// do (the fake's self-tests, compiled under `cfg(test)`, also use its client helpers).
#[path = "../../tests/it/support.rs"]
#[allow(
    dead_code,
    reason = "the bench uses the server arguments, not the test clients"
)]
mod support;

/// The suite's HTTP client, which `support` re-exports.
#[path = "../../tests/it/client.rs"]
#[allow(
    dead_code,
    reason = "the bench talks to the server through its own state"
)]
mod client;

mod harness;
mod import;
mod report;
mod scenarios;

use import::import;
use report::{secs, Checks};
use scenarios::{burst, hour_budget, sustained};

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bookchat::app::App;
use bookchat::config::Config;
use bookchat::db::queries::Counts;
use bookchat::live::Event;
use bookchat::state::AppState;
use bookchat::sync::{GithubConfig, SyncTiming, WriteLimits};
use fake_github::{CommitInfo, FakeGitHub, Recorded, WriteLimits as FakeLimits};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The sustained run's length unless `BOOKCHAT_BENCH_SECONDS` says otherwise.
pub(crate) const SUSTAINED_SECONDS: u64 = 180;
/// Messages a second in the sustained and hour-budget runs.
pub(crate) const RATE: u32 = 5;
/// The hour-budget run's length: two of its shortened hours.
pub(crate) const HOUR_BUDGET_RUN: Duration = Duration::from_secs(120);
pub(crate) const BURST: usize = 3000;
pub(crate) const BURST_CONNECTIONS: usize = 64;
pub(crate) const IMPORTED: i64 = 10_000;
pub(crate) const IMPORT_COMMIT_FILES: i64 = 200;
/// How long the last message posted may take to be synced before it counts as never.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) const MINUTE: Duration = Duration::from_secs(60);
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------
// The server, a keep-alive client, and the watch on `synced` events.

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; other arguments select scenarios.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted = |key: &str| filters.is_empty() || filters.iter().any(|f| key.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "\nBookChat sync benchmark: {cores} cores; the server, its sync worker and the fake \
         GitHub in one process"
    );
    let started = Instant::now();
    let mut checks = Checks::default();
    runtime.block_on(async {
        if wanted("sustained") {
            sustained(&mut checks).await.print();
        }
        if wanted("hour-budget") {
            hour_budget(&mut checks).await.print();
        }
        if wanted("burst") {
            burst(&mut checks).await.print();
        }
        if wanted("import") {
            import(&mut checks).await.print();
        }
    });
    println!("\nran in {}", secs(started.elapsed()));
    if checks.failures.is_empty() {
        println!("every invariant held");
        ExitCode::SUCCESS
    } else {
        println!("INVARIANTS BROKEN:");
        for failure in &checks.failures {
            println!("- {failure}");
        }
        ExitCode::FAILURE
    }
}
