//! Members-only chats over real HTTP: what is closed without a session, the sign-in flow
//! and its cookie, expiry, sessions across a restart and a key or code change, brute
//! force, cross-site requests, and a display name that signs posts.

use std::path::Path;

use bookchat::auth::{Role, Session, Sessions, LIFETIME_SECS};
use bookchat::secret::Secret;

use crate::client::{request, request_from, Reply};
use crate::moderation::TOKEN;
use crate::stores::{per_store, StoreKind};
use crate::support::TestServer;

const CODE: &str = "open sesame";
const JSON: (&str, &str) = ("content-type", "application/json");

async fn members_only(store: &StoreKind, dir: &Path, code: &str) -> TestServer {
    let code = code.to_owned();
    store
        .start_in(dir, move |args| {
            args.access.access_code = Some(Secret::new(code));
            args.access.admin_token = Some(Secret::new(TOKEN));
        })
        .await
}

async fn sign_in(server: &TestServer, body: &str) -> Reply {
    request(
        server.addr,
        "POST",
        "/api/session",
        &[JSON],
        body.to_owned(),
    )
    .await
}

/// The `name=value` part of a successful sign-in's cookie.
async fn cookie_for(server: &TestServer, code: &str) -> String {
    let reply = sign_in(server, &format!(r#"{{"code":"{code}","name":"Ann"}}"#)).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let set = reply.header("set-cookie").expect("a cookie");
    set.split(';').next().unwrap().to_owned()
}

async fn get_with(server: &TestServer, path: &str, cookie: &str) -> Reply {
    request(server.addr, "GET", path, &[("cookie", cookie)], "").await
}

per_store! {
    async fn every_closed_route_needs_a_session_and_the_way_in_stays_open(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = members_only(&store, dir.path(), CODE).await;
        for (method, path) in [
            ("GET", "/api/messages"),
            ("GET", "/api/messages?after=0"),
            ("GET", "/api/messages/1"),
            ("POST", "/api/messages"),
            ("DELETE", "/api/messages/1"),
            ("GET", "/api/events"),
            ("GET", "/api/stats"),
            ("GET", "/metrics"),
            ("GET", "/api/openapi.json"),
            ("GET", "/api/unknown"),
        ] {
            let reply = request(server.addr, method, path, &[JSON], r#"{"content":"x"}"#).await;
            let error = reply.assert_error(401);
            assert!(!error.contains(CODE) && !error.contains(TOKEN), "{error}");
            assert!(
                reply.header("www-authenticate").is_some(),
                "{method} {path}"
            );
        }
        for path in [
            "/",
            "/static/app.js",
            "/sw.js",
            "/manifest.webmanifest",
            "/api/health",
        ] {
            assert_eq!(server.get(path).await.status, 200, "{path}");
        }
        let page = server.get("/").await.text();
        assert!(
            page.contains(r#"content="private moderation""#),
            "the page knows to ask"
        );
        let preflight = request(server.addr, "OPTIONS", "/api/messages", &[], "").await;
        assert_eq!(preflight.status, 204);
        // API clients may show the code itself; so may the moderator.
        for secret in [CODE, TOKEN] {
            let auth = format!("Bearer {secret}");
            let headers = [("authorization", auth.as_str())];
            let reply = request(server.addr, "GET", "/api/messages", &headers, "").await;
            assert_eq!(reply.status, 200);
        }
        server.stop().await;
    }
}

per_store! {
    async fn signing_in_sets_a_strict_cookie_that_opens_the_chat_and_names_the_poster(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = members_only(&store, dir.path(), CODE).await;
        sign_in(&server, r#"{"code":"nope"}"#)
            .await
            .assert_error(401);
        sign_in(&server, r#"{"code":5}"#).await.assert_error(400);
        let long = format!(r#"{{"code":"{CODE}","name":"{}"}}"#, "n".repeat(51));
        sign_in(&server, &long).await.assert_error(400);
        let reply = sign_in(&server, &format!(r#"{{"code":"{CODE}","name":" Ann "}}"#)).await;
        assert_eq!(reply.status, 204);
        let set = reply.header("set-cookie").unwrap().to_owned();
        for attribute in [
            "Path=/",
            "HttpOnly",
            "SameSite=Strict",
            &format!("Max-Age={LIFETIME_SECS}"),
        ] {
            assert!(set.contains(attribute), "{attribute} missing: {set}");
        }
        assert!(!set.contains("Secure"), "plain HTTP in development: {set}");
        assert!(!set.contains(CODE), "{set}");
        let cookie = set.split(';').next().unwrap();

        assert_eq!(get_with(&server, "/api/messages", cookie).await.status, 200);
        let stream = crate::events::EventStream::open(server.addr, &[("cookie", cookie)], "").await;
        assert_eq!(stream.status, 200, "the event stream opens with a session");
        let shut = crate::events::EventStream::open(server.addr, &[], "").await;
        assert_eq!(shut.status, 401, "and only with one");
        let origin = format!("http://{}", server.addr);
        let headers = [JSON, ("cookie", cookie), ("origin", origin.as_str())];
        let posted = request(
            server.addr,
            "POST",
            "/api/messages",
            &headers,
            r#"{"content":"hi"}"#,
        );
        let posted = posted.await;
        assert_eq!(posted.status, 201, "{}", posted.text());
        assert_eq!(
            posted.json()["author"],
            "Ann",
            "the display name fills a missing author"
        );
        let named = r#"{"content":"hi","author":"Bea"}"#;
        let posted = request(server.addr, "POST", "/api/messages", &headers, named).await;
        assert_eq!(posted.json()["author"], "Bea", "a given author wins");
        // A member is not a moderator.
        let id = posted.json()["id"].as_i64().unwrap();
        let path = format!("/api/messages/{id}");
        let delete = request(server.addr, "DELETE", &path, &headers, "").await;
        delete.assert_error(403);
        let stats = get_with(&server, "/api/stats", cookie).await;
        stats.assert_error(403);

        let out = request(
            server.addr,
            "DELETE",
            "/api/session",
            &[("cookie", cookie)],
            "",
        )
        .await;
        assert_eq!(out.status, 204);
        let cleared = out.header("set-cookie").unwrap();
        assert!(
            cleared.contains("Max-Age=0") && cleared.starts_with("bookchat_session=;"),
            "{cleared}"
        );
        server.stop().await;
    }
}

per_store! {
    async fn the_admin_token_signs_in_as_moderator_who_deletes_from_the_same_site_only(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = members_only(&store, dir.path(), CODE).await;
        let cookie = cookie_for(&server, TOKEN).await;
        let page = get_with(&server, "/", &cookie).await.text();
        assert!(
            page.contains("signed-in moderator"),
            "the page shows the controls"
        );
        let auth = format!("Bearer {CODE}");
        let headers = [JSON, ("authorization", auth.as_str())];
        let body = r#"{"content":"doomed"}"#;
        let id = request(server.addr, "POST", "/api/messages", &headers, body)
            .await
            .json()["id"]
            .as_i64()
            .unwrap();
        let path = format!("/api/messages/{id}");
        let evil = [
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
        ];
        request(server.addr, "DELETE", &path, &evil, "")
            .await
            .assert_error(403);
        let fetch = [
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "cross-site"),
        ];
        request(server.addr, "DELETE", &path, &fetch, "")
            .await
            .assert_error(403);
        let origin = format!("http://{}", server.addr);
        let same = [("cookie", cookie.as_str()), ("origin", origin.as_str())];
        assert_eq!(
            request(server.addr, "DELETE", &path, &same, "")
                .await
                .status,
            204
        );
        assert_eq!(get_with(&server, "/api/stats", &cookie).await.status, 200);
        server.stop().await;
    }
}

per_store! {
    async fn a_cross_site_form_post_is_refused(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = members_only(&store, dir.path(), CODE).await;
        let cookie = cookie_for(&server, CODE).await;
        // What a hostile page's <form method=post> sends: its origin, a form body, our cookie
        // (were the browser to send it despite SameSite=Strict).
        let form = [
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let reply = request(server.addr, "POST", "/api/messages", &form, "content=pwned").await;
        let error = reply.assert_error(403);
        assert!(error.contains("another site"), "{error}");
        let signin = [JSON, ("origin", "https://evil.example")];
        let body = format!(r#"{{"code":"{CODE}"}}"#);
        request(server.addr, "POST", "/api/session", &signin, body)
            .await
            .assert_error(403);
        // Bearer requests are not the browser's ambient credentials: no origin rule.
        let auth = format!("Bearer {CODE}");
        let api = [
            JSON,
            ("authorization", auth.as_str()),
            ("origin", "https://elsewhere.example"),
        ];
        let reply = request(
            server.addr,
            "POST",
            "/api/messages",
            &api,
            r#"{"content":"ok"}"#,
        )
        .await;
        assert_eq!(reply.status, 201);
        let listed = request(server.addr, "GET", "/api/messages", &api, "")
            .await
            .text();
        assert!(!listed.contains("pwned"), "{listed}");
        server.stop().await;
    }
}

per_store! {
    async fn wrong_codes_past_five_a_minute_are_refused_even_the_right_one(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = members_only(&store, dir.path(), CODE).await;
        // Right codes do not count against the limit.
        for _ in 0..6 {
            assert_eq!(
                sign_in(&server, &format!(r#"{{"code":"{CODE}"}}"#))
                    .await
                    .status,
                204
            );
        }
        for attempt in 0..5 {
            let reply = sign_in(&server, &format!(r#"{{"code":"guess {attempt}"}}"#)).await;
            reply.assert_error(401);
        }
        let limited = sign_in(&server, r#"{"code":"guess 6"}"#).await;
        limited.assert_error(429);
        let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let right = format!(r#"{{"code":"{CODE}"}}"#);
        sign_in(&server, &right).await.assert_error(429);
        // Another client is not affected.
        let other = "127.0.0.2".parse().unwrap();
        let reply = request_from(other, server.addr, "POST", "/api/session", &[JSON], right).await;
        assert_eq!(reply.status, 204);
        server.stop().await;
    }
}

per_store! {
    async fn sessions_expire_survive_a_restart_and_end_with_a_new_key_or_code(store) {
        let dir = tempfile::tempdir().unwrap();
        let server = members_only(&store, dir.path(), CODE).await;
        let member = cookie_for(&server, CODE).await;
        let moderator = cookie_for(&server, TOKEN).await;
        // Signed with the server's own key, but ended a second ago.
        let now = chrono::Utc::now().timestamp();
        let ended = Session {
            role: Role::Member,
            name: None,
            expires_at: now - 1,
        };
        let expired = format!(
            "bookchat_session={}",
            server.state.sessions.sign(&ended).unwrap()
        );
        get_with(&server, "/api/messages", &expired)
            .await
            .assert_error(401);
        let fresh = Sessions::start(Role::Member, None, now);
        assert_eq!(fresh.expires_at, now + LIFETIME_SECS);
        server.stop().await;

        let server = members_only(&store, dir.path(), CODE).await;
        assert_eq!(
            get_with(&server, "/api/messages", &member).await.status,
            200
        );
        server.stop().await;

        // A new key ends every session.
        let forget = "DELETE FROM settings WHERE name = 'session_key'";
        store.execute(dir.path(), forget).await;
        let server = members_only(&store, dir.path(), CODE).await;
        for old in [&member, &moderator] {
            let reply = get_with(&server, "/api/messages", old).await;
            reply.assert_error(401);
        }
        let member = cookie_for(&server, CODE).await;
        let moderator = cookie_for(&server, TOKEN).await;
        server.stop().await;

        // So does a new access code, for the moderator too.
        let server = members_only(&store, dir.path(), "a brand new code").await;
        for old in [&member, &moderator] {
            let reply = get_with(&server, "/api/messages", old).await;
            reply.assert_error(401);
        }
        server.stop().await;
    }
}

per_store! {
    async fn production_cookies_are_secure(store) {
        let server = store.start_with(|args| {
            args.access.access_code = Some(Secret::new(CODE));
            args.environment = bookchat::cli::Environment::Production;
        })
        .await;
        let reply = sign_in(&server, &format!(r#"{{"code":"{CODE}"}}"#)).await;
        assert_eq!(reply.status, 204);
        assert!(reply.header("set-cookie").unwrap().ends_with("; Secure"));
        server.stop().await;
    }
}
