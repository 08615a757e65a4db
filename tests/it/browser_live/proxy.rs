//! A TCP proxy in front of the test server that can play a bad network: it can silently
//! kill the connections carrying event streams, break chosen requests without closing
//! anything (answers lost, or nothing passing either way), and report what it swallowed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What a proxied connection still carries.
const OPEN: u8 = 0;
/// The requests reach the server; its answers are lost on the way back.
pub(super) const DEAF: u8 = 1;
/// Nothing passes either way, and nothing closes: a connection that died silently.
pub(super) const DEAD: u8 = 2;

/// The start of every event-stream request.
const STREAM_REQUEST: &str = "GET /api/events";

pub(super) struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    upstream: Option<SocketAddr>,
    /// Each connection so far; a connection that broke never recovers.
    links: Mutex<Vec<Arc<Link>>>,
    /// Requests that break their connection, by how their request line starts.
    rules: Mutex<Vec<Rule>>,
    /// Request bytes that went nowhere, to tell which requests are hanging.
    swallowed: Mutex<Vec<u8>>,
    /// The head of every POST that came through, passed on or not.
    posts: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Link {
    flow: AtomicU8,
    /// Whether an event stream was asked for on it.
    streams: AtomicBool,
}

struct Rule {
    prefix: &'static str,
    flow: u8,
    /// Applies to the next matching request only.
    once: bool,
}

impl Proxy {
    pub(super) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream: Some(upstream),
            ..Shared::default()
        });
        let accepting = Arc::clone(&shared);
        // The links live in the accept task's set, so dropping the proxy ends them all.
        let task = tokio::spawn(async move {
            let mut links = JoinSet::new();
            loop {
                if let Ok((client, _)) = listener.accept().await {
                    links.spawn(link(client, Arc::clone(&accepting)));
                }
                while links.try_join_next().is_some() {}
            }
        });
        Proxy { addr, shared, task }
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Every connection carrying an event stream now stops carrying anything, unclosed.
    pub(super) fn kill_streams(&self) {
        for link in self.shared.links.lock().unwrap().iter() {
            if link.streams.load(Ordering::SeqCst) {
                link.flow.store(DEAD, Ordering::SeqCst);
            }
        }
    }

    /// From now on, every request whose line starts with `prefix` gives its connection `flow`.
    pub(super) fn break_requests(&self, prefix: &'static str, flow: u8) {
        let rule = Rule {
            prefix,
            flow,
            once: false,
        };
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// The same for the next such request only.
    pub(super) fn break_next(&self, prefix: &'static str, flow: u8) {
        let rule = Rule {
            prefix,
            flow,
            once: true,
        };
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// New requests pass again; the connections that broke stay broken, as after an outage.
    pub(super) fn mend(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    pub(super) fn swallowed(&self) -> String {
        String::from_utf8_lossy(&self.shared.swallowed.lock().unwrap()).into_owned()
    }

    /// The `Idempotency-Key` of each message posted through the proxy, in order.
    pub(super) fn posted_keys(&self) -> Vec<String> {
        let posts = self.shared.posts.lock().unwrap();
        posts
            .iter()
            .filter(|head| head.starts_with("POST /api/messages "))
            .map(|head| {
                head.lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("idempotency-key")
                            .then(|| value.trim().to_owned())
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    /// Applies the rules to a chunk that starts a request, and notes event streams.
    fn inspect(&self, link: &Link, chunk: &[u8]) {
        if chunk.starts_with(STREAM_REQUEST.as_bytes()) {
            link.streams.store(true, Ordering::SeqCst);
        }
        if chunk.starts_with(b"POST ") {
            let text = String::from_utf8_lossy(chunk);
            let head = text.split("\r\n\r\n").next().unwrap_or_default();
            self.posts.lock().unwrap().push(head.to_owned());
        }
        let mut rules = self.rules.lock().unwrap();
        if let Some(at) = rules
            .iter()
            .position(|rule| chunk.starts_with(rule.prefix.as_bytes()))
        {
            link.flow.fetch_max(rules[at].flow, Ordering::SeqCst);
            if rules[at].once {
                rules.remove(at);
            }
        }
    }
}

/// One proxied connection; when either side closes, both are closed (so a page that gives
/// up on a dead stream also frees the server's).
async fn link(client: TcpStream, shared: Arc<Shared>) {
    let Some(upstream) = shared.upstream else {
        return;
    };
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let link = Arc::new(Link::default());
    shared.links.lock().unwrap().push(Arc::clone(&link));
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    tokio::select! {
        () = pump(from_client, to_server, &link, Some(&shared)) => {}
        () = pump(from_server, to_client, &link, None) => {}
    }
}

/// Copies one direction while the link lets it through; `requests` is set for the
/// client-to-server direction, whose chunks are inspected and, when dropped, kept.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: &Link,
    requests: Option<&Shared>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            // The server's side closing (an idle keep-alive, say) must not reach a client
            // whose connection died: a dead connection tells it nothing, ever.
            Ok(0) | Err(_) if requests.is_none() && link.flow.load(Ordering::SeqCst) != OPEN => {
                std::future::pending().await
            }
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(shared) = requests {
            shared.inspect(link, &buf[..n]);
        }
        let flow = link.flow.load(Ordering::SeqCst);
        let passes = flow == OPEN || (flow == DEAF && requests.is_some());
        if passes {
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        } else if let Some(shared) = requests {
            shared
                .swallowed
                .lock()
                .unwrap()
                .extend_from_slice(&buf[..n]);
        }
    }
}
