//! The one door to messages. SQLite in the data directory (the embedded default) and
//! PostgreSQL shared by several nodes are its two rooms; the server, the sync worker and
//! the commands reach messages only through `Store` and `SyncQueue`.

pub mod pg;
pub mod queue;
pub mod sqlite_queue;

use std::path::Path;
use std::sync::Arc;

use crate::db::queries::{self, Counts, Lookup};
use crate::db::settings::SESSION_KEY_LEN;
use crate::db::{Db, DbError, IdempotencyKey, Insertion, Page, Tombstone};
use crate::live::Live;
use crate::message::{Message, NewMessage};

pub use queue::SyncQueue;

/// Where messages live.
#[derive(Clone)]
pub enum Store {
    Sqlite(Db),
    Postgres(pg::Pg),
}

impl Store {
    /// Opens the store this configuration names: PostgreSQL when a URL is given, else
    /// SQLite at `sqlite_path`.
    pub async fn open(database_url: Option<&str>, sqlite_path: &Path) -> Result<Store, DbError> {
        if let Some(url) = database_url {
            return Ok(Store::Postgres(pg::Pg::open(url).await?));
        }
        let path = sqlite_path.to_owned();
        let db = tokio::task::spawn_blocking(move || Db::open(&path))
            .await
            .map_err(|err| DbError::Task(err.to_string()))??;
        Ok(Store::Sqlite(db))
    }

    /// A word for logs and `/api/stats`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgresql",
        }
    }

    /// What is new, in memory; see `live`.
    pub fn live(&self) -> &Arc<Live> {
        match self {
            Store::Sqlite(db) => db.live(),
            Store::Postgres(pg) => pg.live(),
        }
    }

    /// The key that signs session cookies, kept in the store.
    pub fn session_key(&self) -> [u8; SESSION_KEY_LEN] {
        match self {
            Store::Sqlite(db) => db.session_key(),
            Store::Postgres(pg) => pg.session_key(),
        }
    }

    /// A page of messages, oldest first.
    pub async fn list(&self, page: Page, limit: u32) -> Result<Vec<Message>, DbError> {
        match self {
            Store::Sqlite(db) => db.list(page, limit).await,
            Store::Postgres(pg) => pg.list(page, limit).await,
        }
    }

    /// What one id names: a message, a tombstone, or nothing.
    pub async fn lookup(&self, id: i64) -> Result<Lookup, DbError> {
        match self {
            Store::Sqlite(db) => db.read(move |conn| queries::by_id(conn, id)).await,
            Store::Postgres(pg) => pg.lookup(id).await,
        }
    }

    /// Stores a message unless `key` was used before; resolves after the commit.
    pub async fn insert_keyed(
        &self,
        message: NewMessage,
        key: Option<IdempotencyKey>,
    ) -> Result<Insertion, DbError> {
        match self {
            Store::Sqlite(db) => db.insert_keyed(message, key).await,
            Store::Postgres(pg) => pg.insert_keyed(message, key).await,
        }
    }

    /// Stores a message without a key.
    pub async fn insert(&self, message: NewMessage) -> Result<Message, DbError> {
        match self.insert_keyed(message, None).await? {
            Insertion::Created(stored) => Ok(stored),
            other => Err(DbError::Task(format!(
                "an insert without a key was answered {other:?}"
            ))),
        }
    }

    /// A moderator's deletion (see `db::tombstone`).
    pub async fn delete(&self, id: i64) -> Result<Tombstone, DbError> {
        match self {
            Store::Sqlite(db) => db.delete(id).await,
            Store::Postgres(pg) => pg.delete(id).await,
        }
    }

    /// What a page that was away must learn (see `db::queries::snapshot`).
    pub async fn snapshot(
        &self,
        window: u32,
        deleted_since: String,
    ) -> Result<(Vec<i64>, Vec<i64>), DbError> {
        match self {
            Store::Sqlite(db) => {
                db.read(move |conn| queries::snapshot(conn, window, &deleted_since))
                    .await
            }
            Store::Postgres(pg) => pg.snapshot(window, &deleted_since).await,
        }
    }

    /// When the newest message came, and the oldest still waiting for GitHub.
    pub async fn times(&self) -> Result<(Option<String>, Option<String>), DbError> {
        match self {
            Store::Sqlite(db) => db.read(queries::times).await,
            Store::Postgres(pg) => {
                let counts = pg.counts().await?;
                Ok((counts.newest_at, counts.oldest_pending_at))
            }
        }
    }

    /// The full counts: a scan, for commands run by hand.
    pub async fn counts(&self) -> Result<Counts, DbError> {
        match self {
            Store::Sqlite(db) => db.read(queries::counts).await,
            Store::Postgres(pg) => pg.counts().await,
        }
    }

    /// Bytes the store takes, and of its write-ahead log: the SQLite file at `sqlite_path`
    /// and its `-wal`, or the PostgreSQL database (its WAL is the cluster's, not counted).
    pub async fn size(&self, sqlite_path: &Path) -> Result<(u64, u64), DbError> {
        match self {
            Store::Sqlite(_) => Ok(crate::db::sizes_on_disk(sqlite_path)),
            Store::Postgres(pg) => Ok((pg.size().await?, 0)),
        }
    }

    /// Health: the store accepts writes and answers a query.
    pub async fn ping(&self) -> Result<(), DbError> {
        match self {
            Store::Sqlite(db) => {
                if !db.is_writable() {
                    return Err(DbError::Closed);
                }
                // One index lookup, whatever the size of the table.
                db.read(|conn| {
                    conn.query_row("SELECT max(id) FROM messages", [], |row| {
                        row.get::<_, Option<i64>>(0)
                    })
                })
                .await
                .map(drop)
            }
            Store::Postgres(pg) => pg.ping().await,
        }
    }

    pub fn is_writable(&self) -> bool {
        match self {
            Store::Sqlite(db) => db.is_writable(),
            Store::Postgres(pg) => pg.is_writable(),
        }
    }

    /// Runs `wake` when messages committed elsewhere arrive (another node's). On SQLite
    /// every message is this process's, and the POST handler wakes the worker itself.
    pub fn on_created(&self, wake: impl Fn() + Send + Sync + 'static) {
        if let Store::Postgres(pg) = self {
            pg.on_created(wake);
        }
    }

    /// A queue for the sync worker's thread: its own connection on SQLite, the pool and
    /// the sync lease on PostgreSQL.
    pub fn sync_queue(&self, sqlite_path: &Path) -> Result<SyncQueue, DbError> {
        match self {
            Store::Sqlite(_) => Ok(SyncQueue::Sqlite(sqlite_queue::SqliteQueue::open(
                sqlite_path,
            )?)),
            Store::Postgres(pg) => Ok(SyncQueue::Postgres(pg.sync_queue())),
        }
    }

    /// Lets the writer finish what is queued, then stops. Later inserts get `Closed`.
    /// Blocking: call from `spawn_blocking` or a thread of its own.
    pub fn close(&self) {
        match self {
            Store::Sqlite(db) => db.close(),
            Store::Postgres(pg) => pg.close(),
        }
    }
}
