//! `restore`: replaces the database with a fresh one rebuilt from a backup file's messages,
//! keeping the replaced database as a verified backup. The file is untrusted input: it is
//! read, never adopted. Every failure before the final rename leaves `bookchat.db` exactly
//! as it was.

use std::path::{Path, PathBuf};

use super::rebuild::{self, Carried};
use super::{
    copy_database, db_path, default_destination, remove_quietly, snapshot, sync_dir, sync_file,
    temp_path, verify, BackupError, Kind, Problem, Snapshot,
};
use crate::db::sqlite::{self, Access};
use crate::db::{sidecar, DbError};
use crate::lock::{DataDirLock, LockError};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot restore {}: {problem}", file.display())]
    Refused { file: PathBuf, problem: Problem },
    #[error("{0}")]
    Busy(#[from] LockError),
    #[error(
        "cannot keep the current database as a backup, so nothing was restored: {0} \
         (if the current database is damaged, move it out of the data directory first)"
    )]
    KeepCurrent(BackupError),
    #[error(
        "the write-ahead log {} of the current database could not be emptied, so nothing \
         was restored; is something else using it?", .0.display()
    )]
    StaleWal(PathBuf),
    #[error("{0}")]
    Backup(#[from] BackupError),
    #[error("cannot build the restored database: {0}")]
    Build(DbError),
    #[error("the rebuilt database failed verification, so nothing was restored: {0}")]
    Unverified(Problem),
    #[error("{0} bookchat node(s) serve this PostgreSQL database; stop them first")]
    Serving(i64),
    #[error(
        "another import or restore is running on this PostgreSQL database; wait for it to end"
    )]
    Occupied,
    #[error(
        "the PostgreSQL database is not empty ({0} message(s) in it), so nothing was restored: \
         restore loads a backup only into an empty database (create a new one and point \
         BOOKCHAT_DATABASE_URL at it)"
    )]
    NotEmpty(i64),
    #[error("cannot restore: {0}")]
    Postgres(DbError),
    #[error("cannot restore: {context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub db_path: PathBuf,
    pub messages: i64,
    /// The database that was replaced, kept as a verified backup; `None` if there was none.
    pub previous: Option<Snapshot>,
}

/// Checks `file` and makes a database rebuilt from its messages the database of `data_dir`.
/// Holds the data-directory lock throughout, so no server can start on a half-restored
/// directory, and refuses if one runs.
pub fn restore(data_dir: &Path, file: &Path) -> Result<Restored, RestoreError> {
    let refused = |problem| RestoreError::Refused {
        file: file.to_owned(),
        problem,
    };
    verify::sqlite_header(file).map_err(refused)?;
    std::fs::create_dir_all(data_dir).map_err(BackupError::io(format!(
        "cannot create data directory {}",
        data_dir.display()
    )))?;
    let _lock = DataDirLock::acquire(data_dir)?;
    let db = db_path(data_dir);
    let temps = Temps {
        source: temp_path(&db, "restore-source"),
        fresh: temp_path(&db, "restore"),
    };
    // Leftovers of a crashed restore under the same pid must not be built upon.
    temps.remove();
    let result = restore_locked(file, &db, &temps, data_dir);
    // The fresh database is gone by now when all went well: it was renamed into place.
    temps.remove();
    result
}

/// The hidden files a restore works in, beside the database.
pub(super) struct Temps {
    /// A copy of the file, the only thing ever opened as the file.
    pub source: PathBuf,
    /// The database being built, renamed to `bookchat.db` at the end (or, for PostgreSQL,
    /// loaded into it).
    pub fresh: PathBuf,
}

impl Temps {
    pub(super) fn remove(&self) {
        remove_quietly(&self.source);
        remove_quietly(&self.fresh);
    }
}

fn restore_locked(
    file: &Path,
    db: &Path,
    temps: &Temps,
    data_dir: &Path,
) -> Result<Restored, RestoreError> {
    let built = check_and_rebuild(file, temps)?;
    let previous = if db.exists() {
        let dest = default_destination(data_dir, Kind::PreRestore)?;
        Some(snapshot(db, &dest).map_err(RestoreError::KeepCurrent)?)
    } else {
        None
    };
    // Read from the kept backup: it is exactly what gets replaced, since the lock is held.
    let carried = match &previous {
        Some(kept) => rebuild::read_replaced(&kept.path)?,
        None => Carried::default(),
    };
    rebuild::finish(&temps.fresh, &built, &carried)?;
    empty_wal(db)?;
    sync_file(&temps.fresh)?;
    std::fs::rename(&temps.fresh, db).map_err(BackupError::io(format!(
        "cannot move the restored database to {}",
        db.display()
    )))?;
    sync_dir(db)?;
    Ok(Restored {
        db_path: db.to_owned(),
        messages: built.messages,
        previous,
    })
}

/// Copies `file` through the backup API (so a WAL-mode file is read as one consistent
/// state), checks the copy with every guard up, and builds the fresh database from its
/// messages.
pub(super) fn check_and_rebuild(
    file: &Path,
    temps: &Temps,
) -> Result<rebuild::Built, RestoreError> {
    let refused = |problem| RestoreError::Refused {
        file: file.to_owned(),
        problem,
    };
    if let Err(err) = copy_database(file, &temps.source) {
        return Err(match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                refused(Problem::Corrupt(err.to_string()))
            }
            _ => RestoreError::Sqlite {
                context: format!("cannot copy {}", file.display()),
                source: err,
            },
        });
    }
    let source = verify::open_untrusted(&temps.source).map_err(refused)?;
    verify::integrity(&source).map_err(refused)?;
    let shape = verify::schema(&source).map_err(refused)?;
    rebuild::copy_messages(&source, shape, &temps.fresh, file)
}

/// Folds the current database's write-ahead log into it and removes the log and its index.
/// They must go: SQLite would replay stale frames from the old log onto the new file.
fn empty_wal(db: &Path) -> Result<(), RestoreError> {
    let sqlite = |context: &str| {
        let context = format!("{context} {}", db.display());
        move |source| RestoreError::Sqlite { context, source }
    };
    let wal = sidecar(db, "-wal");
    if db.exists() {
        let conn = sqlite::open(db, Access::ReadWrite).map_err(sqlite("cannot open"))?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(sqlite("cannot checkpoint"))?;
        // Closing the last connection deletes the log; a reader elsewhere may keep it.
        conn.close()
            .map_err(|(_, err)| sqlite("cannot close")(err))?;
    }
    match std::fs::metadata(&wal) {
        Ok(meta) if meta.len() > 0 => return Err(RestoreError::StaleWal(wal)),
        _ => {}
    }
    for stale in [wal, sidecar(db, "-shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(
                    BackupError::io(format!("cannot remove {}", stale.display()))(err).into(),
                )
            }
        }
    }
    Ok(())
}
