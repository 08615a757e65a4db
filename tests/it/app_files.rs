//! The installable app over plain HTTP: `/manifest.webmanifest` and `/sw.js` are served
//! from the binary with their types, ETags and the page's security headers, open in a
//! members-only chat and never rate limited; the manifest's icons exist at the sizes it
//! declares; the worker's shell lists files that all answer, and nothing under `/api/`.

use serde_json::Value;

use crate::client::{request, Reply};
use crate::screenshots::png_size;
use crate::support::TestServer;

const APP_FILES: [(&str, &str); 2] = [
    ("/manifest.webmanifest", "application/manifest+json"),
    ("/sw.js", "text/javascript; charset=utf-8"),
];

/// The build the server wrote into its worker: `const BUILD = {...};`.
fn worker_build(worker: &str) -> Value {
    let line = worker
        .lines()
        .find_map(|line| line.strip_prefix("const BUILD = "))
        .expect("a BUILD line");
    serde_json::from_str(line.trim_end_matches(';')).expect("the BUILD line is JSON")
}

/// The `content` of the page's `<meta name="…">` tag.
fn meta(page: &str, name: &str) -> String {
    let start = page
        .find(&format!(r#"<meta name="{name}" content=""#))
        .unwrap_or_else(|| panic!("no {name} meta tag"));
    let rest = &page[start..];
    let value = &rest[rest.find("content=\"").unwrap() + 9..];
    value[..value.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn app_files_have_types_etags_and_the_pages_security_headers() {
    let server = TestServer::start().await;
    let page = server.get("/").await;
    for (path, content_type) in APP_FILES {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
        for same in [
            "content-security-policy",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
        ] {
            assert!(reply.header(same).is_some(), "{path} lacks {same}");
            assert_eq!(reply.header(same), page.header(same), "{path}: {same}");
        }
        assert_eq!(reply.header("x-ratelimit-limit"), None, "{path}");

        let etag = reply.header("etag").expect("an ETag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again = request(server.addr, "GET", path, &[("if-none-match", &etag)], "").await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));

        let head = request(server.addr, "HEAD", path, &[], "").await;
        assert_eq!(head.status, 200, "{path}");
        assert!(head.body.is_empty());
        let length = reply.body.len().to_string();
        assert_eq!(head.header("content-length"), Some(length.as_str()));

        let post = request(server.addr, "POST", path, &[], "").await;
        post.assert_error(405);
        assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    server.stop().await;
}

#[tokio::test]
async fn the_manifest_names_the_app_and_its_icons_exist_at_their_sizes() {
    let server = TestServer::start().await;
    let page = server.get("/").await.text();
    assert!(page.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#));
    let manifest = server.get("/manifest.webmanifest").await.json();
    assert_eq!(manifest["name"], "BookChat");
    assert!(manifest["short_name"]
        .as_str()
        .is_some_and(|s| s.len() <= 12));
    assert!(manifest["description"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["scope"], "/");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["theme_color"], meta(&page, "theme-color").as_str());
    assert!(manifest["background_color"]
        .as_str()
        .is_some_and(|c| c.starts_with('#')));

    let icons = manifest["icons"].as_array().expect("icons");
    let mut png_sizes = Vec::new();
    for icon in icons {
        let src = icon["src"].as_str().expect("src");
        let reply = server.get(src).await;
        assert_eq!(reply.status, 200, "{src}");
        let declared = icon["type"].as_str().expect("type");
        let answered = reply.header("content-type").unwrap_or_default();
        assert!(
            answered.starts_with(declared),
            "{src}: {answered} ≠ {declared}"
        );
        let purpose = icon["purpose"].as_str().unwrap_or("any");
        if declared == "image/png" {
            let (width, height) = png_size(&reply.body);
            assert_eq!(icon["sizes"], format!("{width}x{height}"), "{src}");
            png_sizes.push((width, purpose.to_owned()));
        } else {
            assert_eq!(icon["sizes"], "any", "{src}");
        }
    }
    for size in [192, 512] {
        for purpose in ["any", "maskable"] {
            assert!(
                png_sizes.contains(&(size, purpose.to_owned())),
                "no {size} px PNG for {purpose}: {png_sizes:?}"
            );
        }
    }
    // The page's Apple icon is one of them (Safari ignores the manifest's).
    let apple = page
        .split(r#"<link rel="apple-touch-icon" href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an apple-touch-icon link");
    assert_eq!(
        server.get(apple).await.header("content-type"),
        Some("image/png")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_workers_shell_is_every_page_file_and_nothing_of_the_api() {
    let server = TestServer::start().await;
    let worker = server.get("/sw.js").await.text();
    let build = worker_build(&worker);
    let version = build["version"].as_str().expect("a version");
    assert_eq!(version.len(), 16, "{version}");
    assert!(version.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
    let shell: Vec<&str> = build["shell"]
        .as_array()
        .expect("a shell")
        .iter()
        .map(|url| url.as_str().expect("a URL"))
        .collect();
    for needed in [
        "/",
        "/manifest.webmanifest",
        "/static/app.js",
        "/static/pwa.js",
        "/static/app.css",
        "/static/icon-192.png",
    ] {
        assert!(shell.contains(&needed), "{needed} is not kept: {shell:?}");
    }
    for url in &shell {
        assert!(!url.starts_with("/api/"), "{url}");
        assert_eq!(server.get(url).await.status, 200, "{url}");
    }
    // The page's own modules are all kept, so the saved copy can start offline.
    let page = server.get("/").await.text();
    for module in page.split(r#"<script type="module" src=""#).skip(1) {
        let src = &module[..module.find('"').unwrap()];
        assert!(shell.contains(&src), "{src} is not kept");
    }
    // The same build, the same worker: its ETag holds across requests.
    let again = server.get("/sw.js").await;
    assert_eq!(again.text(), worker);
    server.stop().await;
}

#[tokio::test]
async fn a_members_only_chat_serves_the_app_and_its_shell_to_anyone() {
    let server = TestServer::start_with(|args| {
        args.access.access_code = Some(bookchat::secret::Secret::new("members-code"));
    })
    .await;
    let worker = server.get("/sw.js").await;
    assert_eq!(worker.status, 200);
    let build = worker_build(&worker.text());
    // The worker installs before anyone signs in: each file it keeps is open.
    let mut paths: Vec<String> = build["shell"]
        .as_array()
        .unwrap()
        .iter()
        .map(|url| url.as_str().unwrap().to_owned())
        .collect();
    paths.push("/sw.js".into());
    for path in &paths {
        assert_eq!(server.get(path).await.status, 200, "{path}");
    }
    server.get("/api/messages").await.assert_error(401);
    server.stop().await;
}

#[tokio::test]
async fn the_app_files_are_never_rate_limited() {
    let server = TestServer::start_with(|args| {
        args.limits.read_rate = "1/3600".into();
        args.limits.read_burst = 1;
    })
    .await;
    let limited: Reply = server.get("/api/messages").await;
    assert_eq!(limited.header("x-ratelimit-limit"), Some("1"));
    assert_eq!(server.get("/api/messages").await.status, 429);
    for _ in 0..5 {
        for (path, _) in APP_FILES {
            let reply = server.get(path).await;
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.header("x-ratelimit-limit"), None, "{path}");
        }
    }
    server.stop().await;
}
