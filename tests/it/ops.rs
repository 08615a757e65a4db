//! The operations commands of the real binary: `backup` beside a busy server, `restore`
//! and everything it refuses, `stats`, and the data-directory lock.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::binary::{run, spawn_server, Running};
use crate::client::request;

/// A server on `dir/bookchat-data` that takes as many POSTs as a test sends.
pub fn server(dir: &Path) -> Running {
    spawn_server(dir, |command| {
        command.env("BOOKCHAT_WRITE_RATE", "0");
    })
}

pub fn data(dir: &Path) -> PathBuf {
    dir.join("bookchat-data")
}

/// Runs `bookchat <args> --data-dir <dir>/bookchat-data`.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    let data = data(dir);
    let mut all = args.to_vec();
    all.extend(["--data-dir", data.to_str().unwrap()]);
    run(dir, &all)
}

pub fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A refusal: non-zero exit and exactly one line on stderr, `bookchat: …`.
pub fn refusal(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {}", stdout(out));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("bookchat: "), "{stderr}");
    stderr.trim_end().to_owned()
}

async fn post(addr: std::net::SocketAddr, content: &str) -> Option<(i64, String)> {
    let body = serde_json::json!({ "content": content }).to_string();
    let headers = [("content-type", "application/json")];
    let reply = request(addr, "POST", "/api/messages", &headers, body).await;
    (reply.status == 201).then(|| (reply.json()["id"].as_i64().unwrap(), content.to_owned()))
}

/// Every message of a database file, after asserting that `integrity_check` says `ok`.
pub fn messages_in(path: &Path) -> Vec<(i64, String)> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(verdict, "ok", "{}", path.display());
    let mut stmt = conn
        .prepare("SELECT id, content FROM messages ORDER BY id")
        .unwrap();
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// `backup written: PATH (SIZE, N messages, verified)` → (PATH, N).
pub fn parse_backup_line(out: &Output) -> (PathBuf, i64) {
    let text = stdout(out);
    let line = text.trim_end();
    let rest = line
        .strip_prefix("backup written: ")
        .unwrap_or_else(|| panic!("{line}"));
    let (path, details) = rest.rsplit_once(" (").unwrap();
    let details = details.strip_suffix(", verified)").unwrap();
    let (size, count) = details.split_once(", ").unwrap();
    assert!(
        size.ends_with(" B") || size.ends_with(" kB") || size.ends_with(" MB"),
        "{line}"
    );
    let count = count
        .trim_end_matches(" messages")
        .trim_end_matches(" message");
    (PathBuf::from(path), count.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_beside_a_busy_server_holds_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path());
    let addr = running.addr;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            // Bounded: at most 5000 POSTs, whatever happens to the stop flag.
            while !stop.load(Ordering::Relaxed) && n < 5000 {
                n += 1;
                if let Some(stored) = post(addr, &format!("message {n}")).await {
                    acked.lock().unwrap().push(stored);
                }
            }
        })
    };
    crate::support::eventually("50 acknowledged POSTs", Duration::from_secs(20), || {
        let count = acked.lock().unwrap().len();
        async move { (count >= 50).then_some(()) }
    })
    .await;
    let before: Vec<(i64, String)> = acked.lock().unwrap().clone();
    let root = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || cli(&root, &["backup"]))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    running.terminate();

    let (path, count) = parse_backup_line(&out);
    assert!(
        path.starts_with(data(dir.path()).join("backups")),
        "{path:?}"
    );
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("bookchat-") && name.ends_with("Z.db") && !name.contains(':'),
        "{name}"
    );
    let backed_up = messages_in(&path);
    assert_eq!(i64::try_from(backed_up.len()).unwrap(), count);
    for message in &before {
        assert!(
            backed_up.contains(message),
            "acknowledged {message:?} is missing"
        );
    }
}

