//! `cargo bench --bench sync`: runs the real server in-process against the in-process fake
//! GitHub of the integration tests (`tests/it/fake_github/`, which enforces GitHub's limits)
//! and prints a table per scenario: sustained load with GitHub's real limits and the
//! worker's real timing, the hour budget with shortened windows, a burst, and an import.
//!
//! Timings are reported, never asserted. The program exits non-zero when an invariant
//! breaks: a message never synced, a 403 from the limits, a request sent inside a wait the
//! fake announced, writes over GitHub's limits, or an import that does not bring back every
//! message.
//!
//! `cargo bench --bench sync -- <filter>...` runs only the scenarios whose key contains a
//! filter (`sustained`, `hour-budget`, `burst`, `import`). `BOOKCHAT_BENCH_SECONDS` sets
//! the length of the sustained run (180 s by default).
#![allow(
    clippy::cast_precision_loss,
    reason = "counts and durations become f64 only to print them"
)]

#[path = "../tests/it/fake_github/mod.rs"]
#[allow(
    dead_code,
    reason = "the fake's handle serves the whole test suite; the bench uses part of it"
)]
#[allow(
    unused_imports,
    reason = "under `cfg(test)` without a harness (`cargo clippy --all-targets`) the fake's \
              self-tests compile without their `#[test]` functions, so their imports go unused; \
              the suite itself still checks them"
)]
mod fake_github;

/// The fake's own self-tests (compiled only under `cfg(test)`, as `cargo clippy
/// --all-targets` checks benches) use the suite's client helpers.
#[cfg(test)]
#[path = "../tests/it/support.rs"]
#[allow(dead_code, reason = "only the fake's self-tests use it here")]
mod support;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bookchat::cli::{AutoBackupArgs, DataArgs, Environment, GithubArgs, LimitArgs, ServeArgs};
use bookchat::config::Config;
use bookchat::db::queries::{self, Counts};
use bookchat::http::Server;
use bookchat::live::Event;
use bookchat::secret::Secret;
use bookchat::state::AppState;
use bookchat::sync::{GithubConfig, SyncTiming, WriteLimits};
use fake_github::{CommitInfo, FakeGitHub, Recorded, WriteLimits as FakeLimits};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The sustained run's length unless `BOOKCHAT_BENCH_SECONDS` says otherwise.
const SUSTAINED_SECONDS: u64 = 180;
/// Messages a second in the sustained and hour-budget runs.
const RATE: u32 = 5;
/// The hour-budget run's length: two of its shortened hours.
const HOUR_BUDGET_RUN: Duration = Duration::from_secs(120);
const BURST: usize = 3000;
const BURST_CONNECTIONS: usize = 64;
const IMPORTED: i64 = 10_000;
const IMPORT_COMMIT_FILES: i64 = 200;
/// How long the last message posted may take to be synced before it counts as never.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------
// The server, a keep-alive client, and the watch on `synced` events.

struct Running {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), bookchat::error::Error>>,
    _dir: tempfile::TempDir,
}

fn github_args(fake: &FakeGitHub) -> GithubArgs {
    GithubArgs {
        github_token: Some(Secret::new(fake.token())),
        github_repo: Some(fake.repo()),
        github_branch: fake.branch(),
        github_api_url: fake.url(),
        github_path: "messages".into(),
    }
}

