//! The listener: accepts connections, serves each with hyper, and shuts down gracefully.
//! What runs behind it (the database, sync, backups, the data directory's lock) is started
//! and stopped by `app::App`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::HeaderMap;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::hangup::Hangup;
use super::{client_ip, headers, service, OverTls, Request};
use crate::client_counts::ClientSlot;
use crate::error::Error;
use crate::state::AppState;
use crate::tls::{Accepted, Tls};

/// How long open connections get to finish their requests after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// hyper's own read buffer cap: requests whose head does not fit are refused with a bare
/// 431. Our JSON 431 (`ConnectionLimits::max_header_bytes`) applies well below it.
const HYPER_MAX_BUF: usize = 64 * 1024;

pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    /// `Some` when the port speaks HTTPS.
    tls: Option<Arc<Tls>>,
}

/// Binds the port, with a hint for the usual reasons it is refused.
pub async fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| bind_error(addr, err))
}

impl Server {
    pub fn new(listener: TcpListener, state: Arc<AppState>, tls: Option<Arc<Tls>>) -> Server {
        Server {
            listener,
            state,
            tls,
        }
    }

    /// The handles requests share: for an embedding program or a test to read the
    /// workers' status while `run` serves.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    pub fn speaks_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.bind)
    }

    /// Serves until `shutdown` resolves, then stops accepting and drains open connections
    /// (up to `DRAIN_DEADLINE`). The caller stops what runs behind it afterwards.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(
            self.state.config.connections.max_connections,
        ));
        let refusals = Refusals::new(self.state.config.is_production());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.admit(stream, peer, &slots, &graceful, &refusals),
                    // Out of file descriptors and the like: wait briefly rather than spin.
                    Err(err) => {
                        log::warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        log::info!("shutting down: draining open connections");
        // Event streams never end by themselves; end them so their connections drain.
        self.state.store.live().close();
        if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown())
            .await
            .is_err()
        {
            log::warn!("some connections were still open after {DRAIN_DEADLINE:?}; closing them");
        }
    }
}

impl Server {
    /// Serves a new connection, or turns it away: `429` when its peer holds its share of
    /// connections already, `503` when every slot is taken. A trusted proxy has no share
    /// of its own: it speaks for many clients.
    fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        slots: &Arc<Semaphore>,
        graceful: &GracefulShutdown,
        refusals: &Refusals,
    ) {
        let config = &self.state.config;
        let client = if client_ip::is_trusted(peer.ip(), &config.trusted_proxies) {
            None
        } else {
            let key = client_ip::limit_key(peer.ip());
            let max = config.connections.max_connections_per_client;
            let Some(client) = self.state.client_connections.acquire(key, max) else {
                self.state.metrics.connection_shed();
                log::warn!("{peer} holds too many connections; turning it away");
                shed(stream, refusals.crowded.clone());
                return;
            };
            Some(client)
        };
        let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
            self.state.metrics.connection_shed();
            log::warn!("too many open connections; turning away {peer}");
            shed(stream, refusals.overloaded.clone());
            return;
        };
        self.serve(stream, peer, (slot, client), graceful, refusals);
    }

    /// Serves one connection on its own task (shaking hands first when the port speaks
    /// TLS); `slots` are held until it closes.
    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        slots: (OwnedSemaphorePermit, Option<ClientSlot>),
        graceful: &GracefulShutdown,
        refusals: &Refusals,
    ) {
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&self.state);
        let tls = self.tls.clone();
        // Taken now: a shutdown waits for a connection still shaking hands too.
        let watcher = graceful.watcher();
        let https_only = refusals.https_only.clone();
        state.metrics.connection_opened();
        tokio::spawn(async move {
            let deadline = state.config.connections.header_timeout;
            match tls {
                None => serve_http(stream, peer, &state, watcher, false).await,
                Some(tls) => match tls.accept(stream, peer, deadline).await {
                    Accepted::Tls(tls) => serve_http(*tls, peer, &state, watcher, true).await,
                    Accepted::Plain(plain) => serve_http(plain, peer, &state, watcher, false).await,
                    Accepted::WrongProtocol(stream) => answer(stream, https_only).await,
                    Accepted::Closed => {}
                },
            }
            state.metrics.connection_closed();
            drop(slots);
        });
    }
}

/// Serves HTTP/1.1 on one connection, plain or TLS, until it ends or a stream hangs up.
async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    state: &Arc<AppState>,
    watcher: Watcher,
    over_tls: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hangup = Hangup::default();
    let for_requests = hangup.clone();
    let for_service = Arc::clone(state);
    let service = service_fn(move |mut req: Request| {
        let state = Arc::clone(&for_service);
        req.extensions_mut().insert(for_requests.clone());
        if over_tls {
            req.extensions_mut().insert(OverTls);
        }
        async move { Ok::<_, Infallible>(service::handle(&state, req, peer).await) }
    });
    let limits = state.config.connections;
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // Past our own JSON 431 at `max_header_bytes`, hyper refuses bare at this size.
        .max_buf_size(HYPER_MAX_BUF)
        .serve_connection(TokioIo::new(io), service);
    tokio::select! {
        ended = watcher.watch(connection) => if let Err(err) = ended {
            log::debug!("connection from {peer} ended: {err}");
        },
        // Dropping the connection closes the socket, whatever hyper still had to write
        // to a reader that stopped reading.
        () = hangup.requested() => log::info!("hung up on {peer}: it stopped reading"),
    }
}

/// The answers for connections turned away, built once.
struct Refusals {
    /// Every slot is taken.
    overloaded: Bytes,
    /// The peer holds its share already.
    crowded: Bytes,
    /// Plain HTTP sent to the port while it speaks HTTPS.
    https_only: Bytes,
}

impl Refusals {
    fn new(production: bool) -> Refusals {
        Refusals {
            overloaded: refusal_answer(
                "503 Service Unavailable",
                "the server is busy; try again shortly",
                production,
                true,
            ),
            crowded: refusal_answer(
                "429 Too Many Requests",
                "too many open connections from this address",
                production,
                true,
            ),
            https_only: refusal_answer(
                "400 Bad Request",
                "this port speaks HTTPS: use an https:// address",
                production,
                false,
            ),
        }
    }
}

/// Answers at once and closes, rather than queue without bound.
fn shed(stream: TcpStream, refusal: Bytes) {
    tokio::spawn(answer(stream, refusal));
}

/// Writes a whole prepared answer and closes, giving a slow reader one second.
async fn answer(mut stream: TcpStream, answer: Bytes) {
    let write = async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// The full HTTP/1.1 answer sent when shedding, with the error shape and the headers
/// every response carries.
fn refusal_answer(status: &str, error: &str, production: bool, retry: bool) -> Bytes {
    let body = serde_json::json!({ "error": error }).to_string();
    let body = body.as_bytes();
    let mut headers = HeaderMap::new();
    headers::secure(&mut headers, production);
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{}connection: close\r\n",
        body.len(),
        if retry { "retry-after: 1\r\n" } else { "" }
    )
    .into_bytes();
    for (name, value) in &headers {
        answer.extend_from_slice(name.as_str().as_bytes());
        answer.extend_from_slice(b": ");
        answer.extend_from_slice(value.as_bytes());
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(body);
    Bytes::from(answer)
}

fn bind_error(addr: SocketAddr, err: std::io::Error) -> Error {
    let hint = match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (is another bookchat running? pick another with --port or PORT)"
        }
        std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
        _ => "",
    };
    Error::io(format!("cannot listen on {addr}{hint}"), err)
}
