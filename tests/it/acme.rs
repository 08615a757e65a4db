//! Automatic certificates against Pebble, with the real binary (its log is part of what is
//! checked): issuance by TLS-ALPN-01 on the serving port, the page and the API over HTTPS,
//! the stored certificate reused on restart, renewal of one that is due, and failed orders
//! logged while the server keeps serving plain HTTP or the last good certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use crate::binary::{spawn_server, Running};
use crate::client::{free_port, request, Reply};
use crate::https::Https;
use crate::pebble::Pebble;

/// Challtestsrv answers every name with 127.0.0.1, so any name will do.
const DOMAIN: &str = "chat.bookchat.test";
/// Members-only, so the tests can check the session cookie's `Secure` flag.
const ACCESS_CODE: &str = "acme-members";
/// Issuance takes about a second against Pebble; this allows for a loaded machine.
const ISSUED_WITHIN: Duration = Duration::from_secs(60);

/// One HTTPS request to the domain (a JSON body when not empty).
async fn https(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    method: &str,
    path: &str,
    body: &str,
) -> Reply {
    Https::once(addr, DOMAIN, roots, (method, path, body)).await
}

/// The leaf certificate the server presents for `DOMAIN` when `roots` verify it.
async fn served_leaf(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
) -> Option<CertificateDer<'static>> {
    Some(Https::connect(addr, DOMAIN, roots).await.ok()?.served)
}

/// A server under test and every log line it wrote so far.
struct Watched {
    server: Running,
    seen: Vec<String>,
}

impl Watched {
    /// `bookchat serve` with ACME on against `pebble`, on `port`, with `data` as its data
    /// directory; it trusts Pebble's HTTPS through `SSL_CERT_FILE`, as the contract says.
    fn start(pebble: &Pebble, data: &Path, port: u16) -> Watched {
        Watched::start_with(pebble, data, port, &[])
    }

    /// The same, with `env` added.
    fn start_with(pebble: &Pebble, data: &Path, port: u16, env: &[(&str, &str)]) -> Watched {
        let server = spawn_server(data, |command| {
            command
                .env("PORT", port.to_string())
                .env("BOOKCHAT_DATA_DIR", data.join("bookchat-data"))
                .env("BOOKCHAT_ACME_DOMAIN", DOMAIN)
                .env("BOOKCHAT_ACME_EMAIL", "admin@bookchat.test")
                .env("BOOKCHAT_ACME_DIRECTORY", &pebble.directory)
                .env("SSL_CERT_FILE", &pebble.ca_pem)
                .env_remove("SSL_CERT_DIR")
                .env_remove("BOOKCHAT_TLS_CERT")
                .env_remove("BOOKCHAT_TLS_KEY")
                .envs(env.iter().copied());
        });
        let seen = server.startup.clone();
        Watched { server, seen }
    }

