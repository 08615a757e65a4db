//! Checks that a database file is what it claims: an SQLite file, intact page by page, and
//! (for a restore) a BookChat schema this binary can run.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::db::SCHEMA_VERSION;

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// The columns BookChat reads and writes; a table without any of them is not ours.
const COLUMNS: [&str; 6] = [
    "id",
    "content",
    "author",
    "created_at",
    "git_commit_hash",
    "synced",
];

/// Why a file is not a database BookChat can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("no such file")]
    Missing,
    #[error("not an SQLite database")]
    NotSqlite,
    #[error("the file is damaged ({0})")]
    Corrupt(String),
    #[error("not a BookChat database ({0})")]
    NotBookChat(String),
    #[error(
        "its schema version {found} is newer than this bookchat understands \
         (version {SCHEMA_VERSION}); use a newer bookchat"
    )]
    TooNew { found: i64 },
}

/// Looks at the file's first bytes only, so a stray file is refused before SQLite (which
/// would happily treat an empty file as a new database) ever opens it.
pub fn sqlite_header(path: &Path) -> Result<(), Problem> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(Problem::Missing),
        Err(err) => return Err(Problem::Corrupt(format!("cannot read it: {err}"))),
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Problem::NotSqlite);
    }
    let mut header = [0u8; 16];
    match file.read_exact(&mut header) {
        Ok(()) if &header == SQLITE_HEADER => Ok(()),
        _ => Err(Problem::NotSqlite),
    }
}

/// Opens a copy that this process owns, for checking. Read-only: checking never writes.
pub fn open_copy(path: &Path) -> Result<Connection, Problem> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|err| Problem::Corrupt(err.to_string()))
}

/// `PRAGMA integrity_check` reads every page and index: anything but `ok` is damage.
pub fn integrity(conn: &Connection) -> Result<(), Problem> {
    let corrupt = |err: rusqlite::Error| Problem::Corrupt(err.to_string());
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(corrupt)?;
    let findings: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .map_err(corrupt)?
        .collect::<rusqlite::Result<_>>()
        .map_err(corrupt)?;
    match findings.as_slice() {
        [only] if only == "ok" => Ok(()),
        [] => Err(Problem::Corrupt("integrity check gave no answer".into())),
        [first, ..] => Err(Problem::Corrupt(format!(
            "integrity check: {first}{}",
            match findings.len() {
                1 => String::new(),
                n => format!(" and {} more finding(s)", n - 1),
            }
        ))),
    }
}

/// A BookChat schema no newer than ours: a known `user_version` and the messages table
/// with every column we use. Run after `integrity`, so a read failure here is not damage.
pub fn schema(conn: &Connection) -> Result<(), Problem> {
    let unreadable = |err: rusqlite::Error| Problem::Corrupt(err.to_string());
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(unreadable)?;
    if version > SCHEMA_VERSION {
        return Err(Problem::TooNew { found: version });
    }
    if version < 1 {
        return Err(Problem::NotBookChat(
            "it has no BookChat schema version".into(),
        ));
    }
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('messages')")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(unreadable)?;
    if columns.is_empty() {
        return Err(Problem::NotBookChat("it has no messages table".into()));
    }
    let missing: Vec<&str> = COLUMNS
        .into_iter()
        .filter(|wanted| !columns.iter().any(|c| c == wanted))
        .collect();
    if !missing.is_empty() {
        return Err(Problem::NotBookChat(format!(
            "its messages table lacks {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Reading the count back proves the messages table answers, not just that pages are sane.
pub fn message_count(conn: &Connection) -> Result<i64, Problem> {
    conn.query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
        .map_err(|err| Problem::Corrupt(format!("cannot count its messages: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::migrate;

    fn bookchat_db(path: &Path) -> Connection {
        let mut conn = Connection::open(path).unwrap();
        migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn headers_tell_sqlite_from_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ok.db");
        drop(bookchat_db(&db));
        assert_eq!(sqlite_header(&db), Ok(()));
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"SQLite format 2\0 and then some more bytes").unwrap();
        assert_eq!(sqlite_header(&garbage), Err(Problem::NotSqlite));
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(sqlite_header(&empty), Err(Problem::NotSqlite));
        assert_eq!(sqlite_header(dir.path()), Err(Problem::NotSqlite));
        assert_eq!(
            sqlite_header(&dir.path().join("missing.db")),
            Err(Problem::Missing)
        );
    }

    #[test]
    fn a_bookchat_database_passes_every_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.db");
        let conn = bookchat_db(&path);
        conn.execute(
            "INSERT INTO messages (content, created_at) VALUES ('hi', 'now')",
            [],
        )
        .unwrap();
        drop(conn);
        let copy = open_copy(&path).unwrap();
        assert_eq!(integrity(&copy), Ok(()));
        assert_eq!(schema(&copy), Ok(()));
        assert_eq!(message_count(&copy), Ok(1));
    }

    #[test]
    fn foreign_and_newer_schemas_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let other = Connection::open(dir.path().join("other.db")).unwrap();
        other
            .execute_batch("CREATE TABLE notes (body TEXT)")
            .unwrap();
        assert!(matches!(schema(&other), Err(Problem::NotBookChat(_))));
        other.pragma_update(None, "user_version", 1).unwrap();
        assert_eq!(
            schema(&other),
            Err(Problem::NotBookChat("it has no messages table".into()))
        );
        other
            .execute_batch("CREATE TABLE messages (id INTEGER PRIMARY KEY, content TEXT)")
            .unwrap();
        let err = schema(&other).unwrap_err();
        assert!(
            err.to_string()
                .contains("lacks author, created_at, git_commit_hash, synced"),
            "{err}"
        );

        let newer = bookchat_db(&dir.path().join("newer.db"));
        newer
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert_eq!(
            schema(&newer),
            Err(Problem::TooNew {
                found: SCHEMA_VERSION + 1
            })
        );
    }
}
