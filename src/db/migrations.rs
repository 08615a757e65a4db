//! The schema as an ordered list of migrations, applied through `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::DbError;

/// Each entry moves the schema one version up; entry `i` yields `user_version = i + 1`.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: messages. `id` is the rowid, so id order is insertion order; the partial index keeps
    // "what still needs syncing" cheap however large the history grows.
    "CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        content TEXT NOT NULL,
        author TEXT,
        created_at TEXT NOT NULL,
        git_commit_hash TEXT,
        synced INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX messages_created_at ON messages (created_at, id);
    CREATE INDEX messages_unsynced ON messages (id) WHERE synced = 0;",
    // 2: deletion and the sync write budget. A deleted message stays as a tombstone (its id,
    // creation time and `deleted_at`; text and author wiped) with `synced = 0` until its file
    // has left the branch, so the queue also carries removals. `sync_writes` holds the times
    // of the last hour's content-creating GitHub requests, so a restart cannot spend the
    // hour's budget twice.
    "ALTER TABLE messages ADD COLUMN deleted_at TEXT;
    CREATE TABLE sync_writes (at_ms INTEGER NOT NULL);
    CREATE INDEX sync_writes_at ON sync_writes (at_ms);",
    // 3: the id floor. New ids start above both `max(id)` and this one row, which a restore
    // raises to the highest id the replaced database or the restored file ever issued: ids
    // of messages already on GitHub (or in a client's `after=` cursor) are never reused.
    "CREATE TABLE id_floor (id INTEGER NOT NULL);
    INSERT INTO id_floor (id) VALUES (0);",
    // 4: the deletions of the last day, which every event stream's `snapshot` lists; a
    // partial index, so finding them reads only tombstones, however long the history.
    "CREATE INDEX messages_deleted ON messages (deleted_at, id) WHERE deleted_at IS NOT NULL;",
    // 5: idempotency keys, per client, kept a day. The body (after parsing) is kept here
    // because a deletion wipes the message's own; the index makes the purge a range delete.
    "CREATE TABLE idempotency (
        client TEXT NOT NULL,
        key TEXT NOT NULL,
        message_id INTEGER NOT NULL,
        content TEXT NOT NULL,
        author TEXT,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (client, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_created ON idempotency (created_at_ms);",
    // 6: settings the server keeps for itself, such as the key that signs session cookies:
    // in the database, so sessions survive a restart and (later) every node shares them.
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
];

/// The schema version this binary writes.
#[allow(
    clippy::cast_possible_wrap,
    reason = "a handful of migrations; the cast is checked at compile time"
)]
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to `SCHEMA_VERSION` in one transaction, so a crash mid-way leaves
/// the old version intact. A database from a newer BookChat is refused, not touched.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
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
        tx.execute_batch(sql)?;
        log::info!("database migrated to schema version {}", index + 1);
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    /// The first column of every row `sql` selects.
    fn column<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Vec<T> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn fresh_database_gets_every_migration() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let indexes: Vec<String> = column(
            &conn,
            "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name",
        );
        assert_eq!(
            indexes,
            [
                "idempotency_created",
                "messages_created_at",
                "messages_deleted",
                "messages_unsynced",
                "sync_writes_at"
            ]
        );
        let tables: Vec<String> = column(
            &conn,
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        );
        assert_eq!(
            tables,
            [
                "id_floor",
                "idempotency",
                "messages",
                "settings",
                "sync_writes"
            ]
        );
        let floor: Vec<i64> = column(&conn, "SELECT id FROM id_floor");
        assert_eq!(floor, [0], "one row: nothing issued yet");
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO messages (content, created_at) VALUES ('kept', 'now')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let count: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, DbError::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
        assert!(err.to_string().contains("newer"), "{err}");
        assert_eq!(version(&conn), SCHEMA_VERSION + 1);
    }

    #[test]
    fn failed_migration_rolls_back() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A clashing table makes migration 1 fail half-way through.
        conn.execute_batch("CREATE TABLE other (x); CREATE INDEX messages_unsynced ON other (x);")
            .unwrap();
        assert!(migrate(&mut conn).is_err());
        assert_eq!(version(&conn), 0);
        let has_messages: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'messages'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            has_messages, 0,
            "the half-applied migration was rolled back"
        );
    }
}
