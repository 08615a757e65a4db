//! The commands with a PostgreSQL URL, on the real binary: SQLite → PostgreSQL → SQLite
//! through `restore` and `backup` (every message, id, author, sync state, commit and
//! tombstone, the id floor and the node's session key survive), what a restore into
//! PostgreSQL refuses, `stats`, and `import` (refused while a node serves). The URL
//! carries a password, which no output may show.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rusqlite::Connection;
use tokio_postgres::Client;

use crate::binary::bookchat;
use crate::fake_github::FakeGitHub;
use crate::ops::{cli, data, parse_backup_line, refusal, stdout};
use crate::pg::{connect, fresh_database};
use crate::stores::StoreKind;
use crate::support::TestServer;

/// The test cluster trusts 127.0.0.1, so any password connects: this one must never show.
const PASSWORD: &str = "pw-never-printed";

/// One message as both stores hold it: id, content, author, `created_at`, commit,
/// synced (0 or 1), `deleted_at`.
type Stored = (
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
    Option<String>,
);

const COLUMNS: &str = "id, content, author, created_at, git_commit_hash, synced, deleted_at";

fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    let user = user.split(':').next().unwrap();
    format!("{scheme}://{user}:{PASSWORD}@{host}")
}

/// `bookchat <args> --data-dir <dir>/bookchat-data` with `BOOKCHAT_DATABASE_URL=url`.
fn with_url(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut command = bookchat(dir);
    command
        .env("BOOKCHAT_DATABASE_URL", url)
        .args(args)
        .args(["--data-dir", data(dir).to_str().unwrap()]);
    command
}

/// Runs `command` off the runtime's threads (an in-process server may be serving on
/// them), and checks that the password shows nowhere in what it printed.
async fn output(mut command: Command) -> Output {
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(PASSWORD), "the password was printed: {text}");
    }
    out
}

