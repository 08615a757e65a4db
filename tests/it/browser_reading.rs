//! The page as a chat kept open all day, in headless Chromium: day separators in local
//! time, and older history on scroll-up with the reading position kept and the DOM
//! bounded. `browser_notice` has what draws the reader's attention, and the keyboard.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{open_page, wait_shown};
use crate::support::{store_offline, TestServer};
use crate::webdriver::{Driver, Session, TAB};

pub(crate) const PATIENCE: Duration = Duration::from_secs(15);
/// The newest messages a page at the bottom keeps (`KEEP` in assets/static/history.js).
const KEEP: i64 = 500;
pub(crate) const NOTIFY_ME: &str = "Notify me of new messages";

/// Confirmed messages in the page.
const SHOWN: &str = "return document.querySelectorAll('#messages .message[data-id]').length;";

/// The list as the reader sees it, top to bottom: `# label` for a day separator, `! label`
/// for the unread line, a message's text otherwise.
pub(crate) const LIST_ITEMS: &str =
    "return [...document.querySelector('#messages').children].map(n =>
       n.classList.contains('day-separator') ? '# ' + n.textContent
     : n.classList.contains('unread-marker') ? '! ' + n.textContent
     : n.querySelector('.message-content').textContent);";

/// Runs a command of Chrome's developer-tools protocol (CDP) through chromedriver.
pub(crate) async fn cdp(session: &Session, cmd: &str, params: Value) -> Value {
    session
        .cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": cmd, "params": params })),
        )
        .await
}

/// Makes the page believe its tab is hidden (or shown again), as switching tabs would:
/// headless Chromium has no other tab to switch to.
pub(crate) async fn set_hidden(session: &Session, hidden: bool) {
    session
        .eval(
            "if (arguments[0]) {
                 Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
                 Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
             } else {
                 delete document.visibilityState;
                 delete document.hidden;
             }
             document.dispatchEvent(new Event('visibilitychange'));",
            json!([hidden]),
        )
        .await;
}

pub(crate) async fn count(session: &Session, script: &str) -> i64 {
    session.eval(script, json!([])).await.as_i64().unwrap()
}

async fn wait_count(session: &Session, what: &str, script: &str, wanted: i64) {
    let check = format!("return (() => {{ {script} }})() === {wanted};");
    session.wait_until(what, &check, json!([]), PATIENCE).await;
}

pub(crate) async fn post_all(server: &TestServer, contents: &[String]) {
    for content in contents {
        server.post_message(content).await;
    }
}

/// Gives the stored messages with these ids another creation time, straight in the
/// database of a stopped server: the API only ever stores "now".
fn move_to_day(dir: &Path, ids: std::ops::RangeInclusive<i64>, noon_utc: &str) {
    let conn = bookchat::db::open_writer(&dir.join(bookchat::db::DB_FILE)).unwrap();
    let moved = conn
        .execute(
            "UPDATE messages SET created_at = ?1 WHERE id BETWEEN ?2 AND ?3",
            (noon_utc, ids.start(), ids.end()),
        )
        .unwrap();
    assert_eq!(moved, usize::try_from(ids.end() - ids.start() + 1).unwrap());
}

