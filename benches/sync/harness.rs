//! The bench's moving parts: the in-process server, a keep-alive client, the watch on
//! `synced` events, and the posting loops.

use super::support::{args, github_args};
use super::{
    oneshot, App, AppState, Arc, BodyExt, Bytes, CommitInfo, Config, Counts, Duration, Event,
    FakeGitHub, Full, HashMap, Instant, JoinHandle, Mutex, Path, PoisonError, Recorded, RecvError,
    SendRequest, SocketAddr, SyncTiming, TcpStream, TokioIo, WriteLimits, CONTENT_TYPE, HOST,
};

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<AppState>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<Result<(), bookchat::error::Error>>,
    pub(crate) _dir: tempfile::TempDir,
}

/// The server on a free port with its own data directory, its POST and read rate limits
/// off (the load comes from one address), syncing to `fake` with this timing and budget.
pub(crate) async fn start_server(
    fake: &FakeGitHub,
    timing: SyncTiming,
    limits: WriteLimits,
) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    // As the tests run it: port 0, rate limits and automatic backups off.
    let mut args = args(dir.path());
    args.github = github_args(fake);
    let mut config = Config::from_args(&args).expect("valid config");
    let github = config.github.as_mut().expect("sync is on");
    github.timing = timing;
    github.limits = limits;
    let server = App::start(config).await.expect("server starts");
    let addr = server.local_addr();
    let state = server.state();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        state,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

impl Running {
    pub(crate) async fn counts(&self) -> Counts {
        self.state
            .store
            .counts()
            .await
            .expect("counts from the database")
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => eprintln!("sync bench: the server stopped with an error: {err}"),
            Ok(Err(err)) => eprintln!("sync bench: the server task failed: {err}"),
            Err(_) => eprintln!("sync bench: the server did not stop within 30 s"),
        }
    }
}

/// One keep-alive HTTP/1.1 connection (hyper's client).
pub(crate) struct Client {
    pub(crate) sender: SendRequest<Full<Bytes>>,
    pub(crate) host: String,
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Client {
            sender,
            host: addr.to_string(),
        }
    }

    /// POSTs a message: its id once answered 201, else the status.
    pub(crate) async fn post(&mut self, content: &str) -> Result<i64, u16> {
        let body = serde_json::json!({ "content": content, "author": "bench" }).to_string();
        let request = hyper::Request::post("/api/messages")
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("body");
        if status != 201 {
            return Err(status);
        }
        let stored: serde_json::Value = serde_json::from_slice(&body.to_bytes()).expect("JSON");
        Ok(stored["id"].as_i64().expect("an id"))
    }
}

/// When each message was announced synced: the broadcast behind `/api/events`, read
/// in-process, so the time is the moment the worker marked the message.
#[derive(Default)]
pub(crate) struct SyncedAt {
    pub(crate) at: HashMap<i64, Instant>,
    /// Events the watcher fell too far behind to see.
    pub(crate) lagged: u64,
}

pub(crate) type Watch = Arc<Mutex<SyncedAt>>;

pub(crate) fn lock(watch: &Watch) -> std::sync::MutexGuard<'_, SyncedAt> {
    watch.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn watch_synced(state: &AppState) -> (Watch, JoinHandle<()>) {
    let mut events = state.store.live().subscribe();
    let watch = Watch::default();
    let log = Arc::clone(&watch);
    let task = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::Synced(message)) => {
                    let now = Instant::now();
                    lock(&log).at.entry(message.id).or_insert(now);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => lock(&log).lagged += missed,
                Err(RecvError::Closed) => break,
            }
        }
    });
    (watch, task)
}

