//! HTTPS with certificate files: the page and the API over TLS, plain HTTP sent to the TLS
//! port, production's headers and cookies, the redirect port, bad files, and SIGHUP.

use std::path::PathBuf;
use std::time::Duration;

use bookchat::cli::Environment;
use bookchat::secret::Secret;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::binary::{run, spawn_server, Running};
use crate::client::{free_port, raw, raw_status, request};
use crate::https::{replace, Https, TestCa};
use crate::support::{eventually, TestServer};

const CODE: &str = "members-only-code";

/// A CA, a certificate for localhost written to a temp dir, and the directory's guard.
struct Files {
    ca: TestCa,
    cert: PathBuf,
    key: PathBuf,
    dir: tempfile::TempDir,
}

fn files() -> Files {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = ca.issue(&["localhost"]).write(dir.path());
    Files { ca, cert, key, dir }
}

async fn start_tls(
    files: &Files,
    adjust: impl FnOnce(&mut bookchat::cli::ServeArgs),
) -> TestServer {
    let (cert, key) = (files.cert.clone(), files.key.clone());
    TestServer::start_with(move |args| {
        args.tls.tls_cert = Some(cert);
        args.tls.tls_key = Some(key);
        adjust(args);
    })
    .await
}

#[tokio::test]
async fn the_page_and_the_api_are_served_over_https() {
    let files = files();
    let server = start_tls(&files, |_| {}).await;
    let mut https = Https::connect(server.addr, "localhost", &[files.ca.der()])
        .await
        .expect("TLS handshake");
    assert_eq!(https.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let page = https.send("GET", "/", "").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<html"), "{}", page.text());
    let posted = https
        .send(
            "POST",
            "/api/messages",
            r#"{"content":"over TLS","author":"ana"}"#,
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    let listed = https.send("GET", "/api/messages", "").await.json();
    let contents: Vec<_> = listed["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, ["over TLS"]);
    server.stop().await;
}

#[tokio::test]
async fn stats_and_metrics_say_when_the_certificate_expires() {
    let files = files();
    let server = start_tls(&files, |_| {}).await;
    let mut https = Https::connect(server.addr, "localhost", &[files.ca.der()])
        .await
        .expect("TLS handshake");
    let stats = https.send("GET", "/api/stats", "").await.json();
    // `files()` issues for 30 days from now (valid since yesterday).
    let days = stats["tls"]["certificate_days_left"]
        .as_f64()
        .expect("days left");
    assert!((29.9..=30.0).contains(&days), "{stats}");
    let expires = stats["tls"]["certificate_expires_at"]
        .as_str()
        .expect("a date");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    let metrics = https.send("GET", "/metrics", "").await.text();
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bookchat_tls_certificate_expiry_timestamp_seconds "))
        .expect("the expiry gauge");
    let gauge: f64 = gauge.parse().expect("a number");
    assert_eq!(gauge.to_string(), expires.timestamp().to_string());
    server.stop().await;
    // Plain HTTP has no certificate to tell of.
    let plain = TestServer::start().await;
    assert!(plain.stats().await["tls"].is_null());
    let metrics = plain.get("/metrics").await.text();
    assert!(!metrics.contains("bookchat_tls_"), "{metrics}");
    plain.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_400_and_tls_goes_on() {
    let files = files();
    let server = start_tls(&files, |_| {}).await;
    let answer = raw(
        server.addr,
        b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 400, "{answer}");
    assert!(answer.contains("this port speaks HTTPS"), "{answer}");
    // A handshake record that is garbage, and one cut off half-way: closed, nothing more.
    let garbage = raw(server.addr, &[0x16, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4]).await;
    assert!(!garbage.contains("HTTP/1.1 5"), "{garbage}");
    let mut half = TcpStream::connect(server.addr).await.expect("connect");
    half.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    drop(half);
    let mut https = Https::connect(server.addr, "localhost", &[files.ca.der()])
        .await
        .expect("TLS still served");
    assert_eq!(https.send("GET", "/api/health", "").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn over_https_cookies_are_secure_and_production_adds_hsts() {
    for environment in [Environment::Production, Environment::Development] {
        let files = files();
        let server = start_tls(&files, |args| {
            args.environment = environment;
            args.access.access_code = Some(Secret::new(CODE));
        })
        .await;
        let mut https = Https::connect(server.addr, "localhost", &[files.ca.der()])
            .await
            .expect("TLS handshake");
        let signed_in = https
            .send("POST", "/api/session", &format!(r#"{{"code":"{CODE}"}}"#))
            .await;
        assert_eq!(signed_in.status, 204, "{}", signed_in.text());
        let cookie = signed_in.header("set-cookie").expect("a session cookie");
        assert!(
            cookie.contains("; Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let hsts = signed_in.header("strict-transport-security");
        if environment == Environment::Production {
            assert!(hsts.is_some_and(|h| h.contains("max-age=")), "{hsts:?}");
        } else {
            // No HSTS pins a development certificate in the browser for a year.
            assert_eq!(hsts, None);
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn the_redirect_port_answers_308_to_the_same_path_on_https() {
    let files = files();
    let redirect_port = free_port();
    let server = start_tls(&files, |args| {
        args.tls.http_redirect_port = Some(redirect_port);
    })
    .await;
    let plain = std::net::SocketAddr::from(([127, 0, 0, 1], redirect_port));
    for method in ["GET", "POST"] {
        let answer = request(plain, method, "/api/messages?after=3", &[], "").await;
        assert_eq!(answer.status, 308, "{method}: {}", answer.text());
        let expected = format!(
            "https://127.0.0.1:{}/api/messages?after=3",
            server.addr.port()
        );
        assert_eq!(answer.header("location"), Some(expected.as_str()));
    }
    server.stop().await;
    // The redirect port closes with the server.
    assert!(TcpStream::connect(plain).await.is_err());
}

#[test]
fn bad_certificate_files_stop_the_start_with_one_line() {
    let files = files();
    let dir = files.dir.path();
    let other = files.ca.issue(&["localhost"]);
    let (stray_key, not_pem, empty) = (
        dir.join("stray.key"),
        dir.join("notes.txt"),
        dir.join("empty.pem"),
    );
    std::fs::write(&stray_key, &other.key_pem).unwrap();
    std::fs::write(&not_pem, "just some text\n").unwrap();
    std::fs::write(&empty, "").unwrap();
    let missing = dir.join("missing.pem");
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    let cases = [
        (
            path(&missing),
            path(&files.key),
            "cannot read BOOKCHAT_TLS_CERT",
        ),
        (path(&not_pem), path(&files.key), "holds no PEM certificate"),
        (path(&files.cert), path(&empty), "holds no PEM private key"),
        (
            path(&files.cert),
            path(&files.cert),
            "holds no PEM private key",
        ),
        (
            path(&files.cert),
            path(&stray_key),
            "does not belong to the certificate",
        ),
    ];
    for (cert, key, expected) in cases {
        let output = run(
            dir,
            &[
                "serve",
                "--port",
                "0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{cert} {key}: started");
        let last = stderr.trim_end().lines().last().unwrap_or_default();
        assert!(last.contains(expected), "{cert} {key}: {stderr}");
    }
    let half = run(
        dir,
        &["serve", "--port", "0", "--tls-cert", &path(&files.cert)],
    );
    assert!(!half.status.success());
    let stderr = String::from_utf8_lossy(&half.stderr);
    assert!(stderr.contains("go together"), "{stderr}");
}

#[tokio::test]
async fn sighup_rereads_the_certificate_and_keeps_open_connections() {
    let files = files();
    let data = tempfile::tempdir().expect("temp dir");
    let server = spawn_server(data.path(), |command| {
        command
            .env("BOOKCHAT_TLS_CERT", &files.cert)
            .env("BOOKCHAT_TLS_KEY", &files.key);
    });
    assert!(server
        .startup
        .iter()
        .any(|l| l.contains("listening on https://")));
    let root = [files.ca.der()];
    let mut before = Https::connect(server.addr, "localhost", &root)
        .await
        .expect("TLS");
    assert_eq!(before.send("GET", "/api/health", "").await.status, 200);

    let renewed = files.ca.issue_for(&["localhost"], 90);
    renewed.write(files.dir.path());
    hang_up(&server);
    wait_for_log(&server, "re-read the TLS certificate").await;
    let after = Https::connect(server.addr, "localhost", &root)
        .await
        .expect("TLS");
    assert_eq!(
        after.served, renewed.der,
        "new handshakes get the new certificate"
    );
    assert_ne!(before.served, renewed.der);
    // The connection opened before the reload goes on, and tells of the new expiry.
    let figures = before.send("GET", "/api/stats", "").await.json();
    let days = figures["tls"]["certificate_days_left"]
        .as_f64()
        .expect("days left");
    assert!((89.9..=90.0).contains(&days), "{figures}");

    // A broken file on the next reload keeps the current certificate.
    replace(&files.cert, "not a certificate");
    hang_up(&server);
    wait_for_log(&server, "kept the current certificate").await;
    let kept = Https::connect(server.addr, "localhost", &root)
        .await
        .expect("TLS");
    assert_eq!(kept.served, renewed.der);
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn sighup_without_tls_does_not_stop_the_server() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = spawn_server(data.path(), |_| {});
    hang_up(&server);
    wait_for_log(&server, "nothing to re-read").await;
    let health = request(server.addr, "GET", "/api/health", &[], "").await;
    assert_eq!(health.status, 200);
    let (status, _) = server.terminate();
    assert!(status.success());
}

fn hang_up(server: &Running) {
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

async fn wait_for_log(server: &Running, needle: &str) {
    let mut seen = Vec::new();
    eventually(needle, Duration::from_secs(10), || {
        seen.extend(server.log_lines());
        let found = seen.iter().any(|line| line.contains(needle));
        async move { found.then_some(()) }
    })
    .await;
}
