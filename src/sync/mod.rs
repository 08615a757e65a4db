//! GitHub sync: a named background thread that commits every stored message to a GitHub
//! repository, exactly once, without ever touching the request path. The `messages` table
//! is the queue; `SyncHandle` is what the server holds to wake, watch and stop the worker.

mod budget;
mod failure;
mod gitapi;
mod github;
pub mod import;
pub mod import_sink;
mod layout;
mod naming;
mod plan;
mod row;
mod settings;
mod transcript;
mod worker;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

pub use budget::WriteLimits;
pub use settings::{GithubConfig, GithubSettingsError, SyncTiming};

use crate::db::DbError;
use crate::store::Store;
use crate::worker_thread::{Labels, Signals, WorkerThread};

const LABELS: Labels = Labels {
    what: "the sync worker",
    busy: "waiting on GitHub",
};

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
    /// The worker's wake-up ("a message is waiting") and stop; the GitHub client reads the
    /// stop before every request, so a stop lands between requests.
    signals: Arc<Signals>,
    // std Mutex: copied out by `/api/stats`, updated by the worker between requests.
    status: Mutex<SyncStatus>,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, SyncStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The server's handle on sync. With sync off it answers every call cheaply. Clones share
/// the one worker: requests wake it, and whoever owns shutdown stops it.
#[derive(Clone)]
pub struct SyncHandle {
    shared: Option<Arc<Shared>>,
    thread: Option<Arc<WorkerThread>>,
}

impl SyncHandle {
    pub fn disabled() -> SyncHandle {
        SyncHandle {
            shared: None,
            thread: None,
        }
    }

    /// Starts the worker on its own connection to the (already migrated) database.
    pub fn start(
        config: Option<GithubConfig>,
        store: &Store,
        db_path: &Path,
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
        let live = Arc::clone(store.live());
        let queue = store.sync_queue(db_path)?;
        let gate_queue = store.sync_queue(db_path)?;
        let budget = budget::Budget::load(&gate_queue, config.limits, budget::unix_ms())?;
        let shared = Arc::new(Shared {
            // Woken from the start: messages left pending by an earlier run go out at once.
            signals: Signals::new(true),
            status: Mutex::new(SyncStatus {
                enabled: true,
                repository: Some(config.full_name()),
                branch: Some(config.branch.clone()),
                state: "idle",
                ..SyncStatus::default()
            }),
        });
        let mut github = github::GitHub::new(config.clone(), shared.signals.stop_flag());
        github.gate = Some(github::Gate {
            budget,
            queue: gate_queue,
        });
        let worker = worker::Worker::new(&config, github, queue, Arc::clone(&shared), live);
        let thread = WorkerThread::spawn(
            "bookchat-sync",
            LABELS,
            Arc::clone(&shared.signals),
            move || worker.run(),
        )
        .map_err(|err| DbError::Task(format!("cannot start the sync thread: {err}")))?;
        Ok(SyncHandle {
            shared: Some(shared),
            thread: Some(Arc::new(thread)),
        })
    }

    /// Tells the worker a message is waiting. Cheap: a flag and a condvar signal.
    pub fn notify(&self) {
        if let Some(thread) = &self.thread {
            thread.wake();
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
        if let Some(thread) = &self.thread {
            thread.stop(deadline);
        }
    }
}
