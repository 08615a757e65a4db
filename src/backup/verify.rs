//! Checks that a database file is what it claims: an SQLite file, intact page by page, and
//! (for a restore) a BookChat schema this binary can run.

use std::io::Read;
use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};

use crate::db::sqlite::{self, Access};
use crate::db::SCHEMA_VERSION;

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// The columns of `messages` BookChat copies out of a file, with their declared types.
/// Others may be there and are ignored; `deleted_at` arrived with schema 2, so it may be
/// missing from an older file.
const COLUMNS: [(&str, &str); 6] = [
    ("id", "INTEGER"),
    ("content", "TEXT"),
    ("author", "TEXT"),
    ("created_at", "TEXT"),
    ("git_commit_hash", "TEXT"),
    ("synced", "INTEGER"),
];
const DELETED_AT: (&str, &str) = ("deleted_at", "TEXT");

/// What of BookChat's schema a checked file has, beyond the columns every version has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The `deleted_at` column (schema 2 and later): tombstones come along as tombstones.
    pub deleted_at: bool,
    /// The `id_floor` table (schema 3 and later): the highest id the file's server issued.
    pub id_floor: bool,
}

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
    #[error("it holds a message BookChat cannot use ({0})")]
    BadMessage(String),
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
    sqlite::open(path, Access::ReadOnly).map_err(|err| Problem::Corrupt(err.to_string()))
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

/// Opens a file that came from outside for reading only, with SQLite's guards up: defensive
/// mode (no writable schema, no shadow-table writes), an untrusted schema (the same as
/// `PRAGMA trusted_schema = OFF`, but set before the schema is ever parsed), and views and
/// triggers off. Restore only reads rows of real tables, so none of the file's own code
/// can run, even by mistake.
pub fn open_untrusted(path: &Path) -> Result<Connection, Problem> {
    let conn = open_copy(path)?;
    for (config, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false),
    ] {
        match conn.set_db_config(config, on) {
            Ok(now) if now == on => {}
            Ok(_) => return Err(Problem::Corrupt(format!("SQLite ignored {config:?}"))),
            Err(err) => return Err(Problem::Corrupt(format!("cannot guard it: {err}"))),
        }
    }
    Ok(conn)
}

/// A BookChat schema no newer than ours: a known `user_version`, and `messages` a real table
/// with every column we copy, of our declared types, keyed by an INTEGER PRIMARY KEY `id`.
/// Run after `integrity`, so a read failure here is not damage.
pub fn schema(conn: &Connection) -> Result<Shape, Problem> {
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
    real_table(conn, "messages")?.ok_or_else(|| not_ours("it has no messages table"))?;
    let columns = table_info(conn).map_err(unreadable)?;
    let deleted_at = columns.iter().any(|c| c.is(DELETED_AT.0));
    let mut wanted = COLUMNS.to_vec();
    if deleted_at {
        wanted.push(DELETED_AT);
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(name, _)| !columns.iter().any(|c| c.is(name)))
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(not_ours(&format!(
            "its messages table lacks {}",
            missing.join(", ")
        )));
    }
    for column in &columns {
        if let Some((name, declared)) = wanted.iter().find(|(name, _)| column.is(name)) {
            if !column.declared.eq_ignore_ascii_case(declared) {
                return Err(not_ours(&format!(
                    "its messages.{name} is declared {:?}, not {declared}",
                    column.declared
                )));
            }
        }
    }
    // Only `id` may be (all of) the key: then ids are unique and stand for the rowid.
    if columns
        .iter()
        .any(|c| c.is("id") != (c.pk == 1) || c.pk > 1)
    {
        return Err(not_ours(
            "its messages table is not keyed by an INTEGER PRIMARY KEY id",
        ));
    }
    let id_floor = real_table(conn, "id_floor")?.is_some();
    Ok(Shape {
        deleted_at,
        id_floor,
    })
}

