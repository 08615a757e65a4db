//! The certificates the TLS port presents: the served one, swapped in place on a reload or
//! a renewal, and the short-lived one an ACME TLS-ALPN-01 challenge asks for.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::InconsistentKeys;
use x509_cert::der::Decode;

/// The ALPN protocol of the ACME TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A certificate ready to serve, and when its leaf expires (for ACME's renewal, and for
/// `/api/stats` and `/metrics`).
#[derive(Clone)]
pub struct Served {
    pub key: Arc<CertifiedKey>,
    pub not_after: SystemTime,
}

/// Shared by every handshake and by whoever renews: a handshake takes the certificate of
/// the moment, so a swap never touches connections already open.
#[derive(Default)]
pub struct Certs {
    current: RwLock<Option<Served>>,
    /// The domain being validated and its challenge certificate, while an order is open.
    challenge: RwLock<Option<(String, Arc<CertifiedKey>)>>,
}

impl Certs {
    /// The served certificate from now on, for new handshakes.
    pub fn set(&self, served: Served) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(served);
    }

    /// The certificate served so far, if any.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.served().map(|served| served.key)
    }

    /// When the served certificate expires: `None` without one.
    pub fn expires(&self) -> Option<SystemTime> {
        self.served().map(|served| served.not_after)
    }

    fn served(&self) -> Option<Served> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn has_current(&self) -> bool {
        self.current().is_some()
    }

    /// Serves `key` to a TLS-ALPN-01 validation of `domain`; `None` ends the challenge.
    pub fn set_challenge(&self, challenge: Option<(String, Arc<CertifiedKey>)>) {
        *self
            .challenge
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = challenge;
    }

    fn challenge_for(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let challenge = self
            .challenge
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (domain, key) = challenge.as_ref()?;
        // The validator names the domain in SNI; a name that differs gets nothing.
        name.is_some_and(|name| name.eq_ignore_ascii_case(domain))
            .then(|| Arc::clone(key))
    }
}

impl fmt::Debug for Certs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certs")
            .field("current", &self.has_current())
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            // RFC 8737: a challenge handshake offers only acme-tls/1 and must get the
            // challenge certificate or nothing, never the served one.
            return self.challenge_for(hello.server_name());
        }
        self.current()
    }
}

/// Reads a PEM certificate chain and its private key, and checks that they belong
/// together. The error is one line naming the setting and the file.
pub fn load_files(cert: &Path, key: &Path) -> Result<Served, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|err| pem_error("BOOKCHAT_TLS_CERT", cert, &err))?
        .collect::<Result<_, _>>()
        .map_err(|err| pem_error("BOOKCHAT_TLS_CERT", cert, &err))?;
    if chain.is_empty() {
        return Err(format!(
            "BOOKCHAT_TLS_CERT {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|err| match err {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "BOOKCHAT_TLS_KEY {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            key.display()
        ),
        err => pem_error("BOOKCHAT_TLS_KEY", key, &err),
    })?;
    certified(chain, &private).map_err(|reason| {
        format!(
            "BOOKCHAT_TLS_KEY {} and BOOKCHAT_TLS_CERT {}: {reason}",
            key.display(),
            cert.display()
        )
    })
}

/// A chain and its key as rustls serves them, with the leaf's expiry; refused when the key
/// is of a kind rustls cannot sign with or is not the certificate's.
pub fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
) -> Result<Served, String> {
    let signer = any_supported_type(key).map_err(|err| format!("unusable private key: {err}"))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        // As `CertifiedKey::from_der`: a key that cannot tell its public half is not wrong.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err("the private key does not belong to the certificate".to_string())
        }
        Err(err) => return Err(format!("unusable certificate: {err}")),
    }
    let leaf = certified
        .cert
        .first()
        .ok_or("no certificate in the chain")?;
    let not_after = expiry(leaf)?;
    Ok(Served {
        key: Arc::new(certified),
        not_after,
    })
}

/// The `notAfter` of a certificate.
fn expiry(cert: &CertificateDer<'_>) -> Result<SystemTime, String> {
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|err| format!("unreadable certificate: {err}"))?;
    Ok(parsed.tbs_certificate.validity.not_after.to_system_time())
}

fn pem_error(setting: &str, path: &Path, err: &rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(io) => {
            format!("cannot read {setting} {}: {io}", path.display())
        }
        err => format!("{setting} {} is not valid PEM: {err}", path.display()),
    }
}
