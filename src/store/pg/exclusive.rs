//! Commands that must have a PostgreSQL database to themselves (`import`, `restore`): they
//! hold the serve lock exclusively on their session for as long as they work. Every
//! serving node holds it shared on its listener session (see `listen`), so the lock is
//! granted only while no node serves, and no node starts serving until it is released.

use tokio_postgres::Client;

use super::schema::SERVE_LOCK;
use crate::db::DbError;

/// Who keeps a command from having the database to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupied {
    /// This many nodes serve it (sessions holding the serve lock shared).
    Serving(i64),
    /// Another command (an import or a restore) holds it.
    Command,
}

/// Tries to take the serve lock exclusively on `client`'s session; it stays held until the
/// session ends (or is unlocked), so the caller keeps `client` for the whole of its work.
pub async fn take(client: &Client) -> Result<Result<(), Occupied>, DbError> {
    let granted: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SERVE_LOCK])
        .await?
        .get(0);
    if granted {
        return Ok(Ok(()));
    }
    let nodes = serving_nodes(client).await?;
    Ok(Err(if nodes > 0 {
        Occupied::Serving(nodes)
    } else {
        Occupied::Command
    }))
}

/// Sessions of this database holding the serve lock shared. A `bigint` advisory key shows
/// in `pg_locks` split in two: its high half as `classid`, its low half as `objid`, with
/// `objsubid` 1. Advisory locks belong to one database, so other databases of the same
/// cluster (each with its own chat) are not counted.
async fn serving_nodes(client: &Client) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "SELECT count(DISTINCT pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND mode = 'ShareLock' \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND classid = ($1::bigint >> 32)::oid \
               AND objid = ($1::bigint & 4294967295)::oid \
               AND objsubid = 1",
            &[&SERVE_LOCK],
        )
        .await?;
    Ok(row.get(0))
}
