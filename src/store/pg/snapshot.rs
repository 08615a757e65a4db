//! `bookchat backup` with a PostgreSQL URL: the data of the PostgreSQL database copied
//! into a fresh SQLite database of the same schema version (the usual backup format), read
//! as one consistent snapshot, so that the copy is the database at one instant even while
//! nodes write.

use rusqlite::Connection;
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::db::{DbError, SCHEMA_VERSION};

/// Rows fetched per round trip: a page of messages in memory at a time, never the table.
const PAGE: i32 = 2000;

/// Copies the chat's tables from `client`'s database into `out`, a SQLite database freshly
/// migrated to `SCHEMA_VERSION`, and answers the number of messages copied (tombstones
/// included). One `REPEATABLE READ` transaction reads every table, so they agree.
pub async fn copy_into(client: &mut Client, out: &mut Connection) -> Result<i64, DbError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    check_version(&tx).await?;
    let sqlite = out.transaction()?;
    let messages = copy_messages(&tx, &sqlite).await?;
    copy_small_tables(&tx, &sqlite).await?;
    sqlite.commit()?;
    // Read only: nothing to commit, but ending it cleanly frees the snapshot at once.
    tx.commit().await?;
    Ok(messages)
}

/// Refuses a database with no BookChat schema, or another version of it: backup only
/// reads, so it migrates nothing and copies only what it knows the shape of.
async fn check_version(tx: &Transaction<'_>) -> Result<(), DbError> {
    let exists: bool = tx
        .query_one("SELECT to_regclass('bookchat_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    let version = if exists {
        tx.query_opt("SELECT version FROM bookchat_schema", &[])
            .await?
            .map(|row| i64::from(row.get::<_, i32>(0)))
    } else {
        None
    };
    match version {
        Some(found) if found == SCHEMA_VERSION => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(DbError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(found) => Err(DbError::Postgres(format!(
            "the database has BookChat schema version {found}, not {SCHEMA_VERSION}; \
             start a node of this version on it once to migrate it"
        ))),
        None => Err(DbError::Postgres(
            "the database holds no BookChat data (no schema): nothing to back up".into(),
        )),
    }
}

/// Every message, tombstones too, oldest first, a page at a time through a portal.
async fn copy_messages(
    tx: &Transaction<'_>,
    sqlite: &rusqlite::Transaction<'_>,
) -> Result<i64, DbError> {
    let portal = tx
        .bind(
            "SELECT id, content, author, created_at, git_commit_hash, synced, deleted_at \
             FROM messages ORDER BY id",
            &[],
        )
        .await?;
    let mut insert = sqlite.prepare(
        "INSERT INTO messages \
         (id, content, author, created_at, git_commit_hash, synced, deleted_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut count = 0;
    loop {
        let rows = tx.query_portal(&portal, PAGE).await?;
        for row in &rows {
            insert.execute((
                row.get::<_, i64>(0),
                row.get::<_, &str>(1),
                row.get::<_, Option<&str>>(2),
                row.get::<_, &str>(3),
                row.get::<_, Option<&str>>(4),
                // SQLite's column is an INTEGER 0 or 1, which restore checks.
                i64::from(row.get::<_, bool>(5)),
                row.get::<_, Option<&str>>(6),
            ))?;
            count += 1;
        }
        if rows.len() < usize::try_from(PAGE).unwrap_or(usize::MAX) {
            return Ok(count);
        }
    }
}

/// The id floor (raised to the largest id, so ids are never reused after the way back),
/// idempotency keys, settings (the session key) and the GitHub write budget.
async fn copy_small_tables(
    tx: &Transaction<'_>,
    sqlite: &rusqlite::Transaction<'_>,
) -> Result<(), DbError> {
    let floor: i64 = tx
        .query_one(
            "SELECT greatest(coalesce((SELECT max(id) FROM messages), 0), \
                             coalesce((SELECT max(id) FROM id_floor), 0))",
            &[],
        )
        .await?
        .get(0);
    sqlite.execute("UPDATE id_floor SET id = ?1", [floor])?;
    let keys = tx
        .query(
            "SELECT client, key, message_id, content, author, created_at_ms FROM idempotency",
            &[],
        )
        .await?;
    let mut insert = sqlite.prepare(
        "INSERT INTO idempotency (client, key, message_id, content, author, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for row in &keys {
        insert.execute((
            row.get::<_, &str>(0),
            row.get::<_, &str>(1),
            row.get::<_, i64>(2),
            row.get::<_, &str>(3),
            row.get::<_, Option<&str>>(4),
            row.get::<_, i64>(5),
        ))?;
    }
    let settings = tx.query("SELECT name, value FROM settings", &[]).await?;
    let mut insert = sqlite.prepare("INSERT INTO settings (name, value) VALUES (?1, ?2)")?;
    for row in &settings {
        insert.execute((row.get::<_, &str>(0), row.get::<_, &[u8]>(1)))?;
    }
    let budget = tx.query("SELECT at_ms FROM sync_writes", &[]).await?;
    let mut insert = sqlite.prepare("INSERT INTO sync_writes (at_ms) VALUES (?1)")?;
    for row in &budget {
        insert.execute([row.get::<_, i64>(0)])?;
    }
    Ok(())
}
