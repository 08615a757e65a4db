//! What a one-shot command (`backup`, `restore`, `stats`, `import`) needs of PostgreSQL:
//! a small runtime of its own and one session on it. The commands are plain blocking
//! code, so they drive the session with `block_on`, one step at a time.

use std::future::Future;

use tokio::runtime::Runtime;
use tokio_postgres::Client;

use super::connect::Target;
use crate::db::DbError;
use crate::secret::Secret;

/// One session of a command. The session's connection runs as a task of `runtime`, so it
/// makes progress only inside `block_on`: enough, since a command waits on each answer.
pub struct Session {
    pub runtime: Runtime,
    pub client: Client,
}

impl Session {
    /// Connects to `url` as `application` (what `pg_stat_activity` shows). Errors never
    /// quote the URL: its password is a secret.
    pub fn open(url: &Secret, application: &str) -> Result<Session, DbError> {
        let target = Target::parse(url.expose(), application)?;
        // One thread: a command does one thing at a time, and the 2 cores are the server's.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| DbError::Task(format!("cannot start the async runtime: {err}")))?;
        let client = runtime.block_on(target.client())?;
        Ok(Session { runtime, client })
    }

    /// Runs `work` on this session's runtime.
    pub fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    /// `pg_database_size` of the database the session is on, and its name.
    pub fn database(&self) -> Result<(String, u64), DbError> {
        let row = self.block_on(self.client.query_one(
            "SELECT current_database()::text, pg_database_size(current_database())",
            &[],
        ))?;
        let bytes: i64 = row.get(1);
        Ok((row.get(0), u64::try_from(bytes).unwrap_or(0)))
    }
}
