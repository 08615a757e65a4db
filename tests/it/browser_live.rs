//! A connection the page can trust, in headless Chromium: the outbox keeps unsent messages
//! across a reload and sends each exactly once, in order; a silently dead stream is noticed
//! by its missing heartbeats and replaced; a request that never gets an answer does not stop
//! polling; and the page catches up at once when the network or the tab comes back. A small
//! TCP proxy in front of the server plays the bad network.

mod proxy;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use proxy::{Proxy, DEAD, DEAF};

use crate::browser::wait_shown;
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER};

const PATIENCE: Duration = Duration::from_secs(15);

// ---------- page helpers

/// Opens the page through `proxy` and waits until its event stream has delivered its
/// opening snapshot.
async fn open_live(session: &Session, proxy: &Proxy) {
    session.goto(&proxy.url()).await;
    wait_live(session).await;
}

async fn wait_live(session: &Session) {
    session
        .wait_until(
            "the page's event stream to be live",
            "return document.body.dataset.ready === '1'
                && document.querySelector('#connection-status').dataset.stream === 'live';",
            json!([]),
            PATIENCE,
        )
        .await;
}

async fn reconnecting_shown(session: &Session) -> bool {
    session
        .eval(
            "return document.querySelector('#connection-status').textContent.includes('Reconnecting…');",
            json!([]),
        )
        .await
        == true
}

/// Chromium's own network emulation, through chromedriver: the page sees `offline`, then
/// `online`, as it would on a real network change.
async fn set_offline(session: &Session, offline: bool) {
    let conditions = json!({ "network_conditions": {
        "offline": offline, "latency": 0, "download_throughput": -1, "upload_throughput": -1
    } });
    session
        .cmd("POST", "/chromium/network_conditions", Some(conditions))
        .await;
}

/// Blocks (or, with no patterns, unblocks) requests whose URL matches, for every load of
/// this tab: the server is out of reach for the API while the page itself still loads.
async fn block_urls(session: &Session, patterns: &[&str]) {
    let cdp = |cmd: &str, params: Value| json!({ "cmd": cmd, "params": params });
    session
        .cmd(
            "POST",
            "/goog/cdp/execute",
            Some(cdp("Network.enable", json!({}))),
        )
        .await;
    session
        .cmd(
            "POST",
            "/goog/cdp/execute",
            Some(cdp("Network.setBlockedURLs", json!({ "urls": patterns }))),
        )
        .await;
}

/// The unsent messages the page keeps in localStorage, by content, in order.
async fn outbox(session: &Session) -> Value {
    session
        .eval(
            "const saved = JSON.parse(localStorage.getItem('bookchat.outbox') || '[]');
             return saved.map(e => e.body.content);",
            json!([]),
        )
        .await
}

/// The contents of the messages the page shows as still unsent, in order.
async fn pending(session: &Session) -> Value {
    session
        .eval(
            "return [...document.querySelectorAll('#messages .message[data-pending] .message-content')]
                 .map(e => e.textContent);",
            json!([]),
        )
        .await
}

async fn wait_pending(session: &Session, texts: &[&str], status: &str) {
    session
        .wait_until(
            &format!("{texts:?} to be shown as {status}"),
            "const shown = [...document.querySelectorAll('#messages .message[data-pending]')];
             return JSON.stringify(shown.map(e => e.querySelector('.message-content').textContent))
                     === JSON.stringify(arguments[0])
                 && shown.every(e => e.querySelector('.message-status').dataset.status === arguments[1]);",
            json!([texts, status]),
            PATIENCE,
        )
        .await;
}

/// Waits until `text` is shown once, confirmed by the server and marked as saved.
async fn wait_sent(session: &Session, text: &str) {
    session
        .wait_until(
            &format!("{text:?} to be shown once as sent"),
            "const shown = [...document.querySelectorAll('#messages .message')]
                 .filter(e => e.querySelector('.message-content').textContent === arguments[0]);
             return shown.length === 1 && shown[0].dataset.id !== undefined
                 && shown[0].querySelector('.message-status').dataset.status === 'saved';",
            json!([text]),
            PATIENCE,
        )
        .await;
}

