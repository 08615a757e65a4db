//! `bookchat import` against the fake GitHub: thousands of files past the listing and
//! tree-truncation limits, both layouts, an interrupted run resumed, a second run, a
//! database that already holds part of the history, and the binary refusing to run
//! beside a server.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bookchat::sync::import::{self, Phase, Summary};
use bookchat::sync::GithubConfig;
use rusqlite::Connection;

use crate::binary::{bookchat, spawn_server};
use crate::fake_github::{FakeGitHub, Fault};
use crate::support::{github_args, TestServer};
use crate::sync::{adding_commits, message_path};

/// A message as a file holds it: (id, content, author, `created_at`).
type Row = (i64, String, Option<String>, String);

pub(crate) fn row(id: i64) -> Row {
    // Three days, a few authors, some without; text a plain string would get wrong.
    let day = 24 + id % 3;
    let author = (id % 4 != 0).then(|| format!("reader {}", id % 5));
    let created_at = format!(
        "2026-11-{day}T{:02}:{:02}:{:02}.{:03}Z",
        id % 24,
        id % 60,
        id % 59,
        id % 1000
    );
    (
        id,
        format!("message {id} \"quoted\"\nsecond line ✓"),
        author,
        created_at,
    )
}

/// A message file's fields in the order sync writes them.
#[derive(serde::Serialize)]
pub struct MessageFile<'a> {
    pub id: i64,
    pub content: &'a str,
    pub author: Option<&'a str>,
    pub created_at: &'a str,
}

fn file_bytes((id, content, author, created_at): &Row) -> Vec<u8> {
    let body = MessageFile {
        id: *id,
        content,
        author: author.as_deref(),
        created_at,
    };
    let mut text = serde_json::to_string_pretty(&body).unwrap();
    text.push('\n');
    text.into_bytes()
}

/// Commits `ids` in batches of `per_commit`, as sync does; returns id → commit.
pub(crate) fn seed(
    fake: &FakeGitHub,
    ids: std::ops::RangeInclusive<i64>,
    per_commit: usize,
) -> HashMap<i64, String> {
    let ids: Vec<i64> = ids.collect();
    let mut commits = HashMap::new();
    for chunk in ids.chunks(per_commit) {
        let files: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .map(|id| {
                let row = row(*id);
                (message_path(*id, &row.3), file_bytes(&row))
            })
            .collect();
        let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
        let message = format!(
            "Add {} BookChat messages\n\nids: {first}-{last}\n",
            chunk.len()
        );
        let sha = fake.push_commit(&files, &message);
        commits.extend(chunk.iter().map(|id| (*id, sha.clone())));
    }
    commits
}

fn open(dir: &Path) -> Connection {
    let mut conn = bookchat::db::open_writer(&dir.join("bookchat.db")).unwrap();
    bookchat::db::migrate(&mut conn).unwrap();
    conn
}

fn config(fake: &FakeGitHub) -> GithubConfig {
    GithubConfig::from_args(&github_args(fake))
        .unwrap()
        .unwrap()
}

/// Runs import on a blocking thread (the fake answers from its own), with its phases.
async fn import(fake: &FakeGitHub, dir: &Path) -> (Result<Summary, String>, Vec<Phase>) {
    let (config, dir) = (config(fake), dir.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut conn = open(&dir);
        let mut phases = Vec::new();
        let result = import::run(&config, &mut conn, &mut |p| {
            if phases.last() != Some(&p.phase) {
                phases.push(p.phase);
            }
        });
        (result.map_err(|e| e.to_string()), phases)
    })
    .await
    .unwrap()
}

/// Every row of the database: id → (content, author, `created_at`, commit, synced).
fn stored(dir: &Path) -> HashMap<i64, (Row, Option<String>, bool)> {
    let conn = open(dir);
    let mut stmt = conn
        .prepare("SELECT id, content, author, created_at, git_commit_hash, synced FROM messages")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let row: Row = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok((row.0, (row, r.get(4)?, r.get(5)?)))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn assert_exact(dir: &Path, commits: &HashMap<i64, String>) {
    let rows = stored(dir);
    assert_eq!(rows.len(), commits.len());
    for (id, commit) in commits {
        let (row_found, hash, synced) = &rows[id];
        assert_eq!(*row_found, row(*id), "message {id} came back changed");
        assert_eq!(hash.as_deref(), Some(commit.as_str()), "message {id}");
        assert!(synced, "message {id}");
    }
}

#[tokio::test]
async fn an_empty_data_directory_is_rebuilt_from_5000_files_past_github_limits() {
    let fake = FakeGitHub::start_default().await;
    let commits = seed(&fake, 1..=5200, 400);
    // Range folders hold 1,000 files; GitHub cuts these tree listings at 600.
    fake.set_tree_entry_limit(600);
    fake.clear_requests();
    let dir = tempfile::tempdir().unwrap();
    let (summary, phases) = import(&fake, dir.path()).await;
    let summary = summary.unwrap();
    assert_eq!(summary.added, 5200, "{summary:?}");
    assert_eq!(
        (summary.found, summary.present, summary.looked_up),
        (5200, 0, 0)
    );
    assert_eq!(
        phases,
        [
            Phase::Walking,
            Phase::Reading,
            Phase::Matching,
            Phase::Saving
        ]
    );
    assert_exact(dir.path(), &commits);
    let requests = fake.requests();
    eprintln!("import of 5,200 messages: {} requests", requests.len());
    assert!(requests.len() < 120, "{} requests", requests.len());
    assert!(requests.iter().all(|r| !r.path.contains("recursive")));
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.contains("tarball"))
            .count(),
        1
    );

    // The rebuilt database is synced: a server on it commits nothing again.
    let before = fake.commit_count_on_branch();
    let server = TestServer::start_synced_in(dir.path(), &fake).await;
    let stats = server.stats().await;
    assert_eq!(stats["messages"]["pending"], 0, "{stats}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.commit_count_on_branch(), before);
    let fresh = server.post_message("after the rebuild").await;
    assert_eq!(fresh["id"], 5201, "ids carry on after the imported ones");
    server.stop().await;
}

