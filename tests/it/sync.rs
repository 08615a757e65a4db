//! GitHub sync against the local fake GitHub: every message committed exactly once, in few
//! commits, through outages, lost answers and rate limits, and never on the request path.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_github::FakeGitHub;
use crate::stores::per_store;
use crate::support::{eventually, TestServer};

const PATIENCE: Duration = Duration::from_secs(20);

/// Where sync puts a message's file: `messages/YYYY/MM/DD/<id range>/<id>.json`.
pub(crate) fn message_path(id: i64, created_at: &str) -> String {
    let day = created_at[..10].replace('-', "/");
    let first = id / 1000 * 1000;
    format!("messages/{day}/{first:08}-{:08}/{id:08}.json", first + 999)
}

fn is_json(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
}

/// The commits that added each message file, from the branch history.
pub(crate) fn adding_commits(fake: &FakeGitHub) -> BTreeMap<String, Vec<String>> {
    let mut added: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for commit in fake.commits() {
        let files = commit.added.iter();
        for path in files.filter(|p| p.starts_with("messages/") && is_json(p)) {
            added
                .entry(path.clone())
                .or_default()
                .push(commit.sha.clone());
        }
    }
    added
}

/// Asserts every stored message has exactly one file, added by exactly one commit, and
/// that the message's `git_commit_hash` names that commit. Returns the file map.
pub(crate) async fn assert_each_committed_once(
    server: &TestServer,
    fake: &FakeGitHub,
    total: usize,
) -> BTreeMap<String, Vec<String>> {
    let listed = server.get("/api/messages?limit=200").await.json();
    let mut all: Vec<Value> = listed["messages"].as_array().unwrap().clone();
    while all.len() < total {
        let before = all[0]["id"].as_i64().unwrap();
        let older = server
            .get(&format!("/api/messages?before={before}&limit=200"))
            .await
            .json();
        let mut page = older["messages"].as_array().unwrap().clone();
        assert!(!page.is_empty(), "only {} of {total} listed", all.len());
        page.extend(all);
        all = page;
    }
    let added = adding_commits(fake);
    assert_eq!(added.len(), total, "one file per message: {added:?}");
    for message in &all {
        assert_eq!(message["synced"], true, "{message}");
        let id = message["id"].as_i64().unwrap();
        let path = message_path(id, message["created_at"].as_str().unwrap());
        let commits = added
            .get(&path)
            .unwrap_or_else(|| panic!("no file {path} for message {id}"));
        assert_eq!(commits.len(), 1, "{path} committed {commits:?}");
        assert_eq!(message["git_commit_hash"], commits[0].as_str(), "{path}");
        let file: Value = serde_json::from_slice(&fake.file(&path).unwrap()).unwrap();
        assert_eq!(file["id"], message["id"]);
        assert_eq!(file["content"], message["content"]);
        assert_eq!(file["author"], message["author"]);
        assert_eq!(file["created_at"], message["created_at"]);
    }
    added
}

per_store! {
    async fn a_message_becomes_a_file_and_its_commit_is_stored(store) {
        let fake = FakeGitHub::start_default().await;
        let server = store.start_synced(&fake).await;
        let posted = server.post_message("hello, GitHub").await;
        assert_eq!(posted["synced"], false, "a 201 does not wait for GitHub");
        server.wait_all_synced(1, PATIENCE).await;
        let message = server.get("/api/messages/1").await.json();
        let commits = fake.commits();
        assert_eq!(commits.len(), 2, "the initial commit and ours");
        assert_eq!(message["git_commit_hash"], commits[0].sha.as_str());
        assert_eq!(commits[0].parents, vec![commits[1].sha.clone()]);
        assert!(commits[0].message.contains('1'), "{}", commits[0].message);
        assert_each_committed_once(&server, &fake, 1).await;
        assert!(fake.file("README.md").is_some(), "others' files stay");
        let writes: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| r.write)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(writes.len(), 3, "a tree, a commit and the ref: {writes:?}");
        let stats = server.stats().await;
        assert_eq!(stats["sync"]["enabled"], true);
        assert!(stats["sync"]["last_success_at"].is_string(), "{stats}");
        assert_eq!(stats["sync"]["last_error"], Value::Null);
        server.stop().await;
    }
}

