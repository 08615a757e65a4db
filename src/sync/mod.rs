//! GitHub sync: a named background thread that commits every stored message to a GitHub
//! repository, exactly once, without ever touching the request path. The `messages` table
//! is the queue; `SyncHandle` is what the server holds to wake, watch and stop the worker.

mod budget;
mod failure;
mod gitapi;
mod github;
pub mod import;
mod layout;
mod naming;
mod plan;
mod settings;
mod store;
mod transcript;
mod worker;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

pub use budget::WriteLimits;
pub use settings::{GithubConfig, GithubSettingsError, SyncTiming};

use crate::db::{self, DbError};
use crate::live::Live;
use crate::worker_thread::{join_within, sleep_unless};

/// What `/api/stats` shows of sync. The pending count comes from the database.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStatus {
    pub enabled: bool,
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// `off`, `idle`, `syncing`, `pacing` (waiting for the write budget while messages
    /// gather), `retrying`, `rate_limited` or `failing`.
    pub state: &'static str,
    pub last_success_at: Option<String>,
    /// The latest failure, redacted; cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// When the worker will try again after a failure or a rate limit.
    pub next_attempt_at: Option<String>,
    pub messages_synced: u64,
    pub commits: u64,
    /// Every GitHub request sent, and the conditional ones GitHub answered `304` (free).
    pub requests: u64,
    pub not_modified: u64,
    /// Files (messages, removals and pages) in the last commit, and in all commits.
    pub last_batch_files: usize,
    pub files_committed: u64,
    /// Content-creating requests spent in the sliding minute and hour, and our caps.
    pub budget: BudgetStatus,
    /// Seconds since the oldest message still waiting for GitHub was posted (filled in
    /// from the database by `/api/stats`).
    pub lag_seconds: Option<f64>,
    pub files_per_commit: f64,
}

/// The write budget as `/api/stats` shows it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BudgetStatus {
    pub used_minute: usize,
    pub left_minute: usize,
    pub limit_minute: usize,
    pub used_hour: usize,
    pub left_hour: usize,
    pub limit_hour: usize,
}

impl SyncStatus {
    /// Fills in the figures derived from others: the lag from the oldest pending message's
    /// time, and the average files per commit.
    pub fn derive(&mut self, oldest_pending_at: Option<&str>, now: chrono::DateTime<chrono::Utc>) {
        let since = |at: &str| chrono::DateTime::parse_from_rfc3339(at).ok();
        self.lag_seconds = oldest_pending_at.and_then(since).map(|at| {
            let lag = now.signed_duration_since(at).num_milliseconds().max(0);
            lag as f64 / 1000.0
        });
        if self.commits > 0 {
            self.files_per_commit = self.files_committed as f64 / self.commits as f64;
        }
    }
}

/// The state the server and the worker share.
struct Shared {
    // std Mutex + Condvar: the worker is a plain thread that sleeps on it; the flag is
    // held only to flip it, never across I/O.
    work: Mutex<bool>,
    wake: Condvar,
    /// Read by the GitHub client before every request, so a stop lands between requests.
    stop: Arc<AtomicBool>,
    // std Mutex: copied out by `/api/stats`, updated by the worker between requests.
    status: Mutex<SyncStatus>,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, SyncStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps until a message arrives or a stop; `false` on stop.
    fn wait_for_work(&self) -> bool {
        let mut work = self.work.lock().unwrap_or_else(PoisonError::into_inner);
        while !*work && !self.stopped() {
            work = self.wake.wait(work).unwrap_or_else(PoisonError::into_inner);
        }
        *work = false;
        !self.stopped()
    }

    /// Sleeps for `pause` whatever arrives (a rate limit must be waited out), but wakes
    /// for a stop; `false` on stop.
    fn sleep(&self, pause: Duration) -> bool {
        sleep_unless(&self.work, &self.wake, pause, |_| self.stopped())
    }
}

/// The server's handle on sync. With sync off it answers every call cheaply.
pub struct SyncHandle {
    shared: Option<Arc<Shared>>,
    // std Mutex: taken once, at shutdown, to join the thread.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SyncHandle {
    pub fn disabled() -> SyncHandle {
        SyncHandle {
            shared: None,
            thread: Mutex::new(None),
        }
    }

    /// Starts the worker on its own connection to the (already migrated) database.
    pub fn start(
        config: Option<GithubConfig>,
        db_path: &Path,
        live: Arc<Live>,
    ) -> Result<SyncHandle, DbError> {
        let Some(config) = config else {
            log::info!("GitHub sync is off (set GITHUB_TOKEN and GITHUB_REPO to turn it on)");
            return Ok(SyncHandle::disabled());
        };
        log::info!(
            "GitHub sync is on: committing messages to {} on branch {} under {}/",
            config.full_name(),
            config.branch,
            config.path
        );
        let conn = db::open_writer(db_path)?;
        let gate_conn = db::open_writer(db_path)?;
        let budget = budget::Budget::load(&gate_conn, config.limits, budget::unix_ms())?;
        let shared = Arc::new(Shared {
            // Start with work: messages left pending by an earlier run go out at once.
            work: Mutex::new(true),
            wake: Condvar::new(),
            stop: Arc::new(AtomicBool::new(false)),
            status: Mutex::new(SyncStatus {
                enabled: true,
                repository: Some(config.full_name()),
                branch: Some(config.branch.clone()),
                state: "idle",
                ..SyncStatus::default()
            }),
        });
        let mut github = github::GitHub::new(config.clone(), Arc::clone(&shared.stop));
        github.gate = Some(github::Gate {
            budget,
            conn: gate_conn,
        });
        let worker = worker::Worker::new(&config, github, conn, Arc::clone(&shared), live);
        let thread = std::thread::Builder::new()
            .name("bookchat-sync".into())
            .spawn(move || worker.run())
            .map_err(|err| DbError::Task(format!("cannot start the sync thread: {err}")))?;
        Ok(SyncHandle {
            shared: Some(shared),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Tells the worker a message is waiting. Cheap: a flag and a condvar signal.
    pub fn notify(&self) {
        if let Some(shared) = &self.shared {
            *shared.work.lock().unwrap_or_else(PoisonError::into_inner) = true;
            shared.wake.notify_one();
        }
    }

    pub fn status(&self) -> SyncStatus {
        match &self.shared {
            Some(shared) => shared.status().clone(),
            None => SyncStatus {
                state: "off",
                ..SyncStatus::default()
            },
        }
    }

    /// Stops the worker between requests and joins it, waiting at most `deadline` for a
    /// request in flight. Blocking. Pending messages stay pending for the next start.
    pub fn shutdown(&self, deadline: Duration) {
        let Some(shared) = &self.shared else {
            return;
        };
        shared.stop.store(true, Ordering::Relaxed);
        // Taking the lock orders the store before a sleeping worker's next check.
        drop(shared.work.lock().unwrap_or_else(PoisonError::into_inner));
        shared.wake.notify_all();
        join_within(
            &self.thread,
            deadline,
            "the sync worker",
            "waiting on GitHub",
        );
    }
}
