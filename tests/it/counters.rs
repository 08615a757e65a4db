//! The message counts of `/api/stats` come from counters, not `count(*)`: through posts,
//! syncs, deletions of synced and of pending messages, and restarts, they must equal what
//! `count(*)` finds in the file.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use bookchat::db::Tombstone;

use crate::fake_github::FakeGitHub;
use crate::support::{eventually, TestServer};

const PATIENCE: Duration = Duration::from_secs(30);

/// (total, pending) as `count(*)` finds them in the database file.
fn counted(dir: &Path) -> (i64, i64) {
    let conn = Connection::open(dir.join("bookchat.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE synced = 0) FROM messages",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

/// (total, pending) as the server reports them, checking `synced` agrees.
async fn reported(server: &TestServer) -> (i64, i64) {
    let stats = server.stats().await;
    let m = &stats["messages"];
    let (total, pending) = (m["total"].as_i64().unwrap(), m["pending"].as_i64().unwrap());
    assert_eq!(m["synced"].as_i64(), Some(total - pending), "{stats}");
    (total, pending)
}

async fn assert_exact(server: &TestServer, dir: &Path, expected: (i64, i64)) {
    assert_eq!(counted(dir), expected, "count(*) in the file");
    assert_eq!(reported(server).await, expected, "the counters");
}

#[tokio::test]
async fn counters_match_count_star_through_sync_deletion_and_restart() {
    let fake = FakeGitHub::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_synced_in(dir.path(), &fake).await;
    for i in 1..=5 {
        server.post_message(&format!("synced {i}")).await;
    }
    server.wait_all_synced(5, PATIENCE).await;
    // GitHub down: what follows stays pending, so the figures hold still to be compared.
    fake.set_down(true);
    for i in 6..=8 {
        server.post_message(&format!("pending {i}")).await;
    }
    assert_exact(&server, dir.path(), (8, 3)).await;
    // A synced message goes back in the queue (its file must go); a pending one was there.
    assert_eq!(
        server.state.store.delete(2).await.unwrap(),
        Tombstone::WasSynced
    );
    assert_eq!(
        server.state.store.delete(7).await.unwrap(),
        Tombstone::WasPending
    );
    assert_eq!(
        server.state.store.delete(7).await.unwrap(),
        Tombstone::Missing
    );
    assert_exact(&server, dir.path(), (8, 4)).await;
    server.stop().await;

    // Counted afresh at open, with sync off: nothing moves while they are compared.
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    assert_exact(&server, dir.path(), (8, 4)).await;
    assert_eq!(
        server.state.store.delete(1).await.unwrap(),
        Tombstone::WasSynced
    );
    server.post_message("after the restart").await;
    assert_exact(&server, dir.path(), (9, 6)).await;
    server.stop().await;

    // Sync on again: the worker's marks bring pending to zero, no lower, no higher.
    fake.set_down(false);
    let server = TestServer::start_synced_in(dir.path(), &fake).await;
    eventually("the queue to drain", PATIENCE, || async {
        (reported(&server).await.1 == 0).then_some(())
    })
    .await;
    assert_exact(&server, dir.path(), (9, 0)).await;
    server.stop().await;
}
