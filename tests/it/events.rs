//! Server-Sent Events over real HTTP: every message exactly once and in order, across a
//! reconnect with `Last-Event-ID` and across a restart; sync changes; heartbeats; the cap;
//! and a shutdown that does not wait on open streams.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::fake_github::FakeGitHub;
use crate::stores::per_store;

/// One parsed event: its `id:`, `event:` and `data:` (JSON), or a comment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sse {
    Event {
        id: Option<i64>,
        kind: String,
        data: serde_json::Value,
    },
    Comment(String),
    Retry,
}

/// A client of `/api/events`: reads frames and splits them into events.
pub(crate) struct EventStream {
    body: Incoming,
    buffer: String,
    pub(crate) status: u16,
}

impl EventStream {
    pub(crate) async fn open(
        addr: SocketAddr,
        headers: &[(&str, &str)],
        query: &str,
    ) -> EventStream {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::open_on(stream, headers, query).await
    }

    /// On a socket with a small receive buffer, so a reader that pauses is felt at once.
    pub(crate) async fn open_small(addr: SocketAddr) -> EventStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        Self::open_on(socket.connect(addr).await.unwrap(), &[], "").await
    }

    async fn open_on(stream: TcpStream, headers: &[(&str, &str)], query: &str) -> EventStream {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::get(format!("/api/events{query}")).header("host", "x");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(
                request
                    .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 200 {
            assert_eq!(response.headers()["content-type"], "text/event-stream");
        }
        EventStream {
            body: response.into_body(),
            buffer: String::new(),
            status,
        }
    }

    /// The next event, or `None` if none arrives within `wait` or the stream ends.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??;
            let data = frame.ok()?.into_data().ok()?;
            self.buffer.push_str(std::str::from_utf8(&data).unwrap());
        }
    }

    /// The next `n` message events (skipping comments and other kinds).
    pub(crate) async fn messages(&mut self, n: usize) -> Vec<(i64, serde_json::Value)> {
        let mut found = Vec::new();
        while found.len() < n {
            match self.next(Duration::from_secs(5)).await {
                Some(Sse::Event { id, kind, data }) if kind == "message" => {
                    assert_eq!(id, data["id"].as_i64(), "the event id is the message id");
                    found.push((id.unwrap(), data));
                }
                Some(_) => {}
                None => panic!("only {} of {n} message events arrived", found.len()),
            }
        }
        found
    }
}

fn parse(block: &str) -> Sse {
    if let Some(comment) = block.strip_prefix(':') {
        return Sse::Comment(comment.trim().to_owned());
    }
    if block.starts_with("retry:") {
        return Sse::Retry;
    }
    let (mut id, mut kind, mut data) = (None, String::new(), serde_json::Value::Null);
    for line in block.lines().filter(|l| !l.is_empty()) {
        let (field, value) = line.split_once(": ").unwrap_or_else(|| panic!("{block:?}"));
        match field {
            "id" => id = Some(value.parse().unwrap()),
            "event" => value.clone_into(&mut kind),
            "data" => data = serde_json::from_str(value).unwrap(),
            other => panic!("unknown field {other} in {block:?}"),
        }
    }
    Sse::Event { id, kind, data }
}

pub(crate) fn ids(events: &[(i64, serde_json::Value)]) -> Vec<i64> {
    events.iter().map(|(id, _)| *id).collect()
}

per_store! {
    async fn every_message_arrives_once_in_order_across_a_reconnect_and_a_restart(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_in(dir.path(), |_| {}).await;
        let mut stream = EventStream::open(server.addr, &[], "").await;
        assert_eq!(stream.next(Duration::from_secs(5)).await, Some(Sse::Retry));
        for i in 1..=5 {
            server.post_message(&format!("live {i}")).await;
        }
        let first = stream.messages(5).await;
        assert_eq!(ids(&first), [1, 2, 3, 4, 5]);
        assert_eq!(first[0].1["content"], "live 1");
        drop(stream);

        // Missed while disconnected, then live again: resumes after the last id seen.
        for i in 6..=10 {
            server.post_message(&format!("missed {i}")).await;
        }
        let mut resumed = EventStream::open(server.addr, &[("last-event-id", "5")], "").await;
        for i in 11..=13 {
            server.post_message(&format!("live again {i}")).await;
        }
        assert_eq!(
            ids(&resumed.messages(8).await),
            (6..=13).collect::<Vec<_>>()
        );
        assert_eq!(
            resumed.next(Duration::from_millis(300)).await,
            None,
            "nothing repeats"
        );
        drop(resumed);
        server.stop().await;

        let restarted = store.start_in(dir.path(), |_| {}).await;
        let resume = [("last-event-id", "11")];
        let mut after_restart = EventStream::open(restarted.addr, &resume, "").await;
        restarted.post_message("after the restart").await;
        let events = after_restart.messages(3).await;
        assert_eq!(ids(&events), [12, 13, 14]);
        assert_eq!(events[2].1["content"], "after the restart");
        drop(after_restart);
        restarted.stop().await;
    }
}

