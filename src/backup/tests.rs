//! Unit tests of the backup copy, its verification and restore, on real files.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use super::*;
use crate::db::migrate;
use crate::lock::DataDirLock;

/// A BookChat database in WAL mode (as the server leaves it) holding `n` messages.
fn bookchat_db(path: &Path, n: usize) -> Connection {
    let mut conn = Connection::open(path).unwrap();
    migrate(&mut conn).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    add(&conn, n, "m");
    conn
}

fn add(conn: &Connection, n: usize, tag: &str) {
    for i in 0..n {
        conn.execute(
            "INSERT INTO messages (content, created_at) VALUES (?1, 'now')",
            [format!("{tag}{i}")],
        )
        .unwrap();
    }
}

fn contents(path: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT content FROM messages ORDER BY id")
        .unwrap();
    let rows = stmt.query_map([], |row| row.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_snapshot_is_complete_verified_and_one_self_contained_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    let _live = bookchat_db(&db, 7);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("copy.db");
    let made = snapshot(&db, &dest).unwrap();
    assert_eq!(made.messages, 7);
    assert_eq!(made.bytes, std::fs::metadata(&dest).unwrap().len());
    assert_eq!(contents(&dest), contents(&db));
    let copy = Connection::open_with_flags(&dest, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let journal: String = copy
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "delete");
    drop(copy);
    // No temporary file, no -wal or -shm: just the backup.
    assert_eq!(names_in(out.path()), ["copy.db"]);
}

#[test]
fn a_missing_database_or_an_existing_destination_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    let dest = dir.path().join("copy.db");
    let err = snapshot(&db, &dest).unwrap_err();
    assert!(matches!(err, BackupError::NoDatabase(_)), "{err}");
    assert!(!dest.exists());

    drop(bookchat_db(&db, 1));
    std::fs::write(&dest, b"precious").unwrap();
    let err = snapshot(&db, &dest).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
}

#[test]
fn an_unverifiable_copy_never_gets_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    // A sound SQLite file whose messages cannot be counted: the read-back fails.
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE other (x)")
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("copy.db");
    let err = snapshot(&db, &dest).unwrap_err();
    assert!(matches!(err, BackupError::Unverified { .. }), "{err}");
    assert!(
        names_in(out.path()).is_empty(),
        "left behind: {:?}",
        names_in(out.path())
    );
}

#[test]
fn a_snapshot_taken_while_a_writer_commits_holds_everything_committed_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    drop(bookchat_db(&db, 0));
    let committed = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, committed, stop) = (db.clone(), committed.clone(), stop.clone());
        std::thread::spawn(move || {
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            while !stop.load(Ordering::Relaxed) {
                add(&conn, 1, "w");
                committed.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while committed.load(Ordering::SeqCst) < 200 {
        std::thread::yield_now();
    }
    let before = committed.load(Ordering::SeqCst);
    let made = snapshot(&db, &dir.path().join("copy.db")).unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        made.messages >= before,
        "{} < {before} committed",
        made.messages
    );
    assert!(made.messages <= committed.load(Ordering::SeqCst));
}

#[test]
fn restore_replaces_the_database_and_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    drop(bookchat_db(&db, 3));
    let saved = dir.path().join("saved.db");
    snapshot(&db, &saved).unwrap();
    add(&Connection::open(&db).unwrap(), 2, "later");

    let done = restore(dir.path(), &saved).unwrap();
    assert_eq!(done.messages, 3);
    assert_eq!(contents(&db), ["m0", "m1", "m2"]);
    let previous = done.previous.expect("the replaced database is kept");
    assert_eq!(previous.messages, 5);
    assert!(previous
        .path
        .starts_with(dir.path().join(files::BACKUPS_DIR)));
    assert!(previous
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("bookchat-pre-restore-"));
    assert_eq!(contents(&previous.path).len(), 5);
    assert!(!names_in(dir.path()).iter().any(|n| n.starts_with('.')));
}

