//! The fake's HTTP side: a thread and runtime of its own, a task per connection, and the
//! pipeline each request goes through (outage, fault, auth, rate limits, route, conditional
//! answer, latency, log).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, IF_NONE_MATCH};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::git::{unix_now, Repo};
use super::limits::{is_write, primary_limit, rate_headers, secondary_limit, Rate, Waits, Windows};
use super::routes::{error, route, Answer, Call, Site};
use super::{archive, conditional, Fault, Recorded};

/// A fault waiting for the first request whose method and path match ("" matches any).
pub struct Queued {
    pub method: String,
    pub path_contains: String,
    pub fault: Fault,
}

pub struct State {
    pub repo: Repo,
    pub token: String,
    pub faults: VecDeque<Queued>,
    pub latency: Duration,
    pub down: bool,
    /// Keyed by a sequence number so a request can fill in its status when it ends.
    pub log: Vec<(u64, Recorded)>,
    pub next_id: u64,
    pub rate: Rate,
    pub windows: Windows,
    pub waits: Waits,
    pub site: Site,
}

pub type Shared = Arc<Mutex<State>>;

pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A handler that panicked poisoned the lock; keep serving rather than fail every test after.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stops the server when the last handle goes away.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs on its own thread and runtime so it keeps answering whatever the test does with its
/// own runtime, including blocking it while the (blocking) sync client waits for an answer.
pub async fn spawn(shared: Shared) -> (SocketAddr, Running) {
    let (ready, address) = oneshot::channel();
    let server = shared.clone();
    let (stop, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("fake-github".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake GitHub runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let _ = ready.send(listener.local_addr().expect("local address"));
                accept(listener, server, stopped).await;
            });
        })
        .expect("fake GitHub thread");
    let addr = address.await.expect("fake GitHub started");
    lock(&shared).site.origin = format!("http://{addr}");
    (addr, Running { stop: Some(stop) })
}

async fn accept(listener: TcpListener, shared: Shared, mut stopped: oneshot::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => if let Ok((stream, _)) = accepted {
                stream
            } else {
                // Out of descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            },
        };
        tokio::spawn(serve_connection(stream, shared.clone()));
    }
}

async fn serve_connection(stream: TcpStream, shared: Shared) {
    let service = service_fn(move |req| handle(shared.clone(), req));
    // Errors are the connections dropped on purpose and clients that hung up: nothing to do.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Returned by the service to make hyper close the connection without writing an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

/// What the pipeline needs of one request, read in full before anything is decided.
struct Asked {
    method: String,
    /// Path and query, as sent.
    target: String,
    auth: Option<String>,
    if_none_match: Option<String>,
    body: Bytes,
}

impl Asked {
    async fn read(req: Request<Incoming>) -> Result<Asked, Dropped> {
        let header = |name| {
            let value = req.headers().get(name)?.to_str().ok()?;
            Some(value.to_owned())
        };
        let (auth, if_none_match) = (header(AUTHORIZATION), header(IF_NONE_MATCH));
        let method = req.method().as_str().to_owned();
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let target = target.to_owned();
        let body = req.into_body().collect().await.map_err(|_| Dropped)?;
        Ok(Asked {
            method,
            target,
            auth,
            if_none_match,
            body: body.to_bytes(),
        })
    }
}

struct Admitted {
    id: u64,
    request_id: String,
    fault: Option<Fault>,
    delay: Duration,
    down: bool,
    /// Set when the write windows refuse this request: the `Retry-After` to send.
    refused: Option<u64>,
}

async fn handle(shared: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let asked = Asked::read(req).await?;
    let admitted = admit(&shared, &asked);
    let answer = if admitted.down {
        Some(with_rate(&shared, error(503, "Service Unavailable")))
    } else {
        answer_for(&shared, &admitted, &asked)
    };
    // The change is already applied: a client that gives up during the wait leaves it done,
    // which is exactly a lost answer.
    if !admitted.delay.is_zero() {
        tokio::time::sleep(admitted.delay).await;
    }
    let answer = match (answer, &admitted.fault) {
        (Some(answer), fault) if !matches!(fault, Some(Fault::LoseAnswer)) => answer,
        _ => {
            finish(&shared, admitted.id, None);
            return Err(Dropped);
        }
    };
    finish(&shared, admitted.id, Some(&answer));
    Ok(response(answer, &admitted.request_id))
}

fn admit(shared: &Shared, asked: &Asked) -> Admitted {
    let mut state = lock(shared);
    let state = &mut *state;
    let (method, target) = (asked.method.as_str(), asked.target.as_str());
    let id = state.next_id;
    state.next_id += 1;
    let request_id = request_id(id);
    let at = Instant::now();
    let write = is_write(method);
    // Every write that arrives counts, whatever becomes of it: GitHub counts requests made.
    let refused = if write {
        state.windows.arrive(at)
    } else {
        None
    };
    let recorded = Recorded {
        method: method.to_owned(),
        path: target.to_owned(),
        at,
        status: 0,
        request_id: request_id.clone(),
        write,
        in_wait: state.waits.running(at),
    };
    state.log.push((id, recorded));
    let down = state.down;
    // During an outage the queued faults wait for the service to come back.
    let fault = if down {
        None
    } else {
        take_fault(&mut state.faults, method, target)
    };
    let extra = match fault {
        Some(Fault::Delay(extra)) => extra,
        _ => Duration::ZERO,
    };
    Admitted {
        id,
        request_id,
        fault,
        delay: state.latency + extra,
        down,
        refused,
    }
}

fn take_fault(faults: &mut VecDeque<Queued>, method: &str, target: &str) -> Option<Fault> {
    let position = faults.iter().position(|queued| {
        (queued.method.is_empty() || queued.method.eq_ignore_ascii_case(method))
            && target.contains(&queued.path_contains)
    })?;
    faults.remove(position).map(|queued| queued.fault)
}

/// Logs the status sent (0 for none) and any wait the answer tells the client about, from
/// the moment it leaves.
fn finish(shared: &Shared, id: u64, answer: Option<&Answer>) {
    let mut state = lock(shared);
    if let Some(answer) = answer {
        state.waits.told(&answer.headers, Instant::now());
    }
    if let Some((_, recorded)) = state.log.iter_mut().rev().find(|(seen, _)| *seen == id) {
        recorded.status = answer.map_or(0, |answer| answer.status);
    }
}

/// GitHub's ids look like `CAD2:3B6A:1A6B6C7:1B5E5A3:65F1C2D3`; uniqueness is what matters.
fn request_id(id: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let pid = std::process::id();
    format!(
        "{:04X}:{:04X}:{:07X}:{:07X}:{:08X}",
        pid & 0xFFFF,
        id & 0xFFFF,
        nanos & 0xFFF_FFFF,
        (nanos ^ pid).wrapping_mul(2_654_435_761) & 0xFFF_FFFF,
        unix_now() & 0xFFFF_FFFF
    )
}

fn with_rate(shared: &Shared, mut answer: Answer) -> Answer {
    answer.headers.extend(lock(shared).rate.headers());
    answer
}

fn fault_message(status: u16) -> &'static str {
    match status {
        401 => "Bad credentials",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Validation Failed",
        _ => "Server Error",
    }
}

