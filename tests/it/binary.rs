//! The real `bookchat` executable: help, start-up errors, embedded assets from any
//! directory, `.env`, and a clean exit on SIGTERM; and the helpers that run it, for other
//! builds of it too (the static one).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::client::request;

const BIN: &str = env!("CARGO_BIN_EXE_bookchat");
/// Variables that would leak the developer's own settings into these tests.
const OWN_VARS: &[&str] = &[
    "PORT",
    "BOOKCHAT_HOST",
    "BOOKCHAT_DATA_DIR",
    "BOOKCHAT_ENV",
    "BOOKCHAT_LOG_FORMAT",
    "BOOKCHAT_CORS_ORIGINS",
    "RUST_LOG",
    "GITHUB_TOKEN",
    "GITHUB_REPO",
    "GITHUB_BRANCH",
    "GITHUB_API_URL",
    "BOOKCHAT_GITHUB_PATH",
    "BOOKCHAT_BACKUP_INTERVAL",
    "BOOKCHAT_BACKUP_KEEP",
    "BOOKCHAT_ADMIN_TOKEN",
    "BOOKCHAT_ACCESS_CODE",
    "BOOKCHAT_DATABASE_URL",
    "BOOKCHAT_TLS_CERT",
    "BOOKCHAT_TLS_KEY",
    "BOOKCHAT_ACME_DOMAIN",
    "BOOKCHAT_ACME_EMAIL",
    "BOOKCHAT_ACME_DIRECTORY",
    "BOOKCHAT_HTTP_REDIRECT_PORT",
];

/// The `bookchat` this test build made, run in `dir` without the developer's settings.
pub fn bookchat(dir: &Path) -> Command {
    bookchat_at(Path::new(BIN), dir)
}

/// Another build of `bookchat` (the static one), run the same way.
pub fn bookchat_at(bin: &Path, dir: &Path) -> Command {
    let mut command = Command::new(bin);
    command.current_dir(dir);
    for var in OWN_VARS {
        command.env_remove(var);
    }
    command
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    bookchat(dir).args(args).output().expect("run bookchat")
}

/// A running `bookchat serve` child, with its stderr lines forwarded to a channel.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    /// The log up to and including the "listening" line.
    pub startup: Vec<String>,
    lines: mpsc::Receiver<String>,
}

pub fn spawn_server(dir: &Path, configure: impl FnOnce(&mut Command)) -> Running {
    spawn(bookchat(dir), configure)
}

/// Starts `command` (from [`bookchat`] or [`bookchat_at`]) as a server on a free port and
/// waits for its "listening" line.
pub fn spawn(mut command: Command, configure: impl FnOnce(&mut Command)) -> Running {
    command
        .env("PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("spawn bookchat");
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let mut startup = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("server logs its address within 20 s");
        startup.push(line.clone());
        let url = line.split("listening on http").nth(1);
        if let Some(url) = url.and_then(|u| u.strip_prefix("://").or(u.strip_prefix("s://"))) {
            // The line may be text or JSON; the address ends where its characters do.
            let end = url
                .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']')))
                .unwrap_or(url.len());
            break url[..end].parse().expect("address in log line");
        }
    };
    Running {
        child,
        addr,
        startup,
        lines,
    }
}

/// A test that fails half-way must not leave its server running (holding a port, a
/// database, and the build lock's descriptor).
impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log lines written since start-up (or the last call), without waiting.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// SIGKILL: the process dies at once, as in a power cut or an OOM kill.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    /// Sends SIGTERM and returns the exit status and the rest of the log.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = self.child.wait().expect("wait");
        // The reader thread may still be forwarding the last lines; the channel closes when
        // it reaches the end of stderr, which the exit guarantees soon.
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(line);
        }
        (status, rest.join("\n"))
    }
}

#[test]
fn help_describes_commands_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "serve",
        "--port",
        "PORT",
        "BOOKCHAT_DATA_DIR",
        "--host",
        "BOOKCHAT_CORS_ORIGINS",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
    let serve_help = run(dir.path(), &["serve", "--help"]);
    assert!(serve_help.status.success());
}

#[test]
fn bad_configuration_exits_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--host", "not a host!"],
        vec!["--cors-origins", "ftp://x"],
        vec!["--port", "70000"],
        vec!["--env", "staging"],
        vec!["--github-repo", "not-a-repository"],
        vec!["--admin-token", "too-short-tok3n"],
    ] {
        let out = run(dir.path(), &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("bookchat: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("tok3n"), "a secret in {stderr}");
    }
    // A value the parser rejects may come from the environment: the line names both.
    let out = bookchat(dir.path()).env("PORT", "abc").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "bookchat: invalid value 'abc' for '--port <PORT>': invalid digit found in string \
         (the flag or PORT); see bookchat --help"
    );
    let out = run(dir.path(), &["serv"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("'serv'"), "{stderr}");
    // Nothing was created for any of these.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = run(dir.path(), &["--port", "0", "--data-dir", "notes.txt"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("bookchat: the data directory notes.txt is a file, not a directory"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(dir.path(), &["--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("bookchat: ") && last.contains("in use"),
        "{stderr}"
    );
    // It stopped before creating a data directory or a database.
    assert!(!dir.path().join("bookchat-data").exists());
}

