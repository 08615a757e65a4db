//! A script hammering the unlimited cheap routes of a server with a large history: 10,000
//! `/metrics` and `/api/stats` requests from 64 keep-alive connections all answer, with
//! exact figures, and a POST in the middle of them is stored. (How fast is the bench's job.)

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::support::TestServer;

const ROWS: i64 = 200_000;

/// Fills a new data directory with `ROWS` messages, the newest hundred still pending.
fn seed(dir: &std::path::Path) {
    let mut conn = bookchat::db::open_writer(&dir.join("bookchat.db")).unwrap();
    bookchat::db::migrate(&mut conn).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (id, content, author, created_at, synced) \
                 VALUES (?1, 'seeded history', 'seed', '2026-11-25T06:48:08.123Z', ?2)",
            )
            .unwrap();
        for id in 1..=ROWS {
            insert.execute((id, i64::from(id <= ROWS - 100))).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Sends `count` GETs of `path` over one keep-alive connection; returns their statuses.
async fn scrape(addr: SocketAddr, path: &'static str, count: usize) -> Vec<u16> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut statuses = Vec::with_capacity(count);
    for _ in 0..count {
        let request = hyper::Request::get(path)
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        statuses.push(response.status().as_u16());
        response.into_body().collect().await.unwrap();
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_scrapes_of_a_large_history_all_answer_and_a_post_still_lands() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let path = if i % 2 == 0 { "/metrics" } else { "/api/stats" };
            tokio::spawn(scrape(server.addr, path, 157))
        })
        .collect();
    let posted = server.post_message("written while being scraped").await;
    let mut answered = 0;
    for task in tasks {
        let statuses = task.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        answered += statuses.len();
    }
    assert_eq!(answered, 64 * 157);
    assert_eq!(posted["id"], ROWS + 1);
    let stats = server.stats().await;
    assert_eq!(
        stats["messages"]["total"],
        ROWS + 1,
        "{}",
        stats["messages"]
    );
    assert_eq!(stats["messages"]["pending"], 101, "{}", stats["messages"]);
    let metrics = server.get("/metrics").await.text();
    assert!(
        metrics.contains(&format!("bookchat_messages_total {}", ROWS + 1)),
        "{metrics}"
    );
    server.stop().await;
}
