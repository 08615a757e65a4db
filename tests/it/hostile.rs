//! Per-client caps over real sockets from several loopback addresses: event streams per
//! client (forwarded addresses behind a trusted proxy), connections per peer address
//! (trusted proxies exempt), and readers that stop reading are dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::client::{raw_status, request_from};
use crate::stores::per_store;
use crate::support::{eventually, TestServer};

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SECOND: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const THIRD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const WAIT: Duration = Duration::from_secs(5);

/// A TCP connection to `addr` from the local address `from`, so the server sees that peer.
async fn connect_from(from: IpAddr, addr: SocketAddr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("receive buffer");
    }
    socket.connect(addr).await.expect("connect")
}

/// One `/api/events` request: 200 with the body still streaming, or the refusal.
struct Stream {
    status: u16,
    body: Incoming,
}

impl Stream {
    async fn open(addr: SocketAddr, from: IpAddr, forwarded_for: Option<&str>) -> Stream {
        let io = TokioIo::new(connect_from(from, addr, None).await);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut request = hyper::Request::get("/api/events").header("host", "x");
        if let Some(xff) = forwarded_for {
            request = request.header("x-forwarded-for", xff);
        }
        let request = request.body(Empty::<Bytes>::new()).expect("request");
        let response = sender.send_request(request).await.expect("response");
        Stream {
            status: response.status().as_u16(),
            body: response.into_body(),
        }
    }

    /// Asserts a 429 with the JSON error shape, and returns the error text.
    async fn assert_too_many(self) -> String {
        assert_eq!(self.status, 429);
        let body = self.body.collect().await.expect("body").to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
        json["error"].as_str().expect("error text").to_owned()
    }
}

async fn open_streams(server: &TestServer) -> serde_json::Value {
    server.stats().await["connections"]["event_streams"].clone()
}

/// Writes `bytes` from `from` and reads until the server closes or a second is quiet.
async fn raw_from(from: IpAddr, addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = connect_from(from, addr, None).await;
    stream.write_all(bytes).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n @ 1..)) =
        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await
    {
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_client_past_its_stream_cap_gets_429_while_others_get_streams() {
    let server = TestServer::start_with(|a| a.limits.max_streams_per_client = 2).await;
    let first = Stream::open(server.addr, HOME, None).await;
    let second = Stream::open(server.addr, HOME, None).await;
    assert_eq!((first.status, second.status), (200, 200));
    let refused = Stream::open(server.addr, HOME, None).await;
    assert!(refused.assert_too_many().await.contains("event streams"));
    let other = Stream::open(server.addr, SECOND, None).await;
    assert_eq!(other.status, 200, "another address has its own share");
    assert_eq!(open_streams(&server).await, 3);

    drop(first);
    eventually("the closed stream's share to come back", WAIT, || async {
        let again = Stream::open(server.addr, HOME, None).await;
        (again.status == 200).then_some(again)
    })
    .await;
    drop((second, other));
    server.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_caps() {
    let server = TestServer::start_with(|a| {
        a.limits.trusted_proxies = "127.0.0.1".into();
        a.limits.max_connections_per_client = 2;
        a.limits.max_streams_per_client = 1;
    })
    .await;
    // Five connections from the proxy's one address: past the connection cap of 2, yet
    // none is turned away, since the proxy speaks for five clients.
    let mut held = Vec::new();
    for i in 1..=5 {
        let stream = Stream::open(server.addr, HOME, Some(&format!("203.0.113.{i}"))).await;
        assert_eq!(stream.status, 200, "forwarded client {i}");
        held.push(stream);
    }
    let again = Stream::open(server.addr, HOME, Some("203.0.113.1")).await;
    again.assert_too_many().await;
    // IPv6 clients share their /64.
    let v6 = Stream::open(server.addr, HOME, Some("2001:db8:1:2::1")).await;
    assert_eq!(v6.status, 200);
    let same_64 = Stream::open(server.addr, HOME, Some("2001:db8:1:2:ffff::9")).await;
    same_64.assert_too_many().await;
    // An untrusted peer cannot name other clients: its streams count as its own.
    let untrusted = Stream::open(server.addr, SECOND, Some("198.51.100.1")).await;
    assert_eq!(untrusted.status, 200);
    let renamed = Stream::open(server.addr, SECOND, Some("198.51.100.2")).await;
    renamed.assert_too_many().await;
    assert_eq!(open_streams(&server).await, 7);
    drop((held, v6, untrusted));
    server.stop().await;
}

#[tokio::test]
async fn a_peer_past_its_connection_cap_gets_429_and_others_are_served() {
    let server = TestServer::start_with(|a| a.limits.max_connections_per_client = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(SECOND, server.addr, None).await);
    }
    eventually("the three to be accepted", WAIT, || async {
        (server.stats().await["connections"]["open"] == 4).then_some(())
    })
    .await;
    let answer = raw_from(SECOND, server.addr, HEALTH).await;
    assert_eq!(raw_status(&answer), 429, "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/json"), "{answer}");
    assert!(
        lower.contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(
        answer.contains(r#"{"error":"too many open connections"#),
        "{answer}"
    );
    assert_eq!(server.stats().await["connections"]["shed"], 1);

    let other = request_from(THIRD, server.addr, "GET", "/api/health", &[], "").await;
    assert_eq!(other.status, 200, "another address is unaffected");
    assert_eq!(server.get("/api/health").await.status, 200);

    held.pop();
    eventually("a connection's share to come back", WAIT, || async {
        let answer = raw_from(SECOND, server.addr, HEALTH).await;
        (raw_status(&answer) == 200).then_some(())
    })
    .await;
    drop(held);
    server.stop().await;
}

per_store! {
    async fn a_reader_that_never_reads_is_dropped_and_its_slot_comes_back(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_configured(
            dir.path(),
            |a| a.limits.max_streams_per_client = 1,
            |c| c.connections.slow_reader_deadline = Duration::from_millis(300),
        )
        .await;
        // A small receive window, so the server's buffers fill after fewer messages.
        let mut stuck = connect_from(SECOND, server.addr, Some(4096)).await;
        stuck
            .write_all(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        eventually("the stream to open", WAIT, || async {
            (open_streams(&server).await == 1).then_some(())
        })
        .await;
        Stream::open(server.addr, SECOND, None)
            .await
            .assert_too_many()
            .await;

        flood_until_dropped(&server).await;
        // The connection itself is closed too: what was in flight arrives, then the end.
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(1..) = stuck.read(&mut buf).await {}
        })
        .await;
        assert!(drained.is_ok(), "the stuck connection was closed");
        let fresh = Stream::open(server.addr, SECOND, None).await;
        assert_eq!(fresh.status, 200, "the client's share came back");
        drop(fresh);
        server.stop().await;
    }
}

/// Posts the largest messages, 20 at a time, until the stuck stream is gone: its queue
/// and both socket buffers must fill first, and how much they hold depends on the kernel.
async fn flood_until_dropped(server: &TestServer) {
    let body = serde_json::json!({ "content": "x".repeat(2000) }).to_string();
    for _ in 0..250 {
        let posts: Vec<_> = (0..20)
            .map(|_| {
                let (addr, body) = (server.addr, body.clone());
                let json = [("content-type", "application/json")];
                tokio::spawn(async move {
                    crate::client::request(addr, "POST", "/api/messages", &json, body).await
                })
            })
            .collect();
        for post in posts {
            assert_eq!(post.await.unwrap().status, 201);
        }
        if open_streams(server).await == 0 {
            return;
        }
    }
    panic!("5000 large messages did not get the stuck reader dropped");
}
