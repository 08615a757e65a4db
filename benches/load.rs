//! `cargo bench`: starts the release `bookchat` as a child on a free port (rate limits
//! off), drives it with its own HTTP/1.1 keep-alive client, and prints a table of
//! throughput, latency, event fan-out, memory, binary size and cold start; with
//! PostgreSQL, posts on one node and delivery from one node to the others.
#![allow(
    clippy::cast_precision_loss,
    reason = "counts and sizes become f64 only to print them"
)]
#![allow(
    clippy::large_futures,
    reason = "a handful of client tasks with 16 KiB read buffers; boxing them buys nothing"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

// Beside this file, not a bench of its own: it shares the client and the table.
#[path = "load/cluster.rs"]
mod cluster;
#[path = "load/events.rs"]
mod events;
#[path = "load/https.rs"]
mod https;
#[path = "load/members.rs"]
mod members;
#[path = "load/metrics.rs"]
mod metrics;

const BIN: &str = env!("CARGO_BIN_EXE_bookchat");
const RUN_FOR: Duration = Duration::from_secs(3);

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    started_in: Duration,
}

impl Server {
    /// Starts the binary and measures the time to the first 200 on /api/health.
    fn start() -> Server {
        Server::start_seeded(|_| {})
    }

    /// Lets `seed` fill the data directory first (not timed as start-up).
    fn start_seeded(seed: impl FnOnce(&std::path::Path)) -> Server {
        Server::start_configured(seed, &[])
    }

