//! Several nodes on one PostgreSQL database, in-process: what one node commits reaches the
//! others' listings and streams within a second, and under concurrent writers on every
//! node the ids increase in commit order, so a poller following `after=` and a stream on
//! any node see every message once, in order.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::events::{EventStream, Sse};
use crate::pg;
use crate::stores::StoreKind;
use crate::support::TestServer;

/// Three nodes on one fresh database, or `None` when there is no test cluster.
async fn three_nodes() -> Option<[TestServer; 3]> {
    let store = StoreKind::Postgres(pg::fresh_database().await?);
    Some([
        store.start().await,
        store.start().await,
        store.start().await,
    ])
}

/// The next `message` event's id, skipping the others (snapshot, sync, heartbeat).
async fn next_message(stream: &mut EventStream, wait: Duration) -> Option<i64> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match stream.next(left).await? {
            Sse::Event { id, kind, data } if kind == "message" => {
                assert_eq!(id, data["id"].as_i64(), "the event id is the message id");
                return id;
            }
            _ => {}
        }
    }
}

async fn listed_ids(node: &TestServer, after: i64) -> Vec<i64> {
    let reply = node
        .get(&format!("/api/messages?after={after}&limit=200"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_to_one_node_reaches_the_others_within_a_second() {
    let Some([a, b, c]) = three_nodes().await else {
        return;
    };
    let mut streams = Vec::new();
    for node in [&b, &c] {
        let stream = EventStream::open(node.addr, &[], "").await;
        assert_eq!(stream.status, 200);
        streams.push(stream);
    }
    let posted = Instant::now();
    let id = a.post_message("from node a").await["id"].as_i64().unwrap();
    let within = Duration::from_secs(1);
    for stream in &mut streams {
        let left = within.saturating_sub(posted.elapsed());
        assert_eq!(
            next_message(stream, left).await,
            Some(id),
            "the event reached the other node's stream within 1 s"
        );
    }
    for node in [&b, &c] {
        loop {
            if listed_ids(node, id - 1).await.contains(&id) {
                break;
            }
            assert!(
                posted.elapsed() < within,
                "the other node lists the message within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let got = b.get(&format!("/api/messages/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["content"], "from node a");
    for node in [a, b, c] {
        node.stop().await;
    }
}

/// Asserts `seen` holds exactly the `acked` ids, naming the few that differ.
fn same_ids(seen: &[i64], acked: &BTreeSet<i64>, who: &str) {
    let seen: BTreeSet<i64> = seen.iter().copied().collect();
    let missed: Vec<_> = acked.difference(&seen).take(10).collect();
    let invented: Vec<_> = seen.difference(acked).take(10).collect();
    assert!(
        missed.is_empty() && invented.is_empty(),
        "{who} missed {missed:?} and saw unacknowledged {invented:?} (of {} messages)",
        acked.len()
    );
}

/// Posts to `node` until `stop`, answering the ids acknowledged with 201.
async fn write_until(node: std::net::SocketAddr, writer: usize, stop: Arc<AtomicBool>) -> Vec<i64> {
    let mut acked = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = serde_json::json!({ "content": format!("w{writer} m{n}") }).to_string();
        let headers = [("content-type", "application/json")];
        let reply = crate::client::request(node, "POST", "/api/messages", &headers, body).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        acked.push(reply.json()["id"].as_i64().unwrap());
    }
    acked
}

/// Follows `after=` on `node` until it has seen `last`, as a polling page does.
async fn poll_until(node: &TestServer, last: &tokio::sync::watch::Receiver<i64>) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let page = listed_ids(node, cursor).await;
        if let Some(&top) = page.last() {
            cursor = top;
        }
        seen.extend(page);
        let goal = *last.borrow();
        if goal > 0 && cursor >= goal {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_follow_commit_order_so_no_poller_or_stream_on_any_node_misses_one() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    let nodes = Arc::new(nodes);
    let (last_tx, last) = tokio::sync::watch::channel(0_i64);
    let mut streams = Vec::new();
    for node in nodes.iter() {
        streams.push(EventStream::open(node.addr, &[], "").await);
    }
    let pollers: Vec<_> = (0..3)
        .map(|i| {
            let (nodes, last) = (Arc::clone(&nodes), last.clone());
            tokio::spawn(async move { poll_until(&nodes[i], &last).await })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..24)
        .map(|w| tokio::spawn(write_until(nodes[w % 3].addr, w, Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeSet::new();
    for writer in writers {
        for id in writer.await.unwrap() {
            assert!(acked.insert(id), "id {id} was given twice");
        }
    }
    let top = *acked.last().expect("messages were written");
    last_tx.send(top).unwrap();
    for (i, poller) in pollers.into_iter().enumerate() {
        let seen = poller.await.unwrap();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "node {i}: the poller saw ids out of order or twice"
        );
        let seen: BTreeSet<i64> = seen.into_iter().collect();
        assert_eq!(
            seen, acked,
            "node {i}: the poller missed or invented a message"
        );
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut ids = Vec::new();
        while ids.last() != Some(&top) {
            let id = next_message(stream, Duration::from_secs(10)).await;
            let last = ids.last().copied();
            ids.push(id.unwrap_or_else(|| panic!("node {i}: the stream stopped after {last:?}")));
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "node {i}: the stream repeated or reordered"
        );
        same_ids(&ids, &acked, &format!("node {i}'s stream"));
    }
    let Ok(nodes) = Arc::try_unwrap(nodes) else {
        panic!("every task has ended")
    };
    for node in nodes {
        node.stop().await;
    }
}
