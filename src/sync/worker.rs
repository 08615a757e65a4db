//! The worker thread: waits until the write budget allows a batch, takes the oldest pending
//! rows, commits them as one tree + commit + ref update (files, removals and the days'
//! pages together), marks them, and decides how long to wait after a failure.

use std::sync::Arc;
use std::time::Duration;

use super::budget::{unix_ms, Budget};
use super::failure::{backoff, seconds, Failure};
use super::github::GitHub;
use super::naming::commit_message;
use super::plan::{Plan, Planner};
use super::row::QueuedRow;
use super::settings::{GithubConfig, SyncTiming};
use super::{BudgetStatus, Shared};
use crate::db::{now_rfc3339, rfc3339, DbError};
use crate::live::Live;
use crate::message::Message;
use crate::store::SyncQueue;

/// Messages per commit: a commit stays small enough never to time out, and a burst of
/// thousands still takes only a few.
pub const MAX_ROWS_PER_COMMIT: usize = 1000;
/// Bytes of message text per commit, for the same reason.
const MAX_BYTES_PER_COMMIT: usize = 4 * 1024 * 1024;
/// Writes one batch costs: a tree, a commit and the ref update.
const BATCH_WRITES: usize = 3;
/// How often a node without the sync lease looks again (on PostgreSQL); with the lease
/// task's own 5 s attempts, a takeover starts within about 10 s of the lock freeing.
const STANDBY_CHECK: Duration = Duration::from_secs(5);
/// Times a batch is rebuilt on a branch that someone else moved meanwhile.
const MOVED_BRANCH_RETRIES: usize = 3;

pub(super) struct Worker {
    github: GitHub,
    queue: SyncQueue,
    planner: Planner,
    timing: SyncTiming,
    shared: Arc<Shared>,
    /// Told of every message marked synced, so pages and event streams show it at once.
    live: Arc<Live>,
    /// The head we last committed and its tree, so the next batch skips two lookups. Any
    /// failure forgets it: the next attempt reads the branch as it is.
    last_head: Option<(String, String)>,
    failures: u32,
    last_logged: Option<String>,
    /// The state last announced to the page, so a change is pushed once.
    announced: Option<(&'static str, Option<String>)>,
    /// Whether this node held the sync lease at the last step (always, on SQLite).
    leading: bool,
}

enum Next {
    Now,
    Idle,
    After(Duration),
}

impl Worker {
    pub(super) fn new(
        config: &GithubConfig,
        github: GitHub,
        queue: SyncQueue,
        shared: Arc<Shared>,
        live: Arc<Live>,
    ) -> Worker {
        Worker {
            planner: Planner::new(config.path.clone()),
            timing: config.timing,
            github,
            queue,
            shared,
            live,
            last_head: None,
            failures: 0,
            last_logged: None,
            announced: None,
            leading: false,
        }
    }

    pub(super) fn run(mut self) {
        let mut next = Next::Now;
        loop {
            let go_on = match next {
                Next::Now => !self.shared.signals.stopped(),
                Next::Idle => self.shared.signals.wait_for_wake(),
                // Whatever arrives meanwhile joins the batch: under load, commits grow
                // rather than multiply.
                Next::After(pause) => self.shared.signals.sleep(pause),
            };
            if !go_on {
                break;
            }
            next = self.step();
            self.report();
        }
    }

    /// One attempt, and what to wait for before the next.
    fn step(&mut self) -> Next {
        if !self.lead() {
            self.shared.status().state = "standby";
            return Next::After(STANDBY_CHECK);
        }
        let rows = match self.queue.pending(MAX_ROWS_PER_COMMIT) {
            Ok(rows) => rows,
            Err(err) => return Next::After(self.failed(&db_failure(err))),
        };
        if rows.is_empty() {
            self.shared.status().state = "idle";
            return Next::Idle;
        }
        if let Some(gate) = &self.github.gate {
            let wait = gate.budget.batch_wait(unix_ms(), BATCH_WRITES);
            if !wait.is_zero() {
                self.shared.status().state = "pacing";
                return Next::After(wait);
            }
        }
        self.shared.status().state = "syncing";
        match self.sync_batch(&cap_bytes(rows)) {
            Ok(synced) => {
                self.succeeded(synced);
                Next::Now
            }
            Err(Failure::Stopped) => Next::Now,
            Err(failure) => Next::After(self.failed(&failure)),
        }
    }

    /// Commits `rows` on the branch head; returns how many rows are done.
    fn sync_batch(&mut self, rows: &[QueuedRow]) -> Result<usize, Failure> {
        for _ in 0..MOVED_BRANCH_RETRIES {
            let (head, base) = if let Some(known) = self.last_head.take() {
                known
            } else {
                let head = self.github.head()?;
                let tree = self.github.tree_of(&head)?;
                (head, tree)
            };
            let plan = self
                .planner
                .plan(&mut self.github, &self.queue, rows, &head, &base)?;
            if plan.changes.is_empty() {
                // Everything was on the branch already, or nothing is left to remove: no
                // empty commit, just the bookkeeping.
                self.finish(&plan, None)?;
                self.last_head = Some((head, base));
                return Ok(rows.len());
            }
            let message = commit_message(&plan.added_ids(), &plan.removed);
            let tree = self.github.create_tree(&base, &plan.changes)?;
            let commit = self.github.create_commit(&message, &tree, &head)?;
            if self.github.advance_branch(&commit)? {
                self.finish(&plan, Some(&commit))?;
                self.planner.committed(&plan);
                let mut status = self.shared.status();
                status.commits += 1;
                status.last_batch_files = plan.changes.len();
                status.files_committed += plan.changes.len() as u64;
                drop(status);
                self.last_head = Some((commit, tree));
                return Ok(rows.len());
            }
            log::info!("branch moved while committing; rebuilding the commit on the new head");
        }
        Err(transient("the branch kept moving under us".into()))
    }

