//! The running server as one value, as in mini-redis: `App::start` binds the port, takes the
//! data directory, opens the database and starts sync and backups; `App::run` serves until
//! the shutdown future resolves, then stops every part in one known order. `http` keeps only
//! the listener, the service and the graceful drain.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod https;

use crate::backup::BackupHandle;
use crate::config::Config;
use crate::error::Error;
use crate::http::{self, Server};
use crate::lock::DataDirLock;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::Store;
use crate::sync::SyncHandle;

/// How long shutdown waits for a GitHub request in flight before leaving the worker.
const SYNC_DEADLINE: Duration = Duration::from_secs(10);
/// How long shutdown waits for an automatic backup in progress: long enough for a large
/// database, since a copy cannot stop half-way.
const BACKUP_DEADLINE: Duration = Duration::from_secs(30);

/// A started server: what `serve` runs, and what the integration tests start in-process.
pub struct App {
    /// The listener and the service; `run` drains it before any part below stops.
    server: Server,
    /// HTTPS's tasks (SIGHUP, renewals, the redirect port), stopped with the listener.
    https: https::Tasks,
    /// What outlives the connections, stopped by drop once they have drained.
    parts: Parts,
}

/// The parts behind the server, each a guard that stops its part when dropped. Rust drops
/// fields in declaration order, and that is the shutdown order: sync and backups first
/// (they read and write the database), then the database writer (it commits what is
/// queued), and the data directory's lock last, once nothing can touch the files. A start
/// that fails half-way drops what it built in reverse order of building: the same order.
/// They are held here, not in `AppState`: a connection task that outlives the drain may
/// still hold the state, but the workers must stop and the directory be free the moment
/// `run` returns. Every drop blocks (it joins a thread), so `run` drops them on the
/// blocking pool; an `App` dropped without running stops them on the current thread.
struct Parts {
    sync: StopSync,
    backups: StopBackups,
    db: CloseDb,
    #[allow(dead_code, reason = "held for its drop, never read")]
    lock: DataDirLock,
}

impl App {
    /// Binds the port, then locks the data directory, opens the database and starts the
    /// background workers. On any error, what was started is stopped again.
    pub async fn start(config: Config) -> Result<App, Error> {
        // The port first: a second server on a busy port stops before it touches any data.
        let listener = http::listen(config.bind).await?;
        let port = listener
            .local_addr()
            .map_or(config.bind.port(), |a| a.port());
        let mut https = https::Https::start(&config, port).await?;
        let started = tokio::task::spawn_blocking(move || {
            let parts = Parts::start(&config)?;
            Ok::<_, Error>((config, parts))
        })
        .await
        .map_err(|err| Error::io("start-up failed", std::io::Error::other(err)))?;
        let (config, parts) = started?;
        https.start_acme(&config.data_dir).await?;
        let mut state = AppState::new(
            config,
            parts.db.0.clone(),
            parts.sync.0.clone(),
            parts.backups.0.clone(),
        );
        state.certs = https.tls.as_ref().map(|tls| Arc::clone(tls.certs()));
        Ok(App {
            server: Server::new(listener, Arc::new(state), https.tls),
            https: https.tasks,
            parts,
        })
    }

    /// The handles requests share: for an embedding program or a test to read the
    /// workers' status while `run` serves.
    pub fn state(&self) -> Arc<AppState> {
        self.server.state()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The address to open, as the start-up line gives it.
    pub fn url(&self) -> String {
        let scheme = if self.server.speaks_tls() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.local_addr())
    }

    /// Serves until `shutdown` resolves; then drains open connections (see `http`), stops
    /// the parts in `Parts`' order, and logs "stopped".
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let App {
            server,
            https,
            parts,
        } = self;
        server.run(shutdown).await;
        drop(https);
        if tokio::task::spawn_blocking(move || drop(parts))
            .await
            .is_err()
        {
            log::error!("the workers or the database did not stop cleanly");
        }
        log::info!("stopped");
        Ok(())
    }
}

impl Parts {
    /// Blocking: call from `spawn_blocking`.
    fn start(config: &Config) -> Result<Parts, Error> {
        let data_dir = &config.data_dir;
        create_data_dir(data_dir)?;
        // Before the database opens: a second server on this directory stops here, and a
        // restore cannot swap the file under us.
        let lock = DataDirLock::acquire(data_dir)?;
        let url = config.database_url.as_ref().map(Secret::expose);
        let store = tokio::runtime::Handle::current().block_on(Store::open(url, &config.db_path()));
        let db = CloseDb(store?);
        let sync = StopSync(SyncHandle::start(
            config.github.clone(),
            &db.0,
            &config.db_path(),
        )?);
        // Messages committed on other nodes wake this node's worker too (it syncs only
        // while it holds the lease).
        let waker = sync.0.clone();
        db.0.on_created(move || waker.notify());
        let backups = StopBackups(BackupHandle::start(backup_policy(config, &db.0), data_dir)?);
        Ok(Parts {
            sync,
            backups,
            db,
            lock,
        })
    }
}

/// Stops the sync worker between GitHub requests, waiting up to `SYNC_DEADLINE`.
struct StopSync(SyncHandle);

impl Drop for StopSync {
    fn drop(&mut self) {
        self.0.shutdown(SYNC_DEADLINE);
    }
}

/// Stops the backup thread, letting a copy in progress finish for up to `BACKUP_DEADLINE`.
struct StopBackups(BackupHandle);

impl Drop for StopBackups {
    fn drop(&mut self) {
        self.0.shutdown(BACKUP_DEADLINE);
    }
}

/// Automatic backups copy the data directory's SQLite file; with PostgreSQL there is none,
/// and the database's own backups (or `bookchat backup`, run by hand or by a timer) apply.
fn backup_policy(config: &Config, store: &Store) -> crate::backup::BackupPolicy {
    let mut policy = config.backups;
    if matches!(store, Store::Postgres(_)) && policy.interval.is_some() {
        log::info!(
            "automatic backups are off with PostgreSQL: use `bookchat backup` (a SQLite \
             snapshot) or PostgreSQL's own backups"
        );
        policy.interval = None;
    }
    policy
}

/// Lets the database writer commit what is queued, then stops it.
struct CloseDb(Store);

impl Drop for CloseDb {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn create_data_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|err| {
        let what = if dir.exists() && !dir.is_dir() {
            format!(
                "the data directory {} is a file, not a directory",
                dir.display()
            )
        } else {
            format!("cannot create data directory {}", dir.display())
        };
        Error::io(what, err)
    })
}
