//! The message counts of `/api/stats` come from counters, not `count(*)`: through posts,
//! syncs, deletions of synced and of pending messages, and restarts, they must equal what
//! `count(*)` finds in the store.

use std::path::Path;
use std::time::Duration;

use bookchat::db::Tombstone;

use crate::fake_github::FakeGitHub;
use crate::stores::{per_store, StoreKind};
use crate::support::{eventually, TestServer};

const PATIENCE: Duration = Duration::from_secs(30);

/// (total, pending) as `count(*)` finds them in the store.
async fn counted(store: &StoreKind, dir: &Path) -> (i64, i64) {
    let sql = "SELECT count(*), count(*) FILTER (WHERE NOT synced) FROM messages";
    let row = store.query_ints(dir, sql).await;
    (row[0], row[1])
}

/// (total, pending) as the server reports them, checking `synced` agrees.
async fn reported(server: &TestServer) -> (i64, i64) {
    let stats = server.stats().await;
    let m = &stats["messages"];
    let (total, pending) = (m["total"].as_i64().unwrap(), m["pending"].as_i64().unwrap());
    assert_eq!(m["synced"].as_i64(), Some(total - pending), "{stats}");
    (total, pending)
}

async fn assert_exact(store: &StoreKind, server: &TestServer, dir: &Path, expected: (i64, i64)) {
    assert_eq!(counted(store, dir).await, expected, "count(*) in the store");
    assert_eq!(reported(server).await, expected, "the counters");
}

per_store! {
    async fn counters_match_count_star_through_sync_deletion_and_restart(store) {
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        for i in 1..=5 {
            server.post_message(&format!("synced {i}")).await;
        }
        server.wait_all_synced(5, PATIENCE).await;
        // GitHub down: what follows stays pending, so the figures hold still to be compared.
        fake.set_down(true);
        for i in 6..=8 {
            server.post_message(&format!("pending {i}")).await;
        }
        assert_exact(&store, &server, dir.path(), (8, 3)).await;
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
        assert_exact(&store, &server, dir.path(), (8, 4)).await;
        server.stop().await;

        // Counted afresh at open, with sync off: nothing moves while they are compared.
        let server = store.start_in(dir.path(), |_| {}).await;
        assert_exact(&store, &server, dir.path(), (8, 4)).await;
        assert_eq!(
            server.state.store.delete(1).await.unwrap(),
            Tombstone::WasSynced
        );
        server.post_message("after the restart").await;
        assert_exact(&store, &server, dir.path(), (9, 6)).await;
        server.stop().await;

        // Sync on again: the worker's marks bring pending to zero, no lower, no higher.
        fake.set_down(false);
        let server = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        eventually("the queue to drain", PATIENCE, || async {
            (reported(&server).await.1 == 0).then_some(())
        })
        .await;
        assert_exact(&store, &server, dir.path(), (9, 0)).await;
        server.stop().await;
    }
}
