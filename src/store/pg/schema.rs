//! The PostgreSQL schema: the same ordered migrations as SQLite's, in PostgreSQL's words,
//! under a one-row version table, applied by one node at a time.

use tokio_postgres::Client;

use crate::db::{DbError, SCHEMA_VERSION};

/// Advisory lock keys, one per purpose, in a range of their own ("bkc" in ASCII, then a
/// number), so that another application on the same database is unlikely to collide.
pub const MIGRATE_LOCK: i64 = 0x626B_6300_0001;
/// Held (per transaction) while a batch of messages takes its ids: see `writer`.
pub const ID_LOCK: i64 = 0x626B_6300_0002;
/// Held (per session) by the one node that syncs to GitHub: see `lease`.
pub const SYNC_LOCK: i64 = 0x626B_6300_0003;
/// Held shared (per session) by every serving node, exclusively by `import`.
pub const SERVE_LOCK: i64 = 0x626B_6300_0004;

/// The channel every commit announces itself on.
pub const CHANNEL: &str = "bookchat";

/// Step `n` here is step `n` of SQLite's list (`db::migrations`): a database carried from
/// one to the other by backup and restore has the same tables at the same version.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE messages (
        id BIGINT PRIMARY KEY,
        content TEXT NOT NULL,
        author TEXT,
        created_at TEXT NOT NULL,
        git_commit_hash TEXT,
        synced BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX messages_created_at ON messages (created_at, id);
    CREATE INDEX messages_unsynced ON messages (id) WHERE NOT synced;",
    "ALTER TABLE messages ADD COLUMN deleted_at TEXT;
    CREATE TABLE sync_writes (at_ms BIGINT NOT NULL);
    CREATE INDEX sync_writes_at ON sync_writes (at_ms);",
    "CREATE TABLE id_floor (id BIGINT NOT NULL);
    INSERT INTO id_floor (id) VALUES (0);",
    "CREATE INDEX messages_deleted ON messages (deleted_at, id) WHERE deleted_at IS NOT NULL;",
    "CREATE TABLE idempotency (
        client TEXT NOT NULL,
        key TEXT NOT NULL,
        message_id BIGINT NOT NULL,
        content TEXT NOT NULL,
        author TEXT,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (client, key)
    );
    CREATE INDEX idempotency_created ON idempotency (created_at_ms);",
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value BYTEA NOT NULL);",
];

/// Brings the schema to `SCHEMA_VERSION` in one transaction. The advisory lock comes
/// first, so of two nodes starting at once one migrates and the other then finds nothing
/// to do; a failed step rolls back every step.
pub async fn migrate(client: &mut Client) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    // Asked first, so a started database logs no "already exists" notice.
    let exists: bool = tx
        .query_one("SELECT to_regclass('bookchat_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE bookchat_schema (version INTEGER NOT NULL)")
            .await?;
    }
    let stored = tx
        .query_opt("SELECT version FROM bookchat_schema", &[])
        .await?;
    let found = if let Some(row) = stored {
        i64::from(row.get::<_, i32>(0))
    } else {
        tx.execute("INSERT INTO bookchat_schema (version) VALUES (0)", &[])
            .await?;
        0
    };
    if found > SCHEMA_VERSION {
        return Err(DbError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(sql).await?;
        log::info!("PostgreSQL schema migrated to version {}", index + 1);
    }
    let version = i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX);
    tx.execute("UPDATE bookchat_schema SET version = $1", &[&version])
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_stores_have_the_same_number_of_steps() {
        assert_eq!(i64::try_from(MIGRATIONS.len()).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn lock_keys_differ() {
        let keys = [MIGRATE_LOCK, ID_LOCK, SYNC_LOCK, SERVE_LOCK];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }
}
