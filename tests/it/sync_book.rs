//! The repository as a book: the daily pages (lines, order, escaping, rollover past
//! 512 KB), deletion, files of the older flat layout, a restore of an old backup, a burst
//! of 3,000 messages, and a token GitHub rejects for a few seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bookchat::cli::ServeArgs;
use serde_json::Value;

use crate::fake_github::FakeGitHub;
use crate::stores::per_store;
use crate::support::{eventually, github_args, store_offline, TestServer};
use crate::sync::{adding_commits, assert_each_committed_once, message_path};

const PATIENCE: Duration = Duration::from_secs(30);

fn day_folder(message: &Value) -> String {
    let path = message_path(
        message["id"].as_i64().unwrap(),
        message["created_at"].as_str().unwrap(),
    );
    let (range, _) = path.rsplit_once('/').unwrap();
    range.rsplit_once('/').unwrap().0.to_owned()
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.expect("the file exists")).unwrap()
}

/// Deletes a message the way moderation will: a tombstone through the writer (which keeps
/// the counts), then a nudge.
async fn delete(server: &TestServer, id: i64) {
    let outcome = server.state.store.delete(id).await.unwrap();
    assert!(outcome.deleted(), "{outcome:?}");
    server.state.sync.notify();
}

per_store! {
    async fn each_day_reads_as_a_page_and_a_deleted_message_leaves_it_and_the_branch(store) {
        let fake = FakeGitHub::start_default().await;
        let server = store.start_synced(&fake).await;
        let first = server.post_message("Good morning, readers").await;
        let tricky = "**not bold** <img src=x onerror=alert(1)> [link](http://evil)\n\
                      - 00:00:00 · **mallory** · forged line";
        let second = server.post_message(tricky).await;
        let third = server.post_message("Chapter 3 tonight?").await;
        server.wait_all_synced(3, PATIENCE).await;
        let page_path = format!("{}/README.md", day_folder(&first));
        let page = text(fake.file(&page_path));
        let lines: Vec<&str> = page.lines().filter(|l| l.starts_with("- ")).collect();
        assert_eq!(lines.len(), 3, "{page}");
        assert!(
            lines[0].ends_with("· **it** · Good morning, readers"),
            "{page}"
        );
        assert!(lines[2].contains("Chapter 3 tonight?"), "{page}");
        let time = &first["created_at"].as_str().unwrap()[11..19];
        assert!(lines[0].starts_with(&format!("- {time} ·")), "{page}");
        // The hostile message stays one line of text: no tag, no link, no second line.
        assert!(!page.contains("<img") && !page.contains("](http"), "{page}");
        assert!(
            !page.contains("**not bold**") && !page.contains("**mallory**"),
            "{page}"
        );
        assert!(
            lines[1].contains("&lt;img") && lines[1].contains("<br>"),
            "{page}"
        );
        assert!(page.starts_with("# "), "{page}");

        let commits_before = fake.commit_count_on_branch();
        delete(&server, second["id"].as_i64().unwrap()).await;
        eventually("the deletion to reach GitHub", PATIENCE, || async {
            let gone = fake.file(&message_path(2, second["created_at"].as_str().unwrap()));
            gone.is_none().then_some(())
        })
        .await;
        let page = text(fake.file(&page_path));
        assert!(
            !page.contains("mallory") && !page.contains("&lt;img"),
            "{page}"
        );
        assert_eq!(page.lines().filter(|l| l.starts_with("- ")).count(), 2);
        assert_eq!(fake.commit_count_on_branch(), commits_before + 1);
        let removal = &fake.commits()[0];
        assert!(
            removal.message.contains("removed: 2"),
            "{}",
            removal.message
        );
        let third_path = message_path(3, third["created_at"].as_str().unwrap());
        assert!(
            fake.file(&third_path).is_some(),
            "only the deleted file left"
        );
        // The worker counts the removal just after the branch moved: wait for it.
        server.wait_all_synced(3, PATIENCE).await;
        server.stop().await;
    }
}

