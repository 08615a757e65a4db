//! Self-tests of the fake's HTTP behaviour: credentials, rate limits, injected faults,
//! latency and concurrency, and surviving a panicking handler.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::{lock, FakeGitHub, Fault};
use super::{api, assert_github_error, put_file, repo_path, try_put};
use crate::client::request;

#[tokio::test]
async fn credentials_repository_and_route_are_checked_like_github() {
    let fake = FakeGitHub::start_default().await;
    let path = repo_path(&fake, "git/ref/heads/main");
    let anonymous = request(fake.addr(), "GET", &path, &[], "").await;
    assert_github_error(&anonymous, 401, "Bad credentials");
    let wrong = [("authorization", "token not-the-token")];
    let wrong = request(fake.addr(), "GET", &path, &wrong, "").await;
    assert_github_error(&wrong, 401, "Bad credentials");
    let classic = format!("token {}", fake.token());
    let classic = request(
        fake.addr(),
        "GET",
        &path,
        &[("authorization", classic.as_str())],
        "",
    )
    .await;
    assert_eq!(classic.status, 200);

    let old_header = fake.auth_header();
    fake.set_token("rotated");
    let stale = [("authorization", old_header.as_str())];
    let revoked = request(fake.addr(), "GET", &path, &stale, "").await;
    assert_github_error(&revoked, 401, "Bad credentials");
    fake.set_token("test-token-s3cret");

    let headers = [("authorization", old_header.as_str())];
    let other = request(
        fake.addr(),
        "GET",
        "/repos/octo/other/contents/README.md",
        &headers,
        "",
    );
    assert_github_error(&other.await, 404, "Not Found");
    let route = api(&fake, "GET", "no/such/route", Value::Null).await;
    assert_github_error(&route, 404, "Not Found");
    let garbage = api(&fake, "POST", "git/blobs", json!("not an object")).await;
    assert_eq!(garbage.status, 422);
    let headers = [("authorization", old_header.as_str())];
    let path = repo_path(&fake, "git/blobs");
    let unparsable = request(fake.addr(), "POST", &path, &headers, "{oops").await;
    assert_github_error(&unparsable, 400, "Problems parsing JSON");
}

#[tokio::test]
async fn every_answer_carries_rate_limit_headers() {
    let fake = FakeGitHub::start_default().await;
    let first = api(&fake, "GET", "contents/README.md", Value::Null).await;
    let second = api(&fake, "GET", "contents/missing", Value::Null).await;
    assert_eq!(second.status, 404);
    for (reply, remaining) in [(&first, "4999"), (&second, "4998")] {
        assert_eq!(reply.header("x-ratelimit-limit"), Some("5000"));
        assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
        assert_eq!(reply.header("x-ratelimit-resource"), Some("core"));
        assert!(reply.header("x-github-request-id").is_some());
    }
    assert_eq!(second.header("x-ratelimit-used"), Some("2"));
    let reset: u64 = second.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > super::super::git::unix_now());

    fake.set_rate_limit_remaining(0);
    let exhausted = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_github_error(&exhausted, 403, "API rate limit exceeded for user ID 1.");
    assert_eq!(exhausted.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn status_and_limit_faults_refuse_the_matching_request_only() {
    let fake = FakeGitHub::start_default().await;
    fake.push_fault_for(
        "PUT",
        "/contents/",
        Fault::SecondaryLimit { retry_after: 7 },
    );
    let read = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_eq!(read.status, 200, "a GET passes a PUT-only fault");
    let limited = put_file(&fake, "a.txt", b"a", None).await;
    assert_eq!(limited.status, 403);
    assert!(limited.json()["message"]
        .as_str()
        .unwrap()
        .contains("secondary rate limit"));
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(fake.file("a.txt"), None, "a refused write is not applied");

    fake.push_fault(Fault::Status(502));
    fake.push_fault(Fault::TooMany { retry_after: 3 });
    fake.push_fault(Fault::PrimaryLimit { reset_in: 60 });
    assert_github_error(
        &put_file(&fake, "a.txt", b"a", None).await,
        502,
        "Server Error",
    );
    let too_many = put_file(&fake, "a.txt", b"a", None).await;
    assert_eq!(
        (too_many.status, too_many.header("retry-after")),
        (429, Some("3"))
    );
    let primary = put_file(&fake, "a.txt", b"a", None).await;
    assert_eq!(
        (primary.status, primary.header("x-ratelimit-remaining")),
        (403, Some("0"))
    );
    assert_eq!(fake.pending_faults(), 0);
    assert_eq!(put_file(&fake, "a.txt", b"a", None).await.status, 201);

    fake.set_down(true);
    let down = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_github_error(&down, 503, "Service Unavailable");
    fake.set_down(false);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 403, 502, 429, 403, 201, 503]);
}

