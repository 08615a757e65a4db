//! The worker thread: claims pending messages in id order, commits them (one file each,
//! one commit per batch), marks them synced, and decides how long to wait after a failure.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::failure::{backoff, seconds, Failure};
use super::github::{GitHub, Put};
use super::settings::{GithubConfig, SyncTiming};
use super::store::{self, Pending};
use super::Shared;
use crate::db::{now_rfc3339, rfc3339};
use crate::live::Live;
use crate::message::Message;

/// Files per commit. Small enough that GitHub lists a commit's files on one page (300),
/// large enough that a burst of hundreds costs a handful of requests.
const MAX_BATCH: usize = 200;
/// Times a batch is rebuilt on a branch that someone else moved meanwhile.
const MOVED_BRANCH_RETRIES: usize = 3;

pub(super) struct Worker {
    github: GitHub,
    conn: Connection,
    folder: String,
    timing: SyncTiming,
    shared: Arc<Shared>,
    /// Told of every message marked synced, so pages and event streams show it at once.
    live: Arc<Live>,
    /// Set at start and after any failure that may have left a commit behind: the next
    /// attempt first looks on GitHub for what is already there, so nothing is committed twice.
    verify: bool,
    /// The head we last committed and its tree, so the next batch skips one lookup.
    last_head: Option<(String, String)>,
    failures: u32,
    last_logged: Option<String>,
}

enum Next {
    Now,
    Idle,
    After(Duration),
}

impl Worker {
    pub(super) fn new(
        config: GithubConfig,
        conn: Connection,
        shared: Arc<Shared>,
        live: Arc<Live>,
    ) -> Worker {
        Worker {
            folder: config.path.clone(),
            timing: config.timing,
            github: GitHub::new(config, Arc::clone(&shared.stop)),
            conn,
            shared,
            live,
            verify: true,
            last_head: None,
            failures: 0,
            last_logged: None,
        }
    }

    pub(super) fn run(mut self) {
        let mut next = Next::Now;
        loop {
            let go_on = match next {
                Next::Now => !self.shared.stopped(),
                Next::Idle => self.shared.wait_for_work(),
                Next::After(pause) => self.shared.sleep(pause),
            };
            if !go_on {
                break;
            }
            next = self.step();
        }
    }

