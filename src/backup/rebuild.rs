//! The fresh database a restore builds: BookChat's own schema, the file's message rows
//! (each type-checked), and what is not history (the GitHub write budget, the id floor,
//! idempotency keys, the session key) carried over from the database being replaced. Nothing else of the file comes along.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::restore::RestoreError;
use super::verify::{self, Problem, Shape};
use crate::db;
use crate::db::sqlite::{self, Access};

/// The largest id a browser's JSON numbers hold exactly (2^53 - 1). A file with a larger id
/// (or floor) would hand out ids clients cannot tell apart, so it is refused.
const MAX_ID: i64 = (1 << 53) - 1;

/// The messages copied into the fresh database.
pub(super) struct Built {
    pub messages: i64,
    /// The highest id the file's server issued: its largest id or its floor.
    pub highest_id: i64,
}

/// What of the replaced database outlives a restore.
#[derive(Default)]
pub(super) struct Carried {
    /// The highest id it issued: its largest id or its floor.
    highest_id: i64,
    /// `sync_writes`: spending the hour's GitHub budget again would break GitHub's limits.
    budget: Vec<i64>,
    /// `idempotency`: a client retrying across the restore must not post twice.
    keys: Vec<Key>,
    /// `settings`: the session key, so sign-ins outlive the restore. Never the file's own:
    /// a key that came with an untrusted file could be known to whoever made it.
    settings: Vec<(String, Vec<u8>)>,
}

/// One idempotency key as the table holds it.
type Key = (String, String, i64, String, Option<String>, i64);

/// Creates a database with BookChat's schema at `fresh` and copies every message of
/// `source` (opened with `verify::open_untrusted`, its shape checked) into it.
pub(super) fn copy_messages(
    source: &Connection,
    shape: Shape,
    fresh: &Path,
    file: &Path,
) -> Result<Built, RestoreError> {
    let refused = |problem| RestoreError::Refused {
        file: file.to_owned(),
        problem,
    };
    let mut conn = db::open_writer(fresh).map_err(RestoreError::Build)?;
    db::migrate(&mut conn).map_err(RestoreError::Build)?;
    let tx = conn.transaction().map_err(build("cannot start"))?;
    let (messages, highest) = copy_rows(source, shape, &tx).map_err(|err| match err {
        CopyError::Refused(problem) => refused(problem),
        CopyError::Fresh(err) => build("cannot write a message into")(err),
    })?;
    let floor = if shape.id_floor {
        file_floor(source).map_err(refused)?
    } else {
        0
    };
    tx.commit().map_err(build("cannot commit"))?;
    Ok(Built {
        messages,
        highest_id: highest.max(floor),
    })
}

