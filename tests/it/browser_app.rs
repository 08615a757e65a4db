//! The installable app in headless Chromium: the service worker installs and controls the
//! page, keeps the page's shell and never an `/api/` answer; with the server gone an
//! installed app opens as the saved page and says it is offline, and it recovers when the
//! server is back, reloading a saved page that was stale about the session.
//!
//! "Offline" here is the server stopped, so every request really fails: chromedriver's
//! network emulation applies to the page, not to the worker's own requests.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::{open_page, wait_shown};
use crate::support::TestServer;
use crate::webdriver::Session;

const PATIENCE: Duration = Duration::from_secs(20);
const CODE: &str = "members-of-the-club";

/// Every cache the page's origin holds, as `{name: [path?query, …]}`.
const CACHES: &str = "return (async () => {
    const out = {};
    for (const name of await caches.keys()) {
        const keys = await (await caches.open(name)).keys();
        out[name] = keys.map((r) => { const u = new URL(r.url); return u.pathname + u.search; });
    }
    return out;
})();";

/// The offline notice the saved page shows, or `null`.
const OFFLINE_NOTICE: &str = "const region = document.querySelector('#offline-status');
     return region && region.getAttribute('role') === 'status' ? region.textContent : null;";

/// Waits until a worker is active and controls the page: after a reload, as an installed
/// app's next start would be.
pub(crate) async fn install_worker(session: &Session, url: &str) {
    session
        .wait_until(
            "the service worker to be active",
            "return navigator.serviceWorker.ready.then((r) => r.active.state === 'activated');",
            json!([]),
            PATIENCE,
        )
        .await;
    session.goto(url).await;
    session
        .wait_until(
            "the page to be controlled by the worker",
            "return navigator.serviceWorker.controller !== null
                 && navigator.serviceWorker.controller.scriptURL.endsWith('/sw.js');",
            json!([]),
            PATIENCE,
        )
        .await;
}

async fn worker_version(server: &TestServer) -> String {
    let worker = server.get("/sw.js").await.text();
    let line = worker
        .lines()
        .find_map(|l| l.strip_prefix("const BUILD = "))
        .expect("a BUILD line");
    let build: Value = serde_json::from_str(line.trim_end_matches(';')).unwrap();
    build["version"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_worker_keeps_the_shell_and_never_an_api_answer() {
    let Some(driver) = crate::webdriver::Driver::start_or_skip("browser app worker test").await
    else {
        return;
    };
    let server = TestServer::start().await;
    server.post_message("before the worker").await;
    let session = driver.desktop().await;
    let url = format!("http://{}/", server.addr);
    open_page(&session, &server).await;
    install_worker(&session, &url).await;
    wait_shown(&session, "before the worker", PATIENCE).await;

    // Controlled, the page reads and writes the API: a post, a listing, one message.
    session
        .type_into(
            "#content",
            &format!("after the worker{}", crate::webdriver::ENTER),
        )
        .await;
    wait_shown(&session, "after the worker", PATIENCE).await;
    let statuses = session
        .eval(
            "return Promise.all(['/api/messages?after=0', '/api/messages/1', '/api/health']
                 .map((p) => fetch(p).then((r) => r.status)));",
            json!([]),
        )
        .await;
    assert_eq!(statuses, json!([200, 200, 200]));

    let caches = session.eval(CACHES, json!([])).await;
    let name = format!("bookchat-shell-{}", worker_version(&server).await);
    let names: Vec<&String> = caches.as_object().unwrap().keys().collect();
    assert_eq!(names, [&name], "one cache, this build's");
    let kept: Vec<&str> = caches[&name]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for shell in [
        "/",
        "/manifest.webmanifest",
        "/static/app.js",
        "/static/app.css",
    ] {
        assert!(kept.contains(&shell), "{shell} is not kept: {kept:?}");
    }
    assert!(
        kept.iter().all(|k| !k.starts_with("/api/")),
        "an API answer was cached: {kept:?}"
    );
    eprintln!("the worker keeps {} files: {kept:?}", kept.len());
    session.quit().await;
    server.stop().await;
}

#[tokio::test]
async fn an_installed_app_opens_offline_says_so_and_recovers() {
    let Some(driver) = crate::webdriver::Driver::start_or_skip("browser app offline test").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    server.post_message("kept on the server").await;
    let session = driver.desktop().await;
    let url = format!("http://{}/", server.addr);
    open_page(&session, &server).await;
    install_worker(&session, &url).await;
    let online = session.eval(OFFLINE_NOTICE, json!([])).await;
    assert_eq!(online, Value::Null, "no offline notice while online");

    let port = server.addr.port();
    server.stop().await;
    session.goto(&url).await;
    session
        .wait_until(
            "the saved page with its offline notice",
            &format!(
                "const notice = (() => {{ {OFFLINE_NOTICE} }})();
                 return notice !== null && notice.startsWith('You are offline')
                     && document.querySelector('h1').textContent === 'BookChat'
                     && document.querySelector('#composer') !== null;"
            ),
            json!([]),
            PATIENCE,
        )
        .await;
    let shown = session
        .eval(
            "return { url: document.URL, title: document.title,
                      offline: document.querySelector('meta[name=\"bookchat-offline\"]') !== null };",
            json!([]),
        )
        .await;
    assert_eq!(
        shown,
        json!({ "url": url, "title": "BookChat", "offline": true })
    );
    session
        .eval("window.__sameDocument = true;", json!([]))
        .await;

    // The server comes back: the chat loads in the same document and the notice goes.
    let server = TestServer::start_in(dir.path(), |args| args.port = port).await;
    wait_shown(&session, "kept on the server", PATIENCE).await;
    session
        .wait_until(
            "the offline notice to go",
            &format!("return (() => {{ {OFFLINE_NOTICE} }})() === '';"),
            json!([]),
            PATIENCE,
        )
        .await;
    let same = session
        .eval("return window.__sameDocument === true;", json!([]))
        .await;
    assert_eq!(same, true, "the page reloaded though nothing had changed");
    session.quit().await;
    server.stop().await;
}