#[tokio::test]
async fn serves_embedded_assets_from_an_empty_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(dir.path(), |_| {});
    let page = request(server.addr, "GET", "/", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/static/app.js"));
    let script = request(server.addr, "GET", "/static/app.js", &[], "").await;
    assert_eq!(script.status, 200);
    let on_disk =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/static/app.js")).unwrap();
    assert_eq!(
        script.body, on_disk,
        "the binary serves the compiled-in copy"
    );
    let headers = [("content-type", "application/json")];
    let posted = request(
        server.addr,
        "POST",
        "/api/messages",
        &headers,
        r#"{"content":"hi"}"#,
    )
    .await;
    assert_eq!(posted.status, 201);
    assert!(
        dir.path().join("bookchat-data/bookchat.db").is_file(),
        "default data dir"
    );

    let (status, log) = server.terminate();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(log.contains("SIGTERM") && log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn access_log_names_method_path_status_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(dir.path(), |_| {});
    request(server.addr, "GET", "/api/messages?limit=3", &[], "").await;
    request(server.addr, "GET", "/missing", &[], "").await;
    let (_, log) = server.terminate();
    let line = log
        .lines()
        .find(|l| l.contains("/api/messages"))
        .expect("access line");
    assert!(
        line.contains("GET") && line.contains(" 200 ") && line.contains("127.0.0.1"),
        "{line}"
    );
    assert!(line.contains("ms"), "duration in {line}");
    assert!(
        log.lines()
            .any(|l| l.contains("/missing") && l.contains(" 404 ")),
        "{log}"
    );
}

#[tokio::test]
async fn dotenv_is_read_and_real_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "BOOKCHAT_DATA_DIR=from-dotenv\nBOOKCHAT_LOG_FORMAT=json\n",
    )
    .unwrap();
    let server = spawn_server(dir.path(), |_| {});
    assert!(dir.path().join("from-dotenv/bookchat.db").is_file());
    let (status, log) = server.terminate();
    assert!(status.success());
    let line = log.lines().next().expect("a log line");
    let parsed: serde_json::Value = serde_json::from_str(line).expect("JSON log line from .env");
    assert!(
        parsed["message"].is_string() && parsed["level"].is_string(),
        "{line}"
    );

    let server = spawn_server(dir.path(), |c| {
        c.env("BOOKCHAT_DATA_DIR", "from-env");
    });
    assert!(dir.path().join("from-env/bookchat.db").is_file());
    server.terminate();
    let server = spawn_server(dir.path(), |c| {
        c.env("BOOKCHAT_DATA_DIR", "from-env")
            .arg("--data-dir")
            .arg("from-flag");
    });
    assert!(
        dir.path().join("from-flag/bookchat.db").is_file(),
        "flags win over env"
    );
    server.terminate();
}

#[test]
fn half_set_github_settings_are_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(dir.path(), |c| {
        c.env("GITHUB_TOKEN", "ghp_half_set_token");
    });
    let startup = server.startup.join("\n");
    assert!(
        startup.contains("WARN") && startup.contains("GITHUB_TOKEN is set but GITHUB_REPO is not"),
        "{startup}"
    );
    assert!(!startup.contains("ghp_half_set_token"), "{startup}");
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn secrets_never_reach_the_log_or_any_answer_and_deletions_are_logged() {
    const TOKEN: &str = "adm1n-t0ken-never-shown";
    const CODE: &str = "acc3ss c0de never-shown";
    let dir = tempfile::tempdir().unwrap();
    // Quoted in `.env`, as the README shows a code with spaces.
    let dotenv = format!("BOOKCHAT_ACCESS_CODE=\"{CODE}\"\n");
    std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    let server = spawn_server(dir.path(), |command| {
        command
            .env("BOOKCHAT_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "debug");
    });
    let json = ("content-type", "application/json");
    let mut answers = Vec::new();
    for code in ["wrong", CODE, TOKEN] {
        let body = format!(r#"{{"code":"{code}"}}"#);
        answers.push(request(server.addr, "POST", "/api/session", &[json], body).await);
    }
    let admin = format!("Bearer {TOKEN}");
    let auth = ("authorization", admin.as_str());
    let both = [json, auth];
    let body = r#"{"content":"x"}"#;
    answers.push(request(server.addr, "POST", "/api/messages", &both, body).await);
    answers.push(request(server.addr, "DELETE", "/api/messages/1", &[auth], "").await);
    for path in ["/api/stats", "/metrics", "/api/messages", "/"] {
        answers.push(request(server.addr, "GET", path, &[auth], "").await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [401, 204, 204, 201, 204, 200, 200, 200, 200]);
    let stats = bookchat(dir.path()).arg("stats").output().unwrap();
    let (_, log) = server.terminate();
    let mut seen: Vec<String> = answers
        .iter()
        .map(|a| format!("{:?} {}", a.headers, a.text()))
        .collect();
    seen.push(log.clone());
    seen.push(String::from_utf8_lossy(&stats.stdout).into_owned());
    for text in &seen {
        assert!(
            !text.contains(TOKEN) && !text.contains(CODE),
            "a secret in {text}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.contains("message 1 deleted by a moderator at 127.0.0.1")),
        "{log}"
    );
}
