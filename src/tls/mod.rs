//! HTTPS on the serving port: the rustls configuration and the handshake of each
//! connection, the certificate files and their reload on SIGHUP (`reload`), and
//! certificates obtained automatically (`acme`).

pub mod acme;
pub mod certs;
pub mod reload;
pub mod roots;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub use certs::{Certs, ACME_TLS_ALPN};
pub use settings::{AcmeSettings, CertSource, TlsSettings, TlsSettingsError};

/// The first byte of every TLS connection: a handshake record (RFC 8446, 5.1).
const HANDSHAKE_RECORD: u8 = 0x16;

/// The TLS side of the listener, shared by every connection.
pub struct Tls {
    certs: Arc<Certs>,
    acceptor: TlsAcceptor,
}

/// What a new connection turned out to be.
pub enum Accepted {
    /// TLS, handshake done: serve HTTP over it.
    Tls(Box<TlsStream<TcpStream>>),
    /// Plain HTTP while there is no certificate yet (the first ACME order is still
    /// open, or failed): served as plain HTTP, so the chat stays up meanwhile.
    Plain(TcpStream),
    /// Plain HTTP to a port that speaks HTTPS: the caller answers it with a `400`.
    WrongProtocol(TcpStream),
    /// Nothing to serve: the handshake failed or timed out, the peer left, or an ACME
    /// validator finished its challenge handshake.
    Closed,
}

impl Tls {
    /// HTTP/1.1 only, as hyper serves here; `acme-tls/1` too when an ACME validator may
    /// call.
    ///
    /// # Panics
    /// Never: ring supports rustls' default protocol versions.
    pub fn new(certs: Arc<Certs>, acme: bool) -> Tls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certs) as Arc<dyn rustls::server::ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if acme {
            config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
        }
        Tls {
            certs,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    pub fn certs(&self) -> &Arc<Certs> {
        &self.certs
    }

    /// Tells TLS from plain HTTP by the first byte, then shakes hands, all within
    /// `deadline` (a client that says nothing holds its slot no longer than one that
    /// sends no request headers).
    pub async fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        deadline: Duration,
    ) -> Accepted {
        tokio::time::timeout(deadline, self.handshake(stream, peer))
            .await
            .unwrap_or_else(|_| {
                log::debug!("TLS handshake with {peer} timed out");
                Accepted::Closed
            })
    }

    async fn handshake(&self, stream: TcpStream, peer: SocketAddr) -> Accepted {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] == HANDSHAKE_RECORD => {}
            Ok(1) if self.certs.has_current() => return Accepted::WrongProtocol(stream),
            Ok(1) => return Accepted::Plain(stream),
            _ => return Accepted::Closed,
        }
        let mut tls = match self.acceptor.accept(stream).await {
            Ok(tls) => tls,
            Err(err) => {
                log::debug!("TLS handshake with {peer} failed: {err}");
                return Accepted::Closed;
            }
        };
        if tls.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
            // RFC 8737: the validator only checks the certificate; no HTTP follows.
            log::info!("answered an ACME TLS-ALPN-01 validation from {peer}");
            let _ = tls.shutdown().await;
            return Accepted::Closed;
        }
        Accepted::Tls(Box::new(tls))
    }
}