per_store! {
    async fn a_burst_of_200_messages_takes_a_few_commits(store) {
        let fake = FakeGitHub::start_default().await;
        let server = store.start_synced(&fake).await;
        let posts: Vec<_> = (0..200)
            .map(|i| {
                let addr = server.addr;
                tokio::spawn(async move {
                    let body = serde_json::json!({ "content": format!("burst {i}") }).to_string();
                    crate::client::request(
                        addr,
                        "POST",
                        "/api/messages",
                        &[("content-type", "application/json")],
                        body,
                    )
                    .await
                    .status
                })
            })
            .collect();
        for post in posts {
            assert_eq!(post.await.unwrap(), 201);
        }
        server.wait_all_synced(200, PATIENCE).await;
        let added = assert_each_committed_once(&server, &fake, 200).await;
        let commits: std::collections::BTreeSet<&String> = added.values().flatten().collect();
        let requests = fake.requests().len();
        eprintln!(
            "burst of 200: {} commits, {requests} GitHub requests",
            commits.len()
        );
        assert!(
            commits.len() <= 5,
            "{} commits for 200 messages",
            commits.len()
        );
        assert!(requests <= 25, "{requests} requests for 200 messages");
        assert!(fake.file("README.md").is_some(), "others' files stay");
        server.stop().await;
    }
}

per_store! {
    async fn a_slow_github_never_slows_a_post(store) {
        let fake = FakeGitHub::start_default().await;
        fake.set_latency(Duration::from_secs(3));
        let server = store.start_synced(&fake).await;
        let mut took = Vec::new();
        for i in 0..40 {
            let started = Instant::now();
            server
                .post_message(&format!("while GitHub crawls {i}"))
                .await;
            took.push(started.elapsed());
        }
        took.sort();
        let p95 = took[took.len() * 95 / 100 - 1];
        eprintln!(
            "POST latency with a 3 s GitHub: p50 {:?}, p95 {p95:?}, max {:?}",
            took[took.len() / 2],
            took[took.len() - 1]
        );
        // A POST that waited on GitHub would take 3 s; this bound only rules that out.
        assert!(
            took[took.len() - 1] < Duration::from_millis(1500),
            "{took:?}"
        );
        assert!(
            fake.request_count() >= 1,
            "the worker was talking to GitHub"
        );
        server.stop().await;
    }
}

per_store! {
    async fn pending_messages_from_before_a_restart_are_synced_once(store) {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeGitHub::start_default().await;
        fake.set_down(true);
        let first = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        for i in 0..4 {
            first.post_message(&format!("before restart {i}")).await;
        }
        first.stop().await;
        fake.set_down(false);
        let second = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        second.wait_all_synced(4, PATIENCE).await;
        assert_each_committed_once(&second, &fake, 4).await;
        second.stop().await;
    }
}

per_store! {
    async fn others_commits_on_the_branch_are_kept(store) {
        let fake = FakeGitHub::start_default().await;
        let server = store.start_synced(&fake).await;
        server.post_message("first").await;
        server.wait_all_synced(1, PATIENCE).await;
        fake.push_foreign_commit("notes/from-someone-else.md", b"hello\n");
        let foreign = fake.commits()[0].sha.clone();
        fake.set_down(true);
        for i in 0..5 {
            server
                .post_message(&format!("after the foreign commit {i}"))
                .await;
        }
        fake.set_down(false);
        server.wait_all_synced(6, PATIENCE).await;
        assert_eq!(
            fake.file("notes/from-someone-else.md").as_deref(),
            Some(&b"hello\n"[..])
        );
        assert!(fake.file("README.md").is_some());
        assert!(
            fake.commits().iter().any(|c| c.sha == foreign),
            "history was rewritten"
        );
        assert_each_committed_once(&server, &fake, 6).await;
        server.stop().await;
    }
}

per_store! {
    async fn with_sync_off_github_hears_nothing(store) {
        let fake = FakeGitHub::start_default().await;
        let server = store.start().await;
        server.post_message("local only").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(fake.request_count(), 0);
        let stats = server.stats().await;
        assert_eq!(stats["sync"]["enabled"], false);
        assert_eq!(stats["sync"]["state"], "off");
        assert_eq!(stats["messages"]["pending"], 1);
        server.stop().await;
    }
}

per_store! {
    async fn shutdown_does_not_wait_for_a_slow_github_longer_than_a_request(store) {
        let fake = FakeGitHub::start_default().await;
        fake.set_latency(Duration::from_secs(2));
        let server = store.start_synced(&fake).await;
        server.post_message("in flight at shutdown").await;
        eventually("a request to be in flight", PATIENCE, || async {
            (fake.request_count() > 0).then_some(())
        })
        .await;
        tokio::time::timeout(Duration::from_secs(8), server.stop())
            .await
            .expect("shutdown finishes once the request in flight is answered");
    }
}