/// The list's items as strings (see `LIST_ITEMS`).
async fn list_items(session: &Session) -> Vec<String> {
    let items = session.eval(LIST_ITEMS, json!([])).await;
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Noon two days and one day ago in the browser's time zone, as UTC timestamps, and what
/// the first of them looks like to the reader.
async fn local_days(session: &Session) -> Value {
    session.goto("about:blank").await;
    session
        .eval(
            "const now = new Date();
             const noon = (back) => new Date(now.getFullYear(), now.getMonth(), now.getDate() - back, 12);
             const format = new Intl.DateTimeFormat(undefined,
                 { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
             return { two: noon(2).toISOString(), one: noon(1).toISOString(),
                      label: format.format(noon(2)), year: String(noon(2).getFullYear()),
                      weekday: noon(2).toLocaleDateString(undefined, { weekday: 'long' }) };",
            json!([]),
        )
        .await
}

/// Messages 1–3 from two days ago, 4–6 from yesterday, then 50 from today, so that the
/// first page is all today's; the server runs on them.
async fn three_days(dir: &Path, days: &Value) -> TestServer {
    let server = TestServer::start_in(dir, |_| {}).await;
    let contents: Vec<String> = (1..=56).map(|i| format!("message {i}")).collect();
    post_all(&server, &contents).await;
    server.stop().await;
    move_to_day(dir, 1..=3, days["two"].as_str().unwrap());
    move_to_day(dir, 4..=6, days["one"].as_str().unwrap());
    TestServer::start_in(dir, |_| {}).await
}

#[tokio::test]
async fn day_separators_say_today_yesterday_and_the_date_in_local_time() {
    let Some(driver) = Driver::start_or_skip("browser day separator test").await else {
        return;
    };
    let session = driver.desktop().await;
    let days = local_days(&session).await;
    let text = |key: &str| days[key].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let server = three_days(dir.path(), &days).await;

    open_page(&session, &server).await;
    wait_count(&session, "the newest page", SHOWN, 50).await;
    assert_eq!(list_items(&session).await[..2], ["# Today", "message 7"]);

    // Older history is prepended through the button (the keyboard's way; clicked from
    // where the reader is, since scrolling up to it would load the page by itself): each
    // day gets its separator, and today's stays single.
    session
        .eval("document.querySelector('#load-older').click();", json!([]))
        .await;
    wait_count(&session, "the older page", SHOWN, 56).await;
    let items = list_items(&session).await;
    let date = format!("# {}", text("label"));
    assert_eq!(
        items[..10],
        [
            date.as_str(),
            "message 1",
            "message 2",
            "message 3",
            "# Yesterday",
            "message 4",
            "message 5",
            "message 6",
            "# Today",
            "message 7",
        ],
        "{items:?}"
    );
    assert!(
        date.contains(&text("year")) && date.contains(&text("weekday")),
        "{date}"
    );

    // A message arriving live lands under "Today" with no new separator.
    server.post_message("live today").await;
    wait_shown(&session, "live today", PATIENCE).await;
    let items = list_items(&session).await;
    let separators: Vec<&String> = items.iter().filter(|i| i.starts_with("# ")).collect();
    assert_eq!(separators, [&date, "# Yesterday", "# Today"], "{items:?}");

    full_date_on_focus(&session, &days).await;
    session.quit().await;
    server.stop().await;
}

/// Yesterday's conversation, then a message today: what a page left open over midnight sees.
#[tokio::test]
async fn a_live_message_on_a_new_day_gets_a_today_separator() {
    let Some(driver) = Driver::start_or_skip("browser midnight test").await else {
        return;
    };
    let session = driver.desktop().await;
    let days = local_days(&session).await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    post_all(&server, &["late last night".into(), "still up".into()]).await;
    server.stop().await;
    move_to_day(dir.path(), 1..=2, days["one"].as_str().unwrap());
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    open_page(&session, &server).await;
    wait_count(&session, "yesterday's messages", SHOWN, 2).await;
    assert_eq!(
        list_items(&session).await,
        ["# Yesterday", "late last night", "still up"]
    );
    server.post_message("good morning").await;
    wait_shown(&session, "good morning", PATIENCE).await;
    assert_eq!(
        list_items(&session).await,
        [
            "# Yesterday",
            "late last night",
            "still up",
            "# Today",
            "good morning"
        ]
    );
    session.quit().await;
    server.stop().await;
}

/// The time of message 1 carries its full date, which keyboard focus shows as well as
/// hovering does.
async fn full_date_on_focus(session: &Session, days: &Value) {
    let time = session
        .eval(
            "const t = document.querySelector('#messages .message[data-id=\"1\"] time');
             return { datetime: t.getAttribute('datetime'), title: t.title, tabindex: t.tabIndex };",
            json!([]),
        )
        .await;
    assert_eq!(time["datetime"], days["two"], "{time}");
    assert_eq!(time["tabindex"], 0, "{time}");
    let title = time["title"].as_str().unwrap();
    for part in [&days["year"], &days["weekday"]] {
        assert!(title.contains(part.as_str().unwrap()), "{title}");
    }
    // Tab from the list's top reaches the first message's time: its date shows.
    session
        .eval(
            "const list = document.querySelector('#messages');
             list.scrollIntoView(); list.focus();",
            json!([]),
        )
        .await;
    session.press(&[TAB]).await;
    let shown = session
        .eval(
            "const t = document.activeElement;
             return { id: t.closest('.message') && t.closest('.message').dataset.id,
                      tip: getComputedStyle(t, '::after').content };",
            json!([]),
        )
        .await;
    assert_eq!(
        shown,
        json!({ "id": "1", "tip": format!("\"{title}\"") }),
        "{shown}"
    );
}

/// The id and on-screen top of the first message, taken in the same moment as the reader
/// scrolls to the top (the page can only start loading after this script returns).
const SCROLL_TO_TOP: &str = "const s = document.querySelector('#scroller');
     const first = document.querySelector('#messages .message[data-id]');
     s.scrollTop = 0;
     return { id: first.dataset.id, top: first.getBoundingClientRect().top };";

const TOP_OF: &str =
    "const m = document.querySelector(`#messages .message[data-id=\"${arguments[0]}\"]`);
     return { top: m.getBoundingClientRect().top,
              scrollTop: document.querySelector('#scroller').scrollTop };";

/// Ids shown, in page order.
const IDS: &str = "return [...document.querySelectorAll('#messages .message[data-id]')]
     .map(e => Number(e.dataset.id));";

/// Asserts the page shows every id from its oldest up to `newest`, in order; returns the
/// oldest.
async fn oldest_of_unbroken(session: &Session, newest: i64) -> i64 {
    let ids = session.eval(IDS, json!([])).await;
    let ids: Vec<i64> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let first = ids[0];
    let expected: Vec<i64> = (first..=newest).collect();
    assert_eq!(ids, expected, "shown in order, without a hole");
    first
}

/// Scrolls to the top and waits for the page below it; the message that was first stays
/// exactly where it was on screen.
async fn scroll_up_one_page(session: &Session, shown: i64) -> i64 {
    let before = session.eval(SCROLL_TO_TOP, json!([])).await;
    let wanted = shown + 50;
    let check = format!(
        "return document.querySelectorAll('#messages .message[data-id]').length === {wanted}
             && !document.querySelector('#load-older').disabled;"
    );
    session
        .wait_until("an older page to load", &check, json!([]), PATIENCE)
        .await;
    let after = session.eval(TOP_OF, json!([before["id"]])).await;
    let moved = (after["top"].as_f64().unwrap() - before["top"].as_f64().unwrap()).abs();
    assert!(moved < 1.0, "the reading position moved by {moved} px");
    assert!(after["scrollTop"].as_f64().unwrap() > 500.0, "{after}");
    wanted
}

#[tokio::test]
async fn scrolling_up_loads_history_in_place_and_the_dom_stays_bounded() {
    let Some(driver) = Driver::start_or_skip("browser history test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let contents: Vec<String> = (1..=2000).map(|i| format!("seeded {i}")).collect();
    store_offline(dir.path(), &contents, |_| {}).await;
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_count(&session, "the newest page", SHOWN, 50).await;

    let mut shown = 50;
    for _ in 0..12 {
        shown = scroll_up_one_page(&session, shown).await;
    }
    assert_eq!(oldest_of_unbroken(&session, 2000).await, 2000 - 650 + 1);

    // Back at the bottom, new messages push the oldest out of the page.
    session
        .eval(
            "const s = document.querySelector('#scroller'); s.scrollTop = s.scrollHeight;",
            json!([]),
        )
        .await;
    let more: Vec<String> = (1..=5)
        .map(|i| format!("while at the bottom {i}"))
        .collect();
    post_all(&server, &more).await;
    wait_shown(&session, "while at the bottom 5", PATIENCE).await;
    let n = count(
        &session,
        "return document.querySelectorAll('.message').length;",
    )
    .await;
    eprintln!("DOM after 2,000 messages: {n} message elements");
    assert_eq!(n, KEEP, "the page keeps the newest {KEEP}");
    let oldest = oldest_of_unbroken(&session, 2005).await;
    assert_eq!(oldest, 2005 - KEEP + 1);
    let newest_in_view = session
        .eval(
            "const r = document.querySelector('#messages .message[data-id=\"2005\"]').getBoundingClientRect();
             return r.bottom <= window.innerHeight;",
            json!([]),
        )
        .await;
    assert_eq!(newest_in_view, true, "the reader stays at the bottom");

    // What left comes back on the way up.
    scroll_up_one_page(&session, KEEP).await;
    assert_eq!(oldest_of_unbroken(&session, 2005).await, oldest - 50);
    session.quit().await;
    server.stop().await;
}
