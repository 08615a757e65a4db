//! What draws a reader's attention in a page kept open all day, in headless Chromium: the
//! unread count in a hidden tab's title, opt-in notifications, safe links, and what screen
//! readers and keyboard users get.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{open_page, wait_shown};
use crate::browser_reading::{cdp, count, post_all, set_hidden, LIST_ITEMS, NOTIFY_ME, PATIENCE};
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER, SHIFT, TAB};

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