/// The server on a free port with its own data directory, its POST and read rate limits
/// off (the load comes from one address), syncing to `fake` with this timing and budget.
async fn start_server(fake: &FakeGitHub, timing: SyncTiming, limits: WriteLimits) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = ServeArgs {
        port: 0,
        host: "127.0.0.1".into(),
        data: DataArgs {
            data_dir: dir.path().to_owned(),
        },
        environment: Environment::Development,
        log_format: None,
        cors_origins: "*".into(),
        limits: LimitArgs {
            write_rate: "0".into(),
            read_rate: "0".into(),
            ..LimitArgs::default()
        },
        backups: AutoBackupArgs {
            backup_interval: 0,
            ..AutoBackupArgs::default()
        },
        github: github_args(fake),
    };
    let mut config = Config::from_args(&args).expect("valid config");
    let github = config.github.as_mut().expect("sync is on");
    github.timing = timing;
    github.limits = limits;
    let server = Server::bind(config).await.expect("server starts");
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
    async fn counts(&self) -> Counts {
        self.state
            .db
            .read(queries::counts)
            .await
            .expect("counts from the database")
    }

    async fn stop(mut self) {
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
struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
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
    async fn post(&mut self, content: &str) -> Result<i64, u16> {
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
struct SyncedAt {
    at: HashMap<i64, Instant>,
    /// Events the watcher fell too far behind to see.
    lagged: u64,
}

type Watch = Arc<Mutex<SyncedAt>>;

fn lock(watch: &Watch) -> std::sync::MutexGuard<'_, SyncedAt> {
    watch.lock().unwrap_or_else(PoisonError::into_inner)
}

fn watch_synced(state: &AppState) -> (Watch, JoinHandle<()>) {
    let mut events = state.db.live().subscribe();
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
async fn wait_synced(
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
fn lags(posted: &[(i64, Instant)], watch: &Watch) -> (Vec<Duration>, usize) {
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
async fn post_steadily(
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
async fn post_burst(addr: SocketAddr, count: usize, connections: usize) -> (Vec<i64>, Vec<u16>) {
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

struct Seen {
    requests: Vec<Recorded>,
    /// Commits the run added to the branch, newest first.
    commits: Vec<CommitInfo>,
}

impl Seen {
    fn of(fake: &FakeGitHub, commits_before: usize) -> Seen {
        let mut commits = fake.commits();
        commits.truncate(commits.len().saturating_sub(commits_before));
        Seen {
            requests: fake.requests(),
            commits,
        }
    }

    fn writes(&self) -> usize {
        self.requests.iter().filter(|r| r.write).count()
    }

    fn writes_since(&self, since: Instant) -> usize {
        let recent = self.requests.iter().filter(|r| r.write && r.at >= since);
        recent.count()
    }

    fn with_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }

    /// Answers that were neither a success, a 304 nor a 404 (a folder not there yet).
    fn other_errors(&self) -> usize {
        let error = |r: &&Recorded| !matches!(r.status, 200..=299 | 304 | 404 | 403);
        self.requests.iter().filter(error).count()
    }

    /// Message files each commit added: (average, most).
    fn messages_per_commit(&self) -> (f64, usize) {
        let is_message = |path: &&String| Path::new(path).extension().is_some_and(|e| e == "json");
        let files = |c: &CommitInfo| c.added.iter().filter(is_message).count();
        let counts: Vec<usize> = self.commits.iter().map(files).collect();
        let most = counts.iter().copied().max().unwrap_or(0);
        let average = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
        (average, most)
    }
}

/// The folder with the most entries (files and subfolders) on the branch, and that count.
fn widest_folder<'a>(paths: impl Iterator<Item = &'a String>) -> (String, usize) {
    let mut entries: HashMap<String, BTreeSet<&'a str>> = HashMap::new();
    for path in paths {
        let parts: Vec<&str> = path.split('/').collect();
        for (depth, name) in parts.iter().enumerate() {
            let folder = parts[..depth].join("/");
            entries.entry(folder).or_default().insert(name);
        }
    }
    let (folder, names) = entries
        .into_iter()
        .max_by_key(|(_, names)| names.len())
        .unwrap_or_default();
    (format!("{folder}/"), names.len())
}

// ---------------------------------------------------------------------------------------
// The report.

/// The breaches of an invariant, across scenarios.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, scenario: &str, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            eprintln!("sync bench: INVARIANT BROKEN in {scenario}: {what}");
            self.failures.push(format!("{scenario}: {what}"));
        }
    }

    /// The invariants every sync scenario shares.
    fn github(&mut self, scenario: &str, seen: &Seen, limits: &FakeLimits, fake: &FakeGitHub) {
        let forbidden = seen.with_status(403);
        self.check(
            scenario,
            forbidden == 0,
            format!("{forbidden} 403 answer(s)"),
        );
        let in_wait = fake.requests_in_wait().len();
        self.check(
            scenario,
            in_wait == 0,
            format!("{in_wait} request(s) sent inside an announced wait"),
        );
        let minute = fake.max_writes_in(limits.minute);
        self.check(
            scenario,
            minute <= limits.per_minute,
            format!(
                "{minute} writes in one minute window, over {}",
                limits.per_minute
            ),
        );
        let hour = fake.max_writes_in(limits.hour);
        self.check(
            scenario,
            hour <= limits.per_hour,
            format!("{hour} writes in one hour window, over {}", limits.per_hour),
        );
    }
}

struct Section {
    title: String,
    command: String,
    rows: Vec<(String, String, String)>,
}

impl Section {
    fn new(title: impl Into<String>, command: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            command: command.into(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, what: &str, value: impl Into<String>, detail: impl Into<String>) {
        self.rows
            .push((what.to_owned(), value.into(), detail.into()));
    }

    fn print(&self) {
        println!("\n### {}\n", self.title);
        println!("reproduce: `{}`\n", self.command);
        println!("| {:<44} | {:>22} | detail", "measure", "result");
        println!("|{:-<46}|{:-<24}|{:-<60}", "", "", "");
        for (what, value, detail) in &self.rows {
            println!("| {what:<44} | {value:>22} | {detail}");
        }
    }
}

/// The `q` quantile of sorted samples, by the nearest-rank rule.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "q is in 0..=1, so the rank is a small non-negative index"
)]
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn lag_row(section: &mut Section, lags: &[Duration], unseen: usize) {
    let unseen = match unseen {
        0 => String::new(),
        n => format!("; {n} synced but their event not seen"),
    };
    section.row(
        "sync lag per message (201 → synced)",
        format!("p99 {}", secs(percentile(lags, 0.99))),
        format!(
            "p50 {}, max {}, over {} messages{unseen}",
            secs(percentile(lags, 0.5)),
            secs(lags.last().copied().unwrap_or_default()),
            lags.len()
        ),
    );
}