per_store! {
    async fn the_page_can_start_after_what_it_loaded(store) {
        let server = store.start().await;
        for i in 1..=3 {
            server.post_message(&format!("loaded {i}")).await;
        }
        let mut stream = EventStream::open(server.addr, &[], "?after=2").await;
        assert_eq!(ids(&stream.messages(1).await), [3]);
        let bad = EventStream::open(server.addr, &[("last-event-id", "x")], "").await;
        assert_eq!(bad.status, 400);
        let bad = EventStream::open(server.addr, &[], "?after=-1").await;
        assert_eq!(bad.status, 400);
        drop(stream);
        server.stop().await;
    }
}

per_store! {
    async fn sync_changes_are_pushed_as_synced_events(store) {
        let fake = FakeGitHub::start_default().await;
        let server = store.start_synced(&fake).await;
        let mut stream = EventStream::open(server.addr, &[], "").await;
        let posted = server.post_message("watch me sync").await;
        let mut saw_message = false;
        loop {
            match stream.next(Duration::from_secs(10)).await {
                Some(Sse::Event { kind, data, id }) if kind == "message" => {
                    assert_eq!(data["synced"], false);
                    assert_eq!(id, posted["id"].as_i64());
                    saw_message = true;
                }
                Some(Sse::Event { kind, data, id }) if kind == "synced" => {
                    assert!(saw_message, "the message comes before its sync");
                    assert_eq!(id, None, "sync events do not move the resume point");
                    assert_eq!(data["id"], posted["id"]);
                    assert_eq!(data["synced"], true);
                    assert_eq!(data["git_commit_hash"], fake.commits()[0].sha.as_str());
                    break;
                }
                Some(_) => {}
                None => panic!("no synced event"),
            }
        }
        drop(stream);
        server.stop().await;
    }
}

per_store! {
    async fn idle_streams_get_heartbeats_and_the_number_of_streams_is_capped(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_configured(
            dir.path(),
            |a| a.limits.max_event_streams = 2,
            |c| c.connections.heartbeat = Duration::from_millis(200),
        )
        .await;
        let mut one = EventStream::open(server.addr, &[], "").await;
        let _two = EventStream::open(server.addr, &[], "").await;
        let three = EventStream::open(server.addr, &[], "").await;
        assert_eq!(three.status, 503, "the cap turns the third away");
        assert_eq!(server.stats().await["connections"]["event_streams"], 2);
        assert_eq!(one.next(Duration::from_secs(2)).await, Some(Sse::Retry));
        let snapshot = one.next(Duration::from_secs(2)).await;
        assert!(
            matches!(&snapshot, Some(Sse::Event { kind, .. }) if kind == "snapshot"),
            "{snapshot:?}"
        );
        // A named event, so a page's EventSource sees it (a comment would be invisible).
        assert_eq!(
            one.next(Duration::from_secs(2)).await,
            Some(Sse::Event {
                id: None,
                kind: "heartbeat".into(),
                data: serde_json::json!({})
            })
        );
        drop(one);
        crate::support::eventually("a slot to come free", Duration::from_secs(5), || async {
            let again = EventStream::open(server.addr, &[], "").await;
            (again.status == 200).then_some(())
        })
        .await;
        server.stop().await;
    }
}

per_store! {
    async fn open_streams_do_not_hold_up_shutdown(store) {
        let server = store.start().await;
        let mut streams = Vec::new();
        for _ in 0..5 {
            streams.push(EventStream::open(server.addr, &[], "").await);
        }
        tokio::time::timeout(Duration::from_secs(3), server.stop())
            .await
            .expect("streams end at shutdown");
        for stream in &mut streams {
            // Whatever was buffered, the stream then ends.
            while stream.next(Duration::from_secs(2)).await.is_some() {}
        }
    }
}

per_store! {
    async fn a_last_event_id_above_the_newest_means_from_now(store) {
        let server = store.start().await;
        for i in 0..3 {
            server.post_message(&format!("before {i}")).await;
        }
        // A page that saw id 900 before the database was restored to an older backup.
        let mut stream = EventStream::open(server.addr, &[("last-event-id", "900")], "").await;
        assert_eq!(stream.status, 200);
        let mut ahead = EventStream::open(server.addr, &[], "?after=5000").await;
        let posted = server.post_message("after the restore").await;
        for s in [&mut stream, &mut ahead] {
            let got = s.messages(1).await;
            assert_eq!(
                got[0].0,
                posted["id"].as_i64().unwrap(),
                "not skipped as already seen"
            );
        }
        server.stop().await;
    }
}