/// `None` means: close the connection without an answer.
fn answer_for(shared: &Shared, admitted: &Admitted, asked: &Asked) -> Option<Answer> {
    let answer = match &admitted.fault {
        Some(Fault::Drop) => return None,
        Some(Fault::Status(status)) => with_rate(shared, error(*status, fault_message(*status))),
        Some(Fault::SecondaryLimit { retry_after }) => {
            with_rate(shared, secondary_limit(*retry_after))
        }
        Some(Fault::PrimaryLimit { reset_in }) => {
            let mut answer = primary_limit();
            answer.headers = rate_headers(0, unix_now() + reset_in);
            answer
        }
        Some(Fault::TooMany { retry_after }) => {
            let mut answer = with_rate(shared, error(429, "Too Many Requests"));
            answer
                .headers
                .push(("retry-after", retry_after.to_string()));
            answer
        }
        Some(Fault::ForeignCommitFirst {
            branch,
            path,
            content,
        }) => {
            super::foreign_commit(shared, branch, path, content);
            serve(shared, asked, admitted.refused)
        }
        Some(Fault::Delay(_) | Fault::LoseAnswer) | None => serve(shared, asked, admitted.refused),
    };
    Some(answer)
}

fn authorized(header: Option<&str>, token: &str) -> bool {
    let Some((scheme, given)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    (scheme == "bearer" || scheme == "token") && given.trim() == token
}

/// `refused`: the write windows turned this request away, with this `Retry-After`.
fn serve(shared: &Shared, asked: &Asked, refused: Option<u64>) -> Answer {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut state = lock(shared);
        let state = &mut *state;
        let method = asked.method.as_str();
        let if_none_match = asked.if_none_match.as_deref();
        if asked.target.starts_with(archive::CODELOAD) {
            // Codeload needs no token and spends no rate limit, as on GitHub.
            let mut answer = archive::codeload(&state.repo, &asked.target);
            conditional::tag(&mut answer, method, if_none_match);
            return answer;
        }
        let mut answer = if !authorized(asked.auth.as_deref(), &state.token) {
            error(401, "Bad credentials")
        } else if state.rate.exhausted() {
            primary_limit()
        } else if let Some(retry_after) = refused {
            secondary_limit(retry_after)
        } else {
            let call = Call::parse(method, &asked.target, &asked.body);
            let mut answer =
                route(&mut state.repo, &state.site, &call).unwrap_or_else(|failure| failure);
            // GitHub does not charge a conditional request it answers with 304.
            if !conditional::tag(&mut answer, method, if_none_match) {
                state.rate.spend();
            }
            answer
        };
        answer.headers.extend(state.rate.headers());
        answer
    }));
    // A bug in a handler becomes GitHub's 500 instead of taking the connection down with it.
    outcome.unwrap_or_else(|_| with_rate(shared, error(500, "Server Error")))
}

fn response(answer: Answer, request_id: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Bytes::from(answer.bytes());
    let mut builder = Response::builder()
        .status(status)
        .header("x-github-media-type", "github.v3; format=json")
        .header("x-github-request-id", request_id);
    let typed = answer
        .headers
        .iter()
        .any(|(name, _)| *name == "content-type");
    if !typed {
        builder = builder.header(CONTENT_TYPE, "application/json; charset=utf-8");
    }
    for (name, value) in answer.headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(body)).expect("a valid response")
}
