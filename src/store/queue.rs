//! The sync queue's rows: what the sync worker reads from either store.

use serde::Serialize;

/// A message waiting to be committed, or (when `deleted`) a tombstone whose file must leave
/// the branch: the fields its file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedRow {
    pub id: i64,
    pub content: String,
    pub author: Option<String>,
    pub created_at: String,
    #[serde(skip)]
    pub deleted: bool,
}

/// A line of a day's page: (id, `created_at`, author, content).
pub type DayLine = (i64, String, Option<String>, String);

use std::collections::HashSet;

use super::pg::PgQueue;
use super::sqlite_queue::SqliteQueue;
use crate::db::DbError;

/// The sync queue is the messages table: unsynced rows are pending, in id order. This is
/// the sync worker's door to it, on its own thread (blocking calls).
pub enum SyncQueue {
    Sqlite(SqliteQueue),
    Postgres(PgQueue),
}

impl SyncQueue {
    /// Whether this node may sync now: always on SQLite; on PostgreSQL only the node that
    /// holds the sync lease.
    pub fn leads(&self) -> bool {
        match self {
            SyncQueue::Sqlite(_) => true,
            SyncQueue::Postgres(pg) => pg.leads(),
        }
    }

    /// The oldest `limit` unsynced rows: new messages and deletions not yet on the branch.
    pub fn pending(&self, limit: usize) -> Result<Vec<QueuedRow>, DbError> {
        match self {
            SyncQueue::Sqlite(q) => q.pending(limit),
            SyncQueue::Postgres(q) => q.pending(limit),
        }
    }

    /// The messages of the UTC day `date` (`YYYY-MM-DD`) that are on the branch, or about
    /// to be (`also`), not deleted, oldest first.
    pub fn day_lines(&self, date: &str, also: &HashSet<i64>) -> Result<Vec<DayLine>, DbError> {
        match self {
            SyncQueue::Sqlite(q) => q.day_lines(date, also),
            SyncQueue::Postgres(q) => q.day_lines(date, also),
        }
    }

    /// Records that these messages are in their commits, in one transaction; answers how
    /// many rows left the queue. A message deleted meanwhile stays pending.
    pub fn mark_synced(&mut self, ids: &[(i64, String)]) -> Result<usize, DbError> {
        match self {
            SyncQueue::Sqlite(q) => q.mark_synced(ids),
            SyncQueue::Postgres(q) => q.mark_synced(ids),
        }
    }

    /// Records that these deleted messages' files are off the branch.
    pub fn mark_removed(&mut self, ids: &[i64]) -> Result<usize, DbError> {
        match self {
            SyncQueue::Sqlite(q) => q.mark_removed(ids),
            SyncQueue::Postgres(q) => q.mark_removed(ids),
        }
    }

    /// GitHub writes recorded after `since` (Unix ms): the write budget, shared by every
    /// node of a cluster since it lives in the store.
    pub fn writes_since(&self, since: i64) -> Result<Vec<u64>, DbError> {
        match self {
            SyncQueue::Sqlite(q) => q.writes_since(since),
            SyncQueue::Postgres(q) => q.writes_since(since),
        }
    }

    /// Records a GitHub write at `at` (Unix ms), forgetting those at or before `old`.
    pub fn record_write(&self, at: i64, old: i64) -> Result<(), DbError> {
        match self {
            SyncQueue::Sqlite(q) => q.record_write(at, old),
            SyncQueue::Postgres(q) => q.record_write(at, old),
        }
    }

    /// Tells the other nodes' streams the sync state changed (nothing to do on SQLite).
    pub fn publish_state(&self, json: &str) {
        if let SyncQueue::Postgres(q) = self {
            q.publish_state(json);
        }
    }
}
