//! PostgreSQL restarted mid-load, in a test binary of its own: a restart cuts every session
//! on the test cluster, so it must not share a run with the other PostgreSQL tests (cargo
//! runs test binaries one after another). Two real nodes take writes with idempotency keys
//! while the cluster restarts; nothing acknowledged is lost or doubled, and both nodes
//! recover without a restart of their own.

#[path = "it/ci.rs"]
#[allow(
    dead_code,
    reason = "shared with the integration crate, which uses all of it"
)]
mod ci;
#[path = "it/pg.rs"]
#[allow(
    dead_code,
    reason = "shared with the integration crate, which uses all of it"
)]
mod pg;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, url: &str) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bookchat"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("BOOKCHAT_DATABASE_URL", url)
        .env("BOOKCHAT_WRITE_RATE", "0")
        .env("BOOKCHAT_READ_RATE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bookchat");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a log line").expect("readable log");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().parse().expect("an address");
        }
    };
    // Keep draining the log, so a chatty node never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Node { child, addr }
}

/// One HTTP/1.1 request on a fresh connection: (status, body); `None` when the connection
/// fails (a node may be between answers, never down, but the test does not assume it).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{extra}content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body.as_bytes()).await.ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.ok()?;
    let status = reply.get(9..12)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// POSTs that were not acknowledged (503, or a dropped connection) and were sent again.
static REFUSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Posts one message under `key` until it is acknowledged, as a client with an outbox
/// does: the same key each time, so a commit whose answer was lost is not stored twice.
async fn post_until_stored(addr: SocketAddr, key: &str, content: &str) -> i64 {
    let body = serde_json::json!({ "content": content }).to_string();
    let extra = format!("content-type: application/json\r\nidempotency-key: {key}\r\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((status @ (200 | 201), reply)) =
            call(addr, "POST", "/api/messages", &extra, &body).await
        {
            let message: serde_json::Value = serde_json::from_str(&reply).unwrap();
            assert!(status == 201 || message["content"] == content);
            return message["id"].as_i64().unwrap();
        }
        REFUSED.fetch_add(1, Ordering::Relaxed);
        assert!(Instant::now() < deadline, "{key} was never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn listed(addr: SocketAddr) -> BTreeMap<i64, String> {
    let mut all = BTreeMap::new();
    let mut after = 0;
    loop {
        let (status, body) = call(
            addr,
            "GET",
            &format!("/api/messages?after={after}&limit=200"),
            "",
            "",
        )
        .await
        .expect("a listing");
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let messages = page["messages"].as_array().unwrap();
        let Some(last) = messages.last() else {
            return all;
        };
        after = last["id"].as_i64().unwrap();
        for m in messages {
            all.insert(
                m["id"].as_i64().unwrap(),
                m["content"].as_str().unwrap().to_owned(),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_load_loses_nothing_acknowledged_and_nodes_recover() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let nodes: Vec<Node> = dirs.iter().map(|d| start(d.path(), &url)).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, stop) = (addrs[w % 2], Arc::clone(&stop));
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let content = format!("w{w} m{n}");
                    let id = post_until_stored(addr, &format!("w{w}-{n}"), &content).await;
                    acked.push((id, content));
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::spawn_blocking(|| pg::pg_ctl("restart"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeMap::new();
    for writer in writers {
        for (id, content) in writer.await.unwrap() {
            assert!(
                acked.insert(id, content).is_none(),
                "id {id} acknowledged twice"
            );
        }
    }
    assert!(
        REFUSED.load(Ordering::Relaxed) > 0,
        "the restart fell between requests; the test proved nothing"
    );
    // Both nodes recover by themselves: healthy, and taking new messages.
    for &addr in &addrs {
        let deadline = Instant::now() + Duration::from_secs(30);
        while call(addr, "GET", "/api/health", "", "").await.map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "{addr} did not recover within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let id = post_until_stored(addr, &format!("after-{addr}"), "after the restart").await;
        acked.insert(id, "after the restart".into());
    }
    for &addr in &addrs {
        let stored = listed(addr).await;
        assert_eq!(
            stored.len(),
            acked.len(),
            "{addr}: one message per acknowledgement"
        );
        let lost: Vec<_> = acked
            .iter()
            .filter(|(id, c)| stored.get(id) != Some(c))
            .take(5)
            .collect();
        assert!(
            lost.is_empty(),
            "{addr} lost acknowledged messages: {lost:?}"
        );
    }
}