fn command(filter: &str, env: &str) -> String {
    format!("{env}cargo bench --bench sync -- {filter}")
}

// ---------------------------------------------------------------------------------------
// Scenarios.

/// A steady `RATE` messages a second against `fake`: the posts, the drain and the figures
/// the two steady scenarios share. Returns what the fake saw, the lags and when posting ended.
struct Steady {
    posted: Vec<(i64, Instant)>,
    length: Duration,
    drain: Option<Duration>,
    lags: Vec<Duration>,
    unseen: usize,
    seen: Seen,
    ended: Instant,
    budget: bookchat::sync::BudgetStatus,
}

async fn run_steady(
    fake: &FakeGitHub,
    limits: WriteLimits,
    length: Duration,
    label: &str,
    checks: &mut Checks,
) -> Steady {
    let commits_before = fake.commits().len();
    let server = start_server(fake, SyncTiming::default(), limits).await;
    let (watch, watcher) = watch_synced(&server.state);
    let started = Instant::now();
    let (posted, refused) = post_steadily(server.addr, RATE, length, label).await;
    let ended = Instant::now();
    let length = ended - started;
    checks.check(
        label,
        refused.is_empty(),
        format!("{} POST(s) refused: {refused:?}", refused.len()),
    );
    let ids: Vec<i64> = posted.iter().map(|(id, _)| *id).collect();
    let total = i64::try_from(posted.len()).expect("a count");
    let synced = wait_synced(&server, &watch, &ids, total, DRAIN_TIMEOUT).await;
    let counts = server.counts().await;
    checks.check(
        label,
        synced.is_some(),
        format!(
            "{} message(s) never synced ({} s after the last POST)",
            counts.pending,
            DRAIN_TIMEOUT.as_secs()
        ),
    );
    let (lags, unseen) = lags(&posted, &watch);
    let budget = server.state.sync.status().budget;
    server.stop().await;
    watcher.abort();
    Steady {
        drain: synced.map(|at| at.saturating_duration_since(ended)),
        seen: Seen::of(fake, commits_before),
        posted,
        length,
        lags,
        unseen,
        ended,
        budget,
    }
}

fn posted_row(section: &mut Section, run: &Steady) {
    section.row(
        "messages posted (all 201)",
        run.posted.len().to_string(),
        format!(
            "in {} ({:.2}/s), one keep-alive connection",
            secs(run.length),
            run.posted.len() as f64 / run.length.as_secs_f64()
        ),
    );
}

fn commits_rows(section: &mut Section, seen: &Seen) {
    let (average, most) = seen.messages_per_commit();
    section.row(
        "commits",
        seen.commits.len().to_string(),
        "on the branch, each a tree + commit + ref update",
    );
    section.row(
        "messages per commit",
        format!("{average:.1} avg"),
        format!("max {most}"),
    );
}

fn github_rows(section: &mut Section, seen: &Seen, fake: &FakeGitHub) {
    section.row(
        "GitHub requests",
        seen.requests.len().to_string(),
        format!(
            "{} writes, {} answered 304 (free)",
            seen.writes(),
            seen.with_status(304)
        ),
    );
    section.row(
        "requests inside an announced wait",
        fake.requests_in_wait().len().to_string(),
        "must be 0",
    );
    section.row(
        "403s received",
        seen.with_status(403).to_string(),
        format!(
            "must be 0; other errors (not 2xx/304/404): {}",
            seen.other_errors()
        ),
    );
}

