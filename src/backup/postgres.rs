//! Backup and restore with a PostgreSQL URL. A backup is the usual SQLite file, verified
//! the usual way, holding one consistent snapshot of the PostgreSQL data (the way back to
//! one node). A restore checks FILE exactly as a restore into SQLite does, rebuilds its
//! messages into a fresh SQLite file first, and loads that into an empty PostgreSQL
//! database (the way from one node to many), never while a node serves it.

use std::path::Path;

use super::restore::{check_and_rebuild, RestoreError, Temps};
use super::{remove_quietly, temp_path, verify, verify_publish, BackupError, Snapshot};
use crate::db::sqlite::{self, Access};
use crate::db::{self, DbError};
use crate::secret::Secret;
use crate::store::pg::command::Session;
use crate::store::pg::exclusive::{self, Occupied};
use crate::store::pg::load::{self, LoadError};
use crate::store::pg::{schema, snapshot};

/// What the errors and the output call the source of a backup: never the URL, whose
/// password is a secret.
const SOURCE: &str = "the PostgreSQL database";

/// Copies the database of `session` to `dest` as a verified SQLite backup. As with
/// `backup::snapshot`, the copy is built under a hidden name and renamed only once checked.
pub fn snapshot_postgres(session: &mut Session, dest: &Path) -> Result<Snapshot, BackupError> {
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let temp = temp_path(dest, "partial");
    let result = build_copy(session, &temp)
        .and_then(|copied| verify_publish(&temp, dest, SOURCE, Some(copied)));
    if result.is_err() {
        remove_quietly(&temp);
    }
    result
}

/// Writes the snapshot into a fresh, migrated SQLite file at `temp`; answers its count.
fn build_copy(session: &mut Session, temp: &Path) -> Result<i64, BackupError> {
    let mut conn = db::open_writer(temp).map_err(BackupError::Postgres)?;
    db::migrate(&mut conn).map_err(BackupError::Postgres)?;
    let Session { runtime, client } = session;
    let copied = runtime
        .block_on(snapshot::copy_into(client, &mut conn))
        .map_err(BackupError::Postgres)?;
    conn.close()
        .map_err(|(_, err)| BackupError::Postgres(err.into()))?;
    Ok(copied)
}

/// What a restore into PostgreSQL did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredPg {
    pub messages: i64,
    /// The database's name (never the URL).
    pub database: String,
}

/// Checks `file` and loads its messages into the empty PostgreSQL database at `url`. The
/// serve lock is held exclusively from before the first check to the end, so no node
/// serves meanwhile; the checked copy is built in hidden files in `data_dir`, as a
/// restore into SQLite builds it.
pub fn restore_postgres(
    data_dir: &Path,
    file: &Path,
    url: &Secret,
) -> Result<RestoredPg, RestoreError> {
    verify::sqlite_header(file).map_err(|problem| RestoreError::Refused {
        file: file.to_owned(),
        problem,
    })?;
    let mut session = Session::open(url, "bookchat restore").map_err(RestoreError::Postgres)?;
    claim(&session)?;
    std::fs::create_dir_all(data_dir).map_err(BackupError::io(format!(
        "cannot create data directory {}",
        data_dir.display()
    )))?;
    let base = data_dir.join("postgres");
    let temps = Temps {
        source: temp_path(&base, "restore-source"),
        fresh: temp_path(&base, "restore"),
    };
    temps.remove();
    let result = rebuild_and_load(file, &temps, &mut session);
    temps.remove();
    result
}

/// Takes the serve lock and refuses a database that already holds messages, before
/// anything is written: a refusal changes nothing.
fn claim(session: &Session) -> Result<(), RestoreError> {
    let pg = RestoreError::Postgres;
    match session
        .block_on(exclusive::take(&session.client))
        .map_err(pg)?
    {
        Ok(()) => {}
        Err(Occupied::Serving(nodes)) => return Err(RestoreError::Serving(nodes)),
        Err(Occupied::Command) => return Err(RestoreError::Occupied),
    }
    match session.block_on(load::held(&session.client)).map_err(pg)? {
        0 => Ok(()),
        found => Err(RestoreError::NotEmpty(found)),
    }
}

fn rebuild_and_load(
    file: &Path,
    temps: &Temps,
    session: &mut Session,
) -> Result<RestoredPg, RestoreError> {
    let built = check_and_rebuild(file, temps)?;
    if built.messages >= ANNOUNCE_MESSAGES {
        eprintln!("loading {} messages into PostgreSQL…", built.messages);
    }
    let source =
        sqlite::open(&temps.fresh, Access::ReadOnly).map_err(|source| RestoreError::Sqlite {
            context: "cannot read the checked copy".into(),
            source,
        })?;
    let Session { runtime, client } = session;
    let pg = |err: DbError| RestoreError::Postgres(err);
    runtime.block_on(schema::migrate(client)).map_err(pg)?;
    let loaded = runtime.block_on(load::load(
        client,
        &source,
        built.highest_id,
        built.messages,
    ));
    let messages = match loaded {
        Ok(count) => count,
        Err(LoadError::NotEmpty(found)) => return Err(RestoreError::NotEmpty(found)),
        Err(LoadError::Db(err)) => return Err(pg(err)),
    };
    let (database, _) = session.database().map_err(pg)?;
    Ok(RestoredPg { messages, database })
}

/// Restores at least this big get a line on stderr first, so a long wait is explained.
const ANNOUNCE_MESSAGES: i64 = 100_000;
