//! The OpenAPI description against the running server: every documented status code of
//! every operation is reached by a real request, every route answers exactly the methods
//! the description lists, and rate-limit headers appear exactly where it says they do.

use std::time::Duration;

use bookchat::cli::LimitArgs;
use bookchat::route::Route;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use bookchat::secret::Secret;

use crate::openapi_recipes::{head, header, reach, JSON, VALID};
use crate::stores::{per_store, StoreKind};
use crate::support::TestServer;

const REPO_COPY: &str = include_str!("../../src/http/handlers/openapi.json");

/// The moderator's token and the access code of the servers that have them.
pub(crate) const TOKEN: &str = "openapi-admin-token-0123";
pub(crate) const CODE: &str = "members";

/// The servers the recipes need: one with rate limits off, one with buckets of one token,
/// one with the default limits (and an admin token), one at its connection cap of 1, and
/// one members-only chat with a moderator.
pub(crate) struct Servers {
    pub(crate) plain: TestServer,
    pub(crate) guarded: TestServer,
    pub(crate) limited: TestServer,
    pub(crate) defaults: TestServer,
    pub(crate) busy: TestServer,
    /// Holds the busy server's only connection slot.
    _holder: TcpStream,
    pub(crate) message_id: i64,
}

impl Servers {
    /// Each server on an empty store of its own, of `store`'s kind.
    async fn start(store: &StoreKind) -> Servers {
        let plain = store.start().await;
        let limited = store
            .another()
            .await
            .start_with(|args| {
                args.limits.read_rate = "1/3600".into();
                args.limits.read_burst = 1;
                args.limits.write_rate = "1/3600".into();
                args.limits.write_burst = 1;
            })
            .await;
        let defaults = store
            .another()
            .await
            .start_with(|args| {
                args.limits = LimitArgs::default();
                args.access.admin_token = Some(Secret::new(TOKEN));
            })
            .await;
        let guarded = store
            .another()
            .await
            .start_with(|args| {
                args.access.admin_token = Some(Secret::new(TOKEN));
                args.access.access_code = Some(Secret::new(CODE));
            })
            .await;
        let busy = store.another().await;
        let busy = busy
            .start_with(|args| args.limits.max_connections = 1)
            .await;
        // An event stream holds the only slot: unlike an idle connection, it is not closed
        // by the header timeout however long the test takes.
        let mut holder = TcpStream::connect(busy.addr).await.expect("connect");
        holder
            .write_all(b"GET /api/events HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("write");
        crate::support::eventually("the slot to be taken", Duration::from_secs(5), || async {
            (head(busy.addr, "GET", "/api/health", &[], b"").await.0 == 503).then_some(())
        })
        .await;
        let message_id = plain.post_message("described").await["id"]
            .as_i64()
            .unwrap();
        let same = defaults.post_message("described").await["id"].as_i64();
        assert_eq!(same, Some(message_id), "one example id on both");
        Servers {
            plain,
            guarded,
            limited,
            defaults,
            busy,
            _holder: holder,
            message_id,
        }
    }

    /// A concrete path for a template.
    pub(crate) fn example(&self, template: &str) -> String {
        template
            .replace("{file}", "app.js")
            .replace("{id}", &self.message_id.to_string())
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &serde_json::Map<String, Value>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            out.push((method.to_uppercase(), path.clone(), responses));
        }
    }
    out
}

per_store! {
    async fn every_documented_status_is_reachable(store) {
        let servers = Servers::start(&store).await;
        let served = servers.plain.get("/api/openapi.json").await;
        assert_eq!(
            served.text(),
            REPO_COPY,
            "the served description is the repository's"
        );
        let doc: Value = serde_json::from_str(REPO_COPY).unwrap();
        let mut checked = 0;
        let mut wrong = Vec::new();
        for (method, template, responses) in operations(&doc) {
            for code in responses.keys() {
                let status: u16 = code.parse().expect("numeric status codes");
                match reach(&servers, &method, &template, status).await {
                    Ok(got) if got == status => checked += 1,
                    Ok(got) => wrong.push(format!("{method} {template} {status}: answered {got}")),
                    Err(why) => wrong.push(format!("{method} {template} {status}: {why}")),
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // 12 paths with GET or POST and OPTIONS: over 70 answers in all.
        assert!(checked > 70, "only {checked} checked");
    }
}

per_store! {
    /// Rate-limit headers appear exactly on the operations documented as limited, and those
    /// (and only those, with signing in, limited on its failures) document a 429.
    async fn rate_limits_are_where_the_description_says(store) {
        let servers = Servers::start(&store).await;
        let doc: Value = serde_json::from_str(REPO_COPY).unwrap();
        for (method, template, responses) in operations(&doc) {
            let Some((code, success)) = responses.iter().find(|(c, _)| c.starts_with('2')) else {
                panic!("{method} {template} documents no success");
            };
            let documented = success["headers"].get("X-RateLimit-Limit").is_some();
            // Signing in is limited on wrong codes only, so its success carries no quota.
            let limited = responses.contains_key("429") && template != "/api/session";
            assert_eq!(
                documented, limited,
                "{method} {template}: rate-limit headers and 429 go together"
            );
            let sign_in = format!(r#"{{"code":"{TOKEN}"}}"#);
            let body: &[u8] = match (method.as_str(), template.as_str()) {
                ("POST", "/api/session") => sign_in.as_bytes(),
                ("POST", _) => VALID,
                _ => b"",
            };
            let path = if method == "DELETE" && template == "/api/messages/{id}" {
                let (_, posted) = head(
                    servers.defaults.addr,
                    "POST",
                    "/api/messages",
                    &[JSON],
                    VALID,
                )
                .await;
                header(&posted, "location").expect("a message to delete")
            } else {
                servers.example(&template)
            };
            // The defaults server has an admin token: the figures and deletions need it.
            let admin = format!("Bearer {TOKEN}");
            let headers = [JSON, ("Authorization", admin.as_str())];
            let defaults = servers.defaults.addr;
            let (status, answer) = head(defaults, &method, &path, &headers, body).await;
            assert_eq!(status.to_string(), *code, "{method} {template}");
            assert_eq!(
                header(&answer, "x-ratelimit-limit").is_some(),
                documented,
                "{method} {template}: {answer}"
            );
        }
    }
}

per_store! {
    /// Each route answers the methods the description lists and `405` with `Allow` to others.
    async fn routes_answer_exactly_the_documented_methods(store) {
        let servers = Servers::start(&store).await;
        let doc: Value = serde_json::from_str(REPO_COPY).unwrap();
        for route in Route::ALL.into_iter().filter(|r| *r != Route::Other) {
            let path = servers.example(route.path());
            let item = &doc["paths"][route.path()];
            assert!(item.is_object(), "{} is not described", route.path());
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                let (status, answer) = head(servers.plain.addr, method, &path, &[JSON], b"").await;
                if item.get(method.to_lowercase()).is_some() {
                    assert!(![404, 405].contains(&status), "{method} {path}: {status}");
                } else {
                    assert_eq!(status, 405, "{method} {path}");
                    assert_eq!(header(&answer, "allow").as_deref(), Some(route.allow()));
                }
            }
        }
        let (status, _) = head(servers.plain.addr, "GET", "/api/nope", &[], b"").await;
        assert_eq!(status, 404);
    }
}