fn drain_row(section: &mut Section, drain: Option<Duration>) {
    section.row(
        "last POST → all synced",
        drain.map_or_else(|| "NEVER".to_owned(), secs),
        format!("drain; a message unsynced after {DRAIN_TIMEOUT:?} fails the run"),
    );
}

/// 1. `RATE` messages a second with GitHub's real limits and the worker's real defaults.
async fn sustained(checks: &mut Checks) -> Section {
    let (seconds, env) = match std::env::var("BOOKCHAT_BENCH_SECONDS") {
        Ok(value) => {
            let seconds = value.trim().parse::<u64>().ok().filter(|s| *s > 0);
            let seconds =
                seconds.expect("BOOKCHAT_BENCH_SECONDS must be a whole number of seconds");
            (seconds, format!("BOOKCHAT_BENCH_SECONDS={seconds} "))
        }
        Err(_) => (SUSTAINED_SECONDS, String::new()),
    };
    let fake = FakeGitHub::start_default().await;
    let github = FakeLimits::default();
    let limits = WriteLimits::default();
    let length = Duration::from_secs(seconds);
    let run = run_steady(&fake, limits, length, "sustained", checks).await;
    checks.github("sustained", &run.seen, &github, &fake);
    let mut section = Section::new(
        format!(
            "1. Sustained {RATE} messages/s for {seconds} s: GitHub's real limits, \
             SyncTiming::default(), WriteLimits::default()"
        ),
        command("sustained", &env),
    );
    posted_row(&mut section, &run);
    section.row(
        "writes in any rolling 60 s (max)",
        fake.max_writes_in(MINUTE).to_string(),
        format!(
            "GitHub's limit {}, the worker's cap {}",
            github.per_minute,
            limits.minute_cap()
        ),
    );
    let writes = run.seen.writes();
    section.row(
        "writes in the run",
        writes.to_string(),
        format!("in {}", secs(run.length)),
    );
    section.row(
        "writes/hour, extrapolated linearly",
        format!("{:.0}/h", writes as f64 * 3600.0 / run.length.as_secs_f64()),
        format!(
            "naive; not reachable: the worker's hour cap is {} (see 1b)",
            limits.hour_cap()
        ),
    );
    let last_minute = run
        .seen
        .writes_since(run.ended.checked_sub(MINUTE).unwrap_or(run.ended));
    section.row(
        "writes in the last 60 s of posting",
        last_minute.to_string(),
        format!("×60 = {}/h at the pace reached", last_minute * 60),
    );
    section.row(
        "writes in any rolling hour (max)",
        fake.max_writes_in(HOUR).to_string(),
        format!(
            "GitHub's limit {}; the worker's budget at the end: {}/{} used",
            github.per_hour, run.budget.used_hour, run.budget.limit_hour
        ),
    );
    commits_rows(&mut section, &run.seen);
    github_rows(&mut section, &run.seen, &fake);
    lag_row(&mut section, &run.lags, run.unseen);
    drain_row(&mut section, run.drain);
    section
}

/// 1b. The hour budget with its windows shortened (minute 6 s, hour 60 s) on both sides.
async fn hour_budget(checks: &mut Checks) -> Section {
    let fake = FakeGitHub::start_default().await;
    let github = FakeLimits {
        per_minute: 80,
        minute: Duration::from_secs(6),
        per_hour: 500,
        hour: Duration::from_secs(60),
    };
    fake.set_write_limits(github);
    let limits = WriteLimits {
        per_minute: 80,
        minute: github.minute,
        per_hour: 500,
        hour: github.hour,
        min_gap: Duration::from_millis(100),
    };
    let run = run_steady(&fake, limits, HOUR_BUDGET_RUN, "hour-budget", checks).await;
    checks.github("hour-budget", &run.seen, &github, &fake);
    let mut section = Section::new(
        format!(
            "1b. Hour budget: {RATE} messages/s for {} s with shortened windows \
             (80 per 6 s, 500 per 60 s \"hour\", 100 ms gap), same on the fake",
            HOUR_BUDGET_RUN.as_secs()
        ),
        command("hour-budget", ""),
    );
    posted_row(&mut section, &run);
    section.row(
        "writes in any 60 s \"hour\" window (max)",
        format!("{} / {}", fake.max_writes_in(github.hour), github.per_hour),
        format!(
            "the worker's cap {}; {:.1} \"hours\" of posting",
            limits.hour_cap(),
            run.length.as_secs_f64() / github.hour.as_secs_f64()
        ),
    );
    section.row(
        "writes in any 6 s \"minute\" window (max)",
        format!(
            "{} / {}",
            fake.max_writes_in(github.minute),
            github.per_minute
        ),
        format!("the worker's cap {}", limits.minute_cap()),
    );
    section.row(
        "writes in the run",
        run.seen.writes().to_string(),
        format!("in {}", secs(run.length)),
    );
    commits_rows(&mut section, &run.seen);
    github_rows(&mut section, &run.seen, &fake);
    lag_row(&mut section, &run.lags, run.unseen);
    drain_row(&mut section, run.drain);
    section
}

