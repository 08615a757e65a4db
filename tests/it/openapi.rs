//! The OpenAPI description against the running server: every documented status code of
//! every operation is reached by a real request, every route answers exactly the methods
//! the description lists, and rate-limit headers appear exactly where it says they do.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use bookchat::cli::LimitArgs;
use bookchat::route::Route;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use bookchat::secret::Secret;

use crate::support::TestServer;

const REPO_COPY: &str = include_str!("../../src/http/handlers/openapi.json");

/// The moderator's token and the access code of the servers that have them.
const TOKEN: &str = "openapi-admin-token-0123";
const CODE: &str = "members";

/// The servers the recipes need: one with rate limits off, one with buckets of one token,
/// one with the default limits (and an admin token), one at its connection cap of 1, and
/// one members-only chat with a moderator.
struct Servers {
    plain: TestServer,
    guarded: TestServer,
    limited: TestServer,
    defaults: TestServer,
    busy: TestServer,
    /// Holds the busy server's only connection slot.
    _holder: TcpStream,
    message_id: i64,
}

impl Servers {
    async fn start() -> Servers {
        let plain = TestServer::start().await;
        let limited = TestServer::start_with(|args| {
            args.limits.read_rate = "1/3600".into();
            args.limits.read_burst = 1;
            args.limits.write_rate = "1/3600".into();
            args.limits.write_burst = 1;
        })
        .await;
        let defaults = TestServer::start_with(|args| {
            args.limits = LimitArgs::default();
            args.access.admin_token = Some(Secret::new(TOKEN));
        })
        .await;
        let guarded = TestServer::start_with(|args| {
            args.access.admin_token = Some(Secret::new(TOKEN));
            args.access.access_code = Some(Secret::new(CODE));
        })
        .await;
        let busy = TestServer::start_with(|args| args.limits.max_connections = 1).await;
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
    fn example(&self, template: &str) -> String {
        template
            .replace("{file}", "app.js")
            .replace("{id}", &self.message_id.to_string())
    }
}

/// Sends a request as raw bytes and reads only the head: event streams never end, and a
/// shed connection is answered before its request is read. Returns the status and head.
async fn head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    if !body.is_empty() {
        let _ = write!(request, "Content-Length: {}\r\n", body.len());
    }
    request.push_str("\r\n");
    // The server may answer (and close) before reading all of it; that is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const VALID: &[u8] = br#"{"content":"hello","author":"spec"}"#;

/// The request that makes `method template` answer `status`, sent; returns what came back.
/// A documented code with no way to reach it is an error in the description.
async fn reach(s: &Servers, method: &str, template: &str, status: u16) -> Result<u16, String> {
    let path = s.example(template);
    let plain = s.plain.addr;
    let body: &[u8] = if method == "POST" { VALID } else { b"" };
    let json: &[(&str, &str)] = if method == "POST" { &[JSON] } else { &[] };
    if let Some(answer) = reach_guarded(s, method, template, status).await {
        return Ok(answer?.0);
    }
    let answer = match (method, template, status) {
        (_, _, 414) => {
            let long = format!("{path}?pad={}", "a".repeat(9000));
            head(plain, method, &long, json, body).await
        }
        (_, _, 431) => {
            let names: Vec<String> = (0..70).map(|i| format!("X-Pad-{i}")).collect();
            let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
            many.extend_from_slice(json);
            head(plain, method, &path, &many, body).await
        }
        (_, _, 503) => head(s.busy.addr, method, &path, json, body).await,
        (_, _, 429) => {
            head(s.limited.addr, method, &path, json, body).await;
            head(s.limited.addr, method, &path, json, body).await
        }
        ("OPTIONS", _, 204) => {
            let preflight = [
                ("Origin", "http://example.com"),
                ("Access-Control-Request-Method", "GET"),
            ];
            head(plain, method, &path, &preflight, b"").await
        }
        ("GET", _, 200) | ("POST", _, 201) => head(plain, method, &path, json, body).await,
        ("DELETE", "/api/messages/{id}", 204) => {
            let admin = format!("Bearer {TOKEN}");
            let auth = [("Authorization", admin.as_str())];
            let (_, posted) = head(s.defaults.addr, "POST", "/api/messages", &[JSON], VALID).await;
            let path = header(&posted, "location").ok_or("no Location to delete")?;
            head(s.defaults.addr, method, &path, &auth, b"").await
        }
        ("GET", _, 304) => {
            let (_, first) = head(plain, method, &path, &[], b"").await;
            let etag = header(&first, "etag").ok_or("no ETag to revalidate with")?;
            head(plain, method, &path, &[("If-None-Match", &etag)], b"").await
        }
        ("GET", "/static/{file}", 404) => head(plain, method, "/static/missing.js", &[], b"").await,
        ("GET", "/api/messages/{id}", 404) => {
            head(plain, method, "/api/messages/987654321", &[], b"").await
        }
        ("GET", "/api/messages", 400) => {
            head(plain, method, "/api/messages?limit=0", &[], b"").await
        }
        ("GET", "/api/events", 400) => {
            head(plain, method, &path, &[("Last-Event-ID", "soon")], b"").await
        }
        ("POST", _, 400) => head(plain, method, &path, json, br#"{"content":"  "}"#).await,
        ("POST", _, 410 | 422) => keyed_repeat(s, &path, status).await?,
        ("POST", _, 413) => head(plain, method, &path, json, &vec![b'x'; 20 * 1024]).await,
        ("POST", _, 415) => {
            head(
                plain,
                method,
                &path,
                &[("Content-Type", "text/plain")],
                VALID,
            )
            .await
        }
        _ => return Err("no request is known to reach it".into()),
    };
    Ok(answer.0)
}

/// What needs the members-only server, a session or the moderator; `None` for what the
/// general recipes reach.
async fn reach_guarded(
    s: &Servers,
    method: &str,
    template: &str,
    status: u16,
) -> Option<Result<(u16, String), String>> {
    let guarded = s.guarded.addr;
    let admin = format!("Bearer {TOKEN}");
    let member = format!("Bearer {CODE}");
    let evil = ("Origin", "https://evil.example");
    let sign_in = |code: &str| format!(r#"{{"code":"{code}"}}"#).into_bytes();
    let answer = match (method, template, status) {
        (_, "/api/session", 204) => head(guarded, method, template, &[JSON], &sign_in(CODE)).await,
        ("POST", "/api/session", 400) => head(guarded, method, template, &[JSON], b"{}").await,
        ("POST", "/api/session", 401) => {
            head(guarded, method, template, &[JSON], &sign_in("wrong")).await
        }
        ("POST", "/api/session", 429) => {
            for _ in 0..5 {
                head(s.limited.addr, method, template, &[JSON], &sign_in("wrong")).await;
            }
            head(s.limited.addr, method, template, &[JSON], &sign_in("wrong")).await
        }
        (_, "/api/session", 403) => {
            head(guarded, method, template, &[JSON, evil], &sign_in(CODE)).await
        }
        (_, _, 401) => {
            let body: &[u8] = if method == "POST" { VALID } else { b"" };
            head(guarded, method, &s.example(template), &[JSON], body).await
        }
        ("POST", "/api/messages", 403) => {
            let (_, signed_in) =
                head(guarded, "POST", "/api/session", &[JSON], &sign_in(CODE)).await;
            let cookie = header(&signed_in, "set-cookie").unwrap_or_default();
            let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
            head(
                guarded,
                method,
                template,
                &[JSON, evil, ("Cookie", &cookie)],
                VALID,
            )
            .await
        }
        (_, _, 403) => {
            head(
                guarded,
                method,
                &s.example(template),
                &[("Authorization", &member)],
                b"",
            )
            .await
        }
        ("DELETE", "/api/messages/{id}", 404) => {
            let auth = [("Authorization", admin.as_str())];
            head(guarded, method, "/api/messages/987654321", &auth, b"").await
        }
        (_, "/api/messages/{id}", 410) if method != "POST" => {
            let auth = [("Authorization", admin.as_str())];
            let path = posted_and_deleted(guarded, &admin).await?;
            head(guarded, method, &path, &auth, b"").await
        }
        _ => return None,
    };
    Some(Ok(answer))
}

/// The path of a message posted to `addr`, then deleted by the moderator.
async fn posted_and_deleted(addr: SocketAddr, admin: &str) -> Option<String> {
    let auth = ("Authorization", admin);
    let (_, posted) = head(addr, "POST", "/api/messages", &[JSON, auth], VALID).await;
    let path = header(&posted, "location")?;
    let (status, _) = head(addr, "DELETE", &path, &[auth], b"").await;
    (status == 204).then_some(path)
}

/// A repeat of an `Idempotency-Key`: with another body (`422`), or after its message was
/// deleted (`410`).
async fn keyed_repeat(s: &Servers, path: &str, status: u16) -> Result<(u16, String), String> {
    let addr = s.plain.addr;
    let key = format!("spec-{status}");
    let keyed = [JSON, ("Idempotency-Key", key.as_str())];
    let (_, first) = head(addr, "POST", path, &keyed, VALID).await;
    if status == 410 {
        let location = header(&first, "location").ok_or("no Location to find the message")?;
        let id: i64 = location
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .ok_or("an unreadable Location")?;
        let conn = bookchat::db::open_writer(&s.plain.state.config.db_path())
            .map_err(|err| err.to_string())?;
        bookchat::db::tombstone(&conn, id, &bookchat::db::now_rfc3339())
            .map_err(|err| err.to_string())?;
        return Ok(head(addr, "POST", path, &keyed, VALID).await);
    }
    Ok(head(addr, "POST", path, &keyed, br#"{"content":"another"}"#).await)
}

/// A header's value from a raw head; names compare without case.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
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

#[tokio::test]
async fn every_documented_status_is_reachable() {
    let servers = Servers::start().await;
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

/// Rate-limit headers appear exactly on the operations documented as limited, and those
/// (and only those, with signing in, limited on its failures) document a 429.
#[tokio::test]
async fn rate_limits_are_where_the_description_says() {
    let servers = Servers::start().await;
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
        let (status, answer) = head(servers.defaults.addr, &method, &path, &headers, body).await;
        assert_eq!(status.to_string(), *code, "{method} {template}");
        assert_eq!(
            header(&answer, "x-ratelimit-limit").is_some(),
            documented,
            "{method} {template}: {answer}"
        );
    }
}

/// Each route answers the methods the description lists and `405` with `Allow` to others.
#[tokio::test]
async fn routes_answer_exactly_the_documented_methods() {
    let servers = Servers::start().await;
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
