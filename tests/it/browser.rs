//! The chat page in real headless Chromium: typing, live updates, XSS, and a phone screen.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_github::FakeGitHub;
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER, RELEASE, SHIFT};

const TEXTS_OF: &str =
    "return [...document.querySelectorAll('#messages .message[data-id] .message-content')]
     .filter(e => e.textContent === arguments[0]).length;";

pub(crate) async fn open_page(session: &Session, server: &TestServer) {
    session.goto(&format!("http://{}/", server.addr)).await;
    session
        .wait_until(
            "the page to finish its first load",
            "return document.body.dataset.ready === '1';",
            json!([]),
            Duration::from_secs(15),
        )
        .await;
}

/// Waits until exactly one confirmed message shows `text`.
pub(crate) async fn wait_shown(session: &Session, text: &str, timeout: Duration) {
    let script = TEXTS_OF.replace("return ", "return 1 === ");
    let what = format!("{text:?} to be shown once");
    session
        .wait_until(&what, &script, json!([text]), timeout)
        .await;
}

/// Waits until no message shows `text` (deleted, here or on another page).
pub(crate) async fn wait_gone(session: &Session, text: &str, timeout: Duration) {
    let what = format!("{text:?} to leave the page");
    session
        .wait_until(
            &what,
            "return ![...document.querySelectorAll('#messages .message-content')]
                 .some(e => e.textContent === arguments[0]);",
            json!([text]),
            timeout,
        )
        .await;
}

async fn count_shown(session: &Session, text: &str) -> i64 {
    session
        .eval(TEXTS_OF, json!([text]))
        .await
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn chat_in_the_browser_typing_enter_and_live_updates() {
    let Some(driver) = Driver::start_or_skip("browser chat test").await else {
        return;
    };
    let server = TestServer::start().await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;

    session.type_into("#author", "Alice").await;
    session
        .type_into("#content", &format!("Hello from the browser{ENTER}"))
        .await;
    wait_shown(&session, "Hello from the browser", Duration::from_secs(10)).await;
    let cleared = session
        .eval(
            "return document.querySelector('#content').value;",
            json!([]),
        )
        .await;
    assert_eq!(cleared, "", "the composer empties after sending");

    // Shift+Enter makes a newline instead of sending.
    let multi = format!("line one{SHIFT}{ENTER}{RELEASE}line two{ENTER}");
    session.type_into("#content", &multi).await;
    wait_shown(&session, "line one\nline two", Duration::from_secs(10)).await;

    let stored = server.get("/api/messages").await.json();
    let stored = stored["messages"].as_array().unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0]["content"], "Hello from the browser");
    assert_eq!(stored[0]["author"], "Alice");
    assert_eq!(stored[1]["content"], "line one\nline two");

    // Another client posts through the API; the event stream shows it within a second.
    let posted_at = Instant::now();
    server.post_message("Hi Alice, this is Bob").await;
    wait_shown(&session, "Hi Alice, this is Bob", Duration::from_secs(1)).await;
    eprintln!(
        "message from another client shown after {:?}",
        posted_at.elapsed()
    );
    // A poll has run since the page's own sends: none of them may be shown twice.
    assert_eq!(count_shown(&session, "Hello from the browser").await, 1);
    assert_eq!(count_shown(&session, "line one\nline two").await, 1);
    let order = session
        .eval(
            "return [...document.querySelectorAll('#messages .message[data-id]')].map(e => Number(e.dataset.id));",
            json!([]),
        )
        .await;
    assert_eq!(order, json!([1, 2, 3]), "shown once each, in id order");

    // A second browser joins: it sees the history, and the two chat both ways.
    let bob = driver.desktop().await;
    open_page(&bob, &server).await;
    wait_shown(&bob, "Hello from the browser", Duration::from_secs(5)).await;
    bob.type_into("#author", "Bob").await;
    bob.type_into("#content", &format!("Bob's browser says hi{ENTER}"))
        .await;
    wait_shown(&bob, "Bob's browser says hi", Duration::from_secs(10)).await;
    wait_shown(&session, "Bob's browser says hi", Duration::from_secs(7)).await;
    session
        .type_into("#content", &format!("Alice answers{ENTER}"))
        .await;
    wait_shown(&bob, "Alice answers", Duration::from_secs(7)).await;
    bob.quit().await;
    session.quit().await;
}

#[tokio::test]
async fn markup_in_messages_is_shown_as_text_and_never_runs() {
    let Some(driver) = Driver::start_or_skip("browser XSS test").await else {
        return;
    };
    let server = TestServer::start().await;
    let attack = r#"<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>"#;
    let reply = server
        .post_json(
            &json!({ "content": attack, "author": "<b onmouseover=alert(1)>eve</b>" }).to_string(),
        )
        .await;
    assert_eq!(reply.status, 201);
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_shown(&session, attack, Duration::from_secs(10)).await;
    let verdict = session
        .eval(
            "const list = document.querySelector('#messages');
             return { pwned: window.__pwned === undefined ? null : window.__pwned,
                      imgs: list.querySelectorAll('img').length,
                      scripts: list.querySelectorAll('script').length,
                      bold: list.querySelectorAll('b').length,
                      author: list.querySelector('.message-author').textContent };",
            json!([]),
        )
        .await;
    assert_eq!(
        verdict["pwned"],
        json!(null),
        "injected code ran: {verdict}"
    );
    assert_eq!(verdict["imgs"], 0, "{verdict}");
    assert_eq!(verdict["scripts"], 0, "{verdict}");
    assert_eq!(verdict["bold"], 0, "{verdict}");
    assert!(
        verdict["author"]
            .as_str()
            .unwrap()
            .contains("<b onmouseover"),
        "{verdict}"
    );
    session.quit().await;
}

