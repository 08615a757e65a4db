//! HTTPS on the serving port (certificate files): posts over kept-alive TLS connections,
//! beside the plain rows above, and full handshakes, one new connection per request.

use rcgen::{generate_simple_self_signed, CertifiedKey};
use std::sync::Arc;

use super::{get_request, load_on, ms, post_request, row, Connector, Server};

/// Prints the rows: POST over HTTPS at 1 and 8 connections, and handshakes per second.
pub fn rows(runtime: &tokio::runtime::Runtime) {
    let CertifiedKey { cert, signing_key } =
        generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let files = tempfile::tempdir().expect("temp dir");
    let (cert_path, key_path) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write certificate");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("write key");
    let server = Server::start_configured(
        |_| {},
        &[
            ("BOOKCHAT_TLS_CERT", cert_path.to_str().expect("UTF-8 path")),
            ("BOOKCHAT_TLS_KEY", key_path.to_str().expect("UTF-8 path")),
        ],
    );
    let connector = Connector::Tls(server.addr, client_config(cert.der().clone()));
    runtime.block_on(async {
        for connections in [1, 8] {
            let post = post_request("over TLS");
            let r = load_on(&connector, connections, post, 201, false).await;
            row(
                &format!("POST over HTTPS, {connections} conn"),
                &format!("{:.0}/s", r.per_second),
                &format!("p50 {} p99 {} (kept alive)", ms(r.p50), ms(r.p99)),
            );
        }
        let health = get_request("/api/health");
        let r = load_on(&connector, 8, health, 200, true).await;
        row(
            "HTTPS handshake + GET, 8 at once",
            &format!("{:.0}/s", r.per_second),
            &format!("p50 {} p99 {} (new conn)", ms(r.p50), ms(r.p99)),
        );
    });
}

fn client_config(root: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}
