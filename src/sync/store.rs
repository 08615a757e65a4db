//! The sync queue is the `messages` table: unsynced rows are queued, in id order. This
//! module is the worker's view of it, on the worker's own connection: what to add, what to
//! remove, what a day's page holds, and marking rows done.

use std::collections::HashSet;

use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;

use super::layout;
use crate::message::Message;

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

impl QueuedRow {
    /// The file's path in the sharded layout.
    pub fn file_path(&self, folder: &str) -> String {
        layout::file_path(folder, self.id, &self.created_at)
    }

    /// Where an earlier version would have put the file.
    pub fn legacy_path(&self, folder: &str) -> String {
        layout::legacy_path(folder, self.id, &self.created_at)
    }

    /// The message as the API shows it once it is in `commit`.
    pub fn synced_in(&self, commit: &str) -> Message {
        Message {
            id: self.id,
            content: self.content.clone(),
            author: self.author.clone(),
            created_at: self.created_at.clone(),
            git_commit_hash: Some(commit.to_owned()),
            synced: true,
        }
    }

    /// The file's bytes: the same for the same message every time, so a file found on
    /// GitHub can be compared with what we would have written.
    pub fn file_content(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Git's id of a blob holding `bytes`: what a listing shows, so a file can be compared
/// with what we would write without downloading it.
pub fn blob_sha(bytes: &[u8]) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hasher.digest().to_string()
}

/// The oldest `limit` unsynced rows: new messages and deletions not yet on the branch.
pub fn queued(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<QueuedRow>> {
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

/// A line of a day's page: (id, `created_at`, author, content).
pub type DayLine = (i64, String, Option<String>, String);

/// The messages of the UTC day `date` (`YYYY-MM-DD`) that are on the branch, or about to be
/// (`also`), not deleted, oldest first.
pub fn day_lines(
    conn: &Connection,
    date: &str,
    also: &HashSet<i64>,
) -> rusqlite::Result<Vec<DayLine>> {
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
pub fn mark_synced(conn: &mut Connection, ids: &[(i64, String)]) -> rusqlite::Result<usize> {
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
pub fn mark_removed(conn: &mut Connection, ids: &[i64]) -> rusqlite::Result<usize> {
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

    fn row(id: i64) -> QueuedRow {
        QueuedRow {
            id,
            content: "hi \"there\"\nline".into(),
            author: None,
            created_at: "2026-11-25T06:48:08.123Z".into(),
            deleted: false,
        }
    }

    #[test]
    fn paths_follow_the_layouts_and_blob_ids_match_git() {
        assert_eq!(
            row(42).file_path("messages"),
            "messages/2026/11/25/00000000-00000999/00000042.json"
        );
        assert_eq!(
            row(42).legacy_path("messages"),
            "messages/00000042_20261125T064808.123Z.json"
        );
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_sha(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn file_content_is_stable_json_with_the_message_fields() {
        let text = row(7).file_content();
        assert_eq!(text, row(7).file_content());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["id"], 7);
        assert_eq!(parsed["content"], "hi \"there\"\nline");
        assert_eq!(parsed["author"], serde_json::Value::Null);
        assert_eq!(parsed["created_at"], "2026-11-25T06:48:08.123Z");
        assert!(text.ends_with('\n'));
    }

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
    fn queued_rows_come_in_id_order_and_leave_once_marked() {
        let mut conn = three_queued();
        let ids = |rows: Vec<QueuedRow>| rows.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(queued(&conn, 2).unwrap()), [1, 2]);
        let marked = mark_synced(&mut conn, &[(1, "abc".into()), (2, "abc".into())]).unwrap();
        assert_eq!(marked, 2);
        assert_eq!(ids(queued(&conn, 10).unwrap()), [3]);
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
        assert!(queued(&conn, 10).unwrap().is_empty());
    }
}
