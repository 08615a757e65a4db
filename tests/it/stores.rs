//! Tests that need a store run once per store: `per_store!` turns one async test body into
//! a `sqlite` and a `postgres` test, and `StoreKind` is what the body gets, to start its
//! servers on. The PostgreSQL run gets a fresh empty database (see `pg`), and skips when
//! there is no test cluster outside CI.

use std::path::Path;

use bookchat::cli::ServeArgs;
use bookchat::config::Config;
use bookchat::secret::Secret;

use crate::fake_github::FakeGitHub;
use crate::support::TestServer;

/// The store a test body runs on.
#[derive(Debug, Clone)]
pub enum StoreKind {
    Sqlite,
    /// A fresh database on the test cluster.
    Postgres(String),
}

impl StoreKind {
    /// Points the server's arguments at this store.
    pub fn apply(&self, args: &mut ServeArgs) {
        if let StoreKind::Postgres(url) = self {
            args.data.database_url = Some(Secret::new(url));
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreKind::Postgres(_))
    }

    /// Another empty store of this kind, for a test whose servers must not share one.
    pub async fn another(&self) -> StoreKind {
        match self {
            StoreKind::Sqlite => StoreKind::Sqlite,
            StoreKind::Postgres(_) => StoreKind::Postgres(
                crate::pg::fresh_database()
                    .await
                    .expect("the test cluster of the first"),
            ),
        }
    }

    /// A server on this store with default test settings.
    pub async fn start(&self) -> TestServer {
        self.start_with(|_| {}).await
    }

    /// A server on this store, its arguments adjusted.
    pub async fn start_with(&self, adjust: impl FnOnce(&mut ServeArgs)) -> TestServer {
        TestServer::start_with(|args| {
            self.apply(args);
            adjust(args);
        })
        .await
    }

    /// A server on this store in `dir` (restart tests reuse one).
    pub async fn start_in(&self, dir: &Path, adjust: impl FnOnce(&mut ServeArgs)) -> TestServer {
        TestServer::start_in(dir, |args| {
            self.apply(args);
            adjust(args);
        })
        .await
    }

    /// A server on this store syncing to `fake`, with test-sized waits.
    pub async fn start_synced(&self, fake: &FakeGitHub) -> TestServer {
        TestServer::start_synced_with(fake, |args| self.apply(args)).await
    }

    /// A server on this store in `dir` syncing to `fake`, its arguments adjusted.
    pub async fn start_synced_in(
        &self,
        dir: &Path,
        fake: &FakeGitHub,
        adjust: impl FnOnce(&mut ServeArgs),
    ) -> TestServer {
        TestServer::start_synced_in_with(dir, fake, |args| {
            self.apply(args);
            adjust(args);
        })
        .await
    }

    /// A server on this store in `dir`, its arguments and then its `Config` adjusted.
    pub async fn start_configured(
        &self,
        dir: &Path,
        adjust: impl FnOnce(&mut ServeArgs),
        adjust_config: impl FnOnce(&mut Config),
    ) -> TestServer {
        TestServer::start_configured(
            dir,
            |args| {
                self.apply(args);
                adjust(args);
            },
            adjust_config,
        )
        .await
    }

    /// Messages stored in `dir` on this store with sync off (see `support::store_offline`).
    pub async fn store_offline(&self, dir: &Path, contents: &[String]) -> Vec<serde_json::Value> {
        crate::support::store_offline(dir, contents, |args| self.apply(args)).await
    }

    /// Runs `sql` (statements both engines read alike) on the store's tables behind the
    /// server's back: the SQLite file in `dir`, or the database.
    pub async fn execute(&self, dir: &Path, sql: &str) {
        match self {
            StoreKind::Sqlite => sqlite(dir).execute_batch(sql).unwrap(),
            StoreKind::Postgres(url) => crate::pg::connect(url)
                .await
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// The one row of integers `sql` answers, read straight from the store in `dir`.
    pub async fn query_ints(&self, dir: &Path, sql: &str) -> Vec<i64> {
        match self {
            StoreKind::Sqlite => {
                let conn = sqlite(dir);
                let mut statement = conn.prepare(sql).unwrap();
                let columns = statement.column_count();
                statement
                    .query_row([], |row| (0..columns).map(|i| row.get(i)).collect())
                    .unwrap()
            }
            StoreKind::Postgres(url) => {
                let row = crate::pg::connect(url)
                    .await
                    .query_one(sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                (0..row.len()).map(|i| row.get(i)).collect()
            }
        }
    }
}

/// The SQLite file of the data directory `dir`, waiting out the server's writer.
fn sqlite(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join(bookchat::db::DB_FILE)).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

/// `per_store! { async fn name(store) { … } }` makes the module `name` with the tests
/// `name::sqlite` and `name::postgres`, each running the body with its `StoreKind`.
macro_rules! per_store {
    ($(#[doc = $doc:literal])* async fn $name:ident($store:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports, reason = "the body may use anything its file imports")]
            use super::*;

            async fn body($store: $crate::stores::StoreKind) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body($crate::stores::StoreKind::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(url) = $crate::pg::fresh_database().await {
                    body($crate::stores::StoreKind::Postgres(url)).await;
                }
            }
        }
    };
}
pub(crate) use per_store;
