//! What a hostile client can do to the server: slow connections, too many connections,
//! oversized heads, malformed bytes of every kind. None of it gets a 5xx or stops the server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{raw, raw_status};
use crate::support::TestServer;

/// Reads until the server closes the connection (`Ok`) or `within` passes (`Err`).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, ()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return Err(()),
            Ok(Ok(0) | Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn three_hundred_slow_connections_do_not_delay_a_normal_request() {
    let server = TestServer::start().await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /api/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // Keep them alive, one byte each at a time, while the normal request is made.
    let trickle = tokio::spawn(async move {
        for _ in 0..4 {
            for stream in &mut slow {
                let _ = stream.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        slow
    });
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(1), server.get("/api/health"))
        .await
        .expect("a normal request is answered within 1 s during the slowloris");
    assert_eq!(reply.status, 200);
    eprintln!(
        "health during 300 slow connections: {:?}",
        started.elapsed()
    );
    drop(trickle.await.unwrap());
    server.stop().await;
}

async fn with_header_timeout(timeout: Duration) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_configured(
        dir.path(),
        |_| {},
        |c| {
            c.connections.header_timeout = timeout;
        },
    )
    .await;
    (dir, server)
}

#[tokio::test]
async fn a_head_that_never_finishes_is_cut_off() {
    let (_dir, server) = with_header_timeout(Duration::from_millis(500)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_within(&mut stream, Duration::from_secs(3))
        .await
        .expect("the server closes a connection whose head never ends");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (_dir, server) = with_header_timeout(Duration::from_millis(500)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    closed_within(&mut stream, Duration::from_secs(3))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed too early"
    );
    server.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_clients_get_a_polite_503() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::start_configured(dir.path(), |a| a.limits.max_connections = 8, |_| {}).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Give the accept loop a moment to take all eight.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = raw(server.addr, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(raw_status(&answer), 503, "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1"), "{answer}");
    assert!(
        lower.contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(answer.contains(r#"{"error":"#), "{answer}");
    drop(held);
    crate::support::eventually("a slot to come free", Duration::from_secs(5), || async {
        let answer = raw(
            server.addr,
            b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        (raw_status(&answer) == 200).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn oversized_heads_get_431_and_long_targets_414_as_json() {
    let server = TestServer::start().await;
    let long_target = format!("/api/messages?x={}", "a".repeat(9 * 1024));
    let too_long = crate::client::request(server.addr, "GET", &long_target, &[], "").await;
    too_long.assert_error(414);

    let names: Vec<String> = (0..70).map(|i| format!("x-extra-{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let reply = crate::client::request(server.addr, "GET", "/api/health", &many, "").await;
    assert!(reply.assert_error(431).contains("header"));

    let big = "b".repeat(20 * 1024);
    let reply =
        crate::client::request(server.addr, "GET", "/api/health", &[("x-big", &big)], "").await;
    reply.assert_error(431);

    // Beyond what hyper will buffer at all: still a 4xx, never a 5xx or a crash.
    let huge = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n",
        "h".repeat(100 * 1024)
    );
    let status = raw_status(&raw(server.addr, huge.as_bytes()).await);
    assert_eq!(status, 431);
    assert_eq!(server.get("/api/health").await.status, 200);
    server.stop().await;
}

/// Requests no well-behaved client sends, as raw bytes.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let post = |body: &str| {
        format!(
            "POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let get = |target: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
    };
    let raw = |text: &str| text.as_bytes().to_vec();
    let deep = format!("{{\"content\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    let mut invalid_utf8 = post("{\"content\": \"ab\"}");
    let at = invalid_utf8.len() - 3;
    invalid_utf8[at] = 0xff;
    vec![
        ("garbage line", raw("GARBAGE\r\n\r\n")),
        ("method only", raw("GET\r\n\r\n")),
        ("unknown version", raw("GET / HTTP/9.9\r\nHost: x\r\n\r\n")),
        ("HTTP/2 preface", raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
        ("NUL in target", raw("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("header without colon", raw("GET / HTTP/1.1\r\nHost x\r\n\r\n")),
        ("space before colon", raw("GET / HTTP/1.1\r\nHost : x\r\n\r\n")),
        ("obsolete line folding", raw("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n")),
        ("non-ASCII header value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \x80\xff\r\n\r\n".to_vec()),
        ("negative length", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")),
        ("non-numeric length", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")),
        ("two lengths", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")),
        ("length and chunked", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        ("unknown transfer coding", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")),
        ("bad chunk size", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")),
        ("overflowing chunk size", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n{}\r\n0\r\n\r\n")),
        ("body shorter than its length", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"content\"")),
        ("invalid UTF-8 in JSON", invalid_utf8),
        ("truncated JSON", post("{")),
        ("array body", post("[]")),
        ("null body", post("null")),
        ("number content", post(r#"{"content": 123}"#)),
        ("array content", post(r#"{"content": ["a"]}"#)),
        ("object content", post(r#"{"content": {"a": 1}}"#)),
        ("number author", post(r#"{"content": "a", "author": 5}"#)),
        ("deep nesting", post(&deep)),
        ("huge number", post(r#"{"content": 1e999999}"#)),
        ("huge integer", post(r#"{"content": 99999999999999999999999999999999}"#)),
        ("NUL in content", post(r#"{"content": "a\u0000b"}"#)),
        ("escape sequence in author", post(r#"{"content": "a", "author": "\u001b[31m"}"#)),
        ("lone surrogate", post(r#"{"content": "\ud800"}"#)),
        ("duplicate keys", post(r#"{"content": "a", "content": "b"}"#)),
        ("missing content type", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")),
        ("expect 100-continue", raw("POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")),
        ("bad percent escape", get("/api/messages?after=%ZZ")),
        ("huge limit", get("/api/messages?limit=99999999999999999999999")),
        ("NUL escape in id", get("/api/messages/%00")),
        ("negative id", get("/api/messages/-1")),
        ("huge id", get("/api/messages/99999999999999999999999999")),
        ("empty segments", get("//////")),
        ("overlong UTF-8 dots", get("/static/%c0%ae%c0%ae/Cargo.toml")),
        ("absolute form", get("http://evil.example/api/health")),
        ("asterisk form", get("*")),
        ("CONNECT", raw("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n")),
        ("TRACE", raw("TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
        ("unknown method", raw("BREW /api/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
        ("lower-case method", raw("get / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
        ("two hosts", raw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")),
        ("pipelined", raw("GET /api/health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
        ("bare LF line ends", raw("GET /api/health HTTP/1.1\nHost: x\nConnection: close\n\n")),
    ]
}

#[tokio::test]
async fn forty_malformed_requests_get_no_5xx_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let cases = malformed();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (name, bytes) in cases {
        let answer = raw(server.addr, &bytes).await;
        for status_line in answer.lines().filter(|l| l.starts_with("HTTP/1.")) {
            let status: u16 = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{name}: bad status line {status_line:?}"));
            assert!(status < 500, "{name}: answered {status}:\n{answer}");
        }
        let health = server.get("/api/health").await;
        assert_eq!(health.status, 200, "after {name}");
    }
    let stored = server.get("/api/messages").await.json();
    assert_eq!(
        stored["messages"].as_array().unwrap().len(),
        0,
        "nothing malformed was stored: {stored}"
    );
    server.stop().await;
}

/// The fuzz target over HTTP: generated bodies and query strings against a real server.
/// Whatever is sent, the answer is a 2xx or a 4xx with a JSON error, never a 5xx.
#[test]
fn generated_bodies_and_queries_never_get_a_5xx() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start());
    let addr = server.addr;
    let config = proptest::test_runner::Config {
        cases: 300,
        failure_persistence: None,
        ..Default::default()
    };
    let text = |pattern: &'static str| pattern.prop_map(String::into_bytes);
    let json_ish = prop_oneof![
        any::<Vec<u8>>(),
        text("\\{\"content\": .{0,30}\\}"),
        text("\\{\"content\": \"[^\"\\\\]{0,40}\", \"author\": (null|[0-9]{1,30}|\"[^\"]{0,60}\"|\\[\\])\\}"),
        text("[\\[\\]{}\":,0-9a-z ]{0,80}"),
    ];
    let query = "[a-z=&0-9%+.-]{0,40}";
    proptest!(config, |(body in json_ish, query in query)| {
        runtime.block_on(async {
            let posted = crate::client::request(
                addr, "POST", "/api/messages",
                &[("content-type", "application/json")], body,
            ).await;
            prop_assert!(posted.status == 201 || (400..500).contains(&posted.status));
            if posted.status != 201 {
                posted.assert_error(posted.status);
            }
            let listed = crate::client::request(
                addr, "GET", &format!("/api/messages?{query}"), &[], "",
            ).await;
            prop_assert!(listed.status == 200 || listed.status == 400, "{query}: {}", listed.status);
            Ok(())
        })?;
    });
    runtime.block_on(async {
        assert_eq!(server.get("/api/health").await.status, 200);
        server.stop().await;
    });
}
