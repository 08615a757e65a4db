//! The CA certificates our TLS clients trust, in one place for PostgreSQL and ACME alike:
//! Mozilla's roots, plus the certificates that `SSL_CERT_FILE` and `SSL_CERT_DIR` name,
//! as OpenSSL-based tools read them. That is how a private CA (a managed database's, a
//! test ACME server's) is trusted; webpki's built-in roots alone would ignore them.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Mozilla's roots and the extra certificates, as whole certificates (what ureq takes).
///
/// # Errors
/// A named file that cannot be read or is not PEM, as one line naming it.
pub fn certificates() -> Result<Vec<CertificateDer<'static>>, String> {
    let mut all = webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec();
    for path in extra_files() {
        all.extend(read_pem(&path)?);
    }
    Ok(all)
}

/// The same certificates as a rustls root store.
///
/// # Errors
/// As [`certificates`].
pub fn store() -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    // A certificate rustls cannot use (an old signature scheme) is skipped, as OpenSSL
    // skips it, instead of refusing the whole bundle.
    let _ = roots.add_parsable_certificates(certificates()?);
    Ok(roots)
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |err: rustls::pki_types::pem::Error| {
        format!("cannot read CA certificates {}: {err}", path.display())
    };
    CertificateDer::pem_file_iter(path)
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)
}

/// The file named by `SSL_CERT_FILE`, and the `.pem`/`.crt` files in `SSL_CERT_DIR`
/// (sorted, so that the order does not depend on the file system).
fn extra_files() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        paths.push(file.into());
    }
    if let Some(dir) = std::env::var_os("SSL_CERT_DIR").filter(|d| !d.is_empty()) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pem" || e == "crt"))
                .collect();
            found.sort();
            paths.extend(found);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_file_gives_its_certificates_and_a_bad_one_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["ca.test".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, cert.pem()).unwrap();
        let read = read_pem(&good).unwrap();
        assert_eq!(read, vec![cert.der().clone()]);
        let missing = dir.path().join("missing.pem");
        let err = read_pem(&missing).unwrap_err();
        assert!(
            err.starts_with("cannot read CA certificates") && err.contains("missing.pem"),
            "{err}"
        );
    }

    #[test]
    fn mozillas_roots_are_always_there() {
        // The environment is the test process's own; whatever it adds comes on top.
        let count = webpki_root_certs::TLS_SERVER_ROOT_CERTS.len();
        assert!(count > 100, "{count}");
        assert!(certificates().is_ok_and(|all| all.len() >= count));
    }
}
