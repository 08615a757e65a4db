//! Security headers on every response, production HSTS, and CORS.

use crate::client::{request, Reply};
use crate::support::TestServer;

fn assert_secure(reply: &Reply, what: &str) {
    let csp = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{what}");
    assert!(reply.header("referrer-policy").is_some(), "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let server = TestServer::start().await;
    let json = [("content-type", "application/json")];
    let replies = [
        ("page", server.get("/").await),
        ("asset", server.get("/static/app.js").await),
        ("list", server.get("/api/messages").await),
        ("created", server.post_json(r#"{"content": "x"}"#).await),
        ("400", server.post_json("{").await),
        ("404", server.get("/missing").await),
        ("405", request(server.addr, "DELETE", "/", &[], "").await),
        (
            "413",
            request(
                server.addr,
                "POST",
                "/api/messages",
                &json,
                vec![b' '; 20_000],
            )
            .await,
        ),
        (
            "415",
            request(server.addr, "POST", "/api/messages", &[], "{}").await,
        ),
        (
            "preflight",
            request(server.addr, "OPTIONS", "/api/messages", &[], "").await,
        ),
    ];
    for (what, reply) in &replies {
        assert_secure(reply, what);
        assert!(
            reply.header("strict-transport-security").is_none(),
            "{what}: HSTS in development"
        );
    }
}

#[tokio::test]
async fn production_adds_hsts() {
    let server = TestServer::start_with(|args| {
        args.environment = bookchat::cli::Environment::Production;
    })
    .await;
    for path in ["/", "/api/messages", "/missing"] {
        let reply = server.get(path).await;
        assert_secure(&reply, path);
        let hsts = reply
            .header("strict-transport-security")
            .expect("HSTS in production");
        assert!(hsts.contains("max-age="));
    }
}

#[tokio::test]
async fn options_on_any_path_is_a_204_preflight() {
    let server = TestServer::start().await;
    for path in ["/api/messages", "/api/messages/1", "/", "/anything/at/all"] {
        let reply = request(
            server.addr,
            "OPTIONS",
            path,
            &[
                ("origin", "https://elsewhere.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            "",
        )
        .await;
        assert_eq!(reply.status, 204, "{path}");
        assert!(reply.body.is_empty());
        assert!(reply
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        assert!(reply
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("content-type"));
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
}

#[tokio::test]
async fn cors_list_allows_only_listed_origins() {
    let server = TestServer::start_with(|args| {
        args.cors_origins = "https://chat.example, https://other.example".into();
    })
    .await;
    let allowed = request(
        server.addr,
        "GET",
        "/api/messages",
        &[("origin", "https://chat.example")],
        "",
    )
    .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://chat.example")
    );
    assert_eq!(allowed.header("vary"), Some("Origin"));
    let refused = request(
        server.addr,
        "GET",
        "/api/messages",
        &[("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(
        refused.status, 200,
        "CORS is enforced by the browser, not by refusing"
    );
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let preflight = request(
        server.addr,
        "OPTIONS",
        "/api/messages",
        &[("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), None);
}