#[tokio::test]
async fn lose_answer_applies_the_write_and_drop_does_not() {
    let fake = FakeGitHub::start_default().await;
    fake.push_fault(Fault::Drop);
    assert!(try_put(&fake, "dropped.txt", b"d").await.is_err());
    assert_eq!(fake.file("dropped.txt"), None);

    fake.push_fault(Fault::LoseAnswer);
    assert!(try_put(&fake, "lost.txt", b"l").await.is_err());
    assert_eq!(fake.file("lost.txt").as_deref(), Some(&b"l"[..]));
    let lost = fake.requests().pop().expect("recorded");
    assert_eq!((lost.method.as_str(), lost.status), ("PUT", 0));
    assert_eq!(lost.path, repo_path(&fake, "contents/lost.txt"));
    assert!(lost.at.elapsed() < Duration::from_secs(5) && !lost.request_id.is_empty());
    let retry = put_file(&fake, "lost.txt", b"l", None).await;
    assert_eq!(retry.status, 422, "the retry finds the file already there");
    assert_eq!(fake.request_count(), 3);
    fake.clear_requests();
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn latency_delays_answers_without_serialising_requests() {
    let fake = FakeGitHub::start_default().await;
    fake.set_latency(Duration::from_millis(100));
    let started = Instant::now();
    let writes = (0..8).map(|i| {
        let fake = fake.clone();
        let body = json!({ "content": format!("blob {i}") });
        tokio::spawn(async move { api(&fake, "POST", "git/blobs", body).await })
    });
    for write in writes.collect::<Vec<_>>() {
        assert_eq!(write.await.unwrap().status, 201);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    // One by one would take 800 ms; the margin is for a loaded two-core machine.
    let serial = Duration::from_millis(700);
    assert!(elapsed < serial, "requests ran one by one: {elapsed:?}");

    // A client that gives up while the answer is slow still leaves its write done.
    let impatient = put_file(&fake, "slow.txt", b"s", None);
    let gave_up = tokio::time::timeout(Duration::from_millis(30), impatient).await;
    assert!(gave_up.is_err(), "the answer is still on its way");
    assert_eq!(fake.file("slow.txt").as_deref(), Some(&b"s"[..]));

    fake.set_latency(Duration::ZERO);
    fake.push_fault(Fault::Delay(Duration::from_millis(40)));
    let started = Instant::now();
    assert_eq!(put_file(&fake, "delayed.txt", b"d", None).await.status, 201);
    assert!(started.elapsed() >= Duration::from_millis(40));
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_fake_lives_on() {
    let fake = FakeGitHub::start_default().await;
    let head = fake.head().unwrap();
    // A branch pointing at no commit breaks an invariant the handlers index on, so they panic.
    let bogus = "f".repeat(40);
    lock(&fake.shared)
        .repo
        .branches
        .insert("main".into(), bogus);
    let broken = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_github_error(&broken, 500, "Server Error");
    assert!(broken.header("x-ratelimit-remaining").is_some());

    fake.set_branch("main", &head);
    let healthy = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_eq!(healthy.status, 200, "the poisoned lock is recovered");
}

/// The sync worker's client blocks; the fake must answer even when it blocks the very thread
/// running the test's (single-threaded) runtime.
#[tokio::test]
async fn a_blocking_client_on_the_test_thread_gets_answers() {
    use std::io::{Read, Write};
    let fake = FakeGitHub::start_default().await;
    let mut stream = std::net::TcpStream::connect(fake.addr()).unwrap();
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        repo_path(&fake, "contents/README.md"),
        fake.auth_header()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