/// 2. `BURST` messages as fast as the connections go, with the real limits and timing.
async fn burst(checks: &mut Checks) -> Section {
    let fake = FakeGitHub::start_default().await;
    let github = FakeLimits::default();
    let commits_before = fake.commits().len();
    let server = start_server(&fake, SyncTiming::default(), WriteLimits::default()).await;
    let (watch, watcher) = watch_synced(&server.state);
    let started = Instant::now();
    let (ids, refused) = post_burst(server.addr, BURST, BURST_CONNECTIONS).await;
    let posted_in = started.elapsed();
    checks.check(
        "burst",
        refused.is_empty(),
        format!("{} POST(s) refused", refused.len()),
    );
    let total = i64::try_from(ids.len()).expect("a count");
    let synced = wait_synced(&server, &watch, &ids, total, DRAIN_TIMEOUT + posted_in).await;
    let counts = server.counts().await;
    checks.check(
        "burst",
        synced.is_some(),
        format!("{} message(s) never synced", counts.pending),
    );
    server.stop().await;
    watcher.abort();
    let seen = Seen::of(&fake, commits_before);
    checks.github("burst", &seen, &github, &fake);
    let mut section = Section::new(
        format!(
            "2. Burst of {BURST} messages over {BURST_CONNECTIONS} connections: \
             GitHub's real limits, SyncTiming::default(), WriteLimits::default()"
        ),
        command("burst", ""),
    );
    section.row(
        "messages posted (all 201)",
        ids.len().to_string(),
        format!(
            "in {} ({:.0}/s)",
            secs(posted_in),
            ids.len() as f64 / posted_in.as_secs_f64()
        ),
    );
    section.row(
        "first POST → all synced",
        synced.map_or_else(|| "NEVER".to_owned(), |at| secs(at - started)),
        format!("{} synced in the database", counts.synced),
    );
    commits_rows(&mut section, &seen);
    section.row(
        "writes in any rolling 60 s (max)",
        fake.max_writes_in(MINUTE).to_string(),
        format!("GitHub's limit {}", github.per_minute),
    );
    github_rows(&mut section, &seen, &fake);
    let files = fake.files();
    let (folder, widest) = widest_folder(files.keys());
    section.row(
        "most entries in one folder on the branch",
        widest.to_string(),
        format!("{folder} ({} files on the branch)", files.len()),
    );
    section
}

/// A message file as sync writes it (`Pending::file_content`): pretty JSON, fields in
/// this order, a trailing newline.
#[derive(serde::Serialize)]
struct MessageFile<'a> {
    id: i64,
    content: String,
    author: Option<&'a str>,
    created_at: &'a str,
}

const SEED_DAY: &str = "2026-11-25T06:48:08.123Z";

fn seed_path(id: i64) -> String {
    let first = id / 1000 * 1000;
    format!(
        "messages/2026/11/25/{first:08}-{:08}/{id:08}.json",
        first + 999
    )
}

fn seed_file(id: i64) -> Vec<u8> {
    let file = MessageFile {
        id,
        content: format!("imported message {id}"),
        author: (id % 3 != 0).then_some("bench"),
        created_at: SEED_DAY,
    };
    let mut text = serde_json::to_string_pretty(&file).expect("JSON");
    text.push('\n');
    text.into_bytes()
}