/// Runs the command `make` gives until it is no longer refused for a serving node: a
/// stopped server's listener session ends a moment after `stop` returns.
async fn once_no_node_serves(make: impl Fn() -> Command) -> Output {
    for _ in 0..50 {
        let out = output(make()).await;
        if out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("serv") {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the stopped node still holds the database");
}

/// A SQLite data directory holding a bit of everything: a gap in the ids, an author and
/// none, synced and pending messages, a tombstone, a floor above every id, a session key.
fn seed_sqlite(data: &Path) -> Vec<Stored> {
    std::fs::create_dir_all(data).unwrap();
    let mut conn = bookchat::db::open_writer(&data.join("bookchat.db")).unwrap();
    bookchat::db::migrate(&mut conn).unwrap();
    let at = |s: &str| format!("2026-11-25T10:00:{s}.000Z");
    let rows: Vec<Stored> = vec![
        (
            1,
            "first".into(),
            Some("ann".into()),
            at("01"),
            Some("c0ffee".into()),
            1,
            None,
        ),
        (
            2,
            "two\nlines ✓ \"q\"".into(),
            None,
            at("02"),
            Some("c0ffee".into()),
            1,
            None,
        ),
        (3, String::new(), None, at("03"), None, 0, Some(at("30"))),
        (
            7,
            "after a gap".into(),
            Some("bob".into()),
            at("07"),
            None,
            0,
            None,
        ),
    ];
    for row in &rows {
        conn.execute(
            &format!("INSERT INTO messages ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            rusqlite::params![row.0, row.1, row.2, row.3, row.4, row.5, row.6],
        )
        .unwrap();
    }
    conn.execute("UPDATE id_floor SET id = 40", []).unwrap();
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('session_key', ?1)",
        [[7u8; 32].as_slice()],
    )
    .unwrap();
    rows
}

/// A SQLite database's messages, id floor and session key.
fn read_sqlite(path: &Path) -> (Vec<Stored>, i64, Option<Vec<u8>>) {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM messages ORDER BY id"))
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let floor = conn
        .query_row("SELECT id FROM id_floor", [], |r| r.get(0))
        .unwrap();
    let key = conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'session_key'",
            [],
            |r| r.get(0),
        )
        .ok();
    (rows, floor, key)
}

/// The PostgreSQL database's messages (synced as 0 or 1) and id floor.
async fn read_pg(client: &Client) -> (Vec<Stored>, i64) {
    let rows = client
        .query(&format!("SELECT {COLUMNS} FROM messages ORDER BY id"), &[])
        .await
        .unwrap();
    let rows = rows
        .iter()
        .map(|r| {
            let synced: bool = r.get(5);
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                i64::from(synced),
                r.get(6),
            )
        })
        .collect();
    let floor = client
        .query_one("SELECT id FROM id_floor", &[])
        .await
        .unwrap()
        .get(0);
    (rows, floor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back_keeps_messages_ids_floor_and_session_key() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let url = with_password(&url);
    let one = tempfile::tempdir().unwrap();
    let rows = seed_sqlite(&data(one.path()));
    let (file, count) = parse_backup_line(&cli(one.path(), &["backup"]));
    assert_eq!(count, 4);

    let many = tempfile::tempdir().unwrap();
    let out = output(with_url(
        many.path(),
        &url,
        &["restore", file.to_str().unwrap()],
    ))
    .await;
    let said = stdout(&out);
    assert!(
        said.contains("restored 4 messages from") && said.contains("into PostgreSQL database"),
        "{said}"
    );
    let client = connect(&url).await;
    assert_eq!(read_pg(&client).await, (rows.clone(), 40));
    stats_name_postgres(many.path(), &url).await;

    let pg_key = a_node_serves_what_came(&url, &client).await;

    let (back, count) = parse_backup_line(&output(with_url(many.path(), &url, &["backup"])).await);
    assert_eq!(count, 5);
    let (in_back, floor, key) = read_sqlite(&back);
    assert_eq!(in_back[..4], rows[..]);
    assert_eq!(
        (in_back[4].0, in_back[4].1.as_str(), in_back[4].5),
        (41, "on many nodes", 0)
    );
    assert_eq!((floor, key), (41, Some(pg_key)));

    // The way back: the single node gets every message, keeps its own session key (a
    // file's is never adopted), and issues ids above everything the cluster issued.
    stdout(&cli(one.path(), &["restore", back.to_str().unwrap()]));
    let db = data(one.path()).join("bookchat.db");
    assert_eq!(read_sqlite(&db), (in_back, 41, Some(vec![7u8; 32])));
    let server = TestServer::start_in(&data(one.path()), |_| {}).await;
    assert_eq!(server.post_message("home again").await["id"], 42);
    server.stop().await;
}

/// A node on the restored database lists what came, knows the tombstone, and carries on
/// above the floor. Answers the session key the node made.
async fn a_node_serves_what_came(url: &str, client: &Client) -> Vec<u8> {
    let server = StoreKind::Postgres(url.to_owned()).start().await;
    let listed = server.get("/api/messages").await.json();
    let ids: Vec<i64> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 7]);
    assert_eq!(listed["messages"][0]["git_commit_hash"], "c0ffee");
    assert_eq!(server.get("/api/messages/3").await.status, 410);
    assert_eq!(server.post_message("on many nodes").await["id"], 41);
    server.stop().await;
    client
        .query_one("SELECT value FROM settings WHERE name = 'session_key'", &[])
        .await
        .unwrap()
        .get(0)
}

