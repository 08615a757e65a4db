//! What ACME keeps in `<data-dir>/acme/<CA>/`: the account (instant-acme's credentials as
//! JSON), and the domain's certificate chain and private key as PEM. One folder per CA, so
//! that switching from staging to production neither reuses the staging account nor
//! serves a staging certificate. Folders are 0700 and files 0600, each written whole
//! (temporary file, fsync, rename), so a crash leaves the old file or the new one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls::certs::{self, Served};

/// The files of one domain at one CA.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    domain: String,
}

impl Store {
    /// Creates `<data-dir>/acme/<CA>/` if needed (blocking).
    pub fn open(data_dir: &Path, directory: &str, domain: &str) -> io::Result<Store> {
        let acme = data_dir.join("acme");
        private_dir(&acme)?;
        let dir = acme.join(ca_folder(directory));
        private_dir(&dir)?;
        Ok(Store {
            dir,
            domain: domain.to_string(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(format!("{}.cert.pem", self.domain))
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join(format!("{}.key.pem", self.domain))
    }

    /// The account's credentials, if an account was made with this CA.
    pub fn account(&self) -> io::Result<Option<String>> {
        read_if_there(&self.account_path())
    }

    pub fn save_account(&self, json: &str) -> io::Result<()> {
        write_private(&self.account_path(), json.as_bytes())
    }

    /// The stored certificate, `None` when there is none, or why it cannot serve.
    pub fn certificate(&self) -> Result<Option<Served>, String> {
        let read = |path: &Path| {
            read_if_there(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
        };
        let (Some(chain), Some(key)) = (read(&self.cert_path())?, read(&self.key_path())?) else {
            return Ok(None);
        };
        parse(&chain, &key)
            .map(Some)
            .map_err(|reason| format!("{}: {reason}", self.cert_path().display()))
    }

    /// Stores a new chain and key: the key first, so that a crash in between leaves a pair
    /// that does not match, which `certificate` refuses (and a new order follows), never a
    /// certificate served with the wrong key.
    pub fn save_certificate(&self, chain: &str, key: &str) -> io::Result<()> {
        write_private(&self.key_path(), key.as_bytes())?;
        write_private(&self.cert_path(), chain.as_bytes())
    }
}

/// Reads a PEM chain and key into a certificate rustls serves, with the leaf's expiry.
pub fn parse(chain: &str, key: &str) -> Result<Served, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|err| format!("not a PEM certificate chain: {err}"))?;
    if chain.is_empty() {
        return Err("no certificate in the chain".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|err| format!("not a PEM private key: {err}"))?;
    certs::certified(chain, &key)
}

/// `acme-v02.api.letsencrypt.org` for Let's Encrypt, `127.0.0.1_14000` for a local test CA:
/// the directory URL's host and port, as a file name.
fn ca_folder(directory: &str) -> String {
    let rest = directory
        .split_once("://")
        .map_or(directory, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("ca{name}")
    } else {
        name
    }
}

fn read_if_there(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// A folder only the server's user may enter: it holds private keys.
fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` whole, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)?;
    // The rename itself survives a power cut only once the folder is synced.
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    /// A self-signed certificate for `domain` valid for `days` more days, as PEM.
    fn self_signed(domain: &str, days: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![domain.into()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_round_trips_with_its_expiry_in_private_files() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path(), "https://127.0.0.1:14000/dir", "chat.test").unwrap();
        assert_eq!(store.dir(), data.path().join("acme/127.0.0.1_14000"));
        assert!(store.certificate().unwrap().is_none());
        assert!(store.account().unwrap().is_none());
        let (chain, key) = self_signed("chat.test", 10);
        store.save_certificate(&chain, &key).unwrap();
        store.save_account(r#"{"id":"x"}"#).unwrap();
        let issued = store.certificate().unwrap().expect("stored");
        let left = issued.not_after.duration_since(SystemTime::now()).unwrap();
        let ten_days = Duration::from_secs(10 * 24 * 3600);
        assert!(
            left <= ten_days && left + Duration::from_secs(120) > ten_days,
            "{left:?}"
        );
        assert_eq!(store.account().unwrap().as_deref(), Some(r#"{"id":"x"}"#));
        assert_eq!(
            fs::read_to_string(store.cert_path()).unwrap(),
            chain,
            "stored as given"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&data.path().join("acme")), 0o700);
            assert_eq!(mode(store.dir()), 0o700);
            for file in ["account.json", "chat.test.cert.pem", "chat.test.key.pem"] {
                assert_eq!(mode(&store.dir().join(file)), 0o600, "{file}");
            }
        }
        let leftovers: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_with_the_file_named() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path(), "https://ca.test/dir", "chat.test").unwrap();
        let (chain, _) = self_signed("chat.test", 10);
        let (_, other_key) = self_signed("chat.test", 10);
        store.save_certificate(&chain, &other_key).unwrap();
        let err = store.certificate().err().unwrap();
        assert!(
            err.contains("chat.test.cert.pem") && err.contains("does not belong"),
            "{err}"
        );
        store.save_certificate("garbage", &other_key).unwrap();
        let err = store.certificate().err().unwrap();
        assert!(err.contains("no certificate"), "{err}");
    }

    #[test]
    fn each_ca_gets_a_folder_named_by_its_host() {
        assert_eq!(
            ca_folder("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org"
        );
        assert_eq!(ca_folder("https://[::1]:14000/dir"), "___1__14000");
        assert_eq!(ca_folder("https://../dir"), "ca..");
        assert_eq!(ca_folder("https:///dir"), "ca");
    }
}
