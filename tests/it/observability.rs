//! What operators watch: `/api/stats` and `/metrics` move as requests are made, every
//! response has an `X-Request-Id`, and JSON log lines parse with the access fields.
#![allow(
    clippy::float_cmp,
    reason = "Prometheus figures here are small whole numbers, exact in f64"
)]

use std::collections::BTreeMap;

use crate::binary::spawn_server;
use crate::client::request;
use crate::stores::per_store;
use crate::support::TestServer;

per_store! {
    async fn stats_move_as_requests_are_made(store) {
        let server = store.start().await;
        let before = server.stats().await;
        for i in 0..3 {
            server.post_message(&format!("counted {i}")).await;
        }
        assert_eq!(server.get("/nope").await.status, 404);
        let after = server.stats().await;
        let total = |s: &serde_json::Value| s["requests"]["total"].as_u64().unwrap();
        // The three POSTs, the 404 and the first stats request itself.
        assert_eq!(total(&after) - total(&before), 5, "{after}");
        assert_eq!(after["requests"]["by_status"]["4xx"], 1);
        assert!(after["requests"]["by_status"]["2xx"].as_u64().unwrap() >= 4);
        assert_eq!(after["requests"]["by_route"]["/api/messages"], 3);
        assert_eq!(after["requests"]["by_route"]["other"], 1);
        for q in ["p50", "p95", "p99", "mean"] {
            let ms = after["latency_ms"][q]
                .as_f64()
                .unwrap_or_else(|| panic!("{q}: {after}"));
            assert!(ms > 0.0, "{q}");
        }
        assert_eq!(after["messages"]["total"], 3);
        assert_eq!(after["messages"]["pending"], 3);
        assert!(
            after["connections"]["open"].as_u64().unwrap() >= 1,
            "{after}"
        );
        assert!(after["connections"]["total"].as_u64().unwrap() >= 6);
        assert!(after["process"]["resident_bytes"].as_u64().unwrap() > 1_000_000);
        assert!(after["process"]["cpu_seconds"].as_f64().is_some());
        assert!(after["database"]["bytes"].as_u64().unwrap() > 0);
        assert!(after["uptime_seconds"].is_u64());
        assert_eq!(after["sync"]["state"], "off");
        assert_eq!(after["backups"]["enabled"], false);
        assert!(after["messages"]["newest_at"].is_string(), "{after}");
        server.stop().await;
    }
}

/// Parses the exposition text into `name{labels}` → value, checking every line's shape.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "{line}"
            );
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        assert!(
            samples.insert(key.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

per_store! {
    async fn metrics_speak_prometheus_and_move_too(store) {
        let server = store.start().await;
        let first = server.get("/metrics").await;
        assert_eq!(first.status, 200);
        assert_eq!(
            first.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let before = parse_metrics(&first.text());
        server.post_message("for the counters").await;
        server.get("/api/messages").await;
        let after = parse_metrics(&server.get("/metrics").await.text());
        let class = r#"bookchat_http_requests_total{class="2xx"}"#;
        // The first /metrics, the POST and the GET.
        assert_eq!(after[class] - before[class], 3.0);
        assert_eq!(after["bookchat_messages_total"], 1.0);
        assert_eq!(after["bookchat_messages_pending_sync"], 1.0);
        assert_eq!(after["bookchat_sync_enabled"], 0.0);
        assert_eq!(after["bookchat_backup_enabled"], 0.0);
        assert!(after["process_resident_memory_bytes"] > 1e6);
        assert!(after["bookchat_database_bytes"] > 0.0);
        let count = after["bookchat_http_request_duration_seconds_count"];
        let classes: f64 = after
            .iter()
            .filter(|(k, _)| k.starts_with("bookchat_http_requests_total{"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(count, classes, "every answered request is in the histogram");
        assert_eq!(
            after[r#"bookchat_http_request_duration_seconds_bucket{le="+Inf"}"#],
            count
        );
        let buckets: Vec<f64> = after
            .iter()
            .filter(|(k, _)| k.starts_with("bookchat_http_request_duration_seconds_bucket"))
            .map(|(_, v)| *v)
            .collect();
        assert!(buckets.len() >= 10);
        server.stop().await;
    }
}

#[tokio::test]
async fn every_response_has_a_request_id_and_sane_ones_are_kept() {
    let server = TestServer::start().await;
    let made = server.get("/api/health").await;
    let id = made.header("x-request-id").expect("an id").to_owned();
    assert_eq!(id.len(), 16);
    let next = server.get("/nope").await;
    assert_ne!(next.header("x-request-id"), Some(id.as_str()));
    let kept = request(
        server.addr,
        "GET",
        "/api/health",
        &[("x-request-id", "edge-42.abc")],
        "",
    )
    .await;
    assert_eq!(kept.header("x-request-id"), Some("edge-42.abc"));
    let forged = request(
        server.addr,
        "GET",
        "/api/health",
        &[("x-request-id", "a b\"c")],
        "",
    )
    .await;
    assert_ne!(forged.header("x-request-id"), Some("a b\"c"));
    server.stop().await;
}

#[tokio::test]
async fn json_log_lines_parse_and_carry_the_access_fields() {
    let dir = tempfile::tempdir().unwrap();
    // Production logs JSON without being asked.
    let server = spawn_server(dir.path(), |c| {
        c.env("BOOKCHAT_ENV", "production");
    });
    let reply = request(
        server.addr,
        "GET",
        "/api/messages?limit=2",
        &[("x-request-id", "trace-me-1")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    let (status, log) = server.terminate();
    assert!(status.success());
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        for key in ["time", "level", "target", "message"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    let access = lines
        .iter()
        .find(|l| l["request_id"] == "trace-me-1")
        .expect("the access line");
    assert_eq!(access["target"], "bookchat::access");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/api/messages");
    assert_eq!(access["status"], 200);
    assert!(access["duration_ms"].as_f64().is_some(), "{access}");
    assert_eq!(access["client"], "127.0.0.1");
}
