//! Self-tests of the fake: the GitHub behaviour the sync worker's tests will rely on, checked
//! over real HTTP. This file holds the shared client helpers.

mod archive;
mod faults;
mod limits;
mod objects;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use super::FakeGitHub;
use crate::client::{request, Reply};

/// `printf 'hello\n' | git hash-object --stdin`
const HELLO_BLOB: &str = "ce013625030ba8dba906f756967f9e9ca394464a";
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

fn repo_path(fake: &FakeGitHub, rest: &str) -> String {
    format!("/repos/{}/{rest}", fake.repo())
}

/// An authenticated request to `/repos/{owner}/{repo}/{rest}`; a `Null` body sends none.
async fn api(fake: &FakeGitHub, method: &str, rest: &str, body: Value) -> Reply {
    let auth = fake.auth_header();
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    request(fake.addr(), method, &repo_path(fake, rest), &headers, body).await
}

async fn put_file(fake: &FakeGitHub, path: &str, bytes: &[u8], sha: Option<&str>) -> Reply {
    let mut body = json!({ "message": format!("write {path}"), "content": STANDARD.encode(bytes) });
    if let Some(sha) = sha {
        body["sha"] = json!(sha);
    }
    api(fake, "PUT", &format!("contents/{path}"), body).await
}

/// Like `client::request`, but a connection closed without an answer is an `Err`.
async fn try_put(fake: &FakeGitHub, path: &str, bytes: &[u8]) -> Result<u16, hyper::Error> {
    let stream = TcpStream::connect(fake.addr()).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let body = json!({ "message": "lost", "content": STANDARD.encode(bytes) }).to_string();
    let req = hyper::Request::builder()
        .method("PUT")
        .uri(repo_path(fake, &format!("contents/{path}")))
        .header(HOST, fake.addr().to_string())
        .header(AUTHORIZATION, fake.auth_header())
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    Ok(sender.send_request(req).await?.status().as_u16())
}

fn assert_github_error(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["message"], message, "{}", reply.text());
    assert_eq!(body["documentation_url"], "https://docs.github.com/rest");
    let content_type = reply.header("content-type");
    assert_eq!(content_type, Some("application/json; charset=utf-8"));
}
