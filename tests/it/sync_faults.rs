//! GitHub sync through faults: outages, dropped connections, lost answers, rate limits
//! and a bad token, each message still committed exactly once.

use std::time::Duration;

use serde_json::Value;

use crate::fake_github::{FakeGitHub, Fault};
use crate::stores::per_store;
use crate::support::{eventually, fast_timing, github_args};
use crate::sync::assert_each_committed_once;

const PATIENCE: Duration = Duration::from_secs(20);

per_store! {
    async fn an_outage_delays_sync_and_recovery_commits_each_message_once(store) {
        let fake = FakeGitHub::start_default().await;
        fake.set_down(true);
        let server = store.start_synced(&fake).await;
        for i in 0..5 {
            server.post_message(&format!("during the outage {i}")).await;
        }
        let stats = eventually("the outage to show in stats", PATIENCE, || async {
            let stats = server.stats().await;
            stats["sync"]["last_error"].is_string().then_some(stats)
        })
        .await;
        assert_eq!(stats["messages"]["pending"], 5, "{stats}");
        assert_eq!(stats["sync"]["state"], "retrying", "{stats}");
        assert!(
            stats["sync"]["last_error"]
                .as_str()
                .unwrap()
                .contains("503"),
            "{stats}"
        );
        // The worker backs off rather than hammering a GitHub that is down.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let tries = fake.requests().len();
        assert!(
            tries <= 8,
            "{tries} requests in ~1 s of outage: not backing off"
        );
        fake.set_down(false);
        server.wait_all_synced(5, PATIENCE).await;
        assert_each_committed_once(&server, &fake, 5).await;
        let stats = server.stats().await;
        assert_eq!(stats["sync"]["last_error"], Value::Null, "{stats}");
        server.stop().await;
    }
}

per_store! {
    async fn dropped_connections_server_errors_and_conflicts_are_retried(store) {
        let fake = FakeGitHub::start_default().await;
        for fault in [
            Fault::Drop,
            Fault::Status(502),
            Fault::Status(409),
            Fault::Status(500),
        ] {
            fake.push_fault_for("POST", "/git/trees", fault);
        }
        let server = store.start_synced(&fake).await;
        server.post_message("through four failures").await;
        server.wait_all_synced(1, PATIENCE).await;
        assert_eq!(fake.pending_faults(), 0, "every fault was met");
        assert_each_committed_once(&server, &fake, 1).await;
        server.stop().await;
    }
}

per_store! {
    async fn a_lost_answer_to_a_single_message_commit_is_adopted_not_committed_again(store) {
        let fake = FakeGitHub::start_default().await;
        fake.push_fault_for("PATCH", "/git/refs/", Fault::LoseAnswer);
        let server = store.start_synced(&fake).await;
        server.post_message("the answer to this one is lost").await;
        server.wait_all_synced(1, PATIENCE).await;
        assert_each_committed_once(&server, &fake, 1).await;
        server.stop().await;
    }
}

per_store! {
    async fn a_lost_answer_to_a_batch_commit_is_adopted_not_committed_again(store) {
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let batched: Vec<String> = (0..30).map(|i| format!("batched {i}")).collect();
        store.store_offline(dir.path(), &batched).await;
        fake.push_fault_for("PATCH", "/git/refs/", Fault::LoseAnswer);
        let server = store.start_synced_in(dir.path(), &fake, |_| {}).await;
        server.wait_all_synced(30, PATIENCE).await;
        let added = assert_each_committed_once(&server, &fake, 30).await;
        let commits: std::collections::BTreeSet<&String> = added.values().flatten().collect();
        assert_eq!(commits.len(), 1, "the lost batch commit was adopted whole");
        server.stop().await;
    }
}

per_store! {
    async fn retry_after_is_waited_out_with_no_request_in_between(store) {
        let fake = FakeGitHub::start_default().await;
        fake.push_fault_for(
            "POST",
            "/git/trees",
            Fault::SecondaryLimit { retry_after: 2 },
        );
        let server = store.start_synced(&fake).await;
        server.post_message("rate limited").await;
        let stats = eventually("the rate limit to show", PATIENCE, || async {
            let stats = server.stats().await;
            (stats["sync"]["state"] == "rate_limited").then_some(stats)
        })
        .await;
        assert!(stats["sync"]["next_attempt_at"].is_string(), "{stats}");
        // New messages during the wait must not trigger a request either.
        server.post_message("posted while limited").await;
        server.wait_all_synced(2, PATIENCE).await;
        assert_quiet_after(&fake, 403, Duration::from_secs(2));
        assert_each_committed_once(&server, &fake, 2).await;
        server.stop().await;
    }
}

per_store! {
    async fn a_spent_rate_limit_waits_for_its_reset(store) {
        let fake = FakeGitHub::start_default().await;
        fake.push_fault_for("POST", "/git/trees", Fault::PrimaryLimit { reset_in: 2 });
        let server = store.start_synced(&fake).await;
        server.post_message("over the hourly budget").await;
        server.wait_all_synced(1, PATIENCE).await;
        // X-RateLimit-Reset has whole-second resolution: allow for the rounding.
        assert_quiet_after(&fake, 403, Duration::from_secs(1));
        assert_each_committed_once(&server, &fake, 1).await;
        server.stop().await;
    }
}

/// Asserts that after the answer with `status`, no request came for at least `quiet`.
fn assert_quiet_after(fake: &FakeGitHub, status: u16, quiet: Duration) {
    let requests = fake.requests();
    let limited = requests
        .iter()
        .position(|r| r.status == status)
        .expect("the rate-limited answer");
    let next = requests.get(limited + 1).expect("a request after the wait");
    let gap = next.at - requests[limited].at;
    assert!(gap >= quiet, "next request after {gap:?}, not {quiet:?}");
}

per_store! {
    async fn a_bad_token_keeps_messages_safe_and_shows_the_error(store) {
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let secret = "ghp_not_the_right_token_0123456789";
        let server = store.start_configured(
            dir.path(),
            |args| {
                args.github = github_args(&fake);
                args.github.github_token = Some(bookchat::secret::Secret::new(secret));
            },
            |config| config.github.as_mut().unwrap().timing = fast_timing(),
        )
        .await;
        for i in 0..3 {
            server.post_message(&format!("kept locally {i}")).await;
        }
        let stats = eventually("the auth error to show", PATIENCE, || async {
            let stats = server.stats().await;
            stats["sync"]["last_error"].is_string().then_some(stats)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(fake.requests().len(), 1, "no retry loop after a 401");
        assert_eq!(stats["sync"]["state"], "failing", "{stats}");
        assert_eq!(stats["messages"]["pending"], 3, "{stats}");
        let error = stats["sync"]["last_error"].as_str().unwrap();
        assert!(
            error.contains("401") && error.contains("GITHUB_TOKEN"),
            "{error}"
        );
        let body = server.get("/api/stats").await.text();
        assert!(!body.contains(secret), "the token leaked into stats");
        server.stop().await;
    }
}
