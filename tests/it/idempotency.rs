//! `Idempotency-Key` on `POST /api/messages`: a repeat answers the first message, per client,
//! across restarts; another body is 422, a deleted message 410, a malformed key 400.

use std::net::IpAddr;

use serde_json::json;

use crate::client::{raw, raw_status, request_from, Reply};
use crate::stores::per_store;
use crate::support::TestServer;

const LOCAL: [u8; 4] = [127, 0, 0, 1];

/// Posts `body` with `key` from the local address `from`.
async fn post_keyed(server: &TestServer, from: [u8; 4], key: &str, body: &str) -> Reply {
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    request_from(
        IpAddr::from(from),
        server.addr,
        "POST",
        "/api/messages",
        &headers,
        body.to_owned(),
    )
    .await
}

fn hello(content: &str) -> String {
    json!({ "content": content, "author": "ann" }).to_string()
}

async fn stored_count(server: &TestServer) -> usize {
    let listed = server.get("/api/messages").await.json();
    listed["messages"].as_array().unwrap().len()
}

per_store! {
    async fn the_same_key_sent_in_parallel_stores_one_message(store) {
        let server = store.start().await;
        // Padding in the body: still the same message after parsing.
        let bodies = [hello("once"), hello("  once\n"), hello("once")];
        let replies = send_together(&server, &bodies).await;
        let ids: Vec<i64> = replies
            .iter()
            .map(|reply| {
                assert_eq!(reply.status, 201, "{}", reply.text());
                reply.json()["id"].as_i64().unwrap()
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(stored_count(&server).await, 1);
        let location = format!("/api/messages/{}", ids[0]);
        assert!(replies
            .iter()
            .all(|r| r.header("location") == Some(&location)));
        server.stop().await;
    }
}

/// Sends every body with one key at once, each on its own connection.
async fn send_together(server: &TestServer, bodies: &[String]) -> Vec<Reply> {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let addr = server.addr;
            let body = bodies[i % bodies.len()].clone();
            tokio::spawn(async move {
                let headers = [
                    ("content-type", "application/json"),
                    ("idempotency-key", "parallel-1"),
                ];
                crate::client::request(addr, "POST", "/api/messages", &headers, body).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

per_store! {
    async fn a_key_reused_with_another_body_is_refused(store) {
        let server = store.start().await;
        let first = post_keyed(&server, LOCAL, "k-422", &hello("first")).await;
        assert_eq!(first.status, 201, "{}", first.text());
        let other_author = json!({ "content": "first", "author": "bob" }).to_string();
        for body in [hello("second"), other_author] {
            let reply = post_keyed(&server, LOCAL, "k-422", &body).await;
            let error = reply.assert_error(422);
            assert!(error.contains("Idempotency-Key"), "{error}");
        }
        assert_eq!(stored_count(&server).await, 1);
        server.stop().await;
    }
}

per_store! {
    async fn clients_use_the_same_key_independently(store) {
        let server = store.start().await;
        let other = [127, 0, 0, 2];
        let a = post_keyed(&server, LOCAL, "shared", &hello("from a")).await;
        let b = post_keyed(&server, other, "shared", &hello("from b")).await;
        assert_eq!(
            (a.status, b.status),
            (201, 201),
            "{} {}",
            a.text(),
            b.text()
        );
        assert_ne!(a.json()["id"], b.json()["id"]);
        // Each client's repeat answers its own message.
        let b_again = post_keyed(&server, other, "shared", &hello("from b")).await;
        assert_eq!(b_again.status, 201);
        assert_eq!(b_again.json(), b.json());
        let a_other = post_keyed(&server, LOCAL, "shared", &hello("from b")).await;
        a_other.assert_error(422);
        assert_eq!(stored_count(&server).await, 2);
        server.stop().await;
    }
}

per_store! {
    async fn a_key_whose_message_was_deleted_is_gone(store) {
        let server = store.start().await;
        let first = post_keyed(&server, LOCAL, "k-410", &hello("doomed")).await;
        let id = first.json()["id"].as_i64().unwrap();
        assert!(server.state.store.delete(id).await.unwrap().deleted());
        let again = post_keyed(&server, LOCAL, "k-410", &hello("doomed")).await;
        let error = again.assert_error(410);
        assert!(error.contains("deleted"), "{error}");
        // Nothing new was stored in its place.
        let newest = server.post_message("after").await;
        assert_eq!(newest["id"].as_i64().unwrap(), id + 1);
        server.stop().await;
    }
}

per_store! {
    async fn malformed_keys_are_refused_and_store_nothing(store) {
        let server = store.start().await;
        let too_long = "k".repeat(256);
        for key in ["", "has space", too_long.as_str()] {
            let reply = post_keyed(&server, LOCAL, key, &hello("nope")).await;
            let error = reply.assert_error(400);
            assert!(error.contains("Idempotency-Key"), "{key:?}: {error}");
        }
        let longest = "~".repeat(255);
        let ok = post_keyed(&server, LOCAL, &longest, &hello("fits")).await;
        assert_eq!(ok.status, 201, "{}", ok.text());
        // Bytes no client library would send: UTF-8, and the header twice.
        let body = hello("nope");
        for extra in [
            "Idempotency-Key: caf\u{e9}\r\n".to_owned(),
            "Idempotency-Key: a\r\nIdempotency-Key: a\r\n".to_owned(),
        ] {
            let request = format!(
                "POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
            let answer = raw(server.addr, request.as_bytes()).await;
            assert_eq!(raw_status(&answer), 400, "{extra:?}: {answer}");
        }
        assert_eq!(stored_count(&server).await, 1);
        server.stop().await;
    }
}

per_store! {
    async fn a_key_still_answers_its_message_after_a_restart(store) {
        let dir = tempfile::tempdir().unwrap();
        let first = store.start_in(dir.path(), |_| {}).await;
        let created = post_keyed(&first, LOCAL, "durable", &hello("kept")).await;
        assert_eq!(created.status, 201);
        first.stop().await;

        let second = store.start_in(dir.path(), |_| {}).await;
        let again = post_keyed(&second, LOCAL, "durable", &hello("kept")).await;
        assert_eq!(again.status, 201, "{}", again.text());
        assert_eq!(again.json(), created.json());
        post_keyed(&second, LOCAL, "durable", &hello("changed"))
            .await
            .assert_error(422);
        assert_eq!(stored_count(&second).await, 1);
        second.stop().await;
    }
}

#[tokio::test]
async fn keys_outlive_a_restore_so_a_retry_never_posts_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestServer::start_in(dir.path(), |_| {}).await;
    let kept = post_keyed(&first, LOCAL, "before", &hello("in the backup")).await;
    assert_eq!(kept.status, 201);
    let backup = dir.path().join("older.db");
    bookchat::backup::snapshot(&first.state.config.db_path(), &backup).unwrap();
    let lost = post_keyed(&first, LOCAL, "after", &hello("not in the backup")).await;
    assert_eq!(lost.status, 201);
    first.stop().await;

    bookchat::backup::restore(dir.path(), &backup).unwrap();
    let second = TestServer::start_in(dir.path(), |_| {}).await;
    // The key of a message the backup holds still answers it.
    let again = post_keyed(&second, LOCAL, "before", &hello("in the backup")).await;
    assert_eq!(
        (again.status, again.json()["id"].clone()),
        (201, kept.json()["id"].clone())
    );
    // A retry of a message the restore took away is told so, not stored a second time
    // under a new id.
    let retry = post_keyed(&second, LOCAL, "after", &hello("not in the backup")).await;
    retry.assert_error(410);
    assert_eq!(stored_count(&second).await, 1);
    second.stop().await;
}

/// Loses the first POST's answer after the server stored it (as a dropped connection
/// would), and records every POST's key.
const LOSE_FIRST_ANSWER: &str = "
    window.sentKeys = [];
    const realFetch = window.fetch;
    let lost = false;
    window.fetch = async (path, options) => {
      if (path !== '/api/messages' || !options || options.method !== 'POST') {
        return realFetch(path, options);
      }
      window.sentKeys.push(options.headers['Idempotency-Key']);
      const answer = await realFetch(path, options);
      if (!lost) { lost = true; throw new TypeError('answer lost'); }
      return answer;
    };";

#[tokio::test]
async fn the_page_retries_a_lost_send_with_its_key_and_posts_once() {
    use std::time::Duration;

    use crate::browser::{open_page, wait_shown};
    use crate::webdriver::{Driver, ENTER};

    let Some(driver) = Driver::start_or_skip("browser idempotency test").await else {
        return;
    };
    let server = TestServer::start().await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    session.eval(LOSE_FIRST_ANSWER, json!([])).await;
    session
        .type_into("#content", &format!("only once{ENTER}"))
        .await;
    session
        .wait_until(
            "the failed mark",
            "return document.querySelector('#messages .retry') !== null;",
            json!([]),
            Duration::from_secs(10),
        )
        .await;
    session
        .eval(
            "document.querySelector('#messages .retry').click();",
            json!([]),
        )
        .await;
    session
        .wait_until(
            "the retry to be confirmed",
            "return window.sentKeys.length === 2
                && document.querySelector('#messages .retry') === null
                && document.querySelector('#messages [data-pending]') === null;",
            json!([]),
            Duration::from_secs(10),
        )
        .await;
    wait_shown(&session, "only once", Duration::from_secs(10)).await;
    let keys = session.eval("return window.sentKeys;", json!([])).await;
    let keys = keys.as_array().unwrap();
    let first = keys[0].as_str().expect("the POST carried a key");
    assert!((1..=255).contains(&first.len()), "{first}");
    assert_eq!(keys[1], keys[0], "the retry reuses the key");
    assert_eq!(stored_count(&server).await, 1);
    session.quit().await;
    server.stop().await;
}
