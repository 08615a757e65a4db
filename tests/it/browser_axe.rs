//! Accessibility audits with axe-core in headless Chromium: the chat with messages on a
//! desktop and on a phone (light and dark), the members-only sign-in form (with its error
//! showing too), and a moderator's view with its delete controls and an open confirmation.
//! A violation of impact "serious" or "critical" fails the test; every result is printed.
//!
//! axe-core comes from the npm registry: `.ci/run` installs it into a cache and sets
//! `AXE_CORE_JS` to its `axe.min.js`. Without it the audits print `SKIPPED` and pass, and
//! under `CI=true` they fail instead, like the other browser tests without a browser.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{open_page, wait_shown};
use crate::browser_moderation::{open_sign_in, sign_in_through_form};
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER};

const CODE: &str = "book-club-members";
const TOKEN: &str = "moderator-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(15);

/// A conversation with a long word, a link-like text, authors and an anonymous message.
const MESSAGES: [(&str, Option<&str>); 4] = [
    ("Has everyone reached chapter 12?", Some("Ada")),
    (
        "Just finished it. The crossing of the ice is the best part.",
        Some("Grace"),
    ),
    (
        "Notes: https://example.org/left-hand-of-darkness/chapter-12",
        None,
    ),
    (
        "Supercalifragilisticexpialidocious-and-then-some-more-words",
        Some("Linus"),
    ),
];

/// Runs axe on the page once its finite animations are over (a bubble fading in has not
/// reached its colours yet); resolves to the counts and the violations, with their nodes.
const RUN: &str = "const settled = document.getAnimations()
    .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
    .map((a) => a.finished.catch(() => null));
return Promise.all(settled).then(() => axe.run(document, { resultTypes: ['violations'] }))
    .then((r) => ({
    version: axe.version,
    passes: r.passes.length,
    // What axe cannot decide alone (text over a gradient, say): named for a person to check.
    incomplete: r.incomplete.map((v) => v.id + ' on ' + v.nodes.map((n) => n.target.join(' '))
        .join(', ')),
    violations: r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => n.target.join(' ') + ': '
            + (n.failureSummary || '').replace(/\\s+/g, ' ')),
    })),
}));";

/// axe-core's source, or `None` (with a notice) when it is not installed here.
fn axe_source(test: &str) -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS").filter(|p| !p.is_empty());
    if let Some(source) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        return Some(source);
    }
    let in_ci = crate::ci::in_ci();
    assert!(
        !in_ci,
        "CI=true but axe-core is not installed (AXE_CORE_JS={path:?}): {test} cannot run"
    );
    eprintln!(
        "SKIPPED {test}: set AXE_CORE_JS to axe-core's axe.min.js (bash .ci/run installs it)"
    );
    None
}

/// Runs axe-core on what the page shows now, injecting it first when the page lacks it.
async fn run_axe(session: &Session, axe: &str) -> Value {
    if session.eval("return typeof window.axe;", json!([])).await != "object" {
        // A script WebDriver runs is the browser's own, so the page's CSP does not stop it.
        session
            .eval(&format!("{axe}\n;return typeof window.axe;"), json!([]))
            .await;
    }
    session.eval(RUN, json!([])).await
}

/// Audits what the page shows now; fails on serious and critical violations.
async fn audit(session: &Session, axe: &str, what: &str) {
    let result = run_axe(session, axe).await;
    let violations = result["violations"].as_array().expect("violations");
    let count = |impact: &str| violations.iter().filter(|v| v["impact"] == impact).count();
    let rules: Vec<String> = violations
        .iter()
        .map(|v| format!("{} ({})", v["id"].as_str().unwrap_or("?"), v["impact"]))
        .collect();
    eprintln!(
        "axe-core {} on {what}: {} rules passed, to review {}; violations: critical {}, \
         serious {}, moderate {}, minor {} {rules:?}",
        result["version"].as_str().unwrap_or("?"),
        result["passes"],
        result["incomplete"],
        count("critical"),
        count("serious"),
        count("moderate"),
        count("minor"),
    );
    let grave: Vec<&Value> = violations
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect();
    assert!(
        grave.is_empty(),
        "{what}: serious or critical accessibility violations:\n{}",
        serde_json::to_string_pretty(&grave).unwrap()
    );
    assert!(
        result["passes"].as_u64() > Some(10),
        "{what}: axe checked little: {result}"
    );
}

