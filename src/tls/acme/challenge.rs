//! The TLS-ALPN-01 challenge certificate (RFC 8737, 3): self-signed for the domain, with
//! the critical `acmeIdentifier` extension holding the SHA-256 of the key authorization.
//! It lives only while its order is open, and only answers handshakes that offer
//! `acme-tls/1` (see `certs::Certs`).

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// A fresh key and certificate proving control of `domain` for one challenge; `digest` is
/// the SHA-256 of the key authorization (`KeyAuthorization::digest`).
pub fn certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    let failed = |err: rcgen::Error| format!("cannot make the challenge certificate: {err}");
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::new(vec![domain.to_string()]).map_err(failed)?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(failed)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = any_supported_type(&der).map_err(|err| format!("unusable key: {err}"))?;
    // Not `certs::certified`: its key check parses the certificate with webpki, which
    // refuses the critical acmeIdentifier extension it does not know. The key is the one
    // the certificate was just made with.
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::der::{Decode, Encode};
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::SubjectAltName;

    /// id-pe-acmeIdentifier, RFC 8737 6.1.
    const ACME_IDENTIFIER: &str = "1.3.6.1.5.5.7.1.31";
    const SUBJECT_ALT_NAME: &str = "2.5.29.17";

    #[test]
    fn carries_the_digest_in_a_critical_acme_identifier_and_names_the_domain() {
        let digest = [7u8; 32];
        let key = certificate("chat.example.org", &digest).unwrap();
        assert_eq!(key.cert.len(), 1, "self-signed: no chain");
        let cert = x509_cert::Certificate::from_der(key.cert[0].as_ref()).unwrap();
        let extensions = cert.tbs_certificate.extensions.unwrap();
        let find = |oid: &str| {
            extensions
                .iter()
                .find(|e| e.extn_id.to_string() == oid)
                .unwrap_or_else(|| panic!("no extension {oid}"))
        };
        let acme = find(ACME_IDENTIFIER);
        assert!(acme.critical, "RFC 8737: the extension is critical");
        // extnValue holds an OCTET STRING of the 32-byte digest.
        let inner =
            x509_cert::der::asn1::OctetString::from_der(acme.extn_value.as_bytes()).unwrap();
        assert_eq!(inner.as_bytes(), digest);
        let names = SubjectAltName::from_der(find(SUBJECT_ALT_NAME).extn_value.as_bytes()).unwrap();
        let dns: Vec<String> = names
            .0
            .iter()
            .map(|name| match name {
                GeneralName::DnsName(dns) => dns.to_string(),
                other => panic!("unexpected name {other:?}"),
            })
            .collect();
        assert_eq!(dns, ["chat.example.org"]);
        // The validator's handshake is signed by the certificate's own key.
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        assert_eq!(key.key.public_key().unwrap().as_ref(), spki.as_slice());
    }
}
