//! The PostgreSQL room of the store: several `bookchat serve` processes share one chat.
//! Each node has a pool of sessions for reads, one writer task that group-commits inserts
//! (ids in commit order across nodes, see `writer`), a listener that brings the other
//! nodes' commits into this node's live page (see `listen`), and, with sync on, a lease
//! that lets exactly one node sync to GitHub (see `lease`).

pub mod command;
mod connect;
pub mod exclusive;
mod feed;
pub mod imported;
mod lease;
mod listen;
pub mod load;
pub mod queue;
mod rows;
pub mod schema;
pub mod snapshot;
mod writer;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use connect::Target;
pub use queue::PgQueue;

use crate::db::queries::{Counts, Lookup};
use crate::db::settings::SESSION_KEY_LEN;
use crate::db::Page;
use crate::db::WriteJob as Job;
use crate::db::{DbError, IdempotencyKey, Insertion, Tombstone};
use crate::live::{Live, CACHED};
use crate::message::Message;
use rows::{message, pool_error, MESSAGE_COLUMNS};

/// Inserts waiting for the writer before `insert` starts to wait (back-pressure).
const WRITE_QUEUE: usize = 1024;
/// How long start-up waits for the listener's first `LISTEN`.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the writer to commit what is queued.
const CLOSE_DEADLINE: Duration = Duration::from_secs(30);
/// A health check not answered by then reports the database down.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// This process among the nodes: random per start, so a node can tell its own
/// notifications from the others'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId(pub u64);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

type Hook = Box<dyn Fn() + Send + Sync>;

