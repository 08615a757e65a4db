//! Tests that need a store run once per store: `per_store!` turns one async test body into
//! a `sqlite` and a `postgres` test, and `StoreKind` is what the body gets, to start its
//! servers on. The PostgreSQL run gets a fresh empty database (see `pg`), and skips when
//! there is no test cluster outside CI.

use std::path::Path;

use bookchat::cli::ServeArgs;
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
