//! Moderation end to end: the admin token's answers, a deletion through every layer (the
//! API, listings, `410`, the `deleted` event, the GitHub branch with its history kept, a
//! restart, the tombstone), and the figures behind the token.

use std::time::Duration;

use bookchat::cli::ServeArgs;
use bookchat::secret::Secret;
use serde_json::Value;

use crate::client::{request, Reply};
use crate::events::{EventStream, Sse};
use crate::fake_github::FakeGitHub;
use crate::stores::per_store;
use crate::support::{eventually, TestServer};
use crate::sync::message_path;

pub const TOKEN: &str = "moderator-token-for-tests-0123";
const PATIENCE: Duration = Duration::from_secs(30);

pub async fn delete_as(server: &TestServer, id: i64, authorization: Option<&str>) -> Reply {
    let header = authorization.map(|a| ("authorization", a));
    let headers: Vec<(&str, &str)> = header.into_iter().collect();
    let path = format!("/api/messages/{id}");
    request(server.addr, "DELETE", &path, &headers, "").await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn listed_ids(reply: &Reply) -> Vec<i64> {
    reply.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

/// Reads events until one of `kind` arrives, or panics.
async fn next_of(stream: &mut EventStream, kind: &str) -> Value {
    loop {
        match stream.next(Duration::from_secs(10)).await {
            Some(Sse::Event { kind: k, data, .. }) if k == kind => return data,
            Some(_) => {}
            None => panic!("no {kind} event arrived"),
        }
    }
}

per_store! {
    async fn the_admin_token_is_the_only_way_to_delete(store) {
        let server = store.start_with(|args| {
            args.access.admin_token = Some(Secret::new(TOKEN));
            args.access.access_code = Some(Secret::new("the club code"));
        })
        .await;
        let code = bearer("the club code");
        let headers = [
            ("authorization", code.as_str()),
            ("content-type", "application/json"),
        ];
        let posted = request(
            server.addr,
            "POST",
            "/api/messages",
            &headers,
            r#"{"content":"x"}"#,
        );
        let id = posted.await.json()["id"].as_i64().unwrap();

        let none = delete_as(&server, id, None).await;
        none.assert_error(401);
        assert_eq!(
            none.header("www-authenticate"),
            Some("Bearer realm=\"bookchat\"")
        );
        delete_as(&server, id, Some(&bearer("not-the-token-at-all")))
            .await
            .assert_error(403);
        delete_as(&server, id, Some(&code)).await.assert_error(403);
        delete_as(&server, id, Some("Basic bW9kOnNlY3JldA=="))
            .await
            .assert_error(401);
        let lower = format!("bearer {TOKEN}");
        assert_eq!(delete_as(&server, id, Some(&lower)).await.status, 204);
        server.stop().await;

        // Without an admin token nobody may delete, whatever they send.
        let open = store.start().await;
        let id = open.post_message("stays").await["id"].as_i64().unwrap();
        let refused = delete_as(&open, id, Some(&bearer(TOKEN)))
            .await
            .assert_error(403);
        assert!(refused.contains("BOOKCHAT_ADMIN_TOKEN"), "{refused}");
        delete_as(&open, id, None).await.assert_error(403);
        assert_eq!(open.get(&format!("/api/messages/{id}")).await.status, 200);
        open.stop().await;
    }
}

#[tokio::test]
async fn a_short_admin_token_is_a_start_up_error_that_does_not_show_it() {
    let mut args = crate::support::args(std::path::Path::new("unused"));
    args.access.admin_token = Some(Secret::new("short-secret"));
    let err = bookchat::config::Config::from_args(&args)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 16"), "{err}");
    assert!(!err.contains("short-secret"), "{err}");
}

per_store! {
    async fn a_deletion_leaves_every_listing_the_stream_the_branch_and_stays_after_restart(store) {
        let fake = FakeGitHub::start_default().await;
        let dir = tempfile::tempdir().unwrap();
        let moderated = |args: &mut ServeArgs| args.access.admin_token = Some(Secret::new(TOKEN));
        let server = store.start_synced_in(dir.path(), &fake, moderated).await;
        let kept = server.post_message("a kind word").await;
        let spam = server.post_message("BUY CHEAP PILLS at spam.example").await;
        server.wait_all_synced(2, PATIENCE).await;
        let spam_id = spam["id"].as_i64().unwrap();
        let spam_path = message_path(spam_id, spam["created_at"].as_str().unwrap());
        assert!(fake.file(&spam_path).is_some());
        let added_in = fake.commits()[0].sha.clone();

        let mut stream = EventStream::open(server.addr, &[], "").await;
        next_of(&mut stream, "snapshot").await;
        assert_eq!(
            delete_as(&server, spam_id, Some(&bearer(TOKEN)))
                .await
                .status,
            204
        );
        assert_eq!(
            next_of(&mut stream, "deleted").await,
            serde_json::json!({ "id": spam_id })
        );
        let path = format!("/api/messages/{spam_id}");
        server.get(&path).await.assert_error(410);
        delete_as(&server, spam_id, Some(&bearer(TOKEN)))
            .await
            .assert_error(410);
        delete_as(&server, 999_999, Some(&bearer(TOKEN)))
            .await
            .assert_error(404);
        let kept_id = kept["id"].as_i64().unwrap();
        for listing in [
            "/api/messages",
            "/api/messages?after=0",
            "/api/messages?before=99",
        ] {
            assert_eq!(
                listed_ids(&server.get(listing).await),
                [kept_id],
                "{listing}"
            );
        }

        // The next commit takes the file and the day's line away; history keeps them.
        eventually("the file to leave the branch", PATIENCE, || async {
            fake.file(&spam_path).is_none().then_some(())
        })
        .await;
        let day = spam_path.rsplitn(3, '/').nth(2).unwrap().to_owned();
        let page = String::from_utf8(fake.file(&format!("{day}/README.md")).unwrap()).unwrap();
        assert!(
            !page.contains("PILLS") && page.contains("a kind word"),
            "{page}"
        );
        let history = fake.commits();
        let adding = history
            .iter()
            .find(|c| c.sha == added_in)
            .expect("history intact");
        assert!(adding.added.contains(&spam_path), "{adding:?}");
        server.wait_all_synced(2, PATIENCE).await;
        server.stop().await;

        // After a restart it is still deleted, and the row holds no text.
        let server = store.start_synced_in(dir.path(), &fake, moderated).await;
        server.get(&path).await.assert_error(410);
        assert_eq!(listed_ids(&server.get("/api/messages").await), [kept_id]);
        let emptied = format!(
            "SELECT count(*) FROM messages WHERE id = {spam_id} AND content = '' \
             AND author IS NULL AND deleted_at IS NOT NULL"
        );
        let found = store.query_ints(dir.path(), &emptied).await;
        assert_eq!(found, [1], "no text, and the deletion time is kept");
        server.stop().await;
    }
}

per_store! {
    async fn the_figures_need_the_admin_token_once_one_is_set(store) {
        let server = store.start_with(|args| {
            args.access.admin_token = Some(Secret::new(TOKEN));
        })
        .await;
        for path in ["/api/stats", "/metrics"] {
            server.get(path).await.assert_error(401);
            let wrong = bearer("the wrong token, long enough");
            let reply = request(server.addr, "GET", path, &[("authorization", &wrong)], "").await;
            reply.assert_error(403);
            let right = bearer(TOKEN);
            let reply = request(server.addr, "GET", path, &[("authorization", &right)], "").await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
            assert!(!reply.text().contains(TOKEN), "{path} shows the token");
        }
        // Everything else stays open in a chat that is not members-only.
        assert_eq!(server.get("/api/messages").await.status, 200);
        server.post_message("still open").await;
        server.stop().await;
    }
}
