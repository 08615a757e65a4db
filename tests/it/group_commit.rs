//! Group commit: concurrent POSTs share transactions yet each gets its own id in commit
//! order, and a batch that cannot commit answers every request in it with a 503 while
//! acknowledging nothing that is not on disk.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::client::request;
use crate::stores::per_store;
use crate::support::TestServer;

async fn post_concurrently(
    server: &TestServer,
    contents: Vec<String>,
) -> Vec<(String, u16, Value)> {
    let tasks: Vec<_> = contents
        .into_iter()
        .map(|content| {
            let addr = server.addr;
            tokio::spawn(async move {
                let body = json!({ "content": content }).to_string();
                let headers = [("content-type", "application/json")];
                let reply = request(addr, "POST", "/api/messages", &headers, body).await;
                let parsed = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
                (content, reply.status, parsed)
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

async fn all_stored(server: &TestServer) -> Vec<Value> {
    let listed = server.get("/api/messages?limit=200").await.json();
    listed["messages"].as_array().unwrap().clone()
}

per_store! {
    async fn concurrent_posts_get_distinct_ids_in_commit_order(store) {
        let server = store.start().await;
        let replies = post_concurrently(&server, (0..200).map(|i| format!("c{i}")).collect()).await;
        let mut acknowledged = BTreeMap::new();
        for (content, status, message) in replies {
            assert_eq!(status, 201);
            let id = message["id"].as_i64().unwrap();
            assert!(
                acknowledged.insert(id, content).is_none(),
                "id {id} given twice"
            );
        }
        let stored = all_stored(&server).await;
        assert_eq!(stored.len(), 200);
        for (message, (id, content)) in stored.iter().zip(&acknowledged) {
            assert_eq!(message["id"].as_i64(), Some(*id));
            assert_eq!(message["content"], content.as_str());
        }
        // Ids follow commit order, and so do the stored times.
        let times: Vec<&str> = stored
            .iter()
            .map(|m| m["created_at"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        server.stop().await;
    }
}

per_store! {
    async fn a_batch_that_cannot_commit_is_a_503_for_every_request_in_it(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_in(dir.path(), |_| {}).await;
        // Injected failure: the store aborts any transaction that inserts this content, so
        // the whole batch it lands in rolls back, as a full disk or an I/O error would.
        let trigger = if store.is_postgres() {
            "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.content = 'poison' THEN RAISE EXCEPTION 'injected failure'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER injected_failure BEFORE INSERT ON messages
             FOR EACH ROW EXECUTE FUNCTION injected_failure();"
        } else {
            "CREATE TRIGGER injected_failure BEFORE INSERT ON messages
             WHEN NEW.content = 'poison' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        };
        store.execute(dir.path(), trigger).await;
        let mut contents: Vec<String> = (0..120).map(|i| format!("ok {i}")).collect();
        for at in [10, 60, 110] {
            contents.insert(at, "poison".into());
        }
        let replies = post_concurrently(&server, contents).await;
        let stored: BTreeMap<i64, Value> = all_stored(&server)
            .await
            .into_iter()
            .map(|m| (m["id"].as_i64().unwrap(), m))
            .collect();
        let mut refused_innocents = 0;
        for (content, status, answer) in &replies {
            match status {
                201 => {
                    let id = answer["id"].as_i64().unwrap();
                    assert_eq!(stored[&id]["content"], content.as_str(), "a 201 is on disk");
                }
                503 => {
                    let error = answer["error"].as_str().expect("a JSON error");
                    assert!(error.contains("commit"), "{error}");
                    refused_innocents += usize::from(content != "poison");
                }
                other => panic!("{content}: {other} {answer}"),
            }
        }
        assert!(replies.iter().all(|(c, s, _)| c != "poison" || *s == 503));
        let acknowledged = replies.iter().filter(|(_, s, _)| *s == 201).count();
        assert_eq!(
            stored.len(),
            acknowledged,
            "nothing unacknowledged was stored"
        );
        assert!(
            stored.values().all(|m| m["content"] != "poison"),
            "the failed batches left nothing behind"
        );
        eprintln!("{refused_innocents} innocent requests shared a failed batch");
        assert_eq!(
            server.get("/api/health").await.status,
            200,
            "the writer lives on"
        );
        server.post_message("after the failures").await;
        server.stop().await;
    }
}