    /// One attempt, and what to wait for before the next.
    fn step(&mut self) -> Next {
        let writes_before = self.github.writes;
        self.shared.status().state = "syncing";
        let result = self.sync_some();
        let writes = self.github.writes - writes_before;
        self.shared.status().requests = self.github.requests;
        match result {
            Ok(0) => {
                self.shared.status().state = "idle";
                Next::Idle
            }
            Ok(synced) => {
                self.succeeded(synced);
                match writes {
                    0 => Next::Now,
                    n => Next::After(
                        self.timing
                            .pace
                            .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)),
                    ),
                }
            }
            Err(Failure::Stopped) => Next::Now,
            Err(failure) => Next::After(self.failed(&failure)),
        }
    }

    /// Syncs the oldest pending messages; returns how many were synced (0: none pending).
    fn sync_some(&mut self) -> Result<usize, Failure> {
        let mut rows = store::pending(&self.conn, MAX_BATCH).map_err(db_failure)?;
        if rows.is_empty() {
            self.verify = false;
            return Ok(0);
        }
        let total = rows.len();
        if self.verify {
            rows = self.adopt_existing(rows)?;
            self.verify = false;
        }
        let adopted = total - rows.len();
        let committed = match rows.len() {
            0 => 0,
            1 => self.put_one(&rows[0])?,
            _ => self.commit_batch(&rows)?,
        };
        Ok(adopted + committed)
    }

    /// Adopts messages whose files are already on GitHub: an earlier attempt committed
    /// them but its answer was lost, or the process died before the database knew. The
    /// oldest pending message is the first of that attempt, so looking at it settles it.
    fn adopt_existing(&mut self, mut rows: Vec<Pending>) -> Result<Vec<Pending>, Failure> {
        while let Some(first) = rows.first() {
            let path = first.file_path(&self.folder);
            match self.github.get_file(&path)? {
                None => break,
                Some(bytes) if bytes == first.file_content().as_bytes() => {}
                Some(_) => {
                    return Err(Failure::Fatal {
                        reason: format!(
                            "{path} already exists on GitHub with other content; \
                             not overwriting it"
                        ),
                    })
                }
            }
            let commit = self.github.commit_touching(&path)?.ok_or_else(|| {
                transient(format!("GitHub lists no commit for the existing {path}"))
            })?;
            let files: HashSet<String> = self.github.commit_files(&commit)?.into_iter().collect();
            let first_id = first.id;
            let (adopt, rest): (Vec<Pending>, Vec<Pending>) = rows.into_iter().partition(|row| {
                row.id == first_id || files.contains(&row.file_path(&self.folder))
            });
            self.mark(&adopt, &commit)?;
            log::info!(
                "{} message(s) were already committed in {commit}; adopted, not committed again",
                adopt.len()
            );
            rows = rest;
        }
        Ok(rows)
    }

    /// One message through the contents API: a single request.
    fn put_one(&mut self, row: &Pending) -> Result<usize, Failure> {
        let path = row.file_path(&self.folder);
        let message = format!("Add BookChat message {}", row.id);
        match self
            .github
            .put_file(&path, row.file_content().as_bytes(), &message)?
        {
            Put::Created { commit } => {
                self.mark(std::slice::from_ref(row), &commit)?;
                self.shared.status().commits += 1;
                Ok(1)
            }
            Put::Exists => {
                let left = self.adopt_existing(vec![row.clone()])?;
                if left.is_empty() {
                    Ok(1)
                } else {
                    Err(transient(format!(
                        "GitHub says {path} exists but does not show it"
                    )))
                }
            }
        }
    }

    /// Many messages in one commit through the Git Data API: tree on the branch head,
    /// commit, then a fast-forward of the branch, so others' files and commits stay.
    fn commit_batch(&mut self, rows: &[Pending]) -> Result<usize, Failure> {
        let files: Vec<(String, String)> = rows
            .iter()
            .map(|row| (row.file_path(&self.folder), row.file_content()))
            .collect();
        let message = format!(
            "Add BookChat messages {} to {} ({} messages)",
            rows[0].id,
            rows[rows.len() - 1].id,
            rows.len()
        );
        for _ in 0..MOVED_BRANCH_RETRIES {
            let head = self.github.head()?;
            let base = match &self.last_head {
                Some((known, tree)) if *known == head => tree.clone(),
                _ => self.github.tree_of(&head)?,
            };
            let tree = self.github.create_tree(&base, &files)?;
            let commit = self.github.create_commit(&message, &tree, &head)?;
            if self.github.advance_branch(&commit)? {
                self.mark(rows, &commit)?;
                self.last_head = Some((commit, tree));
                self.shared.status().commits += 1;
                return Ok(rows.len());
            }
            log::info!("branch moved while committing; rebuilding the commit on the new head");
        }
        Err(transient("the branch kept moving under us".into()))
    }

    fn mark(&mut self, rows: &[Pending], commit: &str) -> Result<(), Failure> {
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        store::mark_synced(&mut self.conn, &ids, commit).map_err(db_failure)?;
        let synced: Vec<Message> = rows.iter().map(|row| row.synced_in(commit)).collect();
        self.live.synced(&synced);
        self.shared.status().messages_synced += ids.len() as u64;
        Ok(())
    }

    fn succeeded(&mut self, synced: usize) {
        if self.failures > 0 || self.last_logged.is_some() {
            log::info!("GitHub sync recovered");
        }
        self.failures = 0;
        self.last_logged = None;
        log::debug!("synced {synced} message(s)");
        let mut status = self.shared.status();
        status.state = "idle";
        status.last_success_at = Some(now_rfc3339());
        status.last_error = None;
        status.next_attempt_at = None;
    }

    /// Records a failure and returns how long to wait. A reason is logged once, not on
    /// every retry, so a bad token does not flood the log.
    fn failed(&mut self, failure: &Failure) -> Duration {
        self.failures += 1;
        let t = &self.timing;
        let (wait, state) = match failure {
            Failure::Transient { ambiguous, .. } => {
                self.verify |= *ambiguous;
                let wait = backoff(
                    t.backoff_base,
                    t.backoff_max,
                    self.failures,
                    fastrand::f64(),
                );
                (wait, "retrying")
            }
            Failure::RateLimited { wait, .. } => (*wait, "rate_limited"),
            Failure::Fatal { .. } => (t.fatal_retry, "failing"),
            Failure::Stopped => (Duration::ZERO, "idle"),
        };
        let reason = failure.reason().to_owned();
        if self.last_logged.as_deref() == Some(reason.as_str()) {
            log::debug!("GitHub sync still failing: {reason}");
        } else {
            match state {
                "failing" => log::error!("GitHub sync: {reason}; retrying in {}", seconds(wait)),
                _ => log::warn!("GitHub sync: {reason}; retrying in {}", seconds(wait)),
            }
            self.last_logged = Some(reason.clone());
        }
        let retry_at = chrono::Utc::now() + wait;
        let mut status = self.shared.status();
        status.state = state;
        status.last_error = Some(reason);
        status.last_error_at = Some(now_rfc3339());
        status.next_attempt_at = Some(rfc3339(retry_at));
        wait
    }
}

fn transient(reason: String) -> Failure {
    Failure::Transient {
        reason,
        ambiguous: false,
    }
}

/// A database error in the worker: retried with backoff. Marked ambiguous because a
/// commit may have landed whose marking failed.
#[allow(
    clippy::needless_pass_by_value,
    reason = "shaped for `.map_err(db_failure)`"
)]
fn db_failure(err: rusqlite::Error) -> Failure {
    Failure::Transient {
        reason: format!("database error while syncing: {err}"),
        ambiguous: true,
    }
}