#[tokio::test]
async fn a_saved_page_stale_about_the_session_reloads_when_the_server_returns() {
    let Some(driver) = crate::webdriver::Driver::start_or_skip("browser app session test").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let members = |args: &mut bookchat::cli::ServeArgs| {
        args.access.access_code = Some(bookchat::secret::Secret::new(CODE));
    };
    let server = TestServer::start_in(dir.path(), members).await;
    let session = driver.desktop().await;
    let url = format!("http://{}/", server.addr);
    session.goto(&url).await;
    install_worker(&session, &url).await;
    let form = "return document.querySelector('#sign-in-form').checkVisibility();";
    session
        .wait_until("the sign-in form", form, json!([]), PATIENCE)
        .await;

    // Signed in without a navigation (another tab would do the same): the saved page
    // still says "signed out".
    let signed_in = session
        .eval(
            "return fetch('/api/session', { method: 'POST',
                 headers: { 'Content-Type': 'application/json' },
                 body: JSON.stringify({ code: arguments[0] }) }).then((r) => r.status);",
            json!([CODE]),
        )
        .await;
    assert_eq!(signed_in, 204);
    let port = server.addr.port();
    server.stop().await;
    session.goto(&url).await;
    session
        .wait_until(
            "the saved sign-in form, offline",
            &format!(
                "return (() => {{ {OFFLINE_NOTICE} }})() !== null
                 && document.querySelector('#sign-in-form').checkVisibility();"
            ),
            json!([]),
            PATIENCE,
        )
        .await;

    // Back online, the server would write this page for a signed-in member: it reloads.
    let server = TestServer::start_in(dir.path(), |args| {
        members(args);
        args.port = port;
    })
    .await;
    session
        .wait_through_reload(
            "the signed-in chat",
            "return document.body.dataset.ready === '1'
                 && document.querySelector('#sign-out').checkVisibility()
                 && document.querySelector('meta[name=\"bookchat-offline\"]') === null;",
            json!([]),
            PATIENCE,
        )
        .await;
    session.quit().await;
    server.stop().await;
}
