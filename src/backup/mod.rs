//! Verified backups: a consistent copy through SQLite's online backup API, checked before it
//! gets its final name, so a file named like a backup is always a good one. Also home to
//! restore and to the server's automatic backups, which reuse the same copy and checks.

mod auto;
pub mod files;
mod postgres;
mod rebuild;
mod restore;
pub mod verify;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};

pub use auto::{BackupHandle, BackupPolicy, BackupStatus};
pub use files::{backups_dir, Kind};
pub use postgres::{restore_postgres, snapshot_postgres, RestoredPg};
pub use restore::{restore, RestoreError, Restored};
pub use verify::Problem;

use crate::db::sqlite::{self, Access};
use crate::db::{DbError, DB_FILE};

/// A step answered BUSY or LOCKED is retried this often, `BUSY_PAUSE` apart, before the
/// copy gives up: WAL readers are almost never refused, so this only bounds a pathology.
const BUSY_RETRIES: u32 = 100;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no database at {}: is --data-dir (BOOKCHAT_DATA_DIR) right?", .0.display())]
    NoDatabase(PathBuf),
    #[error("{} already exists; not overwriting it", .0.display())]
    Exists(PathBuf),
    #[error("cannot copy {}: {source}", from.display())]
    Copy {
        from: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// `from` names what was copied: a file's path, or "the PostgreSQL database".
    #[error("the copy of {from} failed verification, so no backup was written: {problem}")]
    Unverified { from: String, problem: Problem },
    #[error("cannot back up the PostgreSQL database: {0}")]
    Postgres(DbError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl BackupError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let context = context.into();
        move |source| BackupError::Io { context, source }
    }
}

/// A backup that exists under its final name and passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    pub messages: i64,
}

/// `data_dir/backups/<kind>-<now>.db`, creating the folder if needed.
pub fn default_destination(data_dir: &Path, kind: Kind) -> Result<PathBuf, BackupError> {
    let dir = backups_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .map_err(BackupError::io(format!("cannot create {}", dir.display())))?;
    Ok(dir.join(files::file_name(kind, chrono::Utc::now())))
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Copies the database at `db` to `dest`, safe while a server writes to it. The copy is
/// written under a hidden temporary name beside `dest`, verified (integrity check and a
/// message count read back from it), synced, and only then given its final name; on any
/// failure the temporary file is removed and `dest` never appears.
pub fn snapshot(db: &Path, dest: &Path) -> Result<Snapshot, BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.to_owned()));
    }
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let temp = temp_path(dest, "partial");
    let result = copy_verify_publish(db, &temp, dest);
    if result.is_err() {
        remove_quietly(&temp);
    }
    result
}

fn copy_verify_publish(db: &Path, temp: &Path, dest: &Path) -> Result<Snapshot, BackupError> {
    copy_database(db, temp).map_err(|source| BackupError::Copy {
        from: db.to_owned(),
        source,
    })?;
    verify_publish(temp, dest, &db.display().to_string(), None)
}

/// Checks the copy at `temp` (integrity, and its message count read back, which must be
/// `expected` when the copier counted), syncs it and gives it its final name `dest`.
fn verify_publish(
    temp: &Path,
    dest: &Path,
    from: &str,
    expected: Option<i64>,
) -> Result<Snapshot, BackupError> {
    let unverified = |problem| BackupError::Unverified {
        from: from.to_owned(),
        problem,
    };
    let copy = verify::open_copy(temp).map_err(unverified)?;
    verify::integrity(&copy).map_err(unverified)?;
    let messages = verify::message_count(&copy).map_err(unverified)?;
    if let Some(copied) = expected.filter(|copied| *copied != messages) {
        return Err(unverified(Problem::Corrupt(format!(
            "it holds {messages} messages, not the {copied} copied"
        ))));
    }
    drop(copy);
    sync_file(temp)?;
    publish(temp, dest)?;
    let bytes = std::fs::metadata(dest)
        .map_err(BackupError::io(format!("cannot read {}", dest.display())))?
        .len();
    Ok(Snapshot {
        path: dest.to_owned(),
        bytes,
        messages,
    })
}

/// One consistent copy of `src` into a new file at `dest` through the online backup API.
///
/// All pages go in a single step (`-1`): the step holds one read transaction from start to
/// end, which in WAL mode never blocks the server's writer. Copying in small steps instead
/// would restart from the first page whenever the server commits in between, and a busy
/// server could keep it restarting forever.
pub(crate) fn copy_database(src: &Path, dest: &Path) -> rusqlite::Result<()> {
    let source = sqlite::open(src, Access::ReadOnly)?;
    let mut target = sqlite::open(dest, Access::Create)?;
    {
        let backup = Backup::new(&source, &mut target)?;
        let mut retries = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::Busy | StepResult::Locked if retries < BUSY_RETRIES => {
                    retries += 1;
                    std::thread::sleep(BUSY_PAUSE);
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed busy; try again".into()),
                    ))
                }
                // More only follows a partial step; with -1 SQLite never stops half-way,
                // but asking again is the correct answer if it ever did.
                _ => {}
            }
        }
    }
    // The copy inherits WAL mode from the live database. A backup is a file to keep and
    // move around, so make it one self-contained file that opens (even read-only)
    // without creating -wal and -shm files beside it. The server turns WAL back on.
    target.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    target.close().map_err(|(_, err)| err)
}

/// `.<name>.<what>-<pid>` beside `dest`: hidden, and unique to this process.
pub(crate) fn temp_path(dest: &Path, what: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

/// Gives the verified copy its final name without ever replacing an existing file: a hard
/// link fails atomically if `dest` appeared meanwhile. Where links are not supported, a
/// checked rename is the next best thing.
fn publish(temp: &Path, dest: &Path) -> Result<(), BackupError> {
    match std::fs::hard_link(temp, dest) {
        Ok(()) => remove_quietly(temp),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(dest.to_owned()))
        }
        Err(_) if dest.exists() => return Err(BackupError::Exists(dest.to_owned())),
        Err(_) => std::fs::rename(temp, dest)
            .map_err(BackupError::io(format!("cannot create {}", dest.display())))?,
    }
    sync_dir(dest)
}

pub(crate) fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(BackupError::io(format!("cannot sync {}", path.display())))
}

/// Makes a rename or link durable: the new name lives in the directory's own blocks.
pub(crate) fn sync_dir(path_in_dir: &Path) -> Result<(), BackupError> {
    let dir = match path_in_dir.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(BackupError::io(format!("cannot sync {}", dir.display())))
}

/// Removes a temporary file and any journal SQLite left beside it; a missing one is fine.
pub(crate) fn remove_quietly(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

#[cfg(test)]
mod tests;
