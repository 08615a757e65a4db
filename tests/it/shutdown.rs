//! Graceful shutdown: a request in flight when the signal arrives is still answered, and
//! its message is stored; afterwards the port is closed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stores::per_store;
use crate::support::TestServer;

per_store! {
    async fn in_flight_requests_finish_before_the_server_stops(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_in(dir.path(), |_| {}).await;
        let addr = server.addr;

        // Send the headers and half the body, then stop the server mid-request.
        let body = r#"{"content": "sent during shutdown"}"#;
        let (head, tail) = body.split_at(10);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let headers = format!(
            "POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{head}",
            body.len()
        );
        stream.write_all(headers.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stopping = tokio::spawn(server.stop());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !stopping.is_finished(),
            "the server must wait for the open request"
        );

        stream.write_all(tail.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("answer within 5 s")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), stopping)
            .await
            .expect("stops once the request is done")
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is closed after shutdown"
        );

        let restarted = store.start_in(dir.path(), |_| {}).await;
        let listed = restarted.get("/api/messages").await.json();
        assert_eq!(listed["messages"][0]["content"], "sent during shutdown");
        restarted.stop().await;
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_shutdown() {
    let server = TestServer::start().await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The connection stays open (keep-alive) and idle; shutdown must still be prompt.
    tokio::time::timeout(Duration::from_secs(3), server.stop())
        .await
        .expect("an idle connection does not delay shutdown");
}
