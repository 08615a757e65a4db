//! The SQLite room of the sync queue: the worker's own read-write connection to the data
//! directory's database, and the budget's table on a second one, as the gate records
//! writes between the worker's reads.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::queue::{DayLine, QueuedRow};
use crate::db::{self, DbError};

pub struct SqliteQueue {
    conn: Connection,
}

impl SqliteQueue {
    pub fn open(path: &Path) -> Result<SqliteQueue, DbError> {
        Ok(SqliteQueue {
            conn: db::open_writer(path)?,
        })
    }

    /// A queue on an in-memory database with BookChat's schema, for unit tests.
    #[cfg(test)]
    pub fn in_memory() -> SqliteQueue {
        SqliteQueue {
            conn: crate::db::in_memory(),
        }
    }

    /// The connection itself, for tests that look at the rows.
    #[cfg(test)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn pending(&self, limit: usize) -> Result<Vec<QueuedRow>, DbError> {
        Ok(pending(&self.conn, limit)?)
    }

    pub fn day_lines(&self, date: &str, also: &HashSet<i64>) -> Result<Vec<DayLine>, DbError> {
        Ok(day_lines(&self.conn, date, also)?)
    }

    pub fn mark_synced(&mut self, ids: &[(i64, String)]) -> Result<usize, DbError> {
        Ok(mark_synced(&mut self.conn, ids)?)
    }

    pub fn mark_removed(&mut self, ids: &[i64]) -> Result<usize, DbError> {
        Ok(mark_removed(&mut self.conn, ids)?)
    }

    pub fn writes_since(&self, since: i64) -> Result<Vec<u64>, DbError> {
        let times = self
            .conn
            .prepare_cached("SELECT at_ms FROM sync_writes WHERE at_ms > ?1 ORDER BY at_ms")?
            .query_map([since], |row| row.get::<_, i64>(0))?
            .map(|at| at.map(|at| u64::try_from(at).unwrap_or(0)))
            .collect::<rusqlite::Result<Vec<u64>>>()?;
        Ok(times)
    }

    pub fn record_write(&self, at: i64, old: i64) -> Result<(), DbError> {
        self.conn
            .execute("DELETE FROM sync_writes WHERE at_ms <= ?1", [old])?;
        self.conn
            .execute("INSERT INTO sync_writes (at_ms) VALUES (?1)", [at])?;
        Ok(())
    }
}

/// The oldest `limit` unsynced rows: new messages and deletions not yet on the branch.
fn pending(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<QueuedRow>> {
    conn.prepare_cached(
        "SELECT id, content, author, created_at, deleted_at IS NOT NULL FROM messages \
         WHERE synced = 0 ORDER BY id LIMIT ?1",
    )?
    .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
        Ok(QueuedRow {
            id: row.get(0)?,
            content: row.get(1)?,
            author: row.get(2)?,
            created_at: row.get(3)?,
            deleted: row.get(4)?,
        })
    })?
    .collect()
}

/// The messages of the UTC day `date` (`YYYY-MM-DD`) that are on the branch, or about to be
/// (`also`), not deleted, oldest first.
fn day_lines(conn: &Connection, date: &str, also: &HashSet<i64>) -> rusqlite::Result<Vec<DayLine>> {
    let mut rows = conn.prepare_cached(
        "SELECT id, created_at, author, content, synced FROM messages \
         WHERE created_at >= ?1 AND created_at < ?2 AND deleted_at IS NULL ORDER BY id",
    )?;
    let lines = rows.query_map((format!("{date}T"), format!("{date}U")), |row| {
        Ok((
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?),
            row.get::<_, bool>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for line in lines {
        let (line, synced) = line?;
        if synced || also.contains(&line.0) {
            out.push(line);
        }
    }
    Ok(out)
}

/// Records that these messages are in `commit`, in one transaction, and answers how many
/// rows left the queue. A message deleted meanwhile stays pending: its removal is the next
/// batch's work.
fn mark_synced(conn: &mut Connection, ids: &[(i64, String)]) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut changed = 0;
    {
        let mut update = tx.prepare_cached(
            "UPDATE messages SET synced = 1, git_commit_hash = ?1 \
             WHERE id = ?2 AND synced = 0 AND deleted_at IS NULL",
        )?;
        for (id, commit) in ids {
            changed += update.execute((commit, id))?;
        }
    }
    tx.commit()?;
    Ok(changed)
}

/// Records that these deleted messages' files are off the branch (or never reached it),
/// and answers how many rows left the queue (`synced = 0` in the filter, so a row marked
/// already is not counted twice).
fn mark_removed(conn: &mut Connection, ids: &[i64]) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut changed = 0;
    {
        let mut update = tx.prepare_cached(
            "UPDATE messages SET synced = 1 \
             WHERE id = ?1 AND synced = 0 AND deleted_at IS NOT NULL",
        )?;
        for id in ids {
            changed += update.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{tombstone, Tombstone};

    /// A migrated database holding messages 1, 2 and 3, all still waiting for GitHub.
    fn three_queued() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut conn).unwrap();
        for text in ["a", "b", "c"] {
            conn.execute(
                "INSERT INTO messages (content, created_at) VALUES (?1, 'now')",
                [text],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn pending_rows_come_in_id_order_and_leave_once_marked() {
        let mut conn = three_queued();
        let ids = |rows: Vec<QueuedRow>| rows.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(pending(&conn, 2).unwrap()), [1, 2]);
        let marked = mark_synced(&mut conn, &[(1, "abc".into()), (2, "abc".into())]).unwrap();
        assert_eq!(marked, 2);
        assert_eq!(ids(pending(&conn, 10).unwrap()), [3]);
        let (hash, synced): (String, bool) = conn
            .query_row(
                "SELECT git_commit_hash, synced FROM messages WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((hash.as_str(), synced), ("abc", true));
        // Marking again (an adopted commit seen twice) changes nothing, and says so.
        assert_eq!(mark_synced(&mut conn, &[(1, "other".into())]).unwrap(), 0);
        let hash: String = conn
            .query_row(
                "SELECT git_commit_hash FROM messages WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hash, "abc");
    }

    #[test]
    fn marks_count_only_the_rows_that_leave_the_queue() {
        let mut conn = three_queued();
        assert_eq!(tombstone(&conn, 2, "t").unwrap(), Tombstone::WasPending);
        // 2 was deleted while its commit was on its way: it stays queued, as a removal.
        let marks = [(1, "abc".into()), (2, "abc".into()), (3, "abc".into())];
        assert_eq!(mark_synced(&mut conn, &marks).unwrap(), 2);
        assert_eq!(tombstone(&conn, 3, "t").unwrap(), Tombstone::WasSynced);
        assert_eq!(tombstone(&conn, 3, "t").unwrap(), Tombstone::Missing);
        assert_eq!(mark_removed(&mut conn, &[2, 3]).unwrap(), 2);
        assert_eq!(mark_removed(&mut conn, &[2, 3]).unwrap(), 0);
        assert!(pending(&conn, 10).unwrap().is_empty());
    }
}
