//! TLS for tests: a throwaway certificate authority (rcgen) that issues server
//! certificates, and an HTTPS client (rustls + hyper) that trusts only it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::client::{exchange, Reply};

/// A certificate authority of the test's own.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "BookChat test CA");
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// Writes this CA as PEM into `dir`, for `SSL_CERT_FILE`, and returns the path.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, self.issuer.pem()).expect("write the CA");
        path
    }

    /// A certificate for `names` (host names or addresses), signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Issued {
        self.issue_for(names, 30)
    }

    /// The same, valid from yesterday for `days` more days.
    pub fn issue_for(&self, names: &[&str], days: i64) -> Issued {
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

impl Issued {
    /// Writes `cert.pem` and `key.pem` into `dir` (replacing them by rename, as certbot
    /// does) and returns their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        replace(&cert, &self.cert_pem);
        replace(&key, &self.key_pem);
        (cert, key)
    }
}

pub fn replace(path: &Path, text: &str) {
    let temp = path.with_extension("new");
    std::fs::write(&temp, text).expect("write");
    std::fs::rename(&temp, path).expect("rename");
}

/// One HTTPS connection, kept open for several requests.
pub struct Https {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    /// The certificate the server presented.
    pub served: CertificateDer<'static>,
    /// The protocol agreed by ALPN.
    pub alpn: Option<Vec<u8>>,
}

impl Https {
    /// Connects to `addr`, asks for `name` (SNI when it is a domain) and trusts only
    /// `roots`.
    pub async fn connect(
        addr: SocketAddr,
        name: &str,
        trusted: &[CertificateDer<'static>],
    ) -> std::io::Result<Https> {
        let mut roots = rustls::RootCertStore::empty();
        for root in trusted {
            roots.add(root.clone()).expect("a usable root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await?;
        let server_name = ServerName::try_from(name.to_string()).expect("server name");
        let tls = connector.connect(server_name, tcp).await?;
        let (_, session) = tls.get_ref();
        let served = session.peer_certificates().expect("a certificate")[0].clone();
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Https {
            sender,
            host: format!("{name}:{}", addr.port()),
            served,
            alpn,
        })
    }

    /// One request on a new connection; panics when the handshake fails.
    pub async fn once(
        addr: SocketAddr,
        name: &str,
        trusted: &[CertificateDer<'static>],
        (method, path, body): (&str, &str, &str),
    ) -> Reply {
        let mut https = Https::connect(addr, name, trusted)
            .await
            .unwrap_or_else(|err| panic!("TLS handshake with {addr} as {name}: {err}"));
        https.send(method, path, body).await
    }

    pub async fn send(&mut self, method: &str, path: &str, body: &str) -> Reply {
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("content-type", "application/json")]
        };
        self.send_with(method, path, headers, body).await
    }

    pub async fn send_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let body = Bytes::from(body.to_string());
        exchange(&mut self.sender, &self.host, method, path, headers, body).await
    }
}