/// Reads what must outlive the restore from the replaced database (its verified
/// pre-restore backup). It may be of any schema version, so missing tables are fine.
pub(super) fn read_replaced(path: &Path) -> Result<Carried, RestoreError> {
    let read = |source| RestoreError::Sqlite {
        context: format!("cannot read the replaced database {}", path.display()),
        source,
    };
    let conn = sqlite::open(path, Access::ReadOnly).map_err(read)?;
    let max = |sql: &str| conn.query_row(sql, [], |row| row.get::<_, Option<i64>>(0));
    let mut highest_id = max("SELECT max(id) FROM messages").map_err(read)?;
    if has_table(&conn, "id_floor").map_err(read)? {
        highest_id = highest_id.max(max("SELECT max(id) FROM id_floor").map_err(read)?);
    }
    let budget = rows_of(&conn, "sync_writes", "SELECT at_ms FROM sync_writes", |r| {
        r.get(0)
    })
    .map_err(read)?;
    let keys = rows_of(
        &conn,
        "idempotency",
        "SELECT client, key, message_id, content, author, created_at_ms FROM idempotency",
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )
    .map_err(read)?;
    let settings = rows_of(&conn, "settings", "SELECT name, value FROM settings", |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .map_err(read)?;
    Ok(Carried {
        highest_id: highest_id.unwrap_or(0),
        budget,
        keys,
        settings,
    })
}

/// Puts what was carried (the budget, idempotency keys, settings, the id floor) into the
/// fresh database, then checks it as a backup is checked: intact, and holding exactly the
/// messages copied.
pub(super) fn finish(fresh: &Path, built: &Built, carried: &Carried) -> Result<(), RestoreError> {
    let mut conn = db::open_writer(fresh).map_err(RestoreError::Build)?;
    let tx = conn.transaction().map_err(build("cannot start"))?;
    let budget = carried.budget.iter().map(|at| [at]);
    carry(
        &tx,
        "INSERT INTO sync_writes (at_ms) VALUES (?1)",
        budget,
        "the write budget",
    )?;
    carry(
        &tx,
        "INSERT INTO idempotency (client, key, message_id, content, author, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        carried.keys.iter().cloned(),
        "the idempotency keys",
    )?;
    let settings = carried.settings.iter().map(|(name, value)| (name, value));
    carry(
        &tx,
        "INSERT INTO settings (name, value) VALUES (?1, ?2)",
        settings,
        "the settings",
    )?;
    let floor = built.highest_id.max(carried.highest_id);
    tx.execute("UPDATE id_floor SET id = ?1", [floor])
        .map_err(build("cannot set the id floor of"))?;
    tx.commit().map_err(build("cannot commit"))?;
    verify::integrity(&conn).map_err(RestoreError::Unverified)?;
    let count = verify::message_count(&conn).map_err(RestoreError::Unverified)?;
    if count != built.messages {
        return Err(RestoreError::Unverified(Problem::Corrupt(format!(
            "it holds {count} messages, not the {} copied",
            built.messages
        ))));
    }
    conn.close().map_err(|(_, err)| build("cannot close")(err))
}

/// Whether the (possibly older) database has `table`.
fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Every row `sql` selects, or none when `table` is missing: an older schema had nothing
/// of it to carry.
fn rows_of<T>(
    conn: &Connection,
    table: &str,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    if !has_table(conn, table)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], row)?;
    rows.collect()
}

/// Inserts each of `rows` into the fresh database with `sql`; `what` names them in errors.
fn carry<P: rusqlite::Params>(
    tx: &Transaction,
    sql: &str,
    rows: impl IntoIterator<Item = P>,
    what: &'static str,
) -> Result<(), RestoreError> {
    let failed = |source| RestoreError::Sqlite {
        context: format!("cannot carry {what} into the rebuilt database"),
        source,
    };
    let mut insert = tx.prepare(sql).map_err(failed)?;
    for row in rows {
        insert.execute(row).map_err(failed)?;
    }
    Ok(())
}

fn build(what: &'static str) -> impl Fn(rusqlite::Error) -> RestoreError {
    move |source| RestoreError::Sqlite {
        context: format!("{what} the rebuilt database"),
        source,
    }
}

enum CopyError {
    /// The file holds something that is not a BookChat message.
    Refused(Problem),
    /// Writing the fresh database failed: not the file's fault.
    Fresh(rusqlite::Error),
}

