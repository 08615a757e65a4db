//! Reading PostgreSQL rows into our types, and the pool's errors into ours.

use tokio_postgres::Row;

use crate::db::DbError;
use crate::message::Message;

/// The columns every message query selects, in this order.
pub const MESSAGE_COLUMNS: &str = "id, content, author, created_at, git_commit_hash, synced";

/// A message from the six columns of `MESSAGE_COLUMNS`, starting at column `at`.
pub fn message(row: &Row, at: usize) -> Message {
    Message {
        id: row.get(at),
        content: row.get(at + 1),
        author: row.get(at + 2),
        created_at: row.get(at + 3),
        git_commit_hash: row.get(at + 4),
        synced: row.get(at + 5),
    }
}

/// A session could not be had: PostgreSQL is unreachable or every session is busy.
pub fn pool_error(err: deadpool_postgres::PoolError) -> DbError {
    match err {
        deadpool_postgres::PoolError::Backend(err) => DbError::from(err),
        other => DbError::Postgres(format!("no PostgreSQL session: {other}")),
    }
}
