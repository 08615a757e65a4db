//! The page as a chat kept open all day, in headless Chromium: day separators in local
//! time, older history on scroll-up with the reading position kept and the DOM bounded,
//! the unread count in a hidden tab's title, opt-in notifications, safe links, and what
//! screen readers and keyboard users get.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{open_page, wait_shown};
use crate::support::{store_offline, TestServer};
use crate::webdriver::{Driver, Session, ENTER, SHIFT, TAB};

const PATIENCE: Duration = Duration::from_secs(15);
/// The newest messages a page at the bottom keeps (`KEEP` in assets/static/history.js).
const KEEP: i64 = 500;
const NOTIFY_ME: &str = "Notify me of new messages";

/// Confirmed messages in the page.
const SHOWN: &str = "return document.querySelectorAll('#messages .message[data-id]').length;";

/// The list as the reader sees it, top to bottom: `# label` for a day separator, `! label`
/// for the unread line, a message's text otherwise.
const LIST_ITEMS: &str = "return [...document.querySelector('#messages').children].map(n =>
       n.classList.contains('day-separator') ? '# ' + n.textContent
     : n.classList.contains('unread-marker') ? '! ' + n.textContent
     : n.querySelector('.message-content').textContent);";

/// Runs a command of Chrome's developer-tools protocol (CDP) through chromedriver.
async fn cdp(session: &Session, cmd: &str, params: Value) -> Value {
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
async fn set_hidden(session: &Session, hidden: bool) {
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

async fn count(session: &Session, script: &str) -> i64 {
    session.eval(script, json!([])).await.as_i64().unwrap()
}

async fn wait_count(session: &Session, what: &str, script: &str, wanted: i64) {
    let check = format!("return (() => {{ {script} }})() === {wanted};");
    session.wait_until(what, &check, json!([]), PATIENCE).await;
}

async fn post_all(server: &TestServer, contents: &[String]) {
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
    store_offline(dir.path(), &contents).await;
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

#[tokio::test]
async fn a_hidden_tab_counts_unread_messages_in_the_title_and_marks_the_first() {
    let Some(driver) = Driver::start_or_skip("browser unread test").await else {
        return;
    };
    let server = TestServer::start().await;
    server.post_message("read before leaving").await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_shown(&session, "read before leaving", PATIENCE).await;
    let title = "return document.title;";
    assert_eq!(session.eval(title, json!([])).await, "BookChat");

    set_hidden(&session, true).await;
    // The reader's own message, sent just before leaving, is not news to them.
    session
        .type_into("#content", &format!("my own words{ENTER}"))
        .await;
    wait_shown(&session, "my own words", PATIENCE).await;
    post_all(&server, &["one".into(), "two".into(), "three".into()]).await;
    session
        .wait_until(
            "the count in the title",
            "return document.title === '(3) BookChat';",
            json!([]),
            PATIENCE,
        )
        .await;
    let items = session.eval(LIST_ITEMS, json!([])).await;
    assert_eq!(
        items,
        json!([
            "# Today",
            "read before leaving",
            "my own words",
            "! New messages",
            "one",
            "two",
            "three"
        ])
    );
    // Each new message is said once, politely; the list itself is not a live region.
    let spoken = session
        .eval(
            "const list = document.querySelector('#messages');
             return { said: [...document.querySelectorAll('#announcer p')].map(p => p.textContent),
                      live: document.querySelector('#announcer').getAttribute('aria-live'),
                      listLive: list.getAttribute('aria-live'), listRole: list.getAttribute('role') };",
            json!([]),
        )
        .await;
    assert_eq!(
        spoken,
        json!({ "said": ["it: one", "it: two", "it: three"], "live": "polite",
                "listLive": null, "listRole": "region" })
    );

    // Back in the tab: the count goes, the line stays until the reader answers.
    set_hidden(&session, false).await;
    assert_eq!(session.eval(title, json!([])).await, "BookChat");
    assert_eq!(
        count(
            &session,
            "return document.querySelectorAll('.unread-marker').length;"
        )
        .await,
        1
    );
    session
        .type_into("#content", &format!("caught up{ENTER}"))
        .await;
    wait_shown(&session, "caught up", PATIENCE).await;
    assert_eq!(
        count(
            &session,
            "return document.querySelectorAll('.unread-marker').length;"
        )
        .await,
        0
    );
    session.quit().await;
}

#[tokio::test]
async fn links_in_messages_are_clickable_and_safe() {
    let Some(driver) = Driver::start_or_skip("browser links test").await else {
        return;
    };
    let server = TestServer::start().await;
    let health = format!("http://{}/api/health", server.addr);
    let text = format!(
        "Health at {health}. Docs (https://example.org/wiki/Ice_(disambiguation)), \
         javascript:alert(1) and JAVASCRIPT:alert(2), <b>bold</b><img src=x onerror=alert(3)> \
         https:// alone, ftp://example.org/file"
    );
    server.post_message(&text).await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_shown(&session, &text, PATIENCE).await;
    let links = session
        .eval(
            "const content = document.querySelector('#messages .message-content');
             return { links: [...content.querySelectorAll('a')].map(a =>
                          [a.getAttribute('href'), a.textContent, a.rel, a.target]),
                      elements: content.querySelectorAll('*').length,
                      pwned: window.__pwned === undefined ? null : true };",
            json!([]),
        )
        .await;
    let safe = "noopener noreferrer nofollow";
    assert_eq!(
        links,
        json!({
            "links": [
                [health, health, safe, "_blank"],
                ["https://example.org/wiki/Ice_(disambiguation)",
                 "https://example.org/wiki/Ice_(disambiguation)", safe, "_blank"],
            ],
            "elements": 2,
            "pwned": null,
        })
    );

    // A click opens the link in a new tab that cannot reach back to the chat.
    let before = session.cmd("GET", "/window/handles", None).await;
    let chat = session.cmd("GET", "/window", None).await;
    session.click("#messages .message-link").await;
    let mut handles = before.clone();
    for _ in 0..100 {
        handles = session.cmd("GET", "/window/handles", None).await;
        if handles.as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = handles
        .as_array()
        .unwrap()
        .iter()
        .find(|h| **h != chat)
        .expect("a new tab")
        .clone();
    session
        .cmd("POST", "/window", Some(json!({ "handle": opened })))
        .await;
    session
        .wait_until(
            "the health check in the new tab",
            "return document.readyState === 'complete' && document.body.textContent.includes('ok');",
            json!([]),
            PATIENCE,
        )
        .await;
    let isolated = session
        .eval(
            "return { opener: window.opener, referrer: document.referrer };",
            json!([]),
        )
        .await;
    assert_eq!(isolated, json!({ "opener": null, "referrer": "" }));
    session.cmd("DELETE", "/window", None).await;
    session
        .cmd("POST", "/window", Some(json!({ "handle": chat })))
        .await;
    session.quit().await;
}

/// Counts every `Notification.requestPermission` call from the very start of each document,
/// so a call made while the page loads cannot slip by.
const COUNT_ASKS: &str = "window.__asked = 0;
     if (window.Notification) {
         const ask = Notification.requestPermission.bind(Notification);
         Notification.requestPermission = (...args) => { window.__asked++; return ask(...args); };
     }";

/// Records the notifications the page shows, still showing them.
const RECORD_NOTIFICATIONS: &str = "window.__shown = [];
     window.Notification = new Proxy(window.Notification, {
         construct(target, args) {
             window.__shown.push([args[0], args[1] && args[1].body]);
             return Reflect.construct(target, args);
         } });";

const BELL: &str = "const b = document.querySelector('#notify');
     return { pressed: b.getAttribute('aria-pressed'), disabled: b.getAttribute('aria-disabled'),
              name: b.getAttribute('aria-label'), title: b.title, hidden: b.hidden,
              permission: Notification.permission, asked: window.__asked };";

async fn bell(session: &Session) -> Value {
    session.eval(BELL, json!([])).await
}

async fn wait_bell(session: &Session, what: &str, condition: &str) {
    let script = format!("const bell = (() => {{ {BELL} }})(); return {condition};");
    session.wait_until(what, &script, json!([]), PATIENCE).await;
}

#[tokio::test]
async fn notifications_are_opt_in_and_never_for_the_readers_own_messages() {
    let Some(driver) = Driver::start_or_skip("browser notification test").await else {
        return;
    };
    let server = TestServer::start().await;
    let origin = format!("http://{}", server.addr);
    let session = driver.desktop().await;
    cdp(
        &session,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": COUNT_ASKS }),
    )
    .await;
    open_page(&session, &server).await;
    assert_eq!(
        bell(&session).await,
        json!({ "pressed": "false", "disabled": null, "name": NOTIFY_ME,
                "title": "Notify me of new messages while this tab is hidden", "hidden": false,
                "permission": "default", "asked": 0 }),
        "the page asked for permission on load"
    );

    // Only a click asks. Headless Chromium answers the question itself, with "denied".
    session.click("#notify").await;
    wait_bell(
        &session,
        "the answer to the question",
        "bell.asked === 1 && bell.permission !== 'default' && bell.pressed === 'false'",
    )
    .await;

    // Allowed in the browser's settings (here through CDP), the bell turns it on.
    let permission = json!({ "name": "notifications" });
    let set =
        |setting: &str| json!({ "permission": permission, "setting": setting, "origin": origin });
    cdp(&session, "Browser.setPermission", set("granted")).await;
    wait_bell(&session, "the bell to be usable", "bell.disabled === null").await;
    session.click("#notify").await;
    wait_bell(&session, "the bell to be on", "bell.pressed === 'true'").await;
    assert_eq!(bell(&session).await["asked"], 1, "asked again once allowed");

    // Hidden, the reader's own message shows nothing; another client's shows one.
    session.eval(RECORD_NOTIFICATIONS, json!([])).await;
    set_hidden(&session, true).await;
    session
        .type_into("#content", &format!("sent by me{ENTER}"))
        .await;
    wait_shown(&session, "sent by me", PATIENCE).await;
    server.post_message("from someone else").await;
    session
        .wait_until(
            "a notification",
            "return window.__shown.length > 0;",
            json!([]),
            PATIENCE,
        )
        .await;
    let shown = session.eval("return window.__shown;", json!([])).await;
    assert_eq!(shown, json!([["it", "from someone else"]]));

    // The choice is remembered across a reload, which asks nothing.
    open_page(&session, &server).await;
    wait_bell(
        &session,
        "the bell still on after a reload",
        "bell.pressed === 'true' && bell.asked === 0",
    )
    .await;

    // Blocked in the browser's settings, the bell says so and stays focusable.
    cdp(&session, "Browser.setPermission", set("denied")).await;
    wait_bell(
        &session,
        "the bell to say notifications are blocked",
        "bell.disabled === 'true' && bell.pressed === 'false' && bell.title.includes('blocked')",
    )
    .await;
    let focusable = session
        .eval(
            "const b = document.querySelector('#notify'); b.focus();
             return document.activeElement === b;",
            json!([]),
        )
        .await;
    assert_eq!(focusable, true);
    session.quit().await;
}

/// Types lengths into the composer one change at a time, as keystrokes and pastes would,
/// and returns what the length's live region said, in order.
const TYPE_LENGTHS: &str = "const box = document.querySelector('#content');
     const note = document.querySelector('#counter-note');
     const watch = new MutationObserver(() => {});
     watch.observe(note, { childList: true, characterData: true, subtree: true });
     const said = [];
     for (const length of arguments[0]) {
         box.value = 'x'.repeat(length);
         box.dispatchEvent(new Event('input', { bubbles: true }));
         if (watch.takeRecords().length > 0) said.push(note.textContent);
     }
     watch.disconnect();
     return said;";

/// Every button, link and text box the accessibility tree exposes, with its computed name.
async fn controls_and_names(session: &Session) -> Vec<(String, String)> {
    let tree = cdp(session, "Accessibility.getFullAXTree", json!({})).await;
    let controls = ["button", "link", "textbox", "checkbox", "combobox"];
    tree["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["ignored"] != true)
        .filter_map(|n| {
            let role = n["role"]["value"].as_str()?;
            controls.contains(&role).then(|| {
                let name = n["name"]["value"].as_str().unwrap_or("").to_owned();
                (role.to_owned(), name)
            })
        })
        .collect()
}

#[tokio::test]
async fn the_counter_speaks_at_thresholds_and_the_chat_works_from_the_keyboard() {
    let Some(driver) = Driver::start_or_skip("browser accessibility test").await else {
        return;
    };
    let server = TestServer::start().await;
    server
        .post_message("a link to https://example.org/ to name")
        .await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    wait_shown(&session, "a link to https://example.org/ to name", PATIENCE).await;

    // Keyboard only: the skip link leads to the message box, and Enter sends.
    session.press(&[TAB]).await;
    assert_eq!(
        session
            .eval("return document.activeElement.className;", json!([]))
            .await,
        "skip-link"
    );
    session.press(&[ENTER]).await;
    assert_eq!(
        session
            .eval("return document.activeElement.id;", json!([]))
            .await,
        "content"
    );
    session
        .type_into("#content", &format!("typed without a mouse{ENTER}"))
        .await;
    wait_shown(&session, "typed without a mouse", PATIENCE).await;

    // The counter is not live itself; its note speaks only when a threshold is passed.
    let lengths: Vec<u32> = [1700, 1799, 1800]
        .into_iter()
        .chain(1801..=1899)
        .chain([
            1900, 1949, 1950, 1999, 1949, 1999, 2000, 2001, 2002, 1990, 0,
        ])
        .collect();
    let said = session.eval(TYPE_LENGTHS, json!([lengths])).await;
    assert_eq!(
        said,
        json!([
            "1,800 of 2,000 characters",
            "1,900 of 2,000 characters",
            "1,950 of 2,000 characters",
            "2,000 of 2,000 characters",
            "2,001 of 2,000 characters: too long to send",
            "1,990 of 2,000 characters",
            "",
        ])
    );
    let counter_live = session
        .eval(
            "return document.querySelector('#counter').getAttribute('aria-live');",
            json!([]),
        )
        .await;
    assert_eq!(counter_live, Value::Null);

    // Focus on the list (where it lands when a focused message leaves) is visible. Shift+Tab
    // (to the name box) makes the keyboard the last input; Tab would leave the page.
    session.press(&[SHIFT, TAB]).await;
    let ring = session
        .eval(
            "const from = document.activeElement.id;
             const list = document.querySelector('#messages'); list.focus();
             const style = getComputedStyle(list);
             return { from, visible: list.matches(':focus-visible'), outline: style.outlineStyle,
                      width: style.outlineWidth };",
            json!([]),
        )
        .await;
    assert_eq!(
        ring,
        json!({ "from": "author", "visible": true, "outline": "solid", "width": "3px" })
    );

    // Every control has a name.
    let controls = controls_and_names(&session).await;
    for (role, name) in &controls {
        assert!(
            !name.trim().is_empty(),
            "a {role} without a name: {controls:?}"
        );
    }
    let has = |role: &str, name: &str| controls.iter().any(|(r, n)| r == role && n == name);
    assert!(has("button", NOTIFY_ME), "{controls:?}");
    assert!(has("link", "https://example.org/"), "{controls:?}");
    assert!(has("textbox", "Message"), "{controls:?}");
    session.quit().await;
}
