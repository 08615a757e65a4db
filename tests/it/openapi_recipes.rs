//! The requests that reach each documented status code of the OpenAPI description (see
//! `openapi`), sent as raw bytes to the servers it starts.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::openapi::{Servers, CODE, TOKEN};

/// Sends a request as raw bytes and reads only the head: event streams never end, and a
/// shed connection is answered before its request is read. Returns the status and head.
pub(crate) async fn head(
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

pub(crate) const JSON: (&str, &str) = ("Content-Type", "application/json");
pub(crate) const VALID: &[u8] = br#"{"content":"hello","author":"spec"}"#;

/// The request that makes `method template` answer `status`, sent; returns what came back.
/// A documented code with no way to reach it is an error in the description.
pub(crate) async fn reach(
    s: &Servers,
    method: &str,
    template: &str,
    status: u16,
) -> Result<u16, String> {
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
        s.plain
            .state
            .store
            .delete(id)
            .await
            .map_err(|err| err.to_string())?;
        return Ok(head(addr, "POST", path, &keyed, VALID).await);
    }
    Ok(head(addr, "POST", path, &keyed, br#"{"content":"another"}"#).await)
}

/// A header's value from a raw head; names compare without case.
pub(crate) fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}
