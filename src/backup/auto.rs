//! Automatic backups while serving: a named thread that makes a verified backup every
//! interval and then prunes old automatic ones. `BackupHandle` is what the server holds to
//! read its status and stop it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::worker_thread::{Labels, Signals, WorkerThread};

use super::files::{self, Kind};
use super::{db_path, snapshot, BackupError, Snapshot};

/// When and how many automatic backups, as validated from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupPolicy {
    /// `None` turns automatic backups off.
    pub interval: Option<Duration>,
    /// Automatic backups kept; at least 1.
    pub keep: usize,
}

/// What `/api/stats` and `/metrics` show of automatic backups.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupStatus {
    pub enabled: bool,
    pub interval_seconds: u64,
    pub keep: usize,
    /// The newest verified automatic backup of this run (RFC 3339, UTC, milliseconds).
    pub last_at: Option<String>,
    pub last_path: Option<String>,
    /// Whether the latest attempt ended in a verified backup; `None` before the first.
    pub last_verified: Option<bool>,
    pub last_messages: Option<i64>,
    /// The latest failure; cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub made: u64,
    pub failed: u64,
}

/// What `/api/stats` reads; the backup thread writes it after each attempt.
struct Shared {
    // std Mutex: copied out by `/api/stats`, written by the thread after each attempt;
    // never held while a backup runs.
    status: Mutex<BackupStatus>,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, BackupStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

const LABELS: Labels = Labels {
    what: "the backup thread",
    busy: "copying",
};

/// The server's handle on automatic backups. When they are off it answers cheaply. Clones
/// share the one thread: requests read its status, and whoever owns shutdown stops it.
#[derive(Clone)]
pub struct BackupHandle {
    shared: Arc<Shared>,
    thread: Option<Arc<WorkerThread>>,
}

impl BackupHandle {
    /// Starts the backup thread for the database in `data_dir` if `policy` turns it on.
    pub fn start(policy: BackupPolicy, data_dir: &Path) -> Result<BackupHandle, BackupError> {
        let shared = Arc::new(Shared {
            status: Mutex::new(BackupStatus {
                enabled: policy.interval.is_some(),
                interval_seconds: policy.interval.map_or(0, |i| i.as_secs()),
                keep: policy.keep,
                ..BackupStatus::default()
            }),
        });
        let Some(interval) = policy.interval else {
            log::info!("automatic backups are off (set BOOKCHAT_BACKUP_INTERVAL to turn them on)");
            return Ok(BackupHandle {
                shared,
                thread: None,
            });
        };
        let folder = files::backups_dir(data_dir);
        std::fs::create_dir_all(&folder).map_err(BackupError::io(format!(
            "cannot create {}",
            folder.display()
        )))?;
        match files::remove_stale_auto_partials(&folder) {
            Ok(0) => {}
            Ok(n) => log::info!("removed {n} half-written automatic backup(s) of an earlier run"),
            Err(err) => log::warn!("cannot tidy {}: {err}", folder.display()),
        }
        log::info!(
            "automatic backups every {}s into {}, keeping the newest {}",
            interval.as_secs(),
            folder.display(),
            policy.keep
        );
        // Not woken: the first backup is one interval after start, like every other.
        let signals = Signals::new(false);
        let worker = Worker {
            shared: Arc::clone(&shared),
            signals: Arc::clone(&signals),
            db: db_path(data_dir),
            folder,
            interval,
            keep: policy.keep,
        };
        let thread = WorkerThread::spawn("bookchat-backup", LABELS, signals, move || worker.run())
            .map_err(BackupError::io("cannot start the backup thread"))?;
        Ok(BackupHandle {
            shared,
            thread: Some(Arc::new(thread)),
        })
    }

    pub fn status(&self) -> BackupStatus {
        self.shared.status().clone()
    }

    /// Stops the thread and joins it, waiting at most `deadline` for a backup in progress
    /// (a copy cannot be interrupted half-way; its temporary file is removed next start).
    /// Blocking.
    pub fn shutdown(&self, deadline: Duration) {
        if let Some(thread) = &self.thread {
            thread.stop(deadline);
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    /// Only a stop ends its sleep early; nothing else wakes it.
    signals: Arc<Signals>,
    db: PathBuf,
    folder: PathBuf,
    interval: Duration,
    keep: usize,
}

impl Worker {
    fn run(self) {
        while self.signals.sleep(self.interval) {
            let started = chrono::Utc::now();
            let dest = self.folder.join(files::file_name(Kind::Auto, started));
            match snapshot(&self.db, &dest) {
                Ok(made) => {
                    // Only after a verified backup: a failing disk must never cost us the
                    // older good backups. Pruned before the status says so, so whoever
                    // reads a success also finds the folder tidied.
                    self.prune();
                    self.record_success(&made, started);
                }
                Err(err) => {
                    log::error!("automatic backup failed: {err}");
                    self.record_failure(&err);
                }
            }
        }
    }

    /// `at` is the time in the file's name: the moment the copy's contents were taken.
    fn record_success(&self, made: &Snapshot, at: chrono::DateTime<chrono::Utc>) {
        log::info!(
            "automatic backup written: {} ({} bytes, {} messages, verified)",
            made.path.display(),
            made.bytes,
            made.messages
        );
        let mut status = self.shared.status();
        status.last_at = Some(files::rfc3339(at));
        status.last_path = Some(made.path.display().to_string());
        status.last_verified = Some(true);
        status.last_messages = Some(made.messages);
        status.last_error = None;
        status.last_error_at = None;
        status.made += 1;
    }

    fn record_failure(&self, err: &BackupError) {
        let mut status = self.shared.status();
        status.last_verified = Some(false);
        status.last_error = Some(err.to_string());
        status.last_error_at = Some(crate::db::now_rfc3339());
        status.failed += 1;
    }

    fn prune(&self) {
        match files::prune_auto(&self.folder, self.keep) {
            Ok(deleted) => {
                for path in deleted {
                    log::info!("deleted old automatic backup {}", path.display());
                }
            }
            Err(err) => log::warn!("cannot prune {}: {err}", self.folder.display()),
        }
    }
}
