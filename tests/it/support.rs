//! Test harness: an in-process server on port 0 with its own data directory. The client
//! it talks through lives in `client`, re-exported here.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bookchat::app::App;
use bookchat::cli::{
    AccessArgs, AutoBackupArgs, DataArgs, Environment, GithubArgs, LimitArgs, ServeArgs, TlsArgs,
};
use bookchat::config::Config;
use bookchat::secret::Secret;
use bookchat::state::AppState;
use bookchat::sync::{SyncTiming, WriteLimits};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::{request, Reply};
use crate::fake_github::FakeGitHub;

pub struct TestServer {
    pub addr: SocketAddr,
    /// The running server's shared state, to read its workers' status directly.
    pub state: Arc<AppState>,
    /// Dropping it deletes the directory, so it lives as long as the server; `None` when
    /// the caller owns the directory.
    #[allow(dead_code, reason = "held for its drop, never read")]
    dir_guard: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), bookchat::error::Error>>>,
}

pub fn args(data_dir: &Path) -> ServeArgs {
    ServeArgs {
        port: 0,
        host: "127.0.0.1".into(),
        data: DataArgs {
            data_dir: data_dir.to_owned(),
            database_url: None,
        },
        environment: Environment::Development,
        log_format: None,
        cors_origins: "*".into(),
        tls: TlsArgs::default(),
        access: AccessArgs::default(),
        // Most tests post more than a burst, and some open hundreds of connections at
        // once, all from 127.0.0.1; the limit tests turn these limits back on.
        limits: LimitArgs {
            write_rate: "0".into(),
            read_rate: "0".into(),
            max_connections_per_client: 1024,
            ..LimitArgs::default()
        },
        // Off, so tests write no backups; the backup tests turn them back on.
        backups: AutoBackupArgs {
            backup_interval: 0,
            ..AutoBackupArgs::default()
        },
        github: GithubArgs::default(),
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServeArgs)) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(temp.path(), adjust).await;
        server.dir_guard = Some(temp);
        server
    }

    /// Starts on an existing directory (restart tests reuse one).
    pub async fn start_in(data_dir: &Path, adjust: impl FnOnce(&mut ServeArgs)) -> TestServer {
        Self::start_configured(data_dir, adjust, |_| {}).await
    }

    /// Starts with GitHub sync on against `fake`, with test-sized waits.
    pub async fn start_synced(fake: &FakeGitHub) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_synced_in(temp.path(), fake).await;
        server.dir_guard = Some(temp);
        server
    }

    /// Starts synced against `fake`, its arguments adjusted (the store, say).
    pub async fn start_synced_with(
        fake: &FakeGitHub,
        adjust: impl FnOnce(&mut ServeArgs),
    ) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_synced_in_with(temp.path(), fake, adjust).await;
        server.dir_guard = Some(temp);
        server
    }

    pub async fn start_synced_in(data_dir: &Path, fake: &FakeGitHub) -> TestServer {
        Self::start_synced_in_with(data_dir, fake, |_| {}).await
    }

    pub async fn start_synced_in_with(
        data_dir: &Path,
        fake: &FakeGitHub,
        adjust: impl FnOnce(&mut ServeArgs),
    ) -> TestServer {
        Self::start_configured(
            data_dir,
            |args| {
                args.github = github_args(fake);
                adjust(args);
            },
            |config| {
                if let Some(github) = config.github.as_mut() {
                    github.timing = fast_timing();
                    github.limits = fast_limits();
                }
            },
        )
        .await
    }

    /// Starts with the parsed arguments adjusted, then the validated `Config` adjusted
    /// (for settings no flag exposes, such as the sync worker's waits).
    pub async fn start_configured(
        data_dir: &Path,
        adjust: impl FnOnce(&mut ServeArgs),
        adjust_config: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut args = args(data_dir);
        adjust(&mut args);
        let mut config = Config::from_args(&args).expect("valid test config");
        adjust_config(&mut config);
        let server = App::start(config).await.expect("server starts");
        let addr = server.local_addr();
        let state = server.state();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            state,
            dir_guard: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Sends the shutdown signal and waits until the server has drained and closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server stops within 15 s");
            result.expect("server task").expect("server ran cleanly");
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], "").await
    }

    pub async fn post_json(&self, body: &str) -> Reply {
        let headers = [("content-type", "application/json")];
        request(
            self.addr,
            "POST",
            "/api/messages",
            &headers,
            body.to_owned(),
        )
        .await
    }

    /// `/api/stats` as JSON, with the admin token when the server has one.
    pub async fn stats(&self) -> serde_json::Value {
        let token = self.state.config.credentials.admin_token();
        let auth = token.map(|token| format!("Bearer {}", token.expose()));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let reply = request(self.addr, "GET", "/api/stats", &headers, "").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// Waits until `total` messages are stored and none is pending sync.
    pub async fn wait_all_synced(&self, total: i64, timeout: Duration) -> serde_json::Value {
        eventually("every message to be synced", timeout, || async {
            let stats = self.stats().await;
            let counts = &stats["messages"];
            (counts["total"] == total && counts["pending"] == 0).then_some(stats)
        })
        .await
    }

    /// Posts a valid message and returns the stored Message.
    pub async fn post_message(&self, content: &str) -> serde_json::Value {
        let body = serde_json::json!({ "content": content, "author": "it" }).to_string();
        let reply = self.post_json(&body).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()
    }
}

/// Stores messages with sync off, then stops the server: a synced server started on `dir`
/// afterwards finds them all pending in its first look, so how they are batched does not
/// depend on how the threads were scheduled.
/// Its arguments adjusted by `adjust` (the store, say).
pub async fn store_offline(
    dir: &Path,
    contents: &[String],
    adjust: impl FnOnce(&mut ServeArgs),
) -> Vec<serde_json::Value> {
    let server = TestServer::start_in(dir, adjust).await;
    let mut stored = Vec::with_capacity(contents.len());
    for chunk in contents.chunks(200) {
        let posts: Vec<_> = chunk
            .iter()
            .map(|content| {
                let (addr, content) = (server.addr, content.clone());
                tokio::spawn(async move {
                    let body = serde_json::json!({ "content": content, "author": "it" });
                    let json = [("content-type", "application/json")];
                    let reply = request(addr, "POST", "/api/messages", &json, body.to_string());
                    let reply = reply.await;
                    assert_eq!(reply.status, 201, "{}", reply.text());
                    reply.json()
                })
            })
            .collect();
        for post in posts {
            stored.push(post.await.expect("post task"));
        }
    }
    server.stop().await;
    stored.sort_by_key(|m| m["id"].as_i64());
    stored
}

/// GitHub settings that point at `fake`.
pub fn github_args(fake: &FakeGitHub) -> GithubArgs {
    GithubArgs {
        github_token: Some(Secret::new(fake.token())),
        github_repo: Some(fake.repo()),
        github_branch: fake.branch(),
        github_api_url: fake.url(),
        github_path: "messages".into(),
    }
}

/// Waits short enough for tests, with the same shape as the defaults.
pub fn fast_timing() -> SyncTiming {
    SyncTiming {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        fatal_retry: Duration::from_secs(300),
        fatal_first: Duration::from_secs(2),
        secondary_limit: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    }
}

/// GitHub's windows, with a shorter gap between writes so tests of other things run fast.
pub fn fast_limits() -> WriteLimits {
    WriteLimits {
        min_gap: Duration::from_millis(100),
        ..WriteLimits::default()
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
