//! The database handle: one writer thread that group-commits inserts, and a pool of readers
//! used from `spawn_blocking`, so no SQLite call ever runs on the async reactor.

mod idempotency;
mod migrations;
pub mod queries;
pub mod settings;
pub mod sqlite;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::mpsc;

pub use crate::message::Page;
pub use idempotency::{IdempotencyKey, Insertion, KEY_LIFETIME_MS};
pub use migrations::{migrate, SCHEMA_VERSION};
pub use writer::{now_rfc3339, rfc3339, tombstone, Tombstone};

use crate::live::{Live, CACHED};
use crate::message::{Message, NewMessage};
use sqlite::Access;
pub(crate) use writer::{created, reply_all, submit_delete, submit_insert, Insert, WriteJob};

pub const DB_FILE: &str = "bookchat.db";

/// Reader connections kept open between requests; more are opened under load and dropped.
const IDLE_READERS: usize = 4;
/// Inserts waiting for the writer before `insert` starts to wait (back-pressure).
const WRITE_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database schema version {found} is newer than this bookchat understands \
         (version {supported}); run a newer bookchat"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database could not commit: {0}")]
    Commit(String),
    #[error("the database is shutting down")]
    Closed,
    #[error("database task failed: {0}")]
    Task(String),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> DbError {
        // The server's own words when it gave some (they name the table or the constraint),
        // else what failed on the way (a refused or dropped connection). Never the URL.
        DbError::Postgres(match err.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            // The cause says why (a certificate not trusted, a refused connection); the
            // error's own words only say where ("error performing TLS handshake").
            None => match std::error::Error::source(&err) {
                Some(cause) => format!("{err}: {cause}"),
                None => err.to_string(),
            },
        })
    }
}

/// A cheap, cloneable handle to the one database of this process.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The newest messages and the event broadcast, fed by the writer after each commit.
    live: Arc<Live>,
    /// Signs session cookies; read once at open (see `settings`).
    session_key: [u8; settings::SESSION_KEY_LEN],
    jobs: mpsc::Sender<WriteJob>,
    // std Mutex: held only to pop or push a connection, never across an await or a query.
    readers: Mutex<Vec<Connection>>,
    // std Mutex: touched once, at shutdown, to take the handle and join the thread.
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Db {
    /// Opens (creating if needed) and migrates the database, then starts the writer thread.
    /// Blocking: call it before serving or from `spawn_blocking`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut conn = open_as(path, Access::Create)?;
        // Migrate first: a database we must refuse is then left exactly as it was.
        migrations::migrate(&mut conn)?;
        // WAL lets readers run while the writer commits; the pragma answers with the mode.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("database journal mode is {mode}, not WAL; readers may wait on writes");
        }
        let session_key = settings::session_key(&mut conn)?;
        let newest = queries::list(&conn, Page::Newest, CACHED)?;
        // The one full count of this process: from here the writer and the sync worker
        // keep the figures current as they commit.
        let counts = queries::counts(&conn)?;
        let live = Arc::new(Live::new(newest, counts.total, counts.pending));
        let (jobs, queue) = mpsc::channel(WRITE_QUEUE);
        let for_writer = Arc::clone(&live);
        let writer = std::thread::Builder::new()
            .name("bookchat-db-writer".into())
            .spawn(move || writer::run(conn, queue, &for_writer))
            .map_err(|err| DbError::Task(format!("cannot start the writer thread: {err}")))?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                live,
                session_key,
                jobs,
                readers: Mutex::new(Vec::new()),
                writer: Mutex::new(Some(writer)),
            }),
        })
    }

    /// What is new, in memory; see `live`.
    pub fn live(&self) -> &Arc<Live> {
        &self.inner.live
    }

    /// The key that signs session cookies, kept in the database so sessions outlive a
    /// restart.
    pub fn session_key(&self) -> [u8; settings::SESSION_KEY_LEN] {
        self.inner.session_key
    }

    /// A page of messages, oldest first: from memory when memory holds the whole answer
    /// (polls, the newest page), else from a reader connection.
    pub async fn list(&self, page: Page, limit: u32) -> Result<Vec<Message>, DbError> {
        match self.inner.live.page(page, limit as usize) {
            Some(messages) => Ok(messages),
            None => {
                self.read(move |conn| queries::list(conn, page, limit))
                    .await
            }
        }
    }

    /// Stores a message. Resolves only after its transaction has committed to disk.
    pub async fn insert(&self, message: NewMessage) -> Result<Message, DbError> {
        match self.insert_keyed(message, None).await? {
            Insertion::Created(stored) => Ok(stored),
            other => Err(DbError::Task(format!(
                "an insert without a key was answered {other:?}"
            ))),
        }
    }

    /// Stores a message unless `key` was used before (see `Insertion`). The writer checks
    /// and inserts in one step, so a repeat sent while the first is queued waits for it.
    pub async fn insert_keyed(
        &self,
        message: NewMessage,
        key: Option<IdempotencyKey>,
    ) -> Result<Insertion, DbError> {
        writer::submit_insert(&self.inner.jobs, message, key).await
    }

    /// Deletes a message (see `tombstone`) on the writer thread, after the inserts queued
    /// before it, so the message counts stay exact.
    pub async fn delete(&self, id: i64) -> Result<Tombstone, DbError> {
        writer::submit_delete(&self.inner.jobs, id).await
    }

    /// Runs `query` on a reader connection on the blocking pool.
    pub async fn read<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader()?;
            let result = query(&conn);
            inner.give_back(conn);
            result.map_err(DbError::from)
        })
        .await
        .map_err(|err| DbError::Task(err.to_string()))?
    }

    /// True while the writer thread is accepting inserts.
    pub fn is_writable(&self) -> bool {
        !self.inner.jobs.is_closed()
    }

    /// Lets the writer finish what is queued, then joins it. Later inserts get `Closed`.
    /// Blocking: call from `spawn_blocking` inside a runtime.
    pub fn close(&self) {
        // try_send can only fail if the queue is full (the stop is then queued by the
        // blocking send) or the writer is already gone (nothing to stop).
        if let Err(mpsc::error::TrySendError::Full(job)) = self.inner.jobs.try_send(WriteJob::Stop)
        {
            let _ = self.inner.jobs.blocking_send(job);
        }
        let handle = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                log::error!("the database writer thread panicked");
            }
        }
    }
}

