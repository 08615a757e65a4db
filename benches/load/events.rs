//! Event streams: subscribing to `/api/events`, and the delay from a POST being sent to
//! each stream reading its event, on one node (here) or across nodes (`cluster`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::{latest_id, percentile, post_request, Client, Server};

/// Opens `streams` event streams, posts messages one at a time, and measures from each
/// POST being sent to each stream seeing its event. Returns (p50, p99, RSS with streams).
pub async fn fan_out(server: &Server, streams: usize, posts: usize) -> (Duration, Duration, f64) {
    let seen: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let mut readers = Vec::new();
    for _ in 0..streams {
        readers.push(subscribe(server.addr, &seen).await);
    }
    // Let every stream be set up before the first post.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = server.rss_mb();
    let mut client = Client::connect(server.addr).await;
    let mut sent_at = Vec::new();
    for i in 0..posts {
        let request = post_request(&format!("fan-out {i}"));
        let sent = Instant::now();
        client.call(&request).await;
        let id = latest_id(&client.buffer);
        sent_at.push((id, sent));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for reader in readers {
        reader.abort();
    }
    let delays = delays(&seen.lock().await, &sent_at);
    assert_eq!(
        delays.len(),
        streams * posts,
        "every stream saw every message"
    );
    (percentile(&delays, 0.5), percentile(&delays, 0.99), rss)
}

/// Opens an event stream on `addr` and records in `seen` each event's id and the moment
/// it was read, until aborted.
pub async fn subscribe(addr: SocketAddr, seen: &Arc<Mutex<Vec<(i64, Instant)>>>) -> JoinHandle<()> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /api/events HTTP/1.1\r\nHost: b\r\n\r\n")
        .await
        .expect("subscribe");
    let seen = Arc::clone(seen);
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 8192];
        let mut text = String::new();
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            let at = Instant::now();
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            while let Some(start) = text.find("id: ") {
                let Some(end) = text[start..].find('\n') else {
                    break;
                };
                if let Ok(id) = text[start + 4..start + end].parse::<i64>() {
                    seen.lock().await.push((id, at));
                }
                text.drain(..start + end);
            }
        }
    })
}

/// From each post being sent (`sent_at`: id, moment) to each reading of it (`seen`),
/// sorted; readings of other ids are left out.
pub fn delays(seen: &[(i64, Instant)], sent_at: &[(i64, Instant)]) -> Vec<Duration> {
    let mut delays: Vec<Duration> = seen
        .iter()
        .filter_map(|(id, at)| {
            let (_, sent) = sent_at.iter().find(|(sid, _)| sid == id)?;
            Some(at.saturating_duration_since(*sent))
        })
        .collect();
    delays.sort_unstable();
    delays
}