#[tokio::test]
async fn both_layouts_come_back_with_the_commits_that_added_them() {
    let fake = FakeGitHub::start_default().await;
    let mut commits = HashMap::new();
    // The flat layout and the commit messages of earlier versions.
    let flat = |id: i64| {
        let row = row(id);
        let stamp: String = row
            .3
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        (format!("messages/{id:08}_{stamp}.json"), file_bytes(&row))
    };
    let sha = fake.push_commit(
        &[flat(1), flat(2), flat(3)],
        "Add BookChat messages 1 to 3 (3 messages)",
    );
    commits.extend((1..=3).map(|id| (id, sha.clone())));
    let sha = fake.push_commit(&[flat(4)], "Add BookChat message 4");
    commits.insert(4, sha);
    fake.push_commit(
        &[("notes/agenda.md".into(), b"Thursday\n".to_vec())],
        "Agenda",
    );
    commits.extend(seed(&fake, 5..=9, 5));
    // A file whose commit message names nothing: found by a per-file lookup instead.
    let odd = row(10);
    let sha = fake.push_commit(
        &[(message_path(10, &odd.3), file_bytes(&odd))],
        "Manual upload",
    );
    commits.insert(10, sha);
    let dir = tempfile::tempdir().unwrap();
    let summary = import(&fake, dir.path()).await.0.unwrap();
    assert_eq!((summary.added, summary.looked_up), (10, 1), "{summary:?}");
    assert_exact(dir.path(), &commits);
}

#[tokio::test]
async fn an_interrupted_import_resumes_and_a_second_run_changes_nothing() {
    let fake = FakeGitHub::start_default().await;
    let commits = seed(&fake, 1..=2000, 200);
    // The file list of the fourth commit (in the order import checks them) fails.
    let mut shas: Vec<&String> = commits.values().collect();
    shas.sort();
    shas.dedup();
    // (`/octo/chat/commits/…`, not the Git Data API's `/git/commits/…`.)
    let detail = format!("/{}/commits/{}", fake.repo(), shas[3]);
    fake.push_fault_for("GET", &detail, Fault::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = import(&fake, dir.path()).await;
    assert!(first.unwrap_err().contains("404"));
    assert_eq!(
        stored(dir.path()).len(),
        600,
        "three commits were saved before it stopped"
    );

    let resumed = import(&fake, dir.path()).await.0.unwrap();
    assert_eq!((resumed.added, resumed.present), (1400, 600), "{resumed:?}");
    assert_exact(dir.path(), &commits);
    let again = import(&fake, dir.path()).await.0.unwrap();
    assert_eq!((again.added, again.present), (0, 2000), "{again:?}");
    assert_exact(dir.path(), &commits);
}

#[tokio::test]
async fn a_database_holding_part_of_the_history_is_completed_and_kept() {
    let fake = FakeGitHub::start_default().await;
    let commits = seed(&fake, 1..=300, 100);
    let dir = tempfile::tempdir().unwrap();
    {
        // The database has 1–50 already, still waiting for sync: they are left alone.
        let conn = open(dir.path());
        for id in 1..=50 {
            let (id, content, author, created_at) = row(id);
            conn.execute(
                "INSERT INTO messages (id, content, author, created_at, synced) VALUES (?1, ?2, ?3, ?4, 0)",
                (id, content, author, created_at),
            )
            .unwrap();
        }
    }
    let summary = import(&fake, dir.path()).await.0.unwrap();
    assert_eq!((summary.added, summary.present), (250, 50), "{summary:?}");
    let rows = stored(dir.path());
    assert!(
        rows[&7].1.is_none() && !rows[&7].2,
        "an existing row is not touched"
    );
    assert_eq!(rows[&51].1.as_deref(), Some(commits[&51].as_str()));
    // The server then adopts the 50 it still had pending: no message file twice.
    let server = TestServer::start_synced_in(dir.path(), &fake).await;
    server.wait_all_synced(300, Duration::from_secs(30)).await;
    let added = adding_commits(&fake);
    assert_eq!(added.len(), 300);
    assert!(added.values().all(|c| c.len() == 1));
    assert_eq!(
        server.get("/api/messages/7").await.json()["git_commit_hash"],
        commits[&7].as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn the_binary_refuses_beside_a_server_and_otherwise_reports_progress() {
    let fake = FakeGitHub::start_default().await;
    seed(&fake, 1..=120, 60);
    let dir = tempfile::tempdir().unwrap();
    let env = |command: &mut std::process::Command| {
        command
            .env("GITHUB_TOKEN", fake.token())
            .env("GITHUB_REPO", fake.repo())
            .env("GITHUB_API_URL", fake.url());
    };
    let server = spawn_server(dir.path(), |_| {});
    let mut command = bookchat(dir.path());
    env(&mut command);
    let refused = command.arg("import").output().unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("in use") && err.lines().count() == 1, "{err}");
    server.kill();

    let mut command = bookchat(dir.path());
    env(&mut command);
    let done = command.arg("import").output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr),
    );
    assert!(done.status.success(), "{err}");
    assert!(
        err.contains("walking the repository") && err.contains("messages"),
        "{err}"
    );
    assert!(
        out.contains("120 messages on the branch: 120 added"),
        "{out}"
    );
    assert!(!out.contains(&fake.token()) && !err.contains(&fake.token()));
    let again = bookchat(dir.path()).arg("import").output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("GITHUB_REPO"),
        "{err}"
    );
}
