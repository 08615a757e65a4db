//! `bookchat restore FILE` with a PostgreSQL URL: the messages of a checked copy of FILE
//! (rebuilt by `backup::restore` into BookChat's own SQLite schema, every value
//! type-checked) loaded into an empty PostgreSQL database, in one transaction. The way to
//! move from one node to many.

use rusqlite::Connection;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The database already holds messages (tombstones count): restore never merges.
    #[error("the database already holds {0} messages")]
    NotEmpty(i64),
    #[error("{0}")]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for LoadError {
    fn from(err: tokio_postgres::Error) -> LoadError {
        LoadError::Db(err.into())
    }
}

impl From<rusqlite::Error> for LoadError {
    fn from(err: rusqlite::Error) -> LoadError {
        LoadError::Db(err.into())
    }
}

/// How many messages `client`'s database holds; 0 when it has no schema yet. Reads only,
/// so a refusal changes nothing.
pub async fn held(client: &Client) -> Result<i64, DbError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('messages') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT count(*) FROM messages", &[])
        .await?
        .get(0))
}

/// Copies every message of `source` (a migrated BookChat SQLite database) into the
/// migrated, empty database of `client`, and raises its id floor to `highest_id`, the
/// highest id FILE's server issued: new ids then stay above every id of FILE. The
/// database's own settings, idempotency keys and write budget are kept, as a restore
/// keeps the replaced database's (never an untrusted file's). Answers the count, which
/// must be `expected`, or nothing is committed.
pub async fn load(
    client: &mut Client,
    source: &Connection,
    highest_id: i64,
    expected: i64,
) -> Result<i64, LoadError> {
    let tx = client.transaction().await?;
    // The serve lock keeps nodes away; this keeps away anything else that writes, until
    // the commit, so "empty" still holds when the rows land.
    tx.batch_execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    let found: i64 = tx
        .query_one("SELECT count(*) FROM messages", &[])
        .await?
        .get(0);
    if found > 0 {
        return Err(LoadError::NotEmpty(found));
    }
    let copied = copy_rows(&tx, source).await?;
    if copied != expected {
        return Err(LoadError::Db(DbError::Postgres(format!(
            "loaded {copied} messages, not the {expected} checked; nothing was restored"
        ))));
    }
    tx.execute("UPDATE id_floor SET id = greatest(id, $1)", &[&highest_id])
        .await?;
    tx.commit().await?;
    Ok(copied)
}

/// Streams every message of `source`, oldest first, through one binary `COPY`: one
/// statement for the whole table, not a round trip per row. Answers the rows written.
async fn copy_rows(tx: &Transaction<'_>, source: &Connection) -> Result<i64, LoadError> {
    let sink = tx
        .copy_in(
            "COPY messages (id, content, author, created_at, git_commit_hash, synced, \
             deleted_at) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TEXT,
    ];
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    let mut read = source.prepare(
        "SELECT id, content, author, created_at, git_commit_hash, synced, deleted_at \
         FROM messages ORDER BY id",
    )?;
    let mut rows = read.query([])?;
    while let Some(row) = rows.next()? {
        let (id, content, author, created_at): (i64, String, Option<String>, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let (hash, synced, deleted_at): (Option<String>, i64, Option<String>) =
            (row.get(4)?, row.get(5)?, row.get(6)?);
        let synced = synced != 0;
        writer
            .as_mut()
            .write(&[
                &id,
                &content,
                &author,
                &created_at,
                &hash,
                &synced,
                &deleted_at,
            ])
            .await?;
    }
    Ok(i64::try_from(writer.as_mut().finish().await?).unwrap_or(i64::MAX))
}
