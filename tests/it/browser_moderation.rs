//! Members-only chats in headless Chromium: the sign-in form that stands alone until the
//! code is right, too many wrong codes, signing out, and a page whose session ended.
//! The helpers here also serve `browser_deletion` and the accessibility audits.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::wait_shown;
use crate::client::{request, Reply};
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER};

pub(crate) const CODE: &str = "book-club-members";
pub(crate) const TOKEN: &str = "moderator-token-0123456789";
pub(crate) const PATIENCE: Duration = Duration::from_secs(15);

/// True when the element matching `arguments[0]` exists and takes room on the screen.
const VISIBLE: &str = "const e = document.querySelector(arguments[0]);
     return e !== null && e.checkVisibility() && e.getClientRects().length > 0;";

/// The page's own requests to the API's message and event routes.
const API_READS: &str = "return performance.getEntriesByType('resource').map(e => e.name)
     .filter(n => n.includes('/api/messages') || n.includes('/api/events'));";

/// What `document.activeElement` is: its id, its accessible label or its text.
const FOCUSED: &str = "const e = document.activeElement;
     return e.id || e.getAttribute('aria-label') || e.textContent.trim();";

pub(crate) async fn members_only(moderation: bool) -> TestServer {
    TestServer::start_with(|args| {
        args.access.access_code = Some(bookchat::secret::Secret::new(CODE));
        if moderation {
            args.access.admin_token = Some(bookchat::secret::Secret::new(TOKEN));
        }
    })
    .await
}

/// A request with `Authorization: Bearer <secret>`, as a script would send it.
pub(crate) async fn as_bearer(
    server: &TestServer,
    method: &str,
    path: &str,
    secret: &str,
    body: Value,
) -> Reply {
    let auth = format!("Bearer {secret}");
    let mut headers = vec![("authorization", auth.as_str())];
    let body = if body.is_null() {
        String::new()
    } else {
        headers.push(("content-type", "application/json"));
        body.to_string()
    };
    request(server.addr, method, path, &headers, body).await
}