/// A cheap, cloneable handle to this node's share of the PostgreSQL store.
#[derive(Clone)]
pub struct Pg {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    pool: Pool,
    live: Arc<Live>,
    node: NodeId,
    session_key: [u8; SESSION_KEY_LEN],
    jobs: mpsc::Sender<Job>,
    /// Turns true at shutdown: the listener and the lease stop.
    stop: watch::Sender<bool>,
    listening: watch::Receiver<bool>,
    lease: Arc<lease::Lease>,
    /// Whether the task that keeps `lease` was started (by the first `sync_queue`).
    lease_started: std::sync::Once,
    /// Called when the listener brings in other nodes' messages: wakes the sync worker.
    on_created: Arc<OnceLock<Hook>>,
    // std Mutexes: touched at start and at shutdown only, never across an await.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Disconnects when the writer task has returned.
    writer_done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Pg {
    /// Connects, migrates (one node at a time), reads the session key and the newest
    /// messages, and starts this node's listener and writer.
    pub async fn open(url: &str) -> Result<Pg, DbError> {
        let target = Target::parse(url, "bookchat serve")?;
        let mut client = target.client().await?;
        schema::migrate(&mut client).await?;
        let session_key = session_key(&client).await?;
        let newest = list_on(&client, Page::Newest, CACHED).await?;
        let counts = counts_on(&client).await?;
        drop(client);
        let live = Arc::new(Live::new(newest, counts.total, counts.pending));
        let node = NodeId(random_u64()?);
        let (stop, stopped) = watch::channel(false);
        let (listening_tx, mut listening) = watch::channel(false);
        let on_created: Arc<OnceLock<Hook>> = Arc::default();
        let hook = Arc::clone(&on_created);
        let feed = Arc::new(feed::Feed::new(Arc::clone(&live)));
        let listener = tokio::spawn(listen::run(
            target.clone(),
            Arc::clone(&feed),
            node,
            listening_tx,
            Arc::new(move || {
                if let Some(wake) = hook.get() {
                    wake();
                }
            }),
            stopped,
        ));
        let first = tokio::time::timeout(LISTEN_TIMEOUT, listening.wait_for(|on| *on))
            .await
            .is_ok_and(|seen| seen.is_ok());
        if !first {
            let _ = stop.send(true);
            return Err(DbError::Postgres(
                "cannot listen for the other nodes' messages (is an import running?)".into(),
            ));
        }
        let pool = target.pool()?;
        let (jobs, queue) = mpsc::channel(WRITE_QUEUE);
        let (finished, writer_done) = std::sync::mpsc::channel::<()>();
        let writer_pool = pool.clone();
        let writer = tokio::spawn(async move {
            writer::run(writer_pool, queue, feed, node).await;
            drop(finished);
        });
        log::info!("messages live in PostgreSQL; this node is {node}");
        Ok(Pg {
            inner: Arc::new(Inner {
                target,
                pool,
                live,
                node,
                session_key,
                jobs,
                stop,
                listening,
                lease: Arc::default(),
                lease_started: std::sync::Once::new(),
                on_created,
                tasks: Mutex::new(vec![listener, writer]),
                writer_done: Mutex::new(Some(writer_done)),
            }),
        })
    }

    pub fn live(&self) -> &Arc<Live> {
        &self.inner.live
    }

    pub fn session_key(&self) -> [u8; SESSION_KEY_LEN] {
        self.inner.session_key
    }

    /// Runs `wake` whenever another node's messages arrive (the sync worker's wake-up).
    pub fn on_created(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.inner.on_created.set(Box::new(wake));
    }

    /// The sync worker's queue; starts the lease task, so only nodes with sync on compete.
    /// One lease task per node, however many queues are made (the worker makes two: its
    /// own and its write budget's): two sessions sharing one `Lease` would each find the
    /// other's lock not theirs and drop the lease, over and over.
    pub fn sync_queue(&self) -> PgQueue {
        self.inner.lease_started.call_once(|| {
            let task = tokio::spawn(lease::run(
                self.inner.target.clone(),
                Arc::clone(&self.inner.lease),
                self.inner.stop.subscribe(),
            ));
            self.inner.tasks().push(task);
        });
        PgQueue {
            pool: self.inner.pool.clone(),
            handle: tokio::runtime::Handle::current(),
            lease: Arc::clone(&self.inner.lease),
            node: self.inner.node,
        }
    }

    pub async fn list(&self, page: Page, limit: u32) -> Result<Vec<Message>, DbError> {
        if let Some(messages) = self.inner.live.page(page, limit as usize) {
            return Ok(messages);
        }
        let session = self.inner.pool.get().await.map_err(pool_error)?;
        list_on(&**session, page, limit).await
    }

    pub async fn lookup(&self, id: i64) -> Result<Lookup, DbError> {
        let client = self.inner.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {MESSAGE_COLUMNS}, deleted_at IS NOT NULL FROM messages WHERE id = $1"
                ),
                &[&id],
            )
            .await?;
        Ok(match row {
            Some(row) if row.get::<_, bool>(6) => Lookup::Deleted,
            Some(row) => Lookup::Found(message(&row, 0)),
            None => Lookup::Missing,
        })
    }

    pub async fn insert_keyed(
        &self,
        message: crate::message::NewMessage,
        key: Option<IdempotencyKey>,
    ) -> Result<Insertion, DbError> {
        crate::db::submit_insert(&self.inner.jobs, message, key).await
    }

    pub async fn delete(&self, id: i64) -> Result<Tombstone, DbError> {
        crate::db::submit_delete(&self.inner.jobs, id).await
    }

    /// What a page that was away must learn (see `db::queries::snapshot`).
    pub async fn snapshot(
        &self,
        window: u32,
        deleted_since: &str,
    ) -> Result<(Vec<i64>, Vec<i64>), DbError> {
        let client = self.inner.pool.get().await.map_err(pool_error)?;
        let window = i64::from(window);
        let unsynced = client
            .query(
                "SELECT id FROM (SELECT id, synced, deleted_at FROM messages ORDER BY id DESC \
                 LIMIT $1) AS newest WHERE NOT synced AND deleted_at IS NULL ORDER BY id",
                &[&window],
            )
            .await?;
        let deleted = client
            .query(
                "SELECT id FROM messages WHERE deleted_at IS NOT NULL AND deleted_at >= $1 \
                 ORDER BY deleted_at, id LIMIT $2",
                &[&deleted_since, &window],
            )
            .await?;
        let ids = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get(0)).collect();
        Ok((ids(unsynced), ids(deleted)))
    }

    /// Health: the writer runs, the listener is connected, and a query answers in time.
    pub async fn ping(&self) -> Result<(), DbError> {
        if self.inner.jobs.is_closed() {
            return Err(DbError::Closed);
        }
        if !*self.inner.listening.borrow() {
            return Err(DbError::Postgres("the listener is reconnecting".into()));
        }
        let query = async {
            let client = self.inner.pool.get().await.map_err(pool_error)?;
            client
                .query_one("SELECT max(id) FROM messages", &[])
                .await?;
            Ok(())
        };
        tokio::time::timeout(PING_TIMEOUT, query)
            .await
            .unwrap_or_else(|_| Err(DbError::Postgres("no answer in time".into())))
    }

    pub async fn counts(&self) -> Result<Counts, DbError> {
        let session = self.inner.pool.get().await.map_err(pool_error)?;
        counts_on(&**session).await
    }

    pub fn is_writable(&self) -> bool {
        !self.inner.jobs.is_closed()
    }

    /// Bytes of this database on the server (`pg_database_size`).
    pub async fn size(&self) -> Result<u64, DbError> {
        let client = self.inner.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Lets the writer finish what is queued (waiting at most `CLOSE_DEADLINE`), then
    /// stops this node's listener and lease, which frees the sync lock at once. Blocking:
    /// call from `spawn_blocking` or a thread of its own.
    pub fn close(&self) {
        // As `Db::close`: a full queue takes the stop after what is queued.
        if let Err(mpsc::error::TrySendError::Full(job)) = self.inner.jobs.try_send(Job::Stop) {
            let _ = self.inner.jobs.blocking_send(job);
        }
        let done = self
            .inner
            .writer_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(done) = done {
            // The writer drops its end when it returns: Err(Disconnected) is "done".
            if let Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                done.recv_timeout(CLOSE_DEADLINE)
            {
                log::error!("the PostgreSQL writer did not stop in time");
            }
        }
        let _ = self.inner.stop.send(true);
        for task in std::mem::take(&mut *self.inner.tasks()) {
            task.abort();
        }
        self.inner.pool.close();
    }
}