async fn post_conversation(server: &TestServer, bearer: Option<&str>) {
    for (content, author) in MESSAGES {
        let body = json!({ "content": content, "author": author }).to_string();
        let auth = bearer.map(|secret| format!("Bearer {secret}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = auth.as_deref() {
            headers.push(("authorization", auth));
        }
        let reply =
            crate::client::request(server.addr, "POST", "/api/messages", &headers, body).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
}

/// The page's own message too: its bubble has colours of its own.
async fn send_own(session: &Session, text: &str) {
    session.type_into("#author", "Margaret").await;
    session
        .type_into("#content", &format!("{text}{ENTER}"))
        .await;
    wait_shown(session, text, PATIENCE).await;
}

#[tokio::test]
async fn the_chat_has_no_serious_accessibility_violations() {
    let Some(axe) = axe_source("axe audit of the chat") else {
        return;
    };
    let Some(driver) = Driver::start_or_skip("axe audit of the chat").await else {
        return;
    };
    let server = TestServer::start().await;
    post_conversation(&server, None).await;

    let desktop = driver.window(1280, 800).await;
    open_page(&desktop, &server).await;
    send_own(&desktop, "Thursday at 7 works for me.").await;
    audit(&desktop, &axe, "the chat, desktop").await;
    // Near the limit the counter shows, in its warning colours.
    desktop
        .eval(
            "const box = document.querySelector('#content');
             box.value = 'x'.repeat(1900);
             box.dispatchEvent(new Event('input', { bubbles: true }));",
            json!([]),
        )
        .await;
    audit(&desktop, &axe, "the chat, desktop, a long draft").await;
    desktop.quit().await;

    let phone = driver.phone(390, 844).await;
    open_page(&phone, &server).await;
    wait_shown(&phone, "Thursday at 7 works for me.", PATIENCE).await;
    audit(&phone, &axe, "the chat, phone").await;
    let dark = json!({ "cmd": "Emulation.setEmulatedMedia", "params": {
        "features": [{ "name": "prefers-color-scheme", "value": "dark" }] } });
    phone.cmd("POST", "/goog/cdp/execute", Some(dark)).await;
    let is_dark = phone
        .eval(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            json!([]),
        )
        .await;
    assert_eq!(is_dark, true);
    audit(&phone, &axe, "the chat, phone, dark").await;
    phone.quit().await;
    server.stop().await;
}

async fn members_only_with_moderation() -> TestServer {
    TestServer::start_with(|args| {
        args.access.access_code = Some(bookchat::secret::Secret::new(CODE));
        args.access.admin_token = Some(bookchat::secret::Secret::new(TOKEN));
    })
    .await
}

#[tokio::test]
async fn the_sign_in_form_has_no_serious_accessibility_violations() {
    let Some(axe) = axe_source("axe audit of the sign-in form") else {
        return;
    };
    let Some(driver) = Driver::start_or_skip("axe audit of the sign-in form").await else {
        return;
    };
    let server = members_only_with_moderation().await;
    let session = driver.desktop().await;
    open_sign_in(&session, &server).await;
    audit(&session, &axe, "the sign-in form").await;
    session
        .type_into("#sign-in-code", &format!("not the code{ENTER}"))
        .await;
    session
        .wait_until(
            "the sign-in error",
            "return document.querySelector('#sign-in-error').textContent !== '';",
            json!([]),
            PATIENCE,
        )
        .await;
    audit(&session, &axe, "the sign-in form, a wrong code").await;
    // The audit sees what is wrong: a button with no name is a critical violation.
    session
        .eval(
            "document.querySelector('#sign-in-form').append(document.createElement('button'));",
            json!([]),
        )
        .await;
    let caught = run_axe(&session, &axe).await;
    let found = caught["violations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == "button-name" && v["impact"] == "critical");
    assert!(found, "axe missed a nameless button: {caught}");
    session.quit().await;

    let phone = driver.phone(390, 844).await;
    open_sign_in(&phone, &server).await;
    audit(&phone, &axe, "the sign-in form, phone").await;
    phone.quit().await;
    server.stop().await;
}

#[tokio::test]
async fn the_moderators_view_has_no_serious_accessibility_violations() {
    let Some(axe) = axe_source("axe audit of the moderator's view") else {
        return;
    };
    let Some(driver) = Driver::start_or_skip("axe audit of the moderator's view").await else {
        return;
    };
    let server = members_only_with_moderation().await;
    post_conversation(&server, Some(CODE)).await;
    let session = driver.desktop().await;
    open_sign_in(&session, &server).await;
    sign_in_through_form(&session, TOKEN, "Mod").await;
    wait_shown(&session, MESSAGES[0].0, PATIENCE).await;
    let controls = session
        .eval(
            "return document.querySelectorAll('#messages .delete').length;",
            json!([]),
        )
        .await;
    assert_eq!(controls, MESSAGES.len(), "a delete control on each message");
    audit(&session, &axe, "the moderator's view").await;
    session.click("#messages .delete").await;
    session
        .wait_until(
            "the inline confirmation",
            "return document.querySelector('.delete-confirm') !== null;",
            json!([]),
            PATIENCE,
        )
        .await;
    audit(
        &session,
        &axe,
        "the moderator's view, confirming a deletion",
    )
    .await;
    session.quit().await;
    server.stop().await;
}
