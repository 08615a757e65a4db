//! The embedded frontend: types, ETags, 304s, and that no path reaches anything else.

use crate::client::{raw, raw_status, request};
use crate::support::TestServer;

#[tokio::test]
async fn index_is_html_with_no_inline_script_or_style() {
    let server = TestServer::start().await;
    let reply = server.get("/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = reply.text().to_ascii_lowercase();
    assert!(
        html.contains("<script type=\"module\" src=\"/static/app.js\""),
        "loads the app as a module"
    );
    for sheet in [
        "/static/app.css",
        "/static/chat.css",
        "/static/reading.css",
        "/static/access.css",
    ] {
        assert!(html.contains(sheet), "loads {sheet}");
    }
    // The CSP forbids inline code, so any inline script or handler would silently not run.
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src="), "inline <script{tag}>");
    }
    assert!(!html.contains("<style"), "inline <style>");
    assert!(!html.contains(" style="), "style attribute");
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        " oninput=",
    ] {
        assert!(!html.contains(handler), "inline handler {handler}");
    }
}

#[tokio::test]
async fn static_files_have_types_etags_and_cache_policy() {
    let server = TestServer::start().await;
    for (path, content_type) in [
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/access.js", "text/javascript; charset=utf-8"),
        ("/static/announce.js", "text/javascript; charset=utf-8"),
        ("/static/api.js", "text/javascript; charset=utf-8"),
        ("/static/banner.js", "text/javascript; charset=utf-8"),
        ("/static/days.js", "text/javascript; charset=utf-8"),
        ("/static/history.js", "text/javascript; charset=utf-8"),
        ("/static/links.js", "text/javascript; charset=utf-8"),
        ("/static/notify.js", "text/javascript; charset=utf-8"),
        ("/static/snapshot.js", "text/javascript; charset=utf-8"),
        ("/static/render.js", "text/javascript; charset=utf-8"),
        ("/static/store.js", "text/javascript; charset=utf-8"),
        ("/static/unread.js", "text/javascript; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/chat.css", "text/css; charset=utf-8"),
        ("/static/reading.css", "text/css; charset=utf-8"),
        ("/static/access.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml; charset=utf-8"),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
        assert!(!reply.body.is_empty());
        let etag = reply.header("etag").expect("etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));

        let again = request(server.addr, "GET", path, &[("if-none-match", &etag)], "").await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));

        let stale = request(
            server.addr,
            "GET",
            path,
            &[("if-none-match", "\"stale\"")],
            "",
        )
        .await;
        assert_eq!(stale.status, 200);
    }
}

#[tokio::test]
async fn different_files_have_different_etags() {
    let server = TestServer::start().await;
    let js = server.get("/static/app.js").await;
    let css = server.get("/static/app.css").await;
    assert_ne!(js.header("etag"), css.header("etag"));
}

#[tokio::test]
async fn head_sends_headers_without_a_body() {
    let server = TestServer::start().await;
    let full = server.get("/static/app.js").await;
    let head = request(server.addr, "HEAD", "/static/app.js", &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(full.body.len().to_string().as_str())
    );
}

#[tokio::test]
async fn no_path_escapes_the_embedded_files() {
    let server = TestServer::start().await;
    // Cargo.toml sits next to assets/ in the source tree; index.html lives outside static/.
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%252e%252e%252fCargo.toml",
        "/static/..\\Cargo.toml",
        "/static/..%5cCargo.toml",
        "/static/.%2e/.%2e/Cargo.toml",
        "/static/../../../../etc/passwd",
        "/static//etc/passwd",
        "/static/index.html",
        "/static/../index.html",
        "/static/.env",
        "/static/app.js%00.png",
        "/static/%c0%ae%c0%ae/Cargo.toml",
        "/static/%25%32%65%25%32%65/Cargo.toml",
        "/static/..;/Cargo.toml",
        "/static/app.js/..",
        "/../Cargo.toml",
        "/Cargo.toml",
        "/src/main.rs",
        "/.env",
        "/static/",
        "/static",
    ] {
        let answer = raw(
            server.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        let status = raw_status(&answer);
        assert_eq!(status, 404, "{path}");
        assert!(answer.contains(r#"{"error":"#), "{path}: {answer}");
        assert!(!answer.contains("[package]"), "{path} leaked Cargo.toml");
        assert!(!answer.contains("root:"), "{path} leaked /etc/passwd");
    }
}
