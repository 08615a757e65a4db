//! The one place a SQLite file is opened, so that every connection of every command gets
//! the same patience (busy timeout) and every connection that can write the same
//! durability (`synchronous=FULL`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a connection waits on another's lock before giving up with `SQLITE_BUSY`: a
/// server's writer holds its lock only for a moment, so waiting beats failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection may do to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: the reader pool, `stats`, and checking a backup or a file to restore.
    /// No pragma runs on it, so a file from outside is not read before its caller guards
    /// the connection (see `backup::verify::open_untrusted`).
    ReadOnly,
    /// Reads and writes a file that must already exist (restore folding a log into it).
    ReadWrite,
    /// Reads and writes, creating the file if it is missing: the server's writer, the
    /// sync worker, `import`, and the new files a backup or a restore writes.
    Create,
}

/// Opens `path` for `access`, with the busy timeout, and `synchronous=FULL` when it can
/// write. Blocking.
pub fn open(path: &Path, access: Access) -> rusqlite::Result<Connection> {
    let flags = match access {
        Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Access::Create => OpenFlags::default(),
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if access != Access::ReadOnly {
        // FULL: a commit is on disk before it returns, so a 201 survives a power cut. Not
        // on read-only connections: they commit nothing, and the pragma reads the schema.
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| {
            row.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| format!("{v:?}"))
        .unwrap()
    }

    #[test]
    fn writers_are_durable_and_every_connection_is_patient() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        assert!(
            open(&path, Access::ReadWrite).is_err(),
            "ReadWrite creates nothing"
        );
        let created = open(&path, Access::Create).unwrap();
        // 2 = FULL: every commit is synced to disk before it returns.
        assert_eq!(pragma(&created, "synchronous"), "Integer(2)");
        assert_eq!(pragma(&created, "busy_timeout"), "Integer(5000)");
        let existing = open(&path, Access::ReadWrite).unwrap();
        assert_eq!(pragma(&existing, "synchronous"), "Integer(2)");
        let reader = open(&path, Access::ReadOnly).unwrap();
        assert_eq!(pragma(&reader, "busy_timeout"), "Integer(5000)");
        assert!(reader.execute_batch("CREATE TABLE t (x)").is_err());
    }
}
