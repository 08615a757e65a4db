//! `bookchat stats`, what `backup` refuses, and the data-directory lock, on the real binary.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::binary::{bookchat, spawn_server};
use crate::client::request;
use crate::ops::{cli, data, parse_backup_line, refusal, server, stdout};

fn stats_json(dir: &Path) -> serde_json::Value {
    let out = cli(dir, &["stats", "--json"]);
    serde_json::from_str(&stdout(&out)).expect("stats --json prints JSON")
}

/// `label: value` lines → label (trimmed) → value (split at the first colon).
fn stats_text(dir: &Path) -> HashMap<String, String> {
    stdout(&cli(dir, &["stats"]))
        .lines()
        .map(|line| {
            let (label, value) = line.split_once(':').unwrap_or_else(|| panic!("{line}"));
            (label.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn stats_counts_messages_files_and_backups_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path());
    let headers = [("content-type", "application/json")];
    let mut newest = String::new();
    for text in ["a", "b", "c", "d"] {
        let body = serde_json::json!({ "content": text }).to_string();
        let reply = request(running.addr, "POST", "/api/messages", &headers, body).await;
        assert_eq!(reply.status, 201);
        newest = reply.json()["created_at"].as_str().unwrap().to_owned();
    }
    let db = data(dir.path()).join("bookchat.db");
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute("UPDATE messages SET synced = 1 WHERE id <= 3", [])
        .unwrap();
    drop(conn);

    let json = stats_json(dir.path());
    let m = &json["messages"];
    assert_eq!(
        (m["total"].as_i64(), m["synced"].as_i64()),
        (Some(4), Some(3))
    );
    assert_eq!(m["pending"], 1);
    assert_eq!(m["newest_at"], newest.as_str());
    assert_eq!(json["database"]["path"], db.to_str().unwrap());
    let size = std::fs::metadata(&db).unwrap().len();
    assert_eq!(json["database"]["bytes"], size);
    let wal = std::fs::metadata(data(dir.path()).join("bookchat.db-wal")).unwrap();
    assert_eq!(json["database"]["wal_bytes"], wal.len());
    assert!(wal.len() > 0, "the server's commits sit in the WAL");
    assert_eq!(json["backups"]["count"], 0);
    assert!(json["backups"]["last_at"].is_null() && json["backups"]["last_path"].is_null());

    let (backup, _) = parse_backup_line(&cli(dir.path(), &["backup"]));
    let json = stats_json(dir.path());
    assert_eq!(json["backups"]["count"], 1);
    assert_eq!(json["backups"]["last_path"], backup.to_str().unwrap());
    let last_at = json["backups"]["last_at"].as_str().unwrap();
    let stamp: String = last_at.chars().filter(|c| *c != '-' && *c != ':').collect();
    assert!(backup.to_str().unwrap().contains(&stamp), "{last_at}");

    let text = stats_text(dir.path());
    let field = |label: &str| text.get(label).map(String::as_str);
    assert_eq!(field("messages"), Some("4"));
    assert_eq!(field("synced"), Some("3"));
    assert_eq!(field("pending"), Some("1"));
    assert_eq!(field("backups"), Some("1"));
    assert_eq!(field("database"), db.to_str());
    assert_eq!(field("newest message"), Some(newest.as_str()));
    assert_eq!(
        field("last backup"),
        Some(format!("{last_at} ({})", backup.display()).as_str())
    );
    running.terminate();
}

#[test]
fn stats_never_shows_the_github_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    std::fs::create_dir_all(&data).unwrap();
    let mut conn = Connection::open(data.join("bookchat.db")).unwrap();
    bookchat::db::migrate(&mut conn).unwrap();
    drop(conn);
    for args in [vec!["stats"], vec!["stats", "--json"]] {
        let out = bookchat(dir.path())
            .args(&args)
            .env("GITHUB_TOKEN", "ghp_stats_must_not_show_this")
            .env("GITHUB_REPO", "someone/somewhere")
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(all.contains("messages"), "{all}");
        assert!(!all.contains("ghp_stats"), "{all}");
    }
}

#[test]
fn backup_and_stats_refuse_a_missing_database_and_backup_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["backup", "stats"] {
        let reason = refusal(&cli(dir.path(), &[command]));
        assert!(reason.contains("no database at"), "{reason}");
    }
    assert!(!data(dir.path()).join("backups").exists());

    let data = data(dir.path());
    std::fs::create_dir_all(&data).unwrap();
    let mut conn = Connection::open(data.join("bookchat.db")).unwrap();
    bookchat::db::migrate(&mut conn).unwrap();
    drop(conn);
    let precious = dir.path().join("precious.db");
    std::fs::write(&precious, b"not yours").unwrap();
    let reason = refusal(&cli(
        dir.path(),
        &["backup", "--output", precious.to_str().unwrap()],
    ));
    assert!(reason.contains("already exists"), "{reason}");
    assert_eq!(std::fs::read(&precious).unwrap(), b"not yours");

    let chosen = dir.path().join("chosen.db");
    let (path, count) = parse_backup_line(&cli(
        dir.path(),
        &["backup", "--output", chosen.to_str().unwrap()],
    ));
    assert_eq!((path, count), (chosen, 0));
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_server(dir.path(), |_| {});
    let mut second = bookchat(dir.path())
        .args(["--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: were the lock broken, the second server would run until killed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if second.try_wait().unwrap().is_none() {
        second.kill().unwrap();
        panic!("a second server started on a data directory in use");
    }
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "bookchat: the data directory ./bookchat-data is in use by a running bookchat \
             (pid {}); stop it first",
            first.pid()
        ),
        "{stderr}"
    );
    let health = request(first.addr, "GET", "/api/health", &[], "").await;
    assert_eq!(health.status, 200, "the first server is unharmed");
    let (status, _) = first.terminate();
    assert!(status.success());
    // Released with the process: the directory is free again.
    spawn_server(dir.path(), |_| {}).terminate();
}
