//! The read queries, each a cached prepared statement on a reader connection.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::message::Message;

/// Which slice of history a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest messages.
    Newest,
    /// Messages with an id above this one: what a polling page asks for.
    After(i64),
    /// The page of history just below this id: "load older".
    Before(i64),
}

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

const DOWNWARDS: &str = "SELECT id, content, author, created_at, git_commit_hash, synced \
    FROM messages WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
const UPWARDS: &str = "SELECT id, content, author, created_at, git_commit_hash, synced \
    FROM messages WHERE id > ?1 ORDER BY id ASC LIMIT ?2";
const BY_ID: &str = "SELECT id, content, author, created_at, git_commit_hash, synced \
    FROM messages WHERE id = ?1";

pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Message>> {
    conn.prepare_cached(BY_ID)?
        .query_row([id], from_row)
        .optional()
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