#[test]
fn restore_keeps_the_replaced_session_key_never_the_files() {
    let key_of = |path: &Path| {
        crate::db::settings::session_key(&mut Connection::open(path).unwrap()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    drop(bookchat_db(&db, 1));
    let ours = key_of(&db);
    let other = tempfile::tempdir().unwrap();
    let saved = other.path().join("theirs.db");
    drop(bookchat_db(&saved, 2));
    let theirs = key_of(&saved);
    assert_ne!(ours, theirs);
    restore(dir.path(), &saved).unwrap();
    assert_eq!(key_of(&db), ours, "sign-ins outlive the restore");
    assert_eq!(contents(&db), ["m0", "m1"]);
}

#[test]
fn restore_into_an_empty_directory_has_nothing_to_keep() {
    let source = tempfile::tempdir().unwrap();
    let saved = source.path().join("saved.db");
    drop(bookchat_db(&source.path().join("live.db"), 2));
    snapshot(&source.path().join("live.db"), &saved).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let done = restore(&data, &saved).unwrap();
    assert_eq!((done.messages, done.previous), (2, None));
    assert_eq!(contents(&data.join("bookchat.db")), ["m0", "m1"]);
}

#[test]
fn restore_refuses_bad_files_and_a_locked_directory_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    drop(bookchat_db(&db, 2));
    let before = std::fs::read(&db).unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); PRAGMA user_version = 1;")
        .unwrap();
    for (file, expected) in [
        (dir.path().join("missing.db"), "no such file"),
        (garbage, "not an SQLite database"),
        (other, "not a BookChat database"),
    ] {
        let err = restore(dir.path(), &file).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let good = dir.path().join("good.db");
    snapshot(&db, &good).unwrap();
    let held = DataDirLock::acquire(dir.path()).unwrap();
    let err = restore(dir.path(), &good).unwrap_err();
    assert!(matches!(err, RestoreError::Busy(_)), "{err}");
    drop(held);
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(!dir.path().join(files::BACKUPS_DIR).exists());
}

/// A schema-2 file whose messages table takes any value (no NOT NULL, no types checked),
/// holding one row made of `values`.
fn loose_file(path: &Path, values: &str) {
    Connection::open(path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, content TEXT, author TEXT, \
             created_at TEXT, git_commit_hash TEXT, synced INTEGER, deleted_at TEXT);
             INSERT INTO messages VALUES ({values});
             PRAGMA user_version = 2;"
        ))
        .unwrap();
}

#[test]
fn restore_refuses_rows_of_the_wrong_types_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    drop(bookchat_db(&db, 2));
    let before = std::fs::read(&db).unwrap();
    for (i, (values, expected)) in [
        (
            "1, x'00ff', NULL, 'now', NULL, 0, NULL",
            "message 1: content is a blob, not text",
        ),
        (
            "1, NULL, NULL, 'now', NULL, 0, NULL",
            "message 1: content is null, not text",
        ),
        // TEXT columns turn numbers into text, so only blobs get through as non-text.
        (
            "1, 'hi', x'01', 'now', NULL, 0, NULL",
            "message 1: author is a blob, not text",
        ),
        (
            "1, 'hi', NULL, x'02', NULL, 0, NULL",
            "message 1: created_at is a blob",
        ),
        (
            "1, 'hi', NULL, 'now', x'03', 0, NULL",
            "message 1: git_commit_hash is a blob",
        ),
        (
            "1, 'hi', NULL, 'now', NULL, 0.5, NULL",
            "message 1: synced is a real number",
        ),
        (
            "1, 'hi', NULL, 'now', NULL, 2, NULL",
            "message 1: synced is 2, not 0 or 1",
        ),
        (
            "1, 'hi', NULL, 'now', NULL, 'yes', NULL",
            "message 1: synced is text, not 0 or 1",
        ),
        (
            "1, 'hi', NULL, 'now', NULL, 0, x'04'",
            "message 1: deleted_at is a blob",
        ),
        (
            "1, CAST(x'ff' AS TEXT), NULL, 'now', NULL, 0, NULL",
            "message 1: content is not UTF-8",
        ),
        ("-4, 'hi', NULL, 'now', NULL, 0, NULL", "id -4 is outside"),
        (
            "9007199254740992, 'hi', NULL, 'now', NULL, 0, NULL",
            "is outside 1..=9007199254740991",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("bad{i}.db"));
        loose_file(&file, values);
        let err = restore(dir.path(), &file).unwrap_err();
        assert!(
            matches!(
                &err,
                RestoreError::Refused {
                    problem: Problem::BadMessage(_),
                    ..
                }
            ),
            "{values}: {err}"
        );
        assert!(err.to_string().contains(expected), "{values}: {err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(!dir.path().join(files::BACKUPS_DIR).exists());
    assert!(!names_in(dir.path()).iter().any(|n| n.starts_with('.')));
}

#[test]
fn a_schema_one_file_restores_and_tombstones_stay_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("v1.db");
    Connection::open(&old)
        .unwrap()
        .execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, content TEXT NOT NULL, author TEXT,
                 created_at TEXT NOT NULL, git_commit_hash TEXT, synced INTEGER NOT NULL DEFAULT 0);
             INSERT INTO messages VALUES (3, 'old', 'ann', 't1', 'abc', 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    let data = dir.path().join("data");
    assert_eq!(restore(&data, &old).unwrap().messages, 1);
    let newer = dir.path().join("v3.db");
    let conn = bookchat_db(&newer, 2);
    crate::db::tombstone(&conn, 2, "t2").unwrap();
    drop(conn);
    restore(&data, &newer).unwrap();
    let conn = Connection::open(data.join("bookchat.db")).unwrap();
    let rows: Vec<(i64, String, Option<String>, i64)> = conn
        .prepare("SELECT id, content, deleted_at, synced FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (1, "m0".into(), None, 0),
            (2, String::new(), Some("t2".into()), 0)
        ]
    );
    let floor: i64 = conn
        .query_row("SELECT id FROM id_floor", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        floor, 3,
        "id 3 of the replaced schema-1 database is never reissued"
    );
}