impl Inner {
    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn random_u64() -> Result<u64, DbError> {
    let mut bytes = [0; 8];
    getrandom::getrandom(&mut bytes)
        .map_err(|err| DbError::Task(format!("no random source: {err}")))?;
    Ok(u64::from_le_bytes(bytes))
}

async fn list_on(
    client: &impl tokio_postgres::GenericClient,
    page: Page,
    limit: u32,
) -> Result<Vec<Message>, DbError> {
    let (order, bound, op) = match page {
        Page::Newest => ("DESC", i64::MAX, "<"),
        Page::Before(id) => ("DESC", id, "<"),
        Page::After(id) => ("ASC", id, ">"),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id {op} $1 AND deleted_at IS NULL \
         ORDER BY id {order} LIMIT $2"
    );
    let rows = client.query(&sql, &[&bound, &i64::from(limit)]).await?;
    let mut messages: Vec<Message> = rows.iter().map(|r| message(r, 0)).collect();
    if order == "DESC" {
        messages.reverse();
    }
    Ok(messages)
}

/// The figures of `db::queries::counts`, in one snapshot. PostgreSQL keeps no row count
/// either: as on SQLite, only start-up and `bookchat stats` count.
pub async fn counts_on(client: &impl tokio_postgres::GenericClient) -> Result<Counts, DbError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM messages), \
                    (SELECT count(*) FROM messages WHERE NOT synced), \
                    (SELECT created_at FROM messages ORDER BY id DESC LIMIT 1), \
                    (SELECT created_at FROM messages WHERE NOT synced ORDER BY id LIMIT 1)",
            &[],
        )
        .await?;
    let (total, pending): (i64, i64) = (row.get(0), row.get(1));
    Ok(Counts {
        total,
        synced: total - pending,
        pending,
        newest_at: row.get(2),
        oldest_pending_at: row.get(3),
    })
}

/// The session key (see `db::settings`): the first node to start makes it, every other
/// node reads that one, so a cookie signed on one node is good on all.
async fn session_key(
    client: &impl tokio_postgres::GenericClient,
) -> Result<[u8; SESSION_KEY_LEN], DbError> {
    let mut fresh = [0; SESSION_KEY_LEN];
    getrandom::getrandom(&mut fresh)
        .map_err(|err| DbError::Task(format!("cannot create a session key: {err}")))?;
    let name = crate::db::settings::SESSION_KEY;
    client
        .execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &fresh.as_slice()],
        )
        .await?;
    let stored: Vec<u8> = client
        .query_one("SELECT value FROM settings WHERE name = $1", &[&name])
        .await?
        .get(0);
    if let Ok(key) = <[u8; SESSION_KEY_LEN]>::try_from(stored) {
        return Ok(key);
    }
    log::warn!("the stored session key was unusable; made a new one, which ends every sign-in");
    client
        .execute(
            "UPDATE settings SET value = $2 WHERE name = $1",
            &[&name, &fresh.as_slice()],
        )
        .await?;
    Ok(fresh)
}