    /// Starts with `env` added to the bench's settings.
    fn start_configured(seed: impl FnOnce(&std::path::Path), env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        seed(&dir.path().join("bookchat-data"));
        let started = Instant::now();
        let mut child = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .env("PORT", "0")
            .env("RUST_LOG", "warn,bookchat::commands=info")
            .env("BOOKCHAT_WRITE_RATE", "0")
            .env("BOOKCHAT_READ_RATE", "0")
            .env("BOOKCHAT_MAX_CONNECTIONS", "4096")
            .env("BOOKCHAT_MAX_EVENT_STREAMS", "2000")
            // Every bench client speaks from 127.0.0.1.
            .env("BOOKCHAT_MAX_CONNECTIONS_PER_CLIENT", "4096")
            .env("BOOKCHAT_MAX_STREAMS_PER_CLIENT", "2000")
            .env("BOOKCHAT_BACKUP_INTERVAL", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bookchat");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().expect("server log").expect("log line");
            let url = line.split("listening on ").nth(1);
            if let Some(url) = url.and_then(|u| u.split("://").nth(1)) {
                break url.trim().parse().expect("address");
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        while std::net::TcpStream::connect(addr)
            .map(|mut s| health_ok(&mut s))
            .ok()
            != Some(true)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        Server {
            child,
            addr,
            _dir: dir,
            started_in: started.elapsed(),
        }
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn health_ok(stream: &mut std::net::TcpStream) -> bool {
    use std::io::{Read, Write};
    let request = b"GET /api/health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        // A TLS port answers plain HTTP once it serves: with its 400, not a health check.
        && (answer.starts_with("HTTP/1.1 200") || answer.contains("this port speaks HTTPS"))
}

/// A connection's bytes, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How clients reach the server.
#[derive(Clone)]
enum Connector {
    Plain(SocketAddr),
    /// HTTPS, with the client configuration that trusts the bench's certificate.
    Tls(SocketAddr, tokio_rustls::TlsConnector),
}

/// One keep-alive connection that sends a request and reads one full response.
struct Client {
    stream: Box<dyn Stream>,
    buffer: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client::open(&Connector::Plain(addr)).await
    }

    async fn open(connector: &Connector) -> Client {
        let addr = match connector {
            Connector::Plain(addr) | Connector::Tls(addr, _) => *addr,
        };
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let stream: Box<dyn Stream> = match connector {
            Connector::Plain(_) => Box::new(tcp),
            Connector::Tls(_, tls) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                Box::new(tls.connect(name, tcp).await.expect("TLS handshake"))
            }
        };
        Client {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends `request` and returns the status of the answer.
    async fn call(&mut self, request: &[u8]) -> u16 {
        self.stream.write_all(request).await.expect("write");
        self.buffer.clear();
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).expect("ASCII head");
        let status = head[9..12].parse().expect("status");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            // A 204 (a sign-in) has no body and no length.
            .unwrap_or(0);
        while self.buffer.len() < head_end + length {
            self.fill().await;
        }
        status
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed the connection");
        self.buffer.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn post_request(text: &str) -> Vec<u8> {
    let body = format!("{{\"content\":\"{text}\",\"author\":\"bench\"}}");
    format!(
        "POST /api/messages HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn get_request(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: b\r\n\r\n").into_bytes()
}

struct Load {
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `connections` clients sending `request` back to back for `RUN_FOR`.
async fn load(addr: SocketAddr, connections: usize, request: Vec<u8>, expect: u16) -> Load {
    load_on(&Connector::Plain(addr), connections, request, expect, false).await
}

/// `load` over plain HTTP or TLS; with `fresh`, every request opens (and, over TLS, shakes
/// hands on) a connection of its own, as a crowd of new visitors would.
async fn load_on(
    connector: &Connector,
    connections: usize,
    request: Vec<u8>,
    expect: u16,
    fresh: bool,
) -> Load {
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + RUN_FOR;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let request = Arc::clone(&request);
            let connector = connector.clone();
            tokio::spawn(async move {
                let mut client = Client::open(&connector).await;
                let mut took = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    if fresh && !took.is_empty() {
                        client = Client::open(&connector).await;
                    }
                    assert_eq!(client.call(&request).await, expect);
                    took.push(sent.elapsed());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    Load {
        requests: all.len(),
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    }
}

/// The `q` quantile of sorted samples, by the nearest-rank rule.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "q is in 0..=1, so the rank is a small non-negative index"
)]
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn latest_id(response: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(response);
    let start = text.find("\"id\":").expect("id in response") + 5;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("numeric id")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn row(what: &str, value: &str, detail: &str) {
    println!("| {what:<42} | {value:>14} | {detail:<38} |");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = Server::start();
    let idle_rss = server.rss_mb();
    let size = std::fs::metadata(BIN).map_or(0, |m| m.len());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("\nBookChat load benchmark: {cores} cores, client and server on this machine");
    println!(
        "| {:<42} | {:>14} | {:<38} |",
        "measure", "result", "detail"
    );
    println!("|{:-<44}|{:-<16}|{:-<40}|", "", "", "");
    row(
        "binary size",
        &format!("{:.2} MB", size as f64 / 1e6),
        "release, stripped",
    );
    row(
        "cold start to first 200",
        &ms(server.started_in),
        "spawn → GET /api/health",
    );
    row("idle RSS", &format!("{idle_rss:.1} MB"), "after start");
    runtime.block_on(async {
        for connections in [1, 8, 64] {
            let r = load(server.addr, connections, post_request("bench message"), 201).await;
            row(
                &format!("POST /api/messages, {connections} conn"),
                &format!("{:.0}/s", r.per_second),
                &format!("p50 {} p99 {} ({} req)", ms(r.p50), ms(r.p99), r.requests),
            );
        }
    });
    // Beside the SQLite rows: the same posts on one node over PostgreSQL.
    let database = runtime.block_on(cluster::Database::create());
    cluster::post_rows(&runtime, database.as_ref());
    runtime.block_on(async {
        let r = load(server.addr, 64, get_request("/api/messages"), 200).await;
        row(
            "GET newest 50, 64 conn",
            &format!("{:.0}/s", r.per_second),
            &format!("p50 {} p99 {}", ms(r.p50), ms(r.p99)),
        );
        let mut client = Client::connect(server.addr).await;
        client.call(&post_request("latest")).await;
        let last = latest_id(&client.buffer);
        let poll = get_request(&format!("/api/messages?after={last}"));
        let r = load(server.addr, 64, poll, 200).await;
        row(
            "GET after=<newest> (nothing new), 64 conn",
            &format!("{:.0}/s", r.per_second),
            &format!("p50 {} p99 {}", ms(r.p50), ms(r.p99)),
        );
        for streams in [100, 1000] {
            let (p50, p99, rss) = events::fan_out(&server, streams, 20).await;
            row(
                &format!("SSE delivery, {streams} streams"),
                &format!("p99 {}", ms(p99)),
                &format!("p50 {} (POST sent → event read)", ms(p50)),
            );
            row(
                &format!("RSS with {streams} streams"),
                &format!("{rss:.1} MB"),
                "",
            );
        }
    });
    drop(server);
    cluster::delivery_rows(&runtime, database.as_ref());
    if let Ok(database) = database {
        runtime.block_on(database.remove());
    }
    members::rows(&runtime);
    https::rows(&runtime);
    metrics::rows(&runtime);
}