per_store! {
    async fn a_message_deleted_before_it_was_synced_is_never_committed(store) {
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let contents = ["kept".into(), "regretted at once".into()];
        let stored = store.store_offline(dir.path(), &contents).await;
        // Posted together, so either may have the lower id.
        let find = |text: &str| stored.iter().find(|m| m["content"] == text).unwrap();
        let (kept, doomed) = (find("kept"), find("regretted at once"));
        // With sync off, so the synced server finds it deleted when it starts.
        let offline = store.start_in(dir.path(), |_| {}).await;
        let outcome = offline.state.store.delete(doomed["id"].as_i64().unwrap());
        assert_eq!(outcome.await.unwrap(), bookchat::db::Tombstone::WasPending);
        offline.stop().await;
        let server = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        eventually("sync to finish", PATIENCE, || async {
            let stats = server.stats().await;
            (stats["messages"]["pending"] == 0).then_some(())
        })
        .await;
        let added = adding_commits(&fake);
        assert_eq!(added.len(), 1, "{added:?}");
        let path = message_path(kept["id"].as_i64().unwrap(), kept["created_at"].as_str().unwrap());
        assert!(added.contains_key(&path));
        let page = text(fake.file(&format!("{}/README.md", day_folder(kept))));
        assert!(!page.contains("regretted"), "{page}");
        // No tree ever named the missing path: GitHub would have failed the whole request.
        assert!(fake.requests().iter().all(|r| r.status != 422));
        server.stop().await;
    }
}

per_store! {
    async fn a_long_day_continues_on_numbered_pages_under_512_kb(store) {
        let fake = FakeGitHub::start_default().await;
        fake.set_down(true);
        let server = store.start_synced(&fake).await;
        let long = "a".repeat(1990);
        let mut first = Value::Null;
        for i in 0..300 {
            let message = server.post_message(&format!("{i:03} {long}")).await;
            if i == 0 {
                first = message;
            }
        }
        fake.set_down(false);
        server.wait_all_synced(300, PATIENCE).await;
        let day = day_folder(&first);
        let one = text(fake.file(&format!("{day}/README.md")));
        let two = text(fake.file(&format!("{day}/page-2.md")));
        assert!(one.len() <= 512 * 1024 && two.len() <= 512 * 1024);
        assert!(one.trim_end().ends_with("(page-2.md)"), "page 1 links on");
        let numbers: Vec<String> = one
            .lines()
            .chain(two.lines())
            .filter(|l| l.starts_with("- "))
            .map(|l| l.split(" · ").nth(2).unwrap()[..3].to_owned())
            .collect();
        let expected: Vec<String> = (0..300).map(|i| format!("{i:03}")).collect();
        assert_eq!(
            numbers, expected,
            "every line once, in order, across the pages"
        );
        server.stop().await;
    }
}

/// The bytes an earlier BookChat wrote for a message, at its flat path.
fn legacy_file(message: &Value) -> (String, Vec<u8>) {
    let id = message["id"].as_i64().unwrap();
    let created_at = message["created_at"].as_str().unwrap();
    let stamp: String = created_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    // Field order as the earlier version wrote it (a struct, not a sorted map).
    let body = crate::import::MessageFile {
        id,
        content: message["content"].as_str().unwrap(),
        author: message["author"].as_str(),
        created_at,
    };
    let mut text = serde_json::to_string_pretty(&body).unwrap();
    text.push('\n');
    (format!("messages/{id:08}_{stamp}.json"), text.into_bytes())
}