    /// Marks what a plan did: new files in `commit`, adopted ones in theirs, removals done.
    fn finish(&mut self, plan: &Plan, commit: Option<&str>) -> Result<(), Failure> {
        // Each row with the commit that holds its file: its own, or the one it was adopted from.
        let mut landed: Vec<(&QueuedRow, &str)> = plan
            .adopted
            .iter()
            .map(|(row, sha)| (row, sha.as_str()))
            .collect();
        if let Some(commit) = commit {
            landed.extend(plan.added.iter().map(|row| (row, commit)));
        }
        let marks: Vec<(i64, String)> = landed
            .iter()
            .map(|(row, sha)| (row.id, (*sha).to_owned()))
            .collect();
        // Each count as soon as its transaction has committed: the counters never run ahead
        // of the database, and a failure between the two leaves them exact.
        let marked = self.queue.mark_synced(&marks).map_err(db_failure)?;
        // The pages see the marks before the counts do: whoever is told nothing is pending
        // then finds every message synced (on PostgreSQL `mark_removed` is a round trip).
        let synced: Vec<Message> = landed.iter().map(|(row, sha)| row.synced_in(sha)).collect();
        self.live.synced(&synced);
        self.live.unqueued(marked);
        let removed = self.queue.mark_removed(&plan.removed).map_err(db_failure)?;
        self.live.unqueued(removed);
        if !plan.adopted.is_empty() {
            log::info!(
                "{} message(s) were already on GitHub; adopted, not committed again",
                plan.adopted.len()
            );
        }
        self.shared.status().messages_synced += synced.len() as u64;
        Ok(())
    }

    fn succeeded(&mut self, synced: usize) {
        if self.failures > 0 || self.last_logged.is_some() {
            log::info!("GitHub sync recovered");
        }
        self.failures = 0;
        self.last_logged = None;
        log::debug!("synced {synced} row(s)");
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
        self.last_head = None;
        let t = &self.timing;
        let (wait, state) = match failure {
            Failure::Transient { .. } => {
                let jitter = fastrand::f64();
                let wait = backoff(t.backoff_base, t.backoff_max, self.failures, jitter);
                (wait, "retrying")
            }
            Failure::RateLimited { wait, .. } => (*wait, "rate_limited"),
            // 15 s, 30 s, 60 s, then every 5 minutes: a token rejected for a moment is
            // noticed within a minute, and a dead one costs a few requests an hour.
            Failure::Fatal { .. } => (
                backoff(t.fatal_first, t.fatal_retry, self.failures, 1.0),
                "failing",
            ),
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

    /// Whether this node may sync now. On gaining the lease, it forgets the branch head
    /// it knew and reloads the write budget: the node that synced before spent some of it,
    /// and moved the branch.
    fn lead(&mut self) -> bool {
        let leads = self.queue.leads();
        if leads && !self.leading {
            self.last_head = None;
            if let Some(gate) = &mut self.github.gate {
                match Budget::load(&gate.queue, gate.budget.limits(), unix_ms()) {
                    Ok(budget) => gate.budget = budget,
                    Err(err) => {
                        log::warn!("cannot read the write budget: {err}");
                        return false;
                    }
                }
            }
        }
        self.leading = leads;
        leads
    }

    /// Copies the budget and request figures into the status, and pushes the state to
    /// the page when it changed (failing, rate limited, recovered).
    fn report(&mut self) {
        let mut status = self.shared.status();
        status.requests = self.github.requests;
        status.not_modified = self.github.not_modified;
        if let Some(gate) = &self.github.gate {
            let now = unix_ms();
            let limits = gate.budget.limits();
            let (minute, hour) = (limits.minute_cap(), limits.hour_cap());
            let used_minute = gate.budget.used(now, limits.minute);
            let used_hour = gate.budget.used(now, limits.hour);
            status.budget = BudgetStatus {
                used_minute,
                left_minute: minute.saturating_sub(used_minute),
                limit_minute: minute,
                used_hour,
                left_hour: hour.saturating_sub(used_hour),
                limit_hour: hour,
            };
        }
        let trouble = matches!(status.state, "retrying" | "rate_limited" | "failing");
        let shown = if trouble { status.state } else { "ok" };
        let key = (shown, status.last_error.clone());
        if self.announced.as_ref() != Some(&key) {
            let json = serde_json::to_string(&*status).unwrap_or_default();
            drop(status);
            // A node in standby keeps its state to itself: the pages of every node show
            // the syncing node's, which reaches them through the store.
            if self.leading {
                self.queue.publish_state(&json);
                self.live.sync_changed(json);
            }
            self.announced = Some(key);
        }
    }
}

/// Keeps a batch under `MAX_BYTES_PER_COMMIT` of text (always at least one row).
fn cap_bytes(rows: Vec<QueuedRow>) -> Vec<QueuedRow> {
    let mut total = 0;
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        total += row.content.len() + 256;
        if total > MAX_BYTES_PER_COMMIT && !kept.is_empty() {
            break;
        }
        kept.push(row);
    }
    kept
}

pub(super) fn transient(reason: String) -> Failure {
    Failure::Transient {
        reason,
        ambiguous: false,
    }
}

/// A database error in the worker: retried with backoff.
#[allow(
    clippy::needless_pass_by_value,
    reason = "shaped for `.map_err(db_failure)`"
)]
pub(super) fn db_failure(err: DbError) -> Failure {
    Failure::Transient {
        reason: format!("database error while syncing: {err}"),
        ambiguous: true,
    }
}
