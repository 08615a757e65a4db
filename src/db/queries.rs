//! The read queries, each a cached prepared statement on a reader connection.

use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::message::{Message, Page};

/// Lists up to `limit` messages of `page`, oldest first.
pub fn list(conn: &Connection, page: Page, limit: u32) -> rusqlite::Result<Vec<Message>> {
    // Newest and Before read downwards and are reversed, so the limit keeps the messages
    // nearest the boundary; After reads upwards so a poll never skips a message.
    let (sql, bound) = match page {
        Page::Newest => (DOWNWARDS, i64::MAX),
        Page::Before(id) => (DOWNWARDS, id),
        Page::After(id) => (UPWARDS, id),
    };
    let mut messages = conn
        .prepare_cached(sql)?
        .query_map((bound, limit), from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if sql == DOWNWARDS {
        messages.reverse();
    }
    Ok(messages)
}

// Tombstones are skipped: a deleted message is in no listing.
const DOWNWARDS: &str = "SELECT id, content, author, created_at, git_commit_hash, synced \
    FROM messages WHERE id < ?1 AND deleted_at IS NULL ORDER BY id DESC LIMIT ?2";
const UPWARDS: &str = "SELECT id, content, author, created_at, git_commit_hash, synced \
    FROM messages WHERE id > ?1 AND deleted_at IS NULL ORDER BY id ASC LIMIT ?2";
const BY_ID: &str = "SELECT id, content, author, created_at, git_commit_hash, synced, \
    deleted_at IS NOT NULL FROM messages WHERE id = ?1";

/// What one id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Message),
    /// There was a message with this id; a moderator deleted it.
    Deleted,
    /// There never was one.
    Missing,
}

pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Lookup> {
    let row = conn
        .prepare_cached(BY_ID)?
        .query_row([id], |row| Ok((from_row(row)?, row.get::<_, bool>(6)?)))
        .optional()?;
    Ok(match row {
        Some((_, true)) => Lookup::Deleted,
        Some((message, false)) => Lookup::Found(message),
        None => Lookup::Missing,
    })
}

/// How many messages there are, how many still wait for GitHub, and when the newest came.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub total: i64,
    pub synced: i64,
    pub pending: i64,
    pub newest_at: Option<String>,
    /// When the oldest message still waiting for GitHub was posted: the sync lag.
    pub oldest_pending_at: Option<String>,
}

/// Four reads in one read transaction, so the figures agree with each other. The total is
/// a `count(*)`, which walks the whole table (SQLite keeps no row count): it grows with
/// the history. So only what runs once uses it: `Db::open`, to start the counters that
/// `/api/stats` reads, and `bookchat stats`, run by hand.
pub fn counts(conn: &Connection) -> rusqlite::Result<Counts> {
    let tx = conn.unchecked_transaction()?;
    let total: i64 = tx
        .prepare_cached("SELECT count(*) FROM messages")?
        .query_row([], |row| row.get(0))?;
    // Walks only the partial index of unsynced rows.
    let pending: i64 = tx
        .prepare_cached("SELECT count(*) FROM messages WHERE synced = 0")?
        .query_row([], |row| row.get(0))?;
    let (newest_at, oldest_pending_at) = times_in(&tx)?;
    tx.finish()?;
    Ok(Counts {
        total,
        synced: total - pending,
        pending,
        newest_at,
        oldest_pending_at,
    })
}

/// What a page that was away must learn when its stream opens: the unsynced messages among
/// the newest `window` and the messages deleted since `deleted_since` (RFC 3339), at most
/// `window` of those, oldest first. Two index walks, each bounded by `window`.
pub fn snapshot(
    conn: &Connection,
    window: u32,
    deleted_since: &str,
) -> rusqlite::Result<(Vec<i64>, Vec<i64>)> {
    let unsynced = conn
        .prepare_cached(
            "SELECT id FROM (SELECT id, synced, deleted_at FROM messages ORDER BY id DESC \
             LIMIT ?1) WHERE synced = 0 AND deleted_at IS NULL ORDER BY id",
        )?
        .query_map([window], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    let deleted = conn
        .prepare_cached(
            "SELECT id FROM messages WHERE deleted_at IS NOT NULL AND deleted_at >= ?1 \
             ORDER BY deleted_at, id LIMIT ?2",
        )?
        .query_map((deleted_since, window), |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok((unsynced, deleted))
}

const NEWEST_AT: &str = "SELECT created_at FROM messages ORDER BY id DESC LIMIT 1";
/// The first entry of the partial index of unsynced rows.
const OLDEST_PENDING_AT: &str =
    "SELECT created_at FROM messages WHERE synced = 0 ORDER BY id LIMIT 1";

/// When the newest message was posted, and the oldest one still waiting for GitHub: two
/// single index lookups in one read transaction, however long the history.
pub fn times(conn: &Connection) -> rusqlite::Result<(Option<String>, Option<String>)> {
    let tx = conn.unchecked_transaction()?;
    let times = times_in(&tx)?;
    tx.finish()?;
    Ok(times)
}

fn times_in(conn: &Connection) -> rusqlite::Result<(Option<String>, Option<String>)> {
    let newest_at = conn
        .prepare_cached(NEWEST_AT)?
        .query_row([], |row| row.get(0))
        .optional()?;
    let oldest_pending_at = conn
        .prepare_cached(OLDEST_PENDING_AT)?
        .query_row([], |row| row.get(0))
        .optional()?;
    Ok((newest_at, oldest_pending_at))
}

pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        content: row.get(1)?,
        author: row.get(2)?,
        created_at: row.get(3)?,
        git_commit_hash: row.get(4)?,
        synced: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::in_memory as db;

    #[test]
    fn counts_of_an_empty_database_are_zero() {
        let counts = counts(&db()).unwrap();
        assert_eq!(
            (
                counts.total,
                counts.synced,
                counts.pending,
                counts.newest_at
            ),
            (0, 0, 0, None)
        );
    }

    #[test]
    fn counts_split_synced_from_pending_and_name_the_newest() {
        let conn = db();
        for (i, synced) in [1, 0, 1, 1, 0].into_iter().enumerate() {
            conn.execute(
                "INSERT INTO messages (content, created_at, synced) VALUES ('m', ?1, ?2)",
                (format!("2026-01-0{}T00:00:00.000Z", i + 1), synced),
            )
            .unwrap();
        }
        let counts = counts(&conn).unwrap();
        assert_eq!((counts.total, counts.synced, counts.pending), (5, 3, 2));
        assert_eq!(
            counts.newest_at.as_deref(),
            Some("2026-01-05T00:00:00.000Z")
        );
    }

    fn plan(sql: &str) -> Vec<String> {
        db().prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn the_pending_count_reads_the_partial_index() {
        let plan = plan("SELECT count(*) FROM messages WHERE synced = 0");
        assert!(
            plan.iter().any(|step| step.contains("messages_unsynced")),
            "{plan:?}"
        );
    }

    #[test]
    fn the_times_are_lookups_not_sorts_or_full_scans() {
        // The newest: the rowid b-tree read backwards, stopped after one row.
        let newest = plan(NEWEST_AT);
        assert_eq!(newest, ["SCAN messages"], "{newest:?}");
        // The oldest pending: the partial index, in id order, no temporary sort.
        let oldest = plan(OLDEST_PENDING_AT);
        assert_eq!(
            oldest,
            ["SCAN messages USING INDEX messages_unsynced"],
            "{oldest:?}"
        );
    }
}
