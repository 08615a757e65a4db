//! Per-client rate limits over real HTTP: the N+1th request is a 429 with the right headers,
//! other clients are still served, buckets refill when `Retry-After` says, and
//! `X-Forwarded-For` counts only from trusted proxies.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bookchat::cli::ServeArgs;

use crate::client::{request, request_from, Reply};
use crate::stores::per_store;
use crate::support::TestServer;

const JSON: (&str, &str) = ("content-type", "application/json");
const BODY: &str = r#"{"content": "rate me"}"#;
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

async fn limited(adjust: impl FnOnce(&mut ServeArgs)) -> TestServer {
    TestServer::start_with(adjust).await
}

async fn post_as(server: &TestServer, forwarded_for: Option<&str>) -> Reply {
    let mut headers = vec![JSON];
    if let Some(xff) = forwarded_for {
        headers.push(("x-forwarded-for", xff));
    }
    request(server.addr, "POST", "/api/messages", &headers, BODY).await
}

fn assert_limited(reply: &Reply, limit: &str, retry_after: &str) {
    reply.assert_error(429);
    assert_eq!(reply.header("retry-after"), Some(retry_after));
    assert_eq!(reply.header("x-ratelimit-limit"), Some(limit));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
}

per_store! {
    async fn the_post_after_the_burst_is_429_while_another_client_is_served(store) {
        let server = store.start_with(|a| {
            a.limits.write_rate = "30/60".into();
            a.limits.write_burst = 3;
        })
        .await;
        for remaining in ["2", "1", "0"] {
            let reply = post_as(&server, None).await;
            assert_eq!(reply.status, 201, "{}", reply.text());
            assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
            assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
        }
        // 30 per 60 s: the next token comes in 2 s.
        let refused = post_as(&server, None).await;
        assert_limited(&refused, "3", "2");
        assert!(refused.json()["error"].as_str().unwrap().contains("2 s"));

        let other = request_from(
            OTHER_CLIENT,
            server.addr,
            "POST",
            "/api/messages",
            &[JSON],
            BODY,
        )
        .await;
        assert_eq!(other.status, 201, "another address has its own bucket");
        let stored = server.get("/api/messages").await.json();
        assert_eq!(
            stored["messages"].as_array().unwrap().len(),
            4,
            "the refused POST stored nothing"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_token_is_back_when_retry_after_says() {
    let server = limited(|a| {
        a.limits.write_rate = "1/1".into();
        a.limits.write_burst = 1;
    })
    .await;
    assert_eq!(post_as(&server, None).await.status, 201);
    let refused = post_as(&server, None).await;
    assert_limited(&refused, "1", "1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = post_as(&server, None).await;
    assert_eq!(again.status, 201, "{}", again.text());
    server.stop().await;
}

per_store! {
    async fn reads_have_their_own_bucket_and_the_page_and_health_are_not_limited(store) {
        let server = store.start_with(|a| {
            a.limits.read_rate = "1/60".into();
            a.limits.read_burst = 2;
            a.limits.write_rate = "1/60".into();
            a.limits.write_burst = 1;
        })
        .await;
        assert_eq!(server.get("/api/messages").await.status, 200);
        let second = server.get("/api/messages/1").await;
        assert_eq!(second.status, 404);
        assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
        assert_limited(&server.get("/api/messages").await, "2", "60");
        assert_limited(&server.get("/api/stats").await, "2", "60");
        // The write bucket is separate and still full.
        assert_eq!(post_as(&server, None).await.status, 201);
        for path in ["/api/health", "/", "/static/app.js"] {
            let reply = server.get(path).await;
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.header("x-ratelimit-limit"), None, "{path}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let server = limited(|a| {
        a.limits.trusted_proxies = "127.0.0.1, 10.9.0.0/16".into();
        a.limits.write_rate = "1/60".into();
        a.limits.write_burst = 1;
    })
    .await;
    assert_eq!(post_as(&server, Some("203.0.113.1")).await.status, 201);
    assert_limited(&post_as(&server, Some("203.0.113.1")).await, "1", "60");
    assert_eq!(post_as(&server, Some("203.0.113.2")).await.status, 201);
    // A client cannot escape by prepending addresses: the right-most untrusted hop counts.
    let spoofed = post_as(&server, Some("198.51.100.99, 203.0.113.1, 10.9.4.4")).await;
    assert_limited(&spoofed, "1", "60");
    // IPv6 clients are one client per /64.
    assert_eq!(post_as(&server, Some("2001:db8:1:2::1")).await.status, 201);
    assert_limited(
        &post_as(&server, Some("2001:db8:1:2:ffff::9")).await,
        "1",
        "60",
    );
    assert_eq!(post_as(&server, Some("2001:db8:1:3::1")).await.status, 201);
    server.stop().await;
}

#[tokio::test]
async fn forwarded_for_from_anyone_else_is_ignored() {
    let server = limited(|a| {
        a.limits.write_rate = "1/60".into();
        a.limits.write_burst = 1;
    })
    .await;
    assert_eq!(post_as(&server, Some("203.0.113.1")).await.status, 201);
    // Without trusted proxies a new X-Forwarded-For is no new identity.
    assert_limited(&post_as(&server, Some("203.0.113.2")).await, "1", "60");
    server.stop().await;

    let not_us = limited(|a| {
        a.limits.trusted_proxies = "10.0.0.0/8".into();
        a.limits.write_rate = "1/60".into();
        a.limits.write_burst = 1;
    })
    .await;
    assert_eq!(post_as(&not_us, Some("203.0.113.1")).await.status, 201);
    assert_limited(&post_as(&not_us, Some("203.0.113.2")).await, "1", "60");
    not_us.stop().await;
}

#[tokio::test]
async fn a_rate_of_zero_turns_limiting_off() {
    let server = limited(|a| {
        a.limits.write_rate = "0".into();
        a.limits.write_burst = 1;
    })
    .await;
    for _ in 0..5 {
        let reply = post_as(&server, None).await;
        assert_eq!(reply.status, 201);
        assert_eq!(reply.header("x-ratelimit-limit"), None);
    }
    server.stop().await;
}

/// The router ignores empty path segments, so the limiter must too: spelling the path
/// another way is no way around the bucket.
#[tokio::test]
async fn other_spellings_of_a_path_share_its_bucket() {
    let server = limited(|a| {
        a.limits.write_rate = "1/3600".into();
        a.limits.write_burst = 1;
        a.limits.read_rate = "1/3600".into();
        a.limits.read_burst = 1;
    })
    .await;
    assert_eq!(post_as(&server, None).await.status, 201);
    for path in ["/api/messages/", "//api//messages", "/api/messages//"] {
        let reply = request(server.addr, "POST", path, &[JSON], BODY).await;
        assert_limited(&reply, "1", "3600");
    }
    assert_eq!(server.get("/api/messages").await.status, 200);
    for path in ["/api/messages/", "//api/stats", "/api//events"] {
        let reply = request(server.addr, "GET", path, &[], "").await;
        assert_limited(&reply, "1", "3600");
    }
}

/// Only the API's reads are limited: an unknown path under /api/ is, other paths are not.
#[tokio::test]
async fn unknown_api_paths_are_limited_and_other_paths_are_not() {
    let server = limited(|a| {
        a.limits.read_rate = "1/3600".into();
        a.limits.read_burst = 1;
    })
    .await;
    assert_eq!(server.get("/api/nope").await.status, 404);
    assert_limited(&server.get("/api/nope").await, "1", "3600");
    for _ in 0..3 {
        let reply = server.get("/favicon.ico").await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.header("x-ratelimit-limit"), None);
    }
}