pub(crate) async fn post_as(
    server: &TestServer,
    secret: &str,
    content: &str,
    author: &str,
) -> Value {
    let body = json!({ "content": content, "author": author });
    let reply = as_bearer(server, "POST", "/api/messages", secret, body).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

pub(crate) async fn is_visible(session: &Session, css: &str) -> bool {
    session.eval(VISIBLE, json!([css])).await == true
}

pub(crate) async fn focused(session: &Session) -> Value {
    session.eval(FOCUSED, json!([])).await
}

/// Opens the page and waits for the sign-in form, with focus in its code box.
pub(crate) async fn open_sign_in(session: &Session, server: &TestServer) {
    session.goto(&format!("http://{}/", server.addr)).await;
    wait_sign_in_form(session).await;
}

pub(crate) async fn wait_sign_in_form(session: &Session) {
    session
        .wait_through_reload(
            "the sign-in form, with focus in the code box",
            &format!(
                "{} && document.activeElement.id === 'sign-in-code';",
                VISIBLE.trim_end_matches(';')
            ),
            json!(["#sign-in-form"]),
            PATIENCE,
        )
        .await;
}

/// Types `code` (and a name) into the form, presses Enter, and waits for the signed-in
/// chat that the page's reload brings.
pub(crate) async fn sign_in_through_form(session: &Session, code: &str, name: &str) {
    if !name.is_empty() {
        session.type_into("#sign-in-name", name).await;
    }
    session.clear("#sign-in-code").await;
    session
        .type_into("#sign-in-code", &format!("{code}{ENTER}"))
        .await;
    session
        .wait_through_reload(
            "the chat, signed in",
            // "Sign out" shows only once the reloaded page knows the session; an open
            // chat's page was ready before it.
            "return document.body.dataset.ready === '1'
                 && document.querySelector('#sign-out').checkVisibility();",
            json!([]),
            PATIENCE,
        )
        .await;
}

async fn wait_error_says(session: &Session, words: &str) {
    session
        .wait_until(
            &format!("the sign-in error {words:?}"),
            "const e = document.querySelector('#sign-in-error');
             return e.getAttribute('role') === 'alert' && e.textContent === arguments[0]
                 && e.checkVisibility()
                 && document.querySelector('#sign-in-code').getAttribute('aria-invalid') === 'true';",
            json!([words]),
            PATIENCE,
        )
        .await;
}

#[tokio::test]
async fn members_sign_in_with_the_code_then_chat() {
    let Some(driver) = Driver::start_or_skip("browser members-only sign-in test").await else {
        return;
    };
    let server = members_only(false).await;
    post_as(&server, CODE, "said before you came", "Ann").await;
    let session = driver.desktop().await;
    open_sign_in(&session, &server).await;

    // Signed out, the form is the whole page: no chat, no history, no request for either.
    let page = session
        .eval(
            "const label = (id) => document.querySelector(`label[for=\"${id}\"]`).textContent;
             return { intro: document.querySelector('#sign-in-intro').textContent,
                      code: label('sign-in-code'), name: label('sign-in-name'),
                      type: document.querySelector('#sign-in-code').type,
                      body: document.body.textContent.includes('said before you came'),
                      messages: document.querySelectorAll('.message').length };",
            json!([]),
        )
        .await;
    assert_eq!(
        page["intro"],
        "This chat is private. Enter the access code."
    );
    assert_eq!(page["code"], "Access code");
    assert_eq!(page["name"], "Your name (optional)");
    assert_eq!(page["type"], "password");
    assert_eq!(page["body"], false, "the history leaked: {page}");
    assert_eq!(page["messages"], 0, "{page}");
    for part in [
        "#messages",
        "#composer",
        "#content",
        ".skip-link",
        "#sign-out",
    ] {
        assert!(
            !is_visible(&session, part).await,
            "{part} shows while signed out"
        );
    }
    assert_eq!(session.eval(API_READS, json!([])).await, json!([]));

    session
        .type_into("#sign-in-code", &format!("not the code{ENTER}"))
        .await;
    wait_error_says(&session, "That code is not right.").await;
    assert_eq!(focused(&session).await, "sign-in-code");

    sign_in_through_form(&session, CODE, "Bea").await;
    wait_shown(&session, "said before you came", PATIENCE).await;
    assert!(!is_visible(&session, "#sign-in").await);
    assert!(is_visible(&session, "#sign-out").await);
    assert!(!is_visible(&session, "#moderator-sign-in").await);
    assert!(
        !is_visible(&session, ".delete").await,
        "a member has no delete control"
    );

    // The author box stays empty: the server signs the message with the sign-in name.
    let author_box = session
        .eval("return document.querySelector('#author').value;", json!([]))
        .await;
    assert_eq!(author_box, "");
    session
        .type_into("#content", &format!("hello, members{ENTER}"))
        .await;
    wait_shown(&session, "hello, members", PATIENCE).await;
    let shown_author = session
        .eval(
            "return [...document.querySelectorAll('#messages .message[data-id]')]
                 .find(m => m.querySelector('.message-content').textContent === 'hello, members')
                 .querySelector('.message-author').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(shown_author, "Bea");
    let listed = as_bearer(&server, "GET", "/api/messages", CODE, Value::Null).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    let posted = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"] == "hello, members")
        .unwrap_or_else(|| panic!("not stored: {listed}"));
    assert_eq!(posted["author"], "Bea", "{posted}");
    session.quit().await;
}

#[tokio::test]
async fn signing_out_returns_to_the_sign_in_form() {
    let Some(driver) = Driver::start_or_skip("browser sign-out test").await else {
        return;
    };
    let server = members_only(false).await;
    post_as(&server, CODE, "for members only", "Ann").await;
    let session = driver.desktop().await;
    open_sign_in(&session, &server).await;
    sign_in_through_form(&session, CODE, "").await;
    wait_shown(&session, "for members only", PATIENCE).await;

    session.click("#sign-out").await;
    wait_sign_in_form(&session).await;
    assert!(!is_visible(&session, "#messages").await);
    assert!(!is_visible(&session, "#sign-out").await);
    let body = session
        .eval(
            "return document.body.textContent.includes('for members only');",
            json!([]),
        )
        .await;
    assert_eq!(body, false, "the history stayed after signing out");
    session.quit().await;
}

#[tokio::test]
async fn too_many_wrong_codes_say_when_to_try_again() {
    let Some(driver) = Driver::start_or_skip("browser sign-in limit test").await else {
        return;
    };
    let server = members_only(false).await;
    // The browser and this client are both 127.0.0.1: five wrong codes use up its tries.
    for _ in 0..5 {
        let reply = request(
            server.addr,
            "POST",
            "/api/session",
            &[("content-type", "application/json")],
            json!({ "code": "guess" }).to_string(),
        )
        .await;
        assert_eq!(reply.status, 401, "{}", reply.text());
    }
    let session = driver.desktop().await;
    open_sign_in(&session, &server).await;
    session
        .type_into("#sign-in-code", &format!("another guess{ENTER}"))
        .await;
    session
        .wait_until(
            "the sign-in error to name the wait",
            "return document.querySelector('#sign-in-error').textContent.startsWith('Too many tries.');",
            json!([]),
            PATIENCE,
        )
        .await;
    let said = session
        .eval(
            "return document.querySelector('#sign-in-error').textContent;",
            json!([]),
        )
        .await;
    let said = said.as_str().unwrap();
    let wait: u64 = said
        .strip_prefix("Too many tries. Try again in ")
        .and_then(|rest| rest.strip_suffix(" s."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected text: {said:?}"));
    assert!((1..=60).contains(&wait), "{said}");
    session.quit().await;
}

#[tokio::test]
async fn a_page_whose_session_ended_shows_the_sign_in_form_again() {
    let Some(driver) = Driver::start_or_skip("browser session-ended test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let with_code = |code: &'static str| {
        move |args: &mut bookchat::cli::ServeArgs| {
            args.access.access_code = Some(bookchat::secret::Secret::new(code));
        }
    };
    let server = TestServer::start_in(dir.path(), with_code(CODE)).await;
    post_as(&server, CODE, "before the code changed", "Ann").await;
    let session = driver.desktop().await;
    open_sign_in(&session, &server).await;
    sign_in_through_form(&session, CODE, "").await;
    wait_shown(&session, "before the code changed", PATIENCE).await;

    // The operator changes the code: sessions signed in with the old one end, and the
    // page's next request (its stream reconnecting, then a poll) is refused with 401.
    let port = server.addr.port();
    server.stop().await;
    let server = TestServer::start_in(dir.path(), |args| {
        with_code("the-new-members-code")(args);
        args.port = port;
    })
    .await;
    session
        .wait_through_reload(
            "the sign-in form after the session ended",
            "return document.querySelector('#sign-in-form').checkVisibility()
                 && !document.body.textContent.includes('before the code changed');",
            json!([]),
            Duration::from_secs(30),
        )
        .await;
    assert!(!is_visible(&session, "#sign-out").await);
    session.quit().await;
    server.stop().await;
}