/// Commits `IMPORTED` message files in commits of `IMPORT_COMMIT_FILES`, named the way
/// this version's sync names its commits.
fn seed(fake: &FakeGitHub) {
    let mut first = 1;
    while first <= IMPORTED {
        let last = (first + IMPORT_COMMIT_FILES - 1).min(IMPORTED);
        let files: Vec<(String, Vec<u8>)> = (first..=last)
            .map(|id| (seed_path(id), seed_file(id)))
            .collect();
        let message = format!(
            "Add {} BookChat messages\n\nids: {first}-{last}\n",
            last - first + 1
        );
        fake.push_commit(&files, &message);
        first = last + 1;
    }
}

struct Imported {
    summary: Result<bookchat::sync::import::Summary, String>,
    took: Duration,
    rows: i64,
    synced_rows: i64,
}

fn import_into(config: &GithubConfig, db: &Path) -> Imported {
    let mut conn = bookchat::db::open_writer(db).expect("open the database");
    bookchat::db::migrate(&mut conn).expect("migrate");
    let started = Instant::now();
    let summary = bookchat::sync::import::run(config, &mut conn, &mut |_| {});
    let took = started.elapsed();
    let (rows, synced_rows) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(synced), 0) FROM messages",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("count the messages");
    Imported {
        summary: summary.map_err(|err| err.to_string()),
        took,
        rows,
        synced_rows,
    }
}

/// 3. `bookchat import` of `IMPORTED` messages into an empty database.
async fn import(checks: &mut Checks) -> Section {
    let fake = FakeGitHub::start_default().await;
    let seeding = Instant::now();
    let seeder = fake.clone();
    tokio::task::spawn_blocking(move || seed(&seeder))
        .await
        .expect("seed the fake");
    let seeded_in = seeding.elapsed();
    let config = GithubConfig::from_args(&github_args(&fake))
        .expect("valid GitHub settings")
        .expect("sync is on");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bookchat.db");
    let before = fake.request_count();
    let imported = tokio::task::spawn_blocking(move || import_into(&config, &db))
        .await
        .expect("import task");
    let requests = fake.request_count() - before;
    let mut section = Section::new(
        format!(
            "3. Import of {IMPORTED} messages ({} commits of {IMPORT_COMMIT_FILES} files) \
             into an empty database",
            IMPORTED / IMPORT_COMMIT_FILES
        ),
        command("import", ""),
    );
    section.row(
        "seeding the fake (not timed below)",
        secs(seeded_in),
        format!("{IMPORTED} files, commit messages `ids: a-b`"),
    );
    let summary = match imported.summary {
        Ok(summary) => summary,
        Err(err) => {
            checks.check("import", false, format!("import failed: {err}"));
            section.row("import", "FAILED", err);
            return section;
        }
    };
    checks.check(
        "import",
        i64::try_from(summary.added) == Ok(IMPORTED)
            && imported.rows == IMPORTED
            && imported.synced_rows == IMPORTED,
        format!(
            "imported {} messages ({} rows, {} synced), not {IMPORTED}",
            summary.added, imported.rows, imported.synced_rows
        ),
    );
    section.row(
        "import time",
        secs(imported.took),
        format!(
            "{:.0} messages/s",
            summary.added as f64 / imported.took.as_secs_f64()
        ),
    );
    section.row(
        "GitHub requests",
        requests.to_string(),
        format!("the importer counted {}", summary.requests),
    );
    section.row(
        "messages imported",
        summary.added.to_string(),
        format!(
            "of {} found; {} rows in the database, all synced: {}; looked up one by one: {}, \
             skipped: {}",
            summary.found,
            imported.rows,
            imported.synced_rows == imported.rows,
            summary.looked_up,
            summary.skipped
        ),
    );
    section
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; other arguments select scenarios.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted = |key: &str| filters.is_empty() || filters.iter().any(|f| key.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "\nBookChat sync benchmark: {cores} cores; the server, its sync worker and the fake \
         GitHub in one process"
    );
    let started = Instant::now();
    let mut checks = Checks::default();
    runtime.block_on(async {
        if wanted("sustained") {
            sustained(&mut checks).await.print();
        }
        if wanted("hour-budget") {
            hour_budget(&mut checks).await.print();
        }
        if wanted("burst") {
            burst(&mut checks).await.print();
        }
        if wanted("import") {
            import(&mut checks).await.print();
        }
    });
    println!("\nran in {}", secs(started.elapsed()));
    if checks.failures.is_empty() {
        println!("every invariant held");
        ExitCode::SUCCESS
    } else {
        println!("INVARIANTS BROKEN:");
        for failure in &checks.failures {
            println!("- {failure}");
        }
        ExitCode::FAILURE
    }
}