async fn stored_contents(server: &TestServer) -> Vec<String> {
    let listing = server.get("/api/messages").await.json();
    listing["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content").to_owned())
        .collect()
}

async fn send(session: &Session, text: &str) {
    session
        .type_into("#content", &format!("{text}{ENTER}"))
        .await;
}

// ---------- the outbox

#[tokio::test]
async fn the_outbox_survives_a_reload_offline_and_sends_each_message_once_in_order() {
    let Some(driver) = Driver::start_or_skip("browser outbox test").await else {
        return;
    };
    let server = TestServer::start().await;
    let session = driver.desktop().await;
    session.goto(&format!("http://{}/", server.addr)).await;
    wait_live(&session).await;

    // Offline, two messages are written; neither can be sent.
    set_offline(&session, true).await;
    session
        .wait_until(
            "the page to learn it is offline",
            "return navigator.onLine === false;",
            json!([]),
            PATIENCE,
        )
        .await;
    send(&session, "first, written offline").await;
    send(&session, "second, written offline").await;
    let both = ["first, written offline", "second, written offline"];
    wait_pending(&session, &both, "failed").await;
    assert_eq!(outbox(&session).await, json!(both));

    // Reload while the server is still out of reach. Without a service worker, a reload
    // under Chromium's offline emulation shows the browser's error page, not ours; so the
    // API alone stays blocked, and the page itself loads from the server.
    block_urls(&session, &["*/api/*"]).await;
    set_offline(&session, false).await;
    session.goto(&format!("http://{}/", server.addr)).await;
    wait_pending(&session, &both, "failed").await;
    assert!(
        stored_contents(&server).await.is_empty(),
        "nothing got through"
    );

    // The network comes back: both are sent, once each, in the order written.
    set_offline(&session, true).await;
    block_urls(&session, &[]).await;
    set_offline(&session, false).await;
    for text in both {
        wait_sent(&session, text).await;
    }
    assert_eq!(stored_contents(&server).await, both);
    assert_eq!(pending(&session).await, json!([]));
    assert_eq!(outbox(&session).await, json!([]));
    session.quit().await;
}

