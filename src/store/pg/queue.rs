//! The sync queue on PostgreSQL, for the sync worker's thread: the same operations as on
//! SQLite, run on the node's pool through the runtime's handle. Marks and removals are
//! announced to the other nodes in the transaction that makes them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio::runtime::Handle;

use super::lease::Lease;
use super::rows::pool_error;
use super::schema::CHANNEL;
use super::NodeId;
use crate::db::DbError;
use crate::store::queue::{DayLine, QueuedRow};

/// A queue operation not answered by then fails, and the worker retries later.
const DEADLINE: Duration = Duration::from_secs(30);
/// How long the worker's first look waits for the lease task's first attempt.
const FIRST_ATTEMPT_WAIT: Duration = Duration::from_secs(5);

pub struct PgQueue {
    pub(super) pool: Pool,
    pub(super) handle: Handle,
    pub(super) lease: Arc<Lease>,
    pub(super) node: NodeId,
}

impl PgQueue {
    fn block_on<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        // The timer is made inside the future: this thread is not the runtime's, and
        // only `block_on` enters its context.
        self.handle
            .block_on(async { tokio::time::timeout(DEADLINE, work).await })
            .unwrap_or_else(|_| Err(DbError::Postgres("no answer from PostgreSQL".into())))
    }

    /// True while this node holds the sync lease (see `lease`). The first call waits a
    /// moment for the lease task's first attempt: the worker starts with it, and a "no"
    /// that only means "not tried yet" would idle a node alone for a standby period.
    pub fn leads(&self) -> bool {
        let deadline = Instant::now() + FIRST_ATTEMPT_WAIT;
        while !self.lease.has_tried() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.lease.held_at(Instant::now())
    }

    pub fn pending(&self, limit: usize) -> Result<Vec<QueuedRow>, DbError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.block_on(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let rows = client
                .query(
                    "SELECT id, content, author, created_at, deleted_at IS NOT NULL \
                     FROM messages WHERE NOT synced ORDER BY id LIMIT $1",
                    &[&limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| QueuedRow {
                    id: row.get(0),
                    content: row.get(1),
                    author: row.get(2),
                    created_at: row.get(3),
                    deleted: row.get(4),
                })
                .collect())
        })
    }

    pub fn day_lines(&self, date: &str, also: &HashSet<i64>) -> Result<Vec<DayLine>, DbError> {
        let (from, to) = (format!("{date}T"), format!("{date}U"));
        self.block_on(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let rows = client
                .query(
                    "SELECT id, created_at, author, content, synced FROM messages \
                     WHERE created_at >= $1 AND created_at < $2 AND deleted_at IS NULL \
                     ORDER BY id",
                    &[&from, &to],
                )
                .await?;
            Ok(rows
                .iter()
                .filter(|row| row.get::<_, bool>(4) || also.contains(&row.get::<_, i64>(0)))
                .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
                .collect())
        })
    }

    /// Marks rows as in their commits, one transaction; answers how many left the queue.
    pub fn mark_synced(&self, ids: &[(i64, String)]) -> Result<usize, DbError> {
        let mut by_commit: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (id, commit) in ids {
            by_commit.entry(commit.as_str()).or_default().push(*id);
        }
        self.block_on(async {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await?;
            let mut changed = 0;
            for (commit, ids) in &by_commit {
                let n = tx
                    .execute(
                        "UPDATE messages SET synced = true, git_commit_hash = $1 \
                         WHERE id = ANY($2) AND NOT synced AND deleted_at IS NULL",
                        &[commit, ids],
                    )
                    .await?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                changed += n;
                let (low, high) = (ids.iter().min(), ids.iter().max());
                if let (Some(low), Some(high)) = (low, high) {
                    let note = format!("s:{}:{low}:{high}:{n}:{commit}", self.node);
                    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note])
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Marks deleted rows' files as gone from the branch; answers how many left the queue.
    pub fn mark_removed(&self, ids: &[i64]) -> Result<usize, DbError> {
        self.block_on(async {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await?;
            let n = tx
                .execute(
                    "UPDATE messages SET synced = true \
                     WHERE id = ANY($1) AND NOT synced AND deleted_at IS NOT NULL",
                    &[&ids],
                )
                .await?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > 0 {
                // An empty id range: the other nodes only count the rows off the queue.
                let note = format!("s:{}:1:0:{n}:-", self.node);
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note])
                    .await?;
            }
            tx.commit().await?;
            Ok(n)
        })
    }

    /// The GitHub writes recorded after `since` (Unix ms), by whichever node made them.
    pub fn writes_since(&self, since: i64) -> Result<Vec<u64>, DbError> {
        self.block_on(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let rows = client
                .query(
                    "SELECT at_ms FROM sync_writes WHERE at_ms > $1 ORDER BY at_ms",
                    &[&since],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
                .collect())
        })
    }

    /// Records a GitHub write at `at`, forgetting those at or before `old`.
    pub fn record_write(&self, at: i64, old: i64) -> Result<(), DbError> {
        self.block_on(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            client
                .execute("DELETE FROM sync_writes WHERE at_ms <= $1", &[&old])
                .await?;
            client
                .execute("INSERT INTO sync_writes (at_ms) VALUES ($1)", &[&at])
                .await?;
            Ok(())
        })
    }

    /// Tells the other nodes' streams the sync state changed. Best effort: a state that
    /// does not fit a notification, or cannot be sent, is only this node's.
    pub fn publish_state(&self, json: &str) {
        if json.len() > 4000 {
            return;
        }
        let note = format!("y:{}:{json}", self.node);
        let sent = self.block_on(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            client
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note])
                .await?;
            Ok(())
        });
        if let Err(err) = sent {
            log::debug!("could not tell the other nodes the sync state: {err}");
        }
    }
}
