//! A members-only chat: the same reads and posts as the open rows above, each carrying a
//! signed session cookie that the server checks (an HMAC) on every request.

use super::{load, ms, row, Client, Server};

const CODE: &str = "bench club";

/// Signs in once and answers the `name=value` of the session cookie.
async fn cookie(server: &Server) -> String {
    let body = format!("{{\"code\":\"{CODE}\"}}");
    let request = format!(
        "POST /api/session HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut client = Client::connect(server.addr).await;
    assert_eq!(client.call(request.as_bytes()).await, 204, "signed in");
    let head = String::from_utf8_lossy(&client.buffer).into_owned();
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie").then(|| {
                value
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .expect("a session cookie")
}

/// Prints the rows: the newest page and posts, signed in by cookie.
pub fn rows(runtime: &tokio::runtime::Runtime) {
    let server = Server::start_configured(|_| {}, &[("BOOKCHAT_ACCESS_CODE", CODE)]);
    runtime.block_on(async {
        let cookie = cookie(&server).await;
        let body = "{\"content\":\"signed in\"}";
        let post = format!(
            "POST /api/messages HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n\
             Cookie: {cookie}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // A full newest page, as the open chat's row reads.
        let mut client = Client::connect(server.addr).await;
        for _ in 0..50 {
            assert_eq!(client.call(post.as_bytes()).await, 201);
        }
        let read = format!("GET /api/messages HTTP/1.1\r\nHost: b\r\nCookie: {cookie}\r\n\r\n");
        let r = load(server.addr, 64, read.into_bytes(), 200).await;
        row(
            "GET newest 50, 64 conn, members-only",
            &format!("{:.0}/s", r.per_second),
            &format!("p50 {} p99 {} (cookie)", ms(r.p50), ms(r.p99)),
        );
        let r = load(server.addr, 64, post.into_bytes(), 201).await;
        row(
            "POST, 64 conn, members-only",
            &format!("{:.0}/s", r.per_second),
            &format!("p50 {} p99 {} (cookie)", ms(r.p50), ms(r.p99)),
        );
    });
}
