//! `restore` treats its file as untrusted input: views, tables without a real key and
//! impossible versions are refused with the live database untouched; a file carrying its
//! own trigger, view, tables or columns restores as its messages alone; and ids continue
//! above every id ever issued, with the replaced database's write budget kept.

use std::path::{Path, PathBuf};

use bookchat::backup::{restore, RestoreError};
use rusqlite::Connection;

use crate::support::TestServer;

/// `(type, name)` of every object in a database's schema, sorted.
fn objects(path: &Path) -> Vec<(String, String)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// What BookChat's own schema holds, and nothing more.
fn bookchat_objects(dir: &Path) -> Vec<(String, String)> {
    let path = dir.join("reference.db");
    drop(bookchat_file(&path));
    objects(&path)
}

/// A database exactly as BookChat makes one.
fn bookchat_file(path: &Path) -> Connection {
    let mut conn = bookchat::db::open_writer(path).unwrap();
    bookchat::db::migrate(&mut conn).unwrap();
    conn
}

/// A live data directory: a server posted `texts` and stopped.
async fn live_dir(texts: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    for text in texts {
        server.post_message(text).await;
    }
    server.stop().await;
    let db = dir.path().join("bookchat.db");
    (dir, db)
}

fn column<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> Vec<T> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], |row| row.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_keyless_tables_and_impossible_versions_are_refused_untouched() {
    let (dir, db) = live_dir(&["one", "two"]).await;
    let columns = "content TEXT NOT NULL, author TEXT, created_at TEXT NOT NULL, \
                   git_commit_hash TEXT, synced INTEGER NOT NULL DEFAULT 0";
    let made = |name: &str, sql: &str| {
        let path = dir.path().join(name);
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        path
    };
    let view = made(
        "view.db",
        &format!(
            "CREATE TABLE real_rows (id INTEGER PRIMARY KEY, {columns});
             INSERT INTO real_rows (content, created_at) VALUES ('from a view', 'now');
             CREATE VIEW messages AS SELECT * FROM real_rows;
             PRAGMA user_version = 2;"
        ),
    );
    let keyless = made(
        "keyless.db",
        &format!(
            "CREATE TABLE messages (id INTEGER, {columns});
             INSERT INTO messages VALUES (1, 'a', NULL, 'now', NULL, 0);
             INSERT INTO messages VALUES (1, 'b', NULL, 'now', NULL, 0);
             PRAGMA user_version = 2;"
        ),
    );
    let huge = dir.path().join("huge.db");
    drop(bookchat_file(&huge));
    Connection::open(&huge)
        .unwrap()
        .pragma_update(None, "user_version", 2_000_000_000)
        .unwrap();

    let before = std::fs::read(&db).unwrap();
    let backups_before = std::fs::read_dir(dir.path().join("backups")).map_or(0, Iterator::count);
    for (file, expected) in [
        (&view, "its messages is a view, not a table"),
        (&keyless, "not keyed by an INTEGER PRIMARY KEY id"),
        (
            &huge,
            "schema version 2000000000 is newer than this bookchat",
        ),
    ] {
        let err = restore(dir.path(), file).unwrap_err();
        assert!(matches!(err, RestoreError::Refused { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot restore {}", file.display()))
                && text.contains(expected),
            "{text}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), before, "changed by {text}");
    }
    let backups_after = std::fs::read_dir(dir.path().join("backups")).map_or(0, Iterator::count);
    assert_eq!(backups_after, backups_before, "a refusal kept a backup");
    let contents: Vec<String> = column(&db, "SELECT content FROM messages ORDER BY id");
    assert_eq!(contents, ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_its_own_trigger_view_and_table_restores_as_its_messages_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rigged.db");
    let conn = bookchat_file(&file);
    conn.execute_batch(
        "INSERT INTO messages (content, author, created_at) VALUES ('kept', 'ann', 'then');
         CREATE TRIGGER mark_synced AFTER INSERT ON messages
             BEGIN UPDATE messages SET synced = 1 WHERE id = new.id; END;
         CREATE VIEW everything AS SELECT * FROM messages;
         CREATE TABLE stowaway (payload TEXT);
         INSERT INTO stowaway VALUES ('not history');",
    )
    .unwrap();
    drop(conn);
    let data = dir.path().join("data");

    let done = restore(&data, &file).unwrap();
    assert_eq!((done.messages, done.previous), (1, None));
    let db = data.join("bookchat.db");
    assert_eq!(objects(&db), bookchat_objects(dir.path()));

    let server = TestServer::start_in(&data, |_| {}).await;
    let posted = server.post_message("after the restore").await;
    server.stop().await;
    assert_eq!(posted["id"], 2, "{posted}");
    assert_eq!(posted["synced"], false, "{posted}");
    let synced: Vec<i64> = column(&db, "SELECT synced FROM messages ORDER BY id");
    assert_eq!(synced, [0, 0], "the file's trigger marked a message synced");
}

/// `(id, content, author, git_commit_hash, synced, deleted_at)` of a stored message.
type Stored = (
    i64,
    String,
    Option<String>,
    Option<String>,
    bool,
    Option<String>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_columns_are_dropped_and_the_messages_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.db");
    Connection::open(&file)
        .unwrap()
        .execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, mood TEXT, content TEXT NOT NULL,
                 author TEXT, created_at TEXT NOT NULL, git_commit_hash TEXT,
                 synced INTEGER NOT NULL DEFAULT 0, deleted_at TEXT, secret BLOB);
             INSERT INTO messages VALUES (4, 'glad', 'hello', 'bo', 't1', 'c0ffee', 1, NULL, x'00');
             INSERT INTO messages VALUES (9, 'sad', '', NULL, 't2', NULL, 0, 't3', x'01');
             CREATE INDEX by_mood ON messages (mood);
             PRAGMA user_version = 2;",
        )
        .unwrap();
    let data = dir.path().join("data");
    assert_eq!(restore(&data, &file).unwrap().messages, 2);
    let db = data.join("bookchat.db");
    assert_eq!(objects(&db), bookchat_objects(dir.path()));
    let conn = Connection::open(&db).unwrap();
    let names: Vec<String> = column(&db, "SELECT name FROM pragma_table_info('messages')");
    assert_eq!(
        names,
        [
            "id",
            "content",
            "author",
            "created_at",
            "git_commit_hash",
            "synced",
            "deleted_at"
        ]
    );
    let rows: Vec<Stored> = conn
        .prepare(
            "SELECT id, content, author, git_commit_hash, synced, deleted_at \
             FROM messages ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (
                4,
                "hello".into(),
                Some("bo".into()),
                Some("c0ffee".into()),
                true,
                None
            ),
            (9, String::new(), None, None, false, Some("t3".into())),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_continue_above_every_id_issued_and_the_write_budget_survives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bookchat.db");
    let saved = dir.path().join("after-two.db");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    for text in ["m1", "m2"] {
        server.post_message(text).await;
    }
    bookchat::backup::snapshot(&db, &saved).unwrap();
    for text in ["m3", "m4", "m5"] {
        server.post_message(text).await;
    }
    server.stop().await;
    // The hour's GitHub writes of the live database; the file's own are stale lies.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let budget = [now_ms - 2_000, now_ms - 1_000];
    let live = Connection::open(&db).unwrap();
    for at in budget {
        live.execute("INSERT INTO sync_writes (at_ms) VALUES (?1)", [at])
            .unwrap();
    }
    drop(live);
    Connection::open(&saved)
        .unwrap()
        .execute("INSERT INTO sync_writes (at_ms) VALUES (?1)", [now_ms])
        .unwrap();

    let done = restore(dir.path(), &saved).unwrap();
    assert_eq!(done.messages, 2);
    assert_eq!(objects(&db), bookchat_objects(dir.path()));
    let carried: Vec<i64> = column(&db, "SELECT at_ms FROM sync_writes ORDER BY at_ms");
    assert_eq!(carried, budget);

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let posted = server.post_message("after the restore").await;
    assert_eq!(
        posted["id"], 6,
        "id 3 was issued before the restore: {posted}"
    );
    server.stop().await;
    let ids: Vec<i64> = column(&db, "SELECT id FROM messages ORDER BY id");
    assert_eq!(ids, [1, 2, 6]);
    // Restoring the same file again still continues above 6.
    restore(dir.path(), &saved).unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    assert_eq!(server.post_message("again").await["id"], 7);
    server.stop().await;
}