impl Inner {
    fn take_reader(&self) -> Result<Connection, DbError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => open_as(&self.path, Access::ReadOnly),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < IDLE_READERS {
            readers.push(conn);
        }
    }
}

/// An in-memory database with BookChat's schema, for unit tests of the queries.
#[cfg(test)]
pub(crate) fn in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory SQLite");
    migrate(&mut conn).expect("migrations apply");
    conn
}

/// A file SQLite keeps beside the database: `-wal` or `-shm`.
pub fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Bytes of the database file and of its write-ahead log; 0 for one that is absent.
pub fn sizes_on_disk(db: &Path) -> (u64, u64) {
    let len = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    (len(db), len(&sidecar(db, "-wal")))
}

/// A read-write connection for a thread that updates rows outside the insert path (the
/// sync worker), with the same durability and patience as the writer's.
pub fn open_writer(path: &Path) -> Result<Connection, DbError> {
    open_as(path, Access::Create)
}

/// `sqlite::open`, its failure named with the path.
fn open_as(path: &Path, access: Access) -> Result<Connection, DbError> {
    sqlite::open(path, access).map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_message(text: &str) -> NewMessage {
        NewMessage::parse(text, Some("tester")).unwrap()
    }

    #[test]
    fn connections_are_durable_and_patient() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let db = Db::open(&path).unwrap();
        let reader = open_as(&path, Access::ReadOnly).unwrap();
        let writer = open_writer(&path).unwrap();
        let pragma = |conn: &Connection, name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        // 2 = FULL: every commit is synced to disk before it returns.
        assert_eq!(pragma(&writer, "synchronous"), "Integer(2)");
        assert_eq!(pragma(&reader, "busy_timeout"), "Integer(5000)");
        // WAL is a property of the file, set by the writer when it opened it.
        assert_eq!(pragma(&reader, "journal_mode"), "Text(\"wal\")");
        db.close();
    }

    #[tokio::test]
    async fn insert_then_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join(DB_FILE)).unwrap();
        let first = db.insert(new_message("one")).await.unwrap();
        let second = db.insert(new_message("two")).await.unwrap();
        assert!(second.id > first.id);
        assert!(!first.synced && first.git_commit_hash.is_none());
        let listed = db
            .read(|c| queries::list(c, Page::Newest, 50))
            .await
            .unwrap();
        assert_eq!(listed, vec![first.clone(), second.clone()]);
        let after = db
            .read(move |c| queries::list(c, Page::After(first.id), 50))
            .await
            .unwrap();
        assert_eq!(after, vec![second.clone()]);
        let before = db
            .read(move |c| queries::list(c, Page::Before(second.id), 50))
            .await
            .unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!(
            db.read(|c| queries::by_id(c, 999)).await.unwrap(),
            queries::Lookup::Missing
        );
    }

    #[tokio::test]
    async fn a_deleted_message_leaves_every_listing_and_its_text_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join(DB_FILE)).unwrap();
        for text in ["one", "secret two", "three"] {
            db.insert(new_message(text)).await.unwrap();
        }
        assert_eq!(db.delete(2).await.unwrap(), Tombstone::WasPending);
        assert_eq!(db.delete(2).await.unwrap(), Tombstone::Missing, "once only");
        assert_eq!(db.delete(99).await.unwrap(), Tombstone::Missing);
        let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(db.list(Page::Newest, 50).await.unwrap()), [1, 3]);
        let stored = db.read(|c| queries::list(c, Page::Newest, 50)).await;
        assert_eq!(ids(stored.unwrap()), [1, 3]);
        let after = db.read(|c| queries::list(c, Page::After(1), 1)).await;
        assert_eq!(
            ids(after.unwrap()),
            [3],
            "a limit counts only what is shown"
        );
        let lookup = db.read(|c| queries::by_id(c, 2)).await.unwrap();
        assert_eq!(lookup, queries::Lookup::Deleted);
        let row: (String, Option<String>, bool) = db
            .read(|c| {
                c.query_row(
                    "SELECT content, author, deleted_at IS NOT NULL FROM messages WHERE id = 2",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .await
            .unwrap();
        assert_eq!(
            row,
            (String::new(), None, true),
            "a tombstone holds no text"
        );
        db.close();
    }

    #[tokio::test]
    async fn limits_keep_the_messages_nearest_the_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join(DB_FILE)).unwrap();
        for i in 1..=10 {
            db.insert(new_message(&format!("m{i}"))).await.unwrap();
        }
        let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        let newest = db
            .read(|c| queries::list(c, Page::Newest, 3))
            .await
            .unwrap();
        assert_eq!(ids(newest), [8, 9, 10]);
        let before = db
            .read(|c| queries::list(c, Page::Before(8), 3))
            .await
            .unwrap();
        assert_eq!(ids(before), [5, 6, 7]);
        let after = db
            .read(|c| queries::list(c, Page::After(2), 3))
            .await
            .unwrap();
        assert_eq!(ids(after), [3, 4, 5]);
    }

    #[tokio::test]
    async fn inserts_after_close_are_refused_and_nothing_queued_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let db = Db::open(&path).unwrap();
        let pending: Vec<_> = (0..50)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { db.insert(new_message(&format!("m{i}"))).await })
            })
            .collect();
        let mut stored = 0;
        for task in pending {
            stored += usize::from(task.await.unwrap().is_ok());
        }
        let closer = db.clone();
        tokio::task::spawn_blocking(move || closer.close())
            .await
            .unwrap();
        assert!(!db.is_writable());
        assert!(matches!(
            db.insert(new_message("late")).await,
            Err(DbError::Closed)
        ));
        let reopened = Db::open(&path).unwrap();
        let count = reopened
            .read(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap();
        assert_eq!(usize::try_from(count).unwrap(), stored);
        assert_eq!(stored, 50);
    }
}