#[tokio::test]
async fn a_phone_sized_screen_has_no_horizontal_scroll() {
    let Some(driver) = Driver::start_or_skip("browser 375 px test").await else {
        return;
    };
    let server = TestServer::start().await;
    server.post_message(&"x".repeat(400)).await;
    server
        .post_message(&"https://example.org/".repeat(30))
        .await;
    let long_name = json!({ "content": "hi", "author": "W".repeat(50) }).to_string();
    assert_eq!(server.post_json(&long_name).await.status, 201);
    let session = driver.phone(375, 812).await;
    open_page(&session, &server).await;
    let width = session.eval("return window.innerWidth;", json!([])).await;
    assert_eq!(width, 375, "the viewport is not phone-sized");
    session
        .wait_until(
            "the messages to be listed",
            "return document.querySelectorAll('#messages .message[data-id]').length === 3;",
            json!([]),
            Duration::from_secs(10),
        )
        .await;
    let overflow = session
        .eval(
            "const w = window.innerWidth;
             return { doc: document.documentElement.scrollWidth - w, body: document.body.scrollWidth - w };",
            json!([]),
        )
        .await;
    assert_eq!(
        overflow,
        json!({ "doc": 0, "body": 0 }),
        "horizontal overflow in px"
    );
    session.quit().await;
}

#[tokio::test]
async fn the_synced_mark_turns_on_once_github_has_the_message() {
    let Some(driver) = Driver::start_or_skip("browser sync mark test").await else {
        return;
    };
    let fake = FakeGitHub::start_default().await;
    // Hold sync back until the page has shown the message as saved but not synced.
    fake.set_down(true);
    let server = TestServer::start_synced(&fake).await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    session
        .type_into("#content", &format!("Will this reach GitHub?{ENTER}"))
        .await;
    wait_shown(&session, "Will this reach GitHub?", Duration::from_secs(10)).await;
    let status = |wanted: &'static str| {
        format!(
            "const s = document.querySelector('#messages .message[data-id] .message-status');
             return s !== null && s.dataset.status === '{wanted}';"
        )
    };
    session
        .wait_until(
            "the saved mark",
            &status("saved"),
            json!([]),
            Duration::from_secs(5),
        )
        .await;
    fake.set_down(false);
    server.wait_all_synced(1, Duration::from_secs(20)).await;
    session
        .wait_until(
            "the synced mark, pushed by the event stream",
            &status("synced"),
            json!([]),
            Duration::from_secs(12),
        )
        .await;
    let label = session
        .eval(
            "return document.querySelector('#messages .message-status').getAttribute('aria-label');",
            json!([]),
        )
        .await;
    assert_eq!(label, "Synced to GitHub");
    session.quit().await;
}

#[tokio::test]
async fn without_event_streams_the_page_falls_back_to_polling() {
    let Some(driver) = Driver::start_or_skip("browser polling fallback test").await else {
        return;
    };
    // No stream slots: /api/events answers 503 and the page must poll instead.
    let server = TestServer::start_with(|a| a.limits.max_event_streams = 0).await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    server.post_message("seen by polling").await;
    wait_shown(&session, "seen by polling", Duration::from_secs(7)).await;
    session
        .type_into("#content", &format!("sent while polling{ENTER}"))
        .await;
    wait_shown(&session, "sent while polling", Duration::from_secs(10)).await;
    session.quit().await;
}

#[tokio::test]
async fn a_rate_limited_message_says_once_when_to_try_again() {
    let Some(driver) = Driver::start_or_skip("browser rate limit test").await else {
        return;
    };
    let server = TestServer::start_with(|args| {
        args.limits.write_rate = "1/3600".into();
        args.limits.write_burst = 1;
    })
    .await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    session
        .type_into("#content", &format!("first{ENTER}"))
        .await;
    wait_shown(&session, "first", Duration::from_secs(10)).await;
    session
        .type_into("#content", &format!("second{ENTER}"))
        .await;
    session
        .wait_until(
            "the failed mark and a note",
            "return document.querySelector('.toast-error') !== null
                && document.querySelector('.message-status[data-status=\"failed\"]') !== null;",
            json!([]),
            Duration::from_secs(10),
        )
        .await;
    let note = session
        .eval(
            "return document.querySelector('.toast-error').textContent;",
            json!([]),
        )
        .await;
    let note = note.as_str().unwrap();
    let wait: u64 = note
        .strip_prefix("Too many requests. Try again in ")
        .and_then(|rest| rest.strip_suffix(" s."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected note: {note:?}"));
    assert!((1..=3600).contains(&wait), "{note}");
    session.quit().await;
}
