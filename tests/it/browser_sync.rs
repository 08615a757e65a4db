//! The page's sync-trouble banner in headless Chromium, against a fake GitHub that rejects the token or rate-limits.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{open_page, wait_shown};
use crate::fake_github::{FakeGitHub, Fault};
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER};

/// The fatal retry doubles from `fast_timing().fatal_first` (2 s); this leaves room for
/// several rounds on a busy machine.
const GENEROUS: Duration = Duration::from_secs(30);

/// True once the banner is on screen (rendered, with a size) and says `arguments[0]`.
const BANNER_SAYS: &str = "const b = document.querySelector('#sync-status .sync-banner');
     return b !== null && b.checkVisibility() && b.getBoundingClientRect().height > 0
         && b.textContent.includes(arguments[0]);";

/// True once the live region is empty again and takes no room.
const BANNER_GONE: &str = "const r = document.querySelector('#sync-status');
     return r.childElementCount === 0 && r.getBoundingClientRect().height === 0;";

async fn wait_banner_says(session: &Session, words: &str) {
    let what = format!("the sync banner to say {words:?}");
    session
        .wait_until(&what, BANNER_SAYS, json!([words]), GENEROUS)
        .await;
}

/// The banner's text, its tooltip, the role of the region it sits in, and the room it
/// leaves the message list and the composer.
async fn banner(session: &Session) -> Value {
    session
        .eval(
            "const b = document.querySelector('#sync-status .sync-banner');
             const box = (e) => e.getBoundingClientRect();
             const apart = (a, c) => a.bottom <= c.top || c.bottom <= a.top
                 || a.right <= c.left || c.right <= a.left;
             const me = box(b);
             return { text: b.textContent, title: b.title,
                      role: b.parentElement.getAttribute('role'),
                      clear_of_list: apart(me, box(document.querySelector('#scroller'))),
                      clear_of_composer: apart(me, box(document.querySelector('.composer'))),
                      overflow: document.documentElement.scrollWidth - window.innerWidth };",
            json!([]),
        )
        .await
}

fn assert_polite_and_out_of_the_way(banner: &Value) {
    assert_eq!(banner["role"], "status", "announced politely: {banner}");
    assert_eq!(
        banner["clear_of_list"], true,
        "covers the messages: {banner}"
    );
    assert_eq!(
        banner["clear_of_composer"], true,
        "covers the composer: {banner}"
    );
    assert_eq!(banner["overflow"], 0, "scrolls sideways: {banner}");
}

async fn status_of_first_message(session: &Session) -> Value {
    session
        .eval(
            "const s = document.querySelector('#messages .message[data-id] .message-status');
             return s === null ? null : s.dataset.status;",
            json!([]),
        )
        .await
}

#[tokio::test]
async fn a_rejected_token_shows_a_banner_until_sync_recovers() {
    let Some(driver) = Driver::start_or_skip("browser sync banner test").await else {
        return;
    };
    let fake = FakeGitHub::start_default().await;
    let server = TestServer::start_synced(&fake).await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    session
        .wait_until(
            "no banner while sync is fine",
            BANNER_GONE,
            json!([]),
            GENEROUS,
        )
        .await;

    let original = fake.token();
    fake.set_token("rotated");
    session
        .type_into("#content", &format!("Kept while GitHub says no{ENTER}"))
        .await;
    wait_shown(
        &session,
        "Kept while GitHub says no",
        Duration::from_secs(10),
    )
    .await;
    wait_banner_says(&session, "GitHub rejected the token").await;

    let shown = banner(&session).await;
    let text = shown["text"].as_str().unwrap();
    assert!(
        text.starts_with("Saving to GitHub is paused: GitHub rejected the token"),
        "{text}"
    );
    assert!(
        text.ends_with("Messages are saved here and will be sent when it recovers."),
        "{text}"
    );
    let title = shown["title"].as_str().unwrap();
    assert!(
        title.starts_with("GitHub answered 401"),
        "the exact error: {title}"
    );
    assert_polite_and_out_of_the_way(&shown);
    assert_eq!(server.stats().await["sync"]["state"], "failing");
    assert_eq!(status_of_first_message(&session).await, "saved");

    fake.set_token(&original);
    session
        .wait_until(
            "the banner to go once sync recovers",
            BANNER_GONE,
            json!([]),
            GENEROUS,
        )
        .await;
    session
        .wait_until(
            "the synced mark",
            "const s = document.querySelector('#messages .message[data-id] .message-status');
             return s !== null && s.dataset.status === 'synced';",
            json!([]),
            GENEROUS,
        )
        .await;
    session.quit().await;
}

#[tokio::test]
async fn a_rate_limit_says_when_saving_resumes_on_a_phone_and_after_a_reload() {
    let Some(driver) = Driver::start_or_skip("browser rate limit banner test").await else {
        return;
    };
    let fake = FakeGitHub::start_default().await;
    let server = TestServer::start_synced(&fake).await;
    let session = driver.phone(375, 812).await;
    open_page(&session, &server).await;

    // Long enough that the retry time is still ahead when the test reads it.
    fake.push_fault(Fault::TooMany { retry_after: 600 });
    server.post_message("held back by a rate limit").await;
    wait_banner_says(&session, "GitHub rate limit, retrying at ").await;
    let sync = server.stats().await["sync"].clone();
    assert_eq!(sync["state"], "rate_limited", "{sync}");
    let at = session
        .eval(
            "return new Date(arguments[0]).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });",
            json!([sync["next_attempt_at"]]),
        )
        .await;
    let expected = format!(
        "Saving to GitHub is paused: GitHub rate limit, retrying at {}. \
         Messages are saved here and will be sent when it recovers.",
        at.as_str().unwrap()
    );
    let shown = banner(&session).await;
    assert_eq!(shown["text"], expected.as_str());
    assert_polite_and_out_of_the_way(&shown);

    // A page opened during the trouble hears the state when its stream opens.
    open_page(&session, &server).await;
    wait_banner_says(&session, &expected).await;
    assert_eq!(status_of_first_message(&session).await, "saved");
    session.quit().await;
}