#[tokio::test]
async fn restore_brings_back_exactly_the_backup_and_keeps_what_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path());
    let mut first = Vec::new();
    for text in ["one", "two", "three"] {
        first.push(post(running.addr, text).await.unwrap());
    }
    let (saved, _) = parse_backup_line(&cli(dir.path(), &["backup"]));
    let mut later = first.clone();
    for text in ["four", "five"] {
        later.push(post(running.addr, text).await.unwrap());
    }
    // Killed, not stopped: the newest messages are still only in the write-ahead log,
    // which restore must fold into the kept copy and must not replay onto the new file.
    running.kill();
    let db = data(dir.path()).join("bookchat.db");
    let wal = data(dir.path()).join("bookchat.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    let out = cli(dir.path(), &["restore", saved.to_str().unwrap()]);
    let text = stdout(&out);
    let kept = text
        .trim_end()
        .split("; the previous database (5 messages) is kept at ")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.starts_with(&format!(
            "restored 3 messages from {} into {}",
            saved.display(),
            db.display()
        )),
        "{text}"
    );
    let kept = PathBuf::from(kept);
    assert!(kept
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("bookchat-pre-restore-"));
    assert_eq!(messages_in(&kept), later);
    assert_eq!(messages_in(&db), first);
    assert!(!wal.exists());

    let restarted = server(dir.path());
    let listed = request(restarted.addr, "GET", "/api/messages", &[], "").await;
    let listed: Vec<(i64, String)> = listed.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(listed, first);
    let (status, log) = restarted.terminate();
    assert!(status.success(), "{log}");
}

#[tokio::test]
async fn restore_refuses_bad_files_and_a_running_server_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path());
    for text in ["one", "two"] {
        post(running.addr, text).await.unwrap();
    }
    let (good, _) = parse_backup_line(&cli(dir.path(), &["backup"]));
    let db = data(dir.path()).join("bookchat.db");

    let before = std::fs::read(&db).unwrap();
    let busy = refusal(&cli(dir.path(), &["restore", good.to_str().unwrap()]));
    let pid = running.pid();
    assert!(
        busy.contains(&format!("in use by a running bookchat (pid {pid})")),
        "{busy}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before, "changed by: {busy}");
    running.terminate();

    let before = std::fs::read(&db).unwrap();
    let backups_before = std::fs::read_dir(data(dir.path()).join("backups"))
        .unwrap()
        .count();
    for (file, expected) in bad_files(dir.path(), &good) {
        let reason = refusal(&cli(dir.path(), &["restore", file.to_str().unwrap()]));
        assert!(
            reason.contains(&format!("cannot restore {}", file.display()))
                && reason.contains(expected),
            "{reason}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), before, "changed by: {reason}");
    }
    let backups_after = std::fs::read_dir(data(dir.path()).join("backups"))
        .unwrap()
        .count();
    assert_eq!(backups_after, backups_before, "a refusal wrote a backup");
}

/// Files restore must refuse, each with the words its refusal must contain.
fn bad_files(dir: &Path, good: &Path) -> Vec<(PathBuf, &'static str)> {
    let missing = dir.join("missing.db");
    let garbage = dir.join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database, whatever its name says\n",
    )
    .unwrap();

    let corrupt = dir.join("corrupt.db");
    let mut bytes = std::fs::read(good).unwrap();
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    // Page 2 is the messages table: wreck its b-tree page header.
    bytes[page_size..page_size + 12].fill(0xA5);
    std::fs::write(&corrupt, bytes).unwrap();

    let foreign = dir.join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT); PRAGMA user_version = 1;",
        )
        .unwrap();

    let version = |name: &str, value: i64| {
        let path = dir.join(name);
        std::fs::copy(good, &path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", value).unwrap();
        path
    };
    let newer = version("newer.db", bookchat::db::SCHEMA_VERSION + 1);
    let unversioned = version("unversioned.db", 0);
    vec![
        (missing, "no such file"),
        (garbage, "not an SQLite database"),
        (corrupt, "damaged"),
        (foreign, "not a BookChat database"),
        (newer, "newer than this bookchat"),
        (unversioned, "not a BookChat database"),
    ]
}
