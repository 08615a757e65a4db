//! Automatic backups of a running in-process server: the timer, pruning, what is never
//! pruned, and a failing backup reported in the status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::support::{eventually, TestServer};

fn backups_dir(data: &Path) -> PathBuf {
    data.join("backups")
}

/// Hidden files in `dir`: what a half-written backup would leave.
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// File names in `dir` that start with `prefix` and end in `.db`, sorted.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && Path::new(n).extension().is_some_and(|e| e == "db"))
        .collect();
    names.sort();
    names
}

/// The message contents of a backup file, after asserting that `integrity_check` is `ok`.
fn check(path: &Path) -> Vec<String> {
    crate::ops::messages_in(path)
        .into_iter()
        .map(|(_, content)| content)
        .collect()
}

fn every_second(keep: usize) -> impl FnOnce(&mut bookchat::cli::ServeArgs) {
    move |args| {
        args.backups.backup_interval = 1;
        args.backups.backup_keep = keep;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_backups_keep_the_newest_and_never_touch_other_backups() {
    let dir = tempfile::tempdir().unwrap();
    let folder = backups_dir(dir.path());
    std::fs::create_dir_all(&folder).unwrap();
    // Older than any automatic backup, so pruning by age alone would take them first.
    let manual = folder.join("bookchat-20200101T000000.000Z.db");
    let pre_restore = folder.join("bookchat-pre-restore-20200101T000000.000Z.db");
    let hand_named = folder.join("bookchat-before-upgrade.db");
    for path in [&manual, &pre_restore, &hand_named] {
        std::fs::write(path, b"kept by people").unwrap();
    }

    let server = TestServer::start_in(dir.path(), every_second(2)).await;
    let mut posted = Vec::new();
    for text in ["one", "two", "three"] {
        posted.push(server.post_message(text).await["content"].clone());
    }
    let status = eventually("three automatic backups", Duration::from_secs(10), || {
        let status = server.state.backups.status();
        async move { (status.made >= 3).then_some(status) }
    })
    .await;
    // Operators see the same over HTTP.
    let reported = server.stats().await;
    assert_eq!(reported["backups"]["last_verified"], true, "{reported}");
    assert!(
        reported["backups"]["made"].as_u64().unwrap() >= 3,
        "{reported}"
    );
    let metrics = server.get("/metrics").await.text();
    assert!(
        metrics.contains("\nbookchat_backup_enabled 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nbookchat_backup_last_verified 1\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("\nbookchat_backups_made_total 0\n"),
        "{metrics}"
    );
    // Stopping joins the thread, so no backup is half-way through while we count.
    server.stop().await;

    assert!(status.enabled && status.interval_seconds == 1 && status.keep == 2);
    assert_eq!(status.last_verified, Some(true));
    assert_eq!(status.last_messages, Some(3));
    assert_eq!((status.failed, status.last_error.as_deref()), (0, None));
    let last_path = PathBuf::from(status.last_path.expect("the last backup's path"));
    let autos = named(&folder, "bookchat-auto-");
    assert_eq!(autos.len(), 2, "{autos:?}");
    assert!(
        autos.iter().any(|n| last_path.ends_with(n)),
        "{last_path:?} not in {autos:?}"
    );
    let last_at = status.last_at.expect("the last backup's time");
    let stamp: String = last_at.chars().filter(|c| *c != '-' && *c != ':').collect();
    assert!(
        last_path.to_string_lossy().contains(&stamp),
        "{last_at} vs {last_path:?}"
    );
    for name in &autos {
        let contents = check(&folder.join(name));
        assert_eq!(contents.len(), 3, "{name}");
    }
    for path in [&manual, &pre_restore, &hand_named] {
        assert_eq!(std::fs::read(path).unwrap(), b"kept by people");
    }
    // Nothing half-written is left behind.
    assert!(hidden(&folder).is_empty(), "{:?}", hidden(&folder));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_automatic_backup_is_reported_and_leaves_the_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let folder = backups_dir(dir.path());
    let server = TestServer::start_in(dir.path(), every_second(1)).await;
    server.post_message("before the damage").await;
    eventually("a first automatic backup", Duration::from_secs(10), || {
        let made = server.state.backups.status().made;
        async move { (made >= 1).then_some(()) }
    })
    .await;
    // A database whose messages cannot be read back fails verification.
    let conn = Connection::open(dir.path().join("bookchat.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("ALTER TABLE messages RENAME TO gone")
        .unwrap();
    drop(conn);
    let status = eventually("a failed backup", Duration::from_secs(10), || {
        let status = server.state.backups.status();
        async move { (status.failed >= 1).then_some(status) }
    })
    .await;
    server.stop().await;

    assert_eq!(status.last_verified, Some(false));
    let error = status.last_error.expect("the failure is recorded");
    assert!(error.contains("failed verification"), "{error}");
    assert!(status.last_error_at.is_some());
    assert!(
        status.last_path.is_some(),
        "the last good backup is still named"
    );
    let autos = named(&folder, "bookchat-auto-");
    assert_eq!(autos.len(), 1, "{autos:?}");
    assert_eq!(check(&folder.join(&autos[0])), ["before the damage"]);
    assert!(hidden(&folder).is_empty(), "{:?}", hidden(&folder));
}