per_store! {
    async fn files_of_the_old_flat_layout_are_adopted_and_can_be_deleted(store) {
        let fake = FakeGitHub::start_default().await;
        fake.set_down(true);
        let server = store.start_synced(&fake).await;
        let old = server.post_message("written by the previous version").await;
        let new = server.post_message("written by this one").await;
        let (legacy_path, bytes) = legacy_file(&old);
        let legacy = [(legacy_path.clone(), bytes)];
        let old_commit = fake.push_commit(&legacy, "Add BookChat message 1");
        fake.set_down(false);
        server.wait_all_synced(2, PATIENCE).await;
        let old_now = server.get("/api/messages/1").await.json();
        assert_eq!(old_now["git_commit_hash"], old_commit.as_str(), "adopted");
        let added = adding_commits(&fake);
        let new_path = message_path(2, new["created_at"].as_str().unwrap());
        assert!(added.contains_key(&new_path) && added.contains_key(&legacy_path));
        assert!(
            fake.file(&message_path(1, old["created_at"].as_str().unwrap()))
                .is_none(),
            "never committed a second time under the new layout"
        );
        delete(&server, 1).await;
        eventually("the flat file to leave the branch", PATIENCE, || async {
            fake.file(&legacy_path).is_none().then_some(())
        })
        .await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_restored_backup_with_250_already_synced_pending_messages_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start_default().await;
    let texts: Vec<String> = (0..250).map(|i| format!("before the backup {i}")).collect();
    store_offline(dir.path(), &texts, |_| {}).await;
    let backup = dir.path().join("old.db");
    bookchat::backup::snapshot(&dir.path().join("bookchat.db"), &backup).unwrap();
    let server = TestServer::start_synced_in(dir.path(), &fake).await;
    server.wait_all_synced(250, PATIENCE).await;
    server.stop().await;
    let commits = fake.commit_count_on_branch();
    let files = fake.files();

    bookchat::backup::restore(dir.path(), &backup).unwrap();
    let restored = TestServer::start_synced_in(dir.path(), &fake).await;
    restored.wait_all_synced(250, PATIENCE).await;
    assert_eq!(
        fake.commit_count_on_branch(),
        commits,
        "no commit, empty or not"
    );
    assert_eq!(fake.files(), files);
    assert_each_committed_once(&restored, &fake, 250).await;
    let lookups = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/commits?path="))
        .count();
    assert!(lookups <= 2, "{lookups} history lookups to adopt 250 files");
    restored.stop().await;
}

per_store! {
    async fn a_backlog_of_3000_messages_keeps_folders_under_1000_entries_in_few_requests(store) {
        // 3,000 messages arrive while sync is off (an outage, a burst): all pending at once.
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let texts: Vec<String> = (0..3000).map(|i| format!("burst {i}")).collect();
        store.store_offline(dir.path(), &texts).await;
        let server = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        server.wait_all_synced(3000, Duration::from_secs(60)).await;
        let mut entries: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for path in fake.files().keys() {
            let mut parts: Vec<&str> = path.split('/').collect();
            while let Some(name) = parts.pop() {
                let folder = parts.join("/");
                entries.entry(folder).or_default().insert(name.to_owned());
            }
        }
        let fullest = entries.values().map(BTreeSet::len).max().unwrap();
        assert!(fullest <= 1000, "a folder holds {fullest} entries");
        let added = adding_commits(&fake);
        assert_eq!(added.len(), 3000);
        let commits: BTreeSet<&String> = added.values().flatten().collect();
        let requests = fake.requests();
        let writes = requests.iter().filter(|r| r.write).count();
        eprintln!(
            "backlog of 3000: {} commits, {} requests ({writes} writes), fullest folder {fullest}",
            commits.len(),
            requests.len()
        );
        assert_eq!(commits.len(), 3, "1,000 messages per commit");
        assert_eq!(writes, 9, "three writes a commit");
        assert!(requests.len() <= 40, "{} requests", requests.len());
        server.stop().await;
    }
}

per_store! {
    async fn a_token_rejected_for_six_seconds_is_noticed_within_a_minute(store) {
        let fake = FakeGitHub::start_default().await;
        let token = fake.token();
        let dir = tempfile::tempdir().unwrap();
        // GitHub's real retry schedule for a rejected token (15 s, 30 s, …), not the tests'.
        let real_waits = |args: &mut ServeArgs| args.github = github_args(&fake);
        let server = store.start_configured(dir.path(), real_waits, |_| {}).await;
        // The organisation has not approved the token yet: GitHub answers 401.
        fake.set_token("not-yet-approved");
        server.post_message("waiting for approval").await;
        eventually("the rejection to show", PATIENCE, || async {
            let stats = server.stats().await;
            (stats["sync"]["state"] == "failing").then_some(())
        })
        .await;
        let rejected_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(6)).await;
        fake.set_token(&token);
        server.wait_all_synced(1, Duration::from_secs(60)).await;
        let took = rejected_at.elapsed();
        eprintln!("token accepted again after 6 s; synced {took:?} after the rejection");
        assert!(took < Duration::from_secs(60), "{took:?}");
        let failed = fake.requests().iter().filter(|r| r.status == 401).count();
        assert!(failed <= 2, "{failed} requests with the rejected token");
        server.stop().await;
    }
}