/// Waits until the database holds `total` messages, none pending, and the watch has seen
/// every id in `ids` (or has lagged); `None` after `timeout`.
pub(crate) async fn wait_synced(
    server: &Running,
    watch: &Watch,
    ids: &[i64],
    total: i64,
    timeout: Duration,
) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let counts = server.counts().await;
        if counts.total >= total && counts.pending == 0 {
            let done = Instant::now();
            // The row is marked before the event is sent: give the watch a moment.
            let grace = done + Duration::from_secs(2);
            while Instant::now() < grace {
                let all_seen = {
                    let seen = lock(watch);
                    seen.lagged > 0 || ids.iter().all(|id| seen.at.contains_key(id))
                };
                if all_seen {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            return Some(done);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each message's lag, from its 201 to its `synced` event, sorted; and how many were not
/// seen (only when the watch lagged).
pub(crate) fn lags(posted: &[(i64, Instant)], watch: &Watch) -> (Vec<Duration>, usize) {
    let seen = lock(watch);
    let mut lags: Vec<Duration> = posted
        .iter()
        .filter_map(|(id, answered)| Some(seen.at.get(id)?.saturating_duration_since(*answered)))
        .collect();
    lags.sort_unstable();
    let unseen = posted.len() - lags.len();
    (lags, unseen)
}

// ---------------------------------------------------------------------------------------
// Load.

/// Posts `rate` messages a second for `length` on one keep-alive connection; returns each
/// id with the moment its 201 arrived, and the statuses of the POSTs that were refused.
pub(crate) async fn post_steadily(
    addr: SocketAddr,
    rate: u32,
    length: Duration,
    label: &str,
) -> (Vec<(i64, Instant)>, Vec<u16>) {
    let mut client = Client::connect(addr).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let total = u64::from(rate) * length.as_secs();
    let started = Instant::now();
    let mut posted = Vec::new();
    let mut refused = Vec::new();
    for n in 0..total {
        tick.tick().await;
        match client.post(&format!("{label} message {n}")).await {
            Ok(id) => posted.push((id, Instant::now())),
            Err(status) => refused.push(status),
        }
        if n > 0 && n % (u64::from(rate) * 30) == 0 {
            eprintln!(
                "sync bench: {label}: {} s of {} s, {} posted",
                started.elapsed().as_secs(),
                length.as_secs(),
                posted.len()
            );
        }
    }
    (posted, refused)
}

/// Posts `count` messages as fast as `connections` keep-alive connections allow.
pub(crate) async fn post_burst(
    addr: SocketAddr,
    count: usize,
    connections: usize,
) -> (Vec<i64>, Vec<u16>) {
    let tasks: Vec<_> = (0..connections)
        .map(|k| {
            tokio::spawn(async move {
                let mut client = Client::connect(addr).await;
                let mut ids = Vec::new();
                let mut refused = Vec::new();
                for n in (k..count).step_by(connections) {
                    match client.post(&format!("burst message {n}")).await {
                        Ok(id) => ids.push(id),
                        Err(status) => refused.push(status),
                    }
                }
                (ids, refused)
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        let (more, no) = task.await.expect("client task");
        ids.extend(more);
        refused.extend(no);
    }
    (ids, refused)
}

// ---------------------------------------------------------------------------------------
// What the fake saw.

pub(crate) struct Seen {
    pub(crate) requests: Vec<Recorded>,
    /// Commits the run added to the branch, newest first.
    pub(crate) commits: Vec<CommitInfo>,
}

impl Seen {
    pub(crate) fn of(fake: &FakeGitHub, commits_before: usize) -> Seen {
        let mut commits = fake.commits();
        commits.truncate(commits.len().saturating_sub(commits_before));
        Seen {
            requests: fake.requests(),
            commits,
        }
    }

    pub(crate) fn writes(&self) -> usize {
        self.requests.iter().filter(|r| r.write).count()
    }

    pub(crate) fn writes_since(&self, since: Instant) -> usize {
        let recent = self.requests.iter().filter(|r| r.write && r.at >= since);
        recent.count()
    }

    pub(crate) fn with_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }

    /// Answers that were neither a success, a 304 nor a 404 (a folder not there yet).
    pub(crate) fn other_errors(&self) -> usize {
        let error = |r: &&Recorded| !matches!(r.status, 200..=299 | 304 | 404 | 403);
        self.requests.iter().filter(error).count()
    }

    /// Message files each commit added: (average, most).
    pub(crate) fn messages_per_commit(&self) -> (f64, usize) {
        let is_message = |path: &&String| Path::new(path).extension().is_some_and(|e| e == "json");
        let files = |c: &CommitInfo| c.added.iter().filter(is_message).count();
        let counts: Vec<usize> = self.commits.iter().map(files).collect();
        let most = counts.iter().copied().max().unwrap_or(0);
        let average = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
        (average, most)
    }
}
