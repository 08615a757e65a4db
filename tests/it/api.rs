//! The messages API over real HTTP: every rule of the contract's HTTP section.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::client::{raw, raw_status, request};
use crate::stores::per_store;

fn ids(reply: &Value) -> Vec<i64> {
    reply["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

per_store! {
    async fn post_returns_201_with_location_and_the_stored_message(store) {
        let server = store.start().await;
        let reply = server
            .post_json(r#"{"content": "  hello, world  ", "author": " ada "}"#)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let message = reply.json();
        let id = message["id"].as_i64().unwrap();
        assert_eq!(
            reply.header("location"),
            Some(format!("/api/messages/{id}").as_str())
        );
        assert_eq!(message["content"], "hello, world");
        assert_eq!(message["author"], "ada");
        assert_eq!(message["synced"], false);
        assert_eq!(message["git_commit_hash"], Value::Null);

        let created = message["created_at"].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(created).expect("RFC 3339");
        assert_eq!(parsed.offset().local_minus_utc(), 0);
        assert!(created.ends_with('Z') && created.len() == "2026-01-01T00:00:00.000Z".len());

        let fetched = server.get(&format!("/api/messages/{id}")).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.json(), message);
    }
}

per_store! {
    async fn author_is_optional_and_null_when_blank(store) {
        let server = store.start().await;
        for body in [
            r#"{"content": "a"}"#,
            r#"{"content": "b", "author": null}"#,
            r#"{"content": "c", "author": "  "}"#,
        ] {
            let reply = server.post_json(body).await;
            assert_eq!(reply.status, 201, "{body}: {}", reply.text());
            assert_eq!(reply.json()["author"], Value::Null, "{body}");
        }
    }
}

per_store! {
    async fn unknown_fields_are_ignored(store) {
        let server = store.start().await;
        let reply = server
            .post_json(r#"{"content": "x", "extra": [1, 2], "synced": true}"#)
            .await;
        assert_eq!(reply.status, 201);
        assert_eq!(
            reply.json()["synced"],
            false,
            "clients cannot set server fields"
        );
    }
}

per_store! {
    async fn listing_is_the_newest_fifty_oldest_first(store) {
        let server = store.start().await;
        assert_eq!(
            server.get("/api/messages").await.json(),
            json!({ "messages": [] })
        );
        for i in 1..=55 {
            server.post_message(&format!("message {i}")).await;
        }
        let listed = server.get("/api/messages").await;
        assert_eq!(listed.status, 200);
        assert_eq!(listed.header("content-type"), Some("application/json"));
        assert_eq!(ids(&listed.json()), (6..=55).collect::<Vec<_>>());
    }
}

per_store! {
    async fn after_before_and_limit_page_through_history(store) {
        let server = store.start().await;
        for i in 1..=12 {
            server.post_message(&format!("m{i}")).await;
        }
        let after = server.get("/api/messages?after=9").await.json();
        assert_eq!(ids(&after), [10, 11, 12]);
        let after_limited = server.get("/api/messages?after=2&limit=3").await.json();
        assert_eq!(ids(&after_limited), [3, 4, 5]);
        let nothing_new = server.get("/api/messages?after=12").await.json();
        assert_eq!(ids(&nothing_new), Vec::<i64>::new());
        let before = server.get("/api/messages?before=10&limit=4").await.json();
        assert_eq!(ids(&before), [6, 7, 8, 9]);
        let oldest = server.get("/api/messages?before=3").await.json();
        assert_eq!(ids(&oldest), [1, 2]);
        let newest_two = server.get("/api/messages?limit=2").await.json();
        assert_eq!(ids(&newest_two), [11, 12]);
        let max = server.get("/api/messages?limit=200").await.json();
        assert_eq!(ids(&max).len(), 12);
    }
}

per_store! {
    async fn bad_query_parameters_are_400(store) {
        let server = store.start().await;
        for query in [
            "limit=0",
            "limit=201",
            "limit=-5",
            "limit=abc",
            "limit=",
            "after=abc",
            "after=-1",
            "before=1.5",
            "after=1&before=5",
            "after=1&after=2",
        ] {
            let reply = server.get(&format!("/api/messages?{query}")).await;
            let error = reply.assert_error(400);
            assert!(!error.is_empty(), "{query}");
        }
    }
}

per_store! {
    async fn unknown_or_malformed_ids_are_404(store) {
        let server = store.start().await;
        server.post_message("only one").await;
        for path in [
            "/api/messages/2",
            "/api/messages/999999",
            "/api/messages/abc",
            "/api/messages/-1",
        ] {
            server.get(path).await.assert_error(404);
        }
        assert_eq!(server.get("/api/messages/1").await.status, 200);
    }
}

per_store! {
    async fn every_input_rule_is_a_400_and_stores_nothing(store) {
        let server = store.start().await;
        let long_content = "x".repeat(2001);
        let long_author = "a".repeat(51);
        let cases: Vec<(&str, String)> = vec![
            ("empty content", json!({ "content": "" }).to_string()),
            ("blank content", json!({ "content": " \n\t " }).to_string()),
            (
                "2001 characters",
                json!({ "content": long_content }).to_string(),
            ),
            (
                "51-character author",
                json!({ "content": "x", "author": long_author }).to_string(),
            ),
            (
                "NUL in content",
                json!({ "content": "a\u{0}b" }).to_string(),
            ),
            (
                "escape in content",
                json!({ "content": "a\u{1b}[2Jb" }).to_string(),
            ),
            (
                "bell in author",
                json!({ "content": "x", "author": "a\u{7}" }).to_string(),
            ),
            ("missing content", json!({ "author": "x" }).to_string()),
            ("content not a string", json!({ "content": 5 }).to_string()),
            (
                "author not a string",
                json!({ "content": "x", "author": ["a"] }).to_string(),
            ),
            ("content null", json!({ "content": null }).to_string()),
            ("array body", "[]".into()),
            ("string body", "\"hello\"".into()),
            ("empty body", String::new()),
            ("truncated JSON", r#"{"content": "x""#.into()),
            ("trailing garbage", r#"{"content": "x"} extra"#.into()),
            (
                "deep nesting",
                format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            ),
        ];
        for (name, body) in &cases {
            let error = server.post_json(body).await.assert_error(400);
            assert!(!error.is_empty(), "{name}");
        }
        let invalid_utf8 = request(
            server.addr,
            "POST",
            "/api/messages",
            &[("content-type", "application/json")],
            &b"{\"content\": \"\xff\xfe\"}"[..],
        )
        .await;
        invalid_utf8.assert_error(400);
        assert_eq!(
            ids(&server.get("/api/messages").await.json()),
            Vec::<i64>::new()
        );
    }
}

per_store! {
    async fn limits_are_inclusive_and_count_characters(store) {
        let server = store.start().await;
        let at_limit = "é".repeat(2000);
        let body = json!({ "content": format!("  {at_limit}\n"), "author": "🙂".repeat(50) });
        let reply = server.post_json(&body.to_string()).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        assert_eq!(
            reply.json()["content"].as_str().unwrap().chars().count(),
            2000
        );
        let multiline = server
            .post_json(&json!({ "content": "line 1\n\tline 2" }).to_string())
            .await;
        assert_eq!(multiline.json()["content"], "line 1\n\tline 2");
    }
}

per_store! {
    async fn wrong_content_type_is_415(store) {
        let server = store.start().await;
        let body = r#"{"content": "x"}"#;
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let headers: Vec<(&str, &str)> = content_type
                .map(|t| ("content-type", t))
                .into_iter()
                .collect();
            let reply = request(server.addr, "POST", "/api/messages", &headers, body).await;
            reply.assert_error(415);
        }
        let charset = [("content-type", "application/json; charset=utf-8")];
        let ok = request(server.addr, "POST", "/api/messages", &charset, body).await;
        assert_eq!(ok.status, 201);
    }
}

per_store! {
    async fn bodies_over_16_kib_are_413_even_when_chunked(store) {
        let server = store.start().await;
        let big = json!({ "content": "x".repeat(17 * 1024) }).to_string();
        server.post_json(&big).await.assert_error(413);

        // Chunked, with no Content-Length: the cap must hold while the body streams in.
        let chunk = "a".repeat(4096);
        let mut raw_request = String::from(
            "POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        );
        for _ in 0..5 {
            let _ = write!(raw_request, "{:x}\r\n{chunk}\r\n", chunk.len());
        }
        raw_request.push_str("0\r\n\r\n");
        let answer = raw(server.addr, raw_request.as_bytes()).await;
        assert_eq!(raw_status(&answer), 413, "{answer}");
        assert!(answer.contains("\"error\""), "{answer}");

        // Exactly at the limit is still accepted (and then judged on its content).
        let padding = 16 * 1024 - r#"{"content": "x", "pad": ""}"#.len();
        let at_cap = format!(r#"{{"content": "x", "pad": "{}"}}"#, " ".repeat(padding));
        assert_eq!(at_cap.len(), 16 * 1024);
        assert_eq!(server.post_json(&at_cap).await.status, 201);
        assert_eq!(ids(&server.get("/api/messages").await.json()).len(), 1);
    }
}

per_store! {
    async fn wrong_method_is_405_with_allow_and_unknown_path_404(store) {
        let server = store.start().await;
        for (method, path, allow) in [
            ("DELETE", "/api/messages", "GET, HEAD, POST, OPTIONS"),
            ("PUT", "/api/messages/1", "GET, HEAD, DELETE, OPTIONS"),
            ("GET", "/api/session", "POST, DELETE, OPTIONS"),
            ("POST", "/api/health", "GET, HEAD, OPTIONS"),
            ("POST", "/", "GET, HEAD, OPTIONS"),
            ("PATCH", "/static/app.js", "GET, HEAD, OPTIONS"),
        ] {
            let reply = request(server.addr, method, path, &[], "").await;
            reply.assert_error(405);
            assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
        }
        for path in [
            "/nope",
            "/api",
            "/api/messages/1/2",
            "/api/unknown",
            "/static/missing.js",
        ] {
            server.get(path).await.assert_error(404);
        }
    }
}

per_store! {
    async fn health_answers_ok(store) {
        let server = store.start().await;
        let reply = server.get("/api/health").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!({ "status": "ok" }));
    }
}

per_store! {
    async fn the_openapi_description_is_served(store) {
        let server = store.start().await;
        let reply = server.get("/api/openapi.json").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let doc = reply.json();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/messages"]["post"].is_object());
        server.stop().await;
    }
}

per_store! {
    async fn a_post_body_must_be_a_json_object(store) {
        let server = store.start().await;
        for body in [
            r#"["hello"]"#,
            r#""hello""#,
            "42",
            "null",
            r#"  ["hi", "there"]"#,
        ] {
            let reply = server.post_json(body).await;
            let error = reply.assert_error(400);
            assert!(error.contains("JSON object"), "{body}: {error}");
        }
        // Unknown fields are still allowed and ignored.
        let reply = server
            .post_json(r#" {"content": "ok", "mood": "fine"}"#)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let listed = server.get("/api/messages").await.json();
        assert_eq!(
            listed["messages"].as_array().unwrap().len(),
            1,
            "nothing else stored"
        );
        server.stop().await;
    }
}