    /// Waits for a log line containing `needle`, panicking with the log after `within`.
    async fn line(&mut self, needle: &str, within: Duration, pebble: &Pebble) -> String {
        let deadline = Instant::now() + within;
        loop {
            self.seen.extend(self.server.log_lines());
            if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line {needle:?} within {within:?}:\n{}\n--- Pebble:\n{}",
                self.seen.join("\n"),
                pebble.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

/// Where the server keeps ACME's files for Pebble's directory (one folder per CA).
fn acme_folder(data: &Path, pebble: &Pebble) -> PathBuf {
    let host = pebble
        .directory
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .replace(':', "_");
    data.join("bookchat-data/acme").join(host)
}

/// Stores a certificate for `DOMAIN` from the test CA, expiring in 10 days: due for renewal.
fn store_due_certificate(data: &Path, pebble: &Pebble) -> CertificateDer<'static> {
    let folder = acme_folder(data, pebble);
    std::fs::create_dir_all(&folder).unwrap();
    let issued = pebble.ca.issue_for(&[DOMAIN], 10);
    std::fs::write(folder.join(format!("{DOMAIN}.cert.pem")), &issued.cert_pem).unwrap();
    std::fs::write(folder.join(format!("{DOMAIN}.key.pem")), &issued.key_pem).unwrap();
    issued.der
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn issues_a_certificate_serves_https_and_reuses_it_after_a_restart() {
    let port = free_port();
    let Some(pebble) = Pebble::start(port) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut server = Watched::start(&pebble, data.path(), port);
    let started = Instant::now();
    let obtained = server
        .line("obtained a certificate for", ISSUED_WITHIN, &pebble)
        .await;
    eprintln!("issued in {:?}: {obtained}", started.elapsed());
    assert!(obtained.contains(DOMAIN), "{obtained}");
    server
        .line(
            "answered an ACME TLS-ALPN-01 validation",
            Duration::ZERO,
            &pebble,
        )
        .await;
    let roots = [pebble.root().await];
    let addr = server.addr();
    let page = https(addr, &roots, "GET", "/", "").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/static/app.js"));
    let posted = https(
        addr,
        &roots,
        "POST",
        "/api/messages",
        r#"{"content":"over TLS"}"#,
    );
    assert_eq!(posted.await.status, 201);
    let listed = https(addr, &roots, "GET", "/api/messages", "").await;
    assert!(listed.text().contains("over TLS"), "{}", listed.text());
    let leaf = served_leaf(addr, &roots)
        .await
        .expect("a certificate Pebble issued");
    // Plain HTTP to the port now that it speaks HTTPS: a clean 400.
    assert_eq!(
        request(addr, "GET", "/api/health", &[], "").await.status,
        400
    );

    let folder = acme_folder(data.path(), &pebble);
    let files = [
        "account.json".to_string(),
        format!("{DOMAIN}.cert.pem"),
        format!("{DOMAIN}.key.pem"),
    ];
    for file in &files {
        assert!(folder.join(file).is_file(), "{file} is kept");
        #[cfg(unix)]
        assert_eq!(mode(&folder.join(file)), 0o600, "{file}");
    }
    #[cfg(unix)]
    assert_eq!(mode(&data.path().join("bookchat-data/acme")), 0o700);
    assert_eq!(pebble.orders(), 1, "{}", pebble.log());
    let (status, _) = server.server.terminate();
    assert!(status.success());

    // A restart serves the stored certificate at once, without a new order.
    let server = Watched::start(&pebble, data.path(), free_port());
    let startup = server.seen.join("\n");
    assert!(
        startup.contains(&format!("serving the stored certificate for {DOMAIN}")),
        "{startup}"
    );
    assert_eq!(served_leaf(server.addr(), &roots).await, Some(leaf));
    let health = https(server.addr(), &roots, "GET", "/api/health", "").await;
    assert_eq!(health.status, 200);
    assert_eq!(pebble.orders(), 1, "{}", pebble.log());
}

#[tokio::test]
async fn a_certificate_due_for_renewal_is_replaced_by_a_fresh_one() {
    let port = free_port();
    let Some(pebble) = Pebble::start(port) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let old = store_due_certificate(data.path(), &pebble);
    let mut server = Watched::start(&pebble, data.path(), port);
    let startup = server.seen.join("\n");
    assert!(
        startup.contains(&format!("serving the stored certificate for {DOMAIN}")),
        "{startup}"
    );
    server
        .line("obtained a certificate for", ISSUED_WITHIN, &pebble)
        .await;
    let roots = [pebble.root().await];
    let fresh = served_leaf(server.addr(), &roots)
        .await
        .expect("new handshakes get Pebble's certificate");
    assert_ne!(fresh, old);
    let stored = std::fs::read_to_string(
        acme_folder(data.path(), &pebble).join(format!("{DOMAIN}.cert.pem")),
    );
    let stored = rustls::pki_types::pem::PemObject::from_pem_slice(stored.unwrap().as_bytes());
    assert_eq!(
        stored.ok(),
        Some(fresh),
        "the renewed certificate is stored"
    );
    assert_eq!(pebble.orders(), 1);
}

#[tokio::test]
async fn a_failed_first_order_is_logged_and_plain_http_keeps_serving() {
    // Pebble validates on a port where nobody listens: the challenge cannot succeed.
    let Some(pebble) = Pebble::start(free_port()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let members_only = [("BOOKCHAT_ACCESS_CODE", ACCESS_CODE)];
    let mut server = Watched::start_with(&pebble, data.path(), free_port(), &members_only);
    let error = server
        .line("could not obtain a certificate", ISSUED_WITHIN, &pebble)
        .await;
    assert!(error.contains("ERROR"), "{error}");
    for needle in [
        DOMAIN,
        "urn:ietf:params:acme:error:",
        "plain HTTP",
        "retrying at",
    ] {
        assert!(error.contains(needle), "{needle:?} not in {error}");
    }
    // Pebble's reason, as it gave it.
    assert!(
        error.contains("Failed to connect to 127.0.0.1"),
        "the reason: {error}"
    );
    let health = request(server.addr(), "GET", "/api/health", &[], "").await;
    assert_eq!(health.status, 200, "{}", health.text());
    // A session cookie over this plain HTTP is not `Secure`: a browser would drop it.
    let json = [("content-type", "application/json")];
    let body = format!(r#"{{"code":"{ACCESS_CODE}"}}"#);
    let signed_in = request(server.addr(), "POST", "/api/session", &json, body).await;
    assert_eq!(signed_in.status, 204, "{}", signed_in.text());
    let cookie = signed_in.header("set-cookie").expect("a session cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
    let roots = [pebble.ca.der()];
    assert_eq!(
        served_leaf(server.addr(), &roots).await,
        None,
        "no certificate yet"
    );
}

#[tokio::test]
async fn a_failed_renewal_keeps_serving_the_last_good_certificate() {
    let Some(pebble) = Pebble::start(free_port()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let old = store_due_certificate(data.path(), &pebble);
    let mut server = Watched::start(&pebble, data.path(), free_port());
    let error = server
        .line("could not obtain a certificate", ISSUED_WITHIN, &pebble)
        .await;
    assert!(
        error.contains(DOMAIN) && error.contains("keeps serving its current certificate"),
        "{error}"
    );
    let roots = [pebble.ca.der()];
    assert_eq!(served_leaf(server.addr(), &roots).await, Some(old));
    let health = https(server.addr(), &roots, "GET", "/api/health", "").await;
    assert_eq!(health.status, 200);
    let stored = acme_folder(data.path(), &pebble).join(format!("{DOMAIN}.cert.pem"));
    assert!(stored.is_file(), "the last good certificate stays on disk");
}