#[tokio::test]
async fn a_reload_after_a_lost_answer_resends_with_the_same_key_and_stores_once() {
    let Some(driver) = Driver::start_or_skip("browser lost answer test").await else {
        return;
    };
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let session = driver.desktop().await;
    open_live(&session, &proxy).await;

    // The message reaches the server, but its 201 never comes back.
    proxy.break_next("POST /api/messages", DEAF);
    send(&session, "stored, answer lost").await;
    crate::support::eventually("the server to store the message", PATIENCE, || async {
        (stored_contents(&server).await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(pending(&session).await, json!(["stored, answer lost"]));

    // A reload finds it in the outbox and sends it again, with the same key; the server
    // answers with the message it stored the first time, and the page takes it as its own.
    open_live(&session, &proxy).await;
    wait_sent(&session, "stored, answer lost").await;
    let keys = proxy.posted_keys();
    assert_eq!(
        keys.len(),
        2,
        "sent once before the reload, once after: {keys:?}"
    );
    assert!(!keys[0].is_empty() && keys[0] == keys[1], "{keys:?}");
    let own = session
        .eval(
            "return document.querySelector('#messages .message[data-id]').classList.contains('own');",
            json!([]),
        )
        .await;
    assert_eq!(
        own, true,
        "the answer to the resend confirmed the page's own message"
    );
    assert_eq!(pending(&session).await, json!([]));
    assert_eq!(outbox(&session).await, json!([]));
    assert_eq!(stored_contents(&server).await, ["stored, answer lost"]);
    session.quit().await;
}

// ---------- a connection that dies silently

#[tokio::test]
async fn a_silent_stream_is_noticed_by_its_missing_heartbeats_and_replaced() {
    let Some(driver) = Driver::start_or_skip("browser watchdog test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Heartbeats every second: the page gives a silent stream three of them.
    let server = TestServer::start_configured(
        dir.path(),
        |_| {},
        |config| config.connections.heartbeat = Duration::from_secs(1),
    )
    .await;
    let proxy = Proxy::start(server.addr).await;
    let session = driver.desktop().await;
    open_live(&session, &proxy).await;

    // The stream dies silently, and the API is out of reach: only the watchdog can tell.
    proxy.kill_streams();
    proxy.break_requests("GET /api/", DEAD);
    server
        .post_message("posted while the stream was dead")
        .await;
    session
        .wait_until(
            "the page to say it is reconnecting",
            "return document.querySelector('#connection-status').textContent.includes('Reconnecting…');",
            json!([]),
            PATIENCE,
        )
        .await;
    assert_eq!(
        count_confirmed(&session, "posted while the stream was dead").await,
        0,
        "nothing gets through a dead network"
    );

    proxy.mend();
    wait_shown(&session, "posted while the stream was dead", PATIENCE).await;
    wait_live(&session).await;
    session
        .wait_until(
            "the reconnecting note to go",
            "return document.querySelector('#connection-status').textContent === '';",
            json!([]),
            PATIENCE,
        )
        .await;
    // The replaced stream is live: the next message arrives as it happens.
    server.post_message("after the reconnect").await;
    wait_shown(&session, "after the reconnect", Duration::from_secs(2)).await;
    session.quit().await;
}

async fn count_confirmed(session: &Session, text: &str) -> i64 {
    session
        .eval(
            "return [...document.querySelectorAll('#messages .message[data-id] .message-content')]
                 .filter(e => e.textContent === arguments[0]).length;",
            json!([text]),
        )
        .await
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_poll_that_never_gets_an_answer_does_not_stop_polling() {
    let Some(driver) = Driver::start_or_skip("browser fetch timeout test").await else {
        return;
    };
    // No event streams: the page polls, and one of its polls will hang.
    let server = TestServer::start_with(|a| a.limits.max_event_streams = 0).await;
    let proxy = Proxy::start(server.addr).await;
    let session = driver.desktop().await;
    session.goto(&proxy.url()).await;
    session
        .wait_until(
            "the page to finish its first load",
            "return document.body.dataset.ready === '1';",
            json!([]),
            PATIENCE,
        )
        .await;

    proxy.break_next("GET /api/messages?after=", DEAD);
    crate::support::eventually("a poll to hang", PATIENCE, || async {
        proxy
            .swallowed()
            .contains("GET /api/messages?after=")
            .then_some(())
    })
    .await;
    server.post_message("posted while a poll hung").await;
    let posted = Instant::now();
    // The hung poll is given up on after its timeout (15 s), and polling goes on.
    wait_shown(
        &session,
        "posted while a poll hung",
        Duration::from_secs(30),
    )
    .await;
    // It really waited for the timeout: nothing else could have polled meanwhile.
    assert!(
        posted.elapsed() >= Duration::from_secs(10),
        "shown after {:?}, before the hung poll was given up on",
        posted.elapsed()
    );
    session.quit().await;
}

// ---------- resuming at once

#[tokio::test]
async fn online_and_visibility_make_the_page_catch_up_at_once() {
    let Some(driver) = Driver::start_or_skip("browser resume test").await else {
        return;
    };
    // The default heartbeat: the watchdog would wait 45 s, far longer than this test.
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr).await;
    let session = driver.desktop().await;
    open_live(&session, &proxy).await;

    for (event, dispatch) in [
        ("online", "window.dispatchEvent(new Event('online'));"),
        (
            "visibilitychange",
            "document.dispatchEvent(new Event('visibilitychange'));",
        ),
    ] {
        // The stream dies silently; the page still believes it open, so it does not poll.
        proxy.kill_streams();
        let missed = format!("missed before {event}");
        server.post_message(&missed).await;
        session.eval(dispatch, json!([])).await;
        wait_shown(&session, &missed, Duration::from_secs(5)).await;
        // A fresh stream, not a one-off poll: what comes next arrives as it happens.
        let next = format!("live after {event}");
        server.post_message(&next).await;
        wait_shown(&session, &next, Duration::from_secs(2)).await;
        assert!(
            !reconnecting_shown(&session).await,
            "a healthy resume shows no reconnecting note"
        );
    }
    session.quit().await;
}
