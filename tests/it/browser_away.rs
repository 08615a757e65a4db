//! A page that was away while the server restarted, in headless Chromium: its stream
//! reconnects, and the opening `snapshot` removes what was deleted meanwhile and turns on
//! marks that were synced; a backlog too long to replay makes it reload its newest page.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::browser::{open_page, wait_gone, wait_shown};
use crate::support::TestServer;
use crate::webdriver::Driver;

const PATIENCE: Duration = Duration::from_secs(20);

/// Restarts the server on its old port, so the page's `EventSource` reconnects to it.
async fn restart(
    server: TestServer,
    dir: &Path,
    change: impl FnOnce(&rusqlite::Connection),
) -> TestServer {
    let port = server.addr.port();
    server.stop().await;
    change(&bookchat::db::open_writer(&dir.join("bookchat.db")).unwrap());
    TestServer::start_in(dir, |args| args.port = port).await
}

#[tokio::test]
async fn a_page_back_from_away_drops_deleted_messages_and_shows_new_synced_marks() {
    let Some(driver) = Driver::start_or_skip("browser snapshot test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    for text in ["stays", "deleted while away", "synced while away"] {
        server.post_message(text).await;
    }
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_shown(&session, "deleted while away", PATIENCE).await;
    let server = restart(server, dir.path(), |conn| {
        let now = bookchat::db::now_rfc3339();
        assert!(bookchat::db::tombstone(conn, 2, &now).unwrap().deleted());
        conn.execute(
            "UPDATE messages SET synced = 1, git_commit_hash = 'c0ffee1' WHERE id = 3",
            [],
        )
        .unwrap();
    })
    .await;
    wait_gone(&session, "deleted while away", PATIENCE).await;
    session
        .wait_until(
            "the mark of message 3 to turn synced",
            "const s = document.querySelector('#messages .message[data-id=\"3\"] .message-status');
             return s !== null && s.dataset.status === 'synced';",
            json!([]),
            PATIENCE,
        )
        .await;
    wait_shown(&session, "stays", PATIENCE).await;
    session.quit().await;
    server.stop().await;
}

#[tokio::test]
async fn a_page_away_for_a_long_backlog_reloads_its_newest_page() {
    let Some(driver) = Driver::start_or_skip("browser reset test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    server.post_message("from before the gap").await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_shown(&session, "from before the gap", PATIENCE).await;
    // 1,100 messages arrive while the page's stream is down: too many to replay.
    let server = restart(server, dir.path(), |conn| {
        let now = bookchat::db::now_rfc3339();
        for i in 2..=1101 {
            conn.execute(
                "INSERT INTO messages (id, content, created_at) VALUES (?1, ?2, ?3)",
                (i, format!("while away {i}"), &now),
            )
            .unwrap();
        }
    })
    .await;
    wait_shown(&session, "while away 1101", PATIENCE).await;
    // Reloaded, not stitched: the old message is no longer next to the newest page.
    wait_gone(&session, "from before the gap", PATIENCE).await;
    let shown = session
        .eval(
            "return document.querySelectorAll('#messages .message[data-id]').length;",
            json!([]),
        )
        .await;
    assert!(
        shown.as_i64().unwrap() <= 250,
        "{shown} messages in the page"
    );
    session.quit().await;
    server.stop().await;
}