/// `stats` with the URL: PostgreSQL's counts, its name and size, no WAL, no URL.
async fn stats_name_postgres(dir: &Path, url: &str) {
    let out = output(with_url(dir, url, &["stats", "--json"])).await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let m = &json["messages"];
    assert_eq!(
        (m["total"].as_i64(), m["synced"].as_i64()),
        (Some(4), Some(2))
    );
    assert_eq!(m["pending"], 2);
    let database = &json["database"];
    assert_eq!(database["store"], "postgresql");
    assert!(database["name"]
        .as_str()
        .unwrap()
        .starts_with("bookchat_it_"));
    assert!(database["bytes"].as_u64().unwrap() > 0);
    assert!(database.get("path").is_none() && database.get("wal_bytes").is_none());
    let text = stdout(&output(with_url(dir, url, &["stats"])).await);
    assert!(text.contains("PostgreSQL database bookchat_it_"), "{text}");
    assert!(
        text.contains("messages:") && !text.contains("WAL"),
        "{text}"
    );
    assert!(!text.contains("postgres://"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_postgres_refuses_a_served_or_non_empty_database_and_changes_nothing() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let url = with_password(&url);
    let one = tempfile::tempdir().unwrap();
    seed_sqlite(&data(one.path()));
    let (file, _) = parse_backup_line(&cli(one.path(), &["backup"]));
    let file = file.to_str().unwrap().to_owned();
    let many = tempfile::tempdir().unwrap();
    let restore = || with_url(many.path(), &url, &["restore", &file]);

    let server = StoreKind::Postgres(url.clone()).start().await;
    let refused = refusal(&output(restore()).await);
    assert!(
        refused.contains("1 bookchat node(s) serve this PostgreSQL database; stop them first"),
        "{refused}"
    );
    server.post_message("already here").await;
    server.stop().await;

    let refused = refusal(&once_no_node_serves(restore).await);
    assert!(
        refused.contains("is not empty (1 message(s) in it)")
            && refused.contains("nothing was restored"),
        "{refused}"
    );
    let client = connect(&url).await;
    let (rows, floor) = read_pg(&client).await;
    assert_eq!(
        (rows.len(), rows[0].1.as_str(), floor),
        (1, "already here", 0)
    );

    let bad = many.path().join("bad.db");
    std::fs::write(&bad, b"not a database at all").unwrap();
    let refused = refusal(
        &output(with_url(
            many.path(),
            &url,
            &["restore", bad.to_str().unwrap()],
        ))
        .await,
    );
    assert!(refused.contains("not an SQLite database"), "{refused}");
    // No half-built copy is left behind.
    let left: Vec<_> = std::fs::read_dir(data(many.path()))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    // An unreachable database is an error that names no password either.
    let closed = "postgres://u:pw-never-printed@127.0.0.1:1/db";
    let refused = refusal(&output(with_url(many.path(), closed, &["stats"])).await);
    assert!(refused.contains("PostgreSQL"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_into_postgres_waits_for_no_node_then_fills_it_as_synced() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let url = with_password(&url);
    let fake = FakeGitHub::start_default().await;
    let commits = crate::import::seed(&fake, 1..=120, 50);
    let dir = tempfile::tempdir().unwrap();
    let import = || {
        let mut command = with_url(dir.path(), &url, &["import"]);
        command
            .env("GITHUB_TOKEN", fake.token())
            .env("GITHUB_REPO", fake.repo())
            .env("GITHUB_API_URL", fake.url());
        command
    };

    let server = StoreKind::Postgres(url.clone()).start().await;
    let refused = refusal(&output(import()).await);
    assert!(
        refused.contains("a bookchat server is serving this database; stop every node first"),
        "{refused}"
    );
    server.stop().await;

    let done = once_no_node_serves(import).await;
    let err = String::from_utf8_lossy(&done.stderr).into_owned();
    let said = stdout(&done);
    assert!(
        said.contains("120 messages on the branch: 120 added"),
        "{said}"
    );
    assert!(err.contains("walking the repository") && err.contains("into PostgreSQL database"));
    assert!(!said.contains(&fake.token()) && !err.contains(&fake.token()));

    let client = connect(&url).await;
    let (rows, floor) = read_pg(&client).await;
    assert_eq!((rows.len(), floor), (120, 120));
    for (id, content, author, created_at, hash, synced, deleted_at) in rows {
        let (_, want_content, want_author, want_at) = crate::import::row(id);
        assert_eq!(
            (content, author, created_at),
            (want_content, want_author, want_at)
        );
        assert_eq!(
            (hash.as_ref(), synced, deleted_at),
            (commits.get(&id), 1, None)
        );
    }
    let again = stdout(&output(import()).await);
    assert!(
        again.contains("0 added, 120 already in the database"),
        "{again}"
    );

    let server = StoreKind::Postgres(url).start().await;
    assert_eq!(server.stats().await["messages"]["pending"], 0);
    assert_eq!(server.post_message("after the import").await["id"], 121);
    server.stop().await;
}
