//! Where `bookchat import` puts what it reads: the data directory's SQLite database, or
//! a PostgreSQL database that no node serves. Both answer the ids they hold and insert one
//! commit's messages, marked synced in that commit, in one transaction.

use std::collections::HashSet;

use rusqlite::{Connection, TransactionBehavior};

use super::import::ImportError;
use crate::db::DbError;
use crate::secret::Secret;
use crate::store::pg::command::Session;
use crate::store::pg::exclusive::{self, Occupied};
use crate::store::pg::{imported, schema};

/// One message read from the repository.
#[derive(Debug, Clone, Copy)]
pub struct Imported<'a> {
    pub id: i64,
    pub content: &'a str,
    pub author: Option<&'a str>,
    pub created_at: &'a str,
}

pub trait ImportSink {
    /// Every id the database holds, deleted ones too.
    fn existing_ids(&mut self) -> Result<HashSet<i64>, ImportError>;
    /// Inserts `rows` as synced in `commit`; an id the database has is left alone.
    /// Answers how many were added.
    fn insert(&mut self, rows: &[Imported<'_>], commit: &str) -> Result<usize, ImportError>;
}

impl ImportSink for Connection {
    fn existing_ids(&mut self) -> Result<HashSet<i64>, ImportError> {
        let ids = self
            .prepare("SELECT id FROM messages")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn insert(&mut self, rows: &[Imported<'_>], commit: &str) -> Result<usize, ImportError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut added = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO messages \
                 (id, content, author, created_at, git_commit_hash, synced) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            )?;
            for row in rows {
                added += stmt.execute((row.id, row.content, row.author, row.created_at, commit))?;
            }
        }
        tx.commit()?;
        Ok(added)
    }
}

/// A PostgreSQL database, held for the whole import: its session holds the serve lock
/// exclusively, so no node serves while messages arrive under its feet (their listeners
/// would never see ids below the ones they know) and none starts until it is done.
pub struct PgSink {
    session: Session,
    /// The database's name, for the opening line (never the URL).
    pub database: String,
}

impl PgSink {
    /// Connects, takes the serve lock (refusing while any node serves) and migrates.
    pub fn open(url: &Secret) -> Result<PgSink, ImportError> {
        let mut session = Session::open(url, "bookchat import")?;
        match session.block_on(exclusive::take(&session.client))? {
            Ok(()) => {}
            Err(Occupied::Serving(_)) => return Err(ImportError::Serving),
            Err(Occupied::Command) => return Err(ImportError::Occupied),
        }
        let Session { runtime, client } = &mut session;
        runtime.block_on(schema::migrate(client))?;
        let (database, _) = session.database()?;
        Ok(PgSink { session, database })
    }
}

impl ImportSink for PgSink {
    fn existing_ids(&mut self) -> Result<HashSet<i64>, ImportError> {
        let session = &self.session;
        Ok(session.block_on(imported::existing_ids(&session.client))?)
    }

    fn insert(&mut self, rows: &[Imported<'_>], commit: &str) -> Result<usize, ImportError> {
        let rows: Vec<imported::Row> = rows
            .iter()
            .map(|r| (r.id, r.content, r.author, r.created_at))
            .collect();
        let Session { runtime, client } = &mut self.session;
        Ok(runtime.block_on(imported::insert_synced(client, &rows, commit))?)
    }
}

impl From<DbError> for ImportError {
    fn from(err: DbError) -> ImportError {
        ImportError::Store(err)
    }
}
