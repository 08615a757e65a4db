//! The sync queue is the `messages` table: unsynced rows are pending, in id order. This
//! module is the worker's view of it, on the worker's own connection.

use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;

use crate::message::Message;

/// A message waiting to be committed: the fields its file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub id: i64,
    pub content: String,
    pub author: Option<String>,
    pub created_at: String,
}

impl Pending {
    /// The file's name: id first so files list in order, then the creation time so a
    /// message from a different database with the same id can never be mistaken for it.
    pub fn file_path(&self, folder: &str) -> String {
        let stamp: String = self
            .created_at
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        format!("{folder}/{:08}_{stamp}.json", self.id)
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

/// The oldest `limit` unsynced messages.
pub fn pending(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Pending>> {
    conn.prepare_cached(
        "SELECT id, content, author, created_at FROM messages \
         WHERE synced = 0 ORDER BY id LIMIT ?1",
    )?
    .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
        Ok(Pending {
            id: row.get(0)?,
            content: row.get(1)?,
            author: row.get(2)?,
            created_at: row.get(3)?,
        })
    })?
    .collect()
}

/// Records that these messages are in `commit`, in one transaction.
pub fn mark_synced(conn: &mut Connection, ids: &[i64], commit: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut update = tx.prepare_cached(
            "UPDATE messages SET synced = 1, git_commit_hash = ?1 WHERE id = ?2 AND synced = 0",
        )?;
        for id in ids {
            update.execute((commit, id))?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> Pending {
        Pending {
            id,
            content: "hi \"there\"\nline".into(),
            author: None,
            created_at: "2026-11-25T06:48:08.123Z".into(),
        }
    }

    #[test]
    fn file_names_sort_by_id_and_carry_the_time() {
        assert_eq!(
            row(42).file_path("messages"),
            "messages/00000042_20261125T064808.123Z.json"
        );
        assert!(row(9).file_path("m") < row(10).file_path("m"));
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

    #[test]
    fn pending_rows_come_in_id_order_and_leave_once_marked() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut conn).unwrap();
        for text in ["a", "b", "c"] {
            conn.execute(
                "INSERT INTO messages (content, created_at) VALUES (?1, 'now')",
                [text],
            )
            .unwrap();
        }
        let ids = |rows: Vec<Pending>| rows.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(pending(&conn, 2).unwrap()), [1, 2]);
        mark_synced(&mut conn, &[1, 2], "abc").unwrap();
        assert_eq!(ids(pending(&conn, 10).unwrap()), [3]);
        let (hash, synced): (String, bool) = conn
            .query_row(
                "SELECT git_commit_hash, synced FROM messages WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((hash.as_str(), synced), ("abc", true));
        // Marking again (an adopted commit seen twice) changes nothing.
        mark_synced(&mut conn, &[1], "other").unwrap();
        let hash: String = conn
            .query_row(
                "SELECT git_commit_hash FROM messages WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hash, "abc");
    }
}