/// Copies the rows, oldest first, answering their count and the largest id.
fn copy_rows(source: &Connection, shape: Shape, tx: &Transaction) -> Result<(i64, i64), CopyError> {
    let unreadable = |err: rusqlite::Error| {
        CopyError::Refused(Problem::Corrupt(format!("cannot read its messages: {err}")))
    };
    let deleted_at = if shape.deleted_at {
        "deleted_at"
    } else {
        "NULL"
    };
    let mut read = source
        .prepare(&format!(
            "SELECT id, content, author, created_at, git_commit_hash, synced, {deleted_at} \
             FROM main.messages ORDER BY id"
        ))
        .map_err(unreadable)?;
    let mut write = tx
        .prepare(
            "INSERT INTO messages \
             (id, content, author, created_at, git_commit_hash, synced, deleted_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(CopyError::Fresh)?;
    let (mut count, mut highest) = (0, 0);
    let mut rows = read.query([]).map_err(unreadable)?;
    while let Some(row) = rows.next().map_err(unreadable)? {
        let message = Row::check(row)
            .map_err(unreadable)?
            .map_err(|why| CopyError::Refused(Problem::BadMessage(why)))?;
        write
            .execute((
                message.id,
                message.content,
                message.author,
                message.created_at,
                message.git_commit_hash,
                message.synced,
                message.deleted_at,
            ))
            .map_err(CopyError::Fresh)?;
        count += 1;
        highest = highest.max(message.id);
    }
    Ok((count, highest))
}

/// The floor of a schema-3 file: one integer no larger than `MAX_ID` (or no row at all).
fn file_floor(source: &Connection) -> Result<i64, Problem> {
    let floor = source
        .query_row(
            "SELECT max(id), typeof(max(id)) FROM main.id_floor",
            [],
            |row| {
                Ok((
                    row.get::<_, rusqlite::types::Value>(0)?,
                    row.get::<_, String>(1)?,
                ))
            },
        )
        .optional()
        .map_err(|err| Problem::Corrupt(format!("cannot read its id floor: {err}")))?;
    match floor {
        None | Some((rusqlite::types::Value::Null, _)) => Ok(0),
        Some((rusqlite::types::Value::Integer(id), _)) if (0..=MAX_ID).contains(&id) => Ok(id),
        Some((value, kind)) => Err(Problem::NotBookChat(format!(
            "its id floor {value:?} ({kind}) is not an id"
        ))),
    }
}

/// One message as BookChat stores it, after checking every value's type: SQLite itself
/// would store any type in any column of a file someone else made.
struct Row {
    id: i64,
    content: String,
    author: Option<String>,
    created_at: String,
    git_commit_hash: Option<String>,
    synced: i64,
    deleted_at: Option<String>,
}

impl Row {
    /// The outer error is a failed read; the inner one says what is wrong with the row.
    fn check(row: &rusqlite::Row) -> rusqlite::Result<Result<Row, String>> {
        let id = match row.get_ref(0)? {
            ValueRef::Integer(id) if (1..=MAX_ID).contains(&id) => id,
            ValueRef::Integer(id) => {
                return Ok(Err(format!("id {id} is outside 1..={MAX_ID}")));
            }
            other => return Ok(Err(format!("an id is {}, not an integer", kind(other)))),
        };
        let column = |i: usize| row.get_ref(i);
        let checked = (|| {
            let synced = match column(5).map_err(|e| e.to_string())? {
                ValueRef::Integer(flag @ (0 | 1)) => flag,
                other => return Err(format!("synced is {}, not 0 or 1", describe(other))),
            };
            Ok(Row {
                id,
                content: text(column(1), "content")?,
                author: optional_text(column(2), "author")?,
                created_at: text(column(3), "created_at")?,
                git_commit_hash: optional_text(column(4), "git_commit_hash")?,
                synced,
                deleted_at: optional_text(column(6), "deleted_at")?,
            })
        })();
        Ok(checked.map_err(|why| format!("message {id}: {why}")))
    }
}

fn text(value: rusqlite::Result<ValueRef>, name: &str) -> Result<String, String> {
    optional_text(value, name)?.ok_or_else(|| format!("{name} is null, not text"))
}

fn optional_text(value: rusqlite::Result<ValueRef>, name: &str) -> Result<Option<String>, String> {
    match value.map_err(|e| e.to_string())? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| format!("{name} is not UTF-8 text")),
        other => Err(format!("{name} is {}, not text", kind(other))),
    }
}

fn kind(value: ValueRef) -> &'static str {
    match value {
        ValueRef::Null => "null",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

fn describe(value: ValueRef) -> String {
    match value {
        ValueRef::Integer(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}