fn not_ours(why: &str) -> Problem {
    Problem::NotBookChat(why.to_owned())
}

/// `Some` when `name` is an ordinary table, `None` when nothing has that name. A view, a
/// virtual table or anything else under the name is refused: reading it would run the
/// file's own code instead of reading its rows.
fn real_table(conn: &Connection, name: &str) -> Result<Option<()>, Problem> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT type, coalesce(sql, '') FROM main.sqlite_master \
             WHERE name = ?1 COLLATE NOCASE",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(|err| Problem::Corrupt(err.to_string()))?;
    match found {
        None => Ok(None),
        Some((kind, sql))
            if kind == "table"
                && !sql
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with("CREATE VIRTUAL") =>
        {
            Ok(Some(()))
        }
        Some((kind, _)) => Err(not_ours(&format!(
            "its {name} is a {}, not a table",
            if kind == "table" {
                "virtual table"
            } else {
                kind.as_str()
            }
        ))),
    }
}

struct Column {
    name: String,
    declared: String,
    pk: i64,
}

impl Column {
    /// SQLite's column names ignore ASCII case, so `ID` is `id`.
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

fn table_info(conn: &Connection) -> rusqlite::Result<Vec<Column>> {
    let mut stmt =
        conn.prepare("SELECT name, type, pk FROM pragma_table_info('messages', 'main')")?;
    let columns = stmt.query_map([], |row| {
        Ok(Column {
            name: row.get(0)?,
            declared: row.get(1)?,
            pk: row.get(2)?,
        })
    })?;
    columns.collect()
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
        assert_eq!(
            schema(&copy),
            Ok(Shape {
                deleted_at: true,
                id_floor: true
            })
        );
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

    /// A versioned file whose `messages` is made by `sql`, and the problem `schema` names.
    fn shape_of(dir: &Path, name: &str, sql: &str) -> Result<Shape, Problem> {
        let path = dir.join(name);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        drop(conn);
        schema(&open_untrusted(&path).unwrap())
    }

    #[test]
    fn only_a_real_table_keyed_by_an_integer_id_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let columns = "content TEXT, author TEXT, created_at TEXT, git_commit_hash TEXT, \
                       synced INTEGER";
        let cases = [
            (
                format!(
                    "CREATE TABLE t (id INTEGER PRIMARY KEY, {columns}); \
                         CREATE VIEW messages AS SELECT * FROM t;"
                ),
                "its messages is a view, not a table",
            ),
            (
                format!("CREATE TABLE messages (id INTEGER, {columns})"),
                "not keyed by an INTEGER PRIMARY KEY id",
            ),
            (
                format!("CREATE TABLE messages (id INTEGER, {columns}, PRIMARY KEY (id, content))"),
                "not keyed by an INTEGER PRIMARY KEY id",
            ),
            (
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, content BLOB, author TEXT, \
                 created_at TEXT, git_commit_hash TEXT, synced INTEGER)"
                    .to_owned(),
                "messages.content is declared \"BLOB\", not TEXT",
            ),
            (
                format!(
                    "CREATE TABLE messages (id INTEGER PRIMARY KEY, {columns}, deleted_at INT)"
                ),
                "messages.deleted_at is declared \"INT\", not TEXT",
            ),
        ];
        for (i, (sql, expected)) in cases.iter().enumerate() {
            let err = shape_of(dir.path(), &format!("{i}.db"), sql).unwrap_err();
            assert!(matches!(err, Problem::NotBookChat(_)), "{sql}: {err}");
            assert!(err.to_string().contains(expected), "{sql}: {err}");
        }
        // Extra columns are fine; a schema-1 file has neither `deleted_at` nor a floor.
        let older = shape_of(
            dir.path(),
            "older.db",
            &format!("CREATE TABLE Messages (ID integer primary key, {columns}, extra BLOB)"),
        );
        assert_eq!(
            older,
            Ok(Shape {
                deleted_at: false,
                id_floor: false
            })
        );
    }
}
