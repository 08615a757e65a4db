//! Sync in the real binary: a commit GitHub made just before the process was killed is
//! adopted after the restart, never committed twice; and the token never reaches the log,
//! not even at `RUST_LOG=trace`.

use std::time::Duration;

use crate::binary::spawn_server;
use crate::client::request;
use crate::fake_github::FakeGitHub;
use crate::support::eventually;

fn with_fake(fake: &FakeGitHub) -> impl FnOnce(&mut std::process::Command) + '_ {
    move |command| {
        command
            .env("GITHUB_TOKEN", fake.token())
            .env("GITHUB_REPO", fake.repo())
            .env("GITHUB_API_URL", fake.url());
    }
}

#[tokio::test]
async fn a_commit_made_just_before_a_kill_is_adopted_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start_default().await;
    // GitHub applies the write at once but answers 3 s later: the kill lands in between.
    fake.set_latency(Duration::from_secs(3));
    let server = spawn_server(dir.path(), with_fake(&fake));
    let posted = request(
        server.addr,
        "POST",
        "/api/messages",
        &[("content-type", "application/json")],
        r#"{"content": "committed, then the power went out"}"#,
    )
    .await;
    assert_eq!(posted.status, 201);
    eventually(
        "GitHub to hold the file",
        // Six requests at 3 s each before the ref moves.
        Duration::from_secs(45),
        || async { (fake.files().keys().any(|p| p.starts_with("messages/"))).then_some(()) },
    )
    .await;
    server.kill();
    fake.set_latency(Duration::ZERO);
    assert_eq!(
        fake.commits().len(),
        2,
        "the initial commit and the message's"
    );

    let server = spawn_server(dir.path(), with_fake(&fake));
    let message = eventually(
        "the message to be synced",
        Duration::from_secs(20),
        || async {
            let reply = request(server.addr, "GET", "/api/messages/1", &[], "").await;
            let message = reply.json();
            (message["synced"] == true).then_some(message)
        },
    )
    .await;
    let commits = fake.commits();
    assert_eq!(commits.len(), 2, "no second commit: {commits:?}");
    assert_eq!(message["git_commit_hash"], commits[0].sha.as_str());
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn the_token_never_reaches_the_log_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start_default().await;
    let token = fake.token();
    let server = spawn_server(dir.path(), |command| {
        with_fake(&fake)(command);
        command.env("RUST_LOG", "trace");
    });
    for i in 0..3 {
        let body = format!(r#"{{"content": "logged {i}"}}"#);
        let headers = [("content-type", "application/json")];
        let reply = request(server.addr, "POST", "/api/messages", &headers, body).await;
        assert_eq!(reply.status, 201);
    }
    eventually(
        "the messages to be synced",
        Duration::from_secs(20),
        || async {
            let stats = request(server.addr, "GET", "/api/stats", &[], "")
                .await
                .json();
            (stats["messages"]["pending"] == 0).then_some(())
        },
    )
    .await;
    let (status, log) = server.terminate();
    assert!(status.success());
    assert!(log.lines().count() > 20, "trace logging was on:\n{log}");
    assert!(
        log.contains("bookchat::sync") || log.contains("GitHub"),
        "{log}"
    );
    // Not the token, and not a piece of it split over a hex dump's rows either.
    let chars: Vec<char> = token.chars().collect();
    for window in chars.windows(8) {
        let piece: String = window.iter().collect();
        assert!(
            !log.contains(&piece),
            "{piece:?} of the token is in the log"
        );
    }
}
