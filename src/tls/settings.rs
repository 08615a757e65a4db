//! The HTTPS settings, checked once at start: certificate files, or a domain whose
//! certificate is obtained automatically, and the optional plain-HTTP redirect port.

use std::path::PathBuf;

use rustls::pki_types::DnsName;

use crate::cli::TlsArgs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub source: CertSource,
    /// A plain-HTTP port that answers `308` to the same path on HTTPS.
    pub redirect_port: Option<u16>,
}

/// Where the served certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files, re-read on SIGHUP.
    Files { cert: PathBuf, key: PathBuf },
    /// Obtained and renewed by ACME (TLS-ALPN-01), kept in `<data-dir>/acme/`.
    Acme(AcmeSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// Lower-case, as certificates and SNI compare it.
    pub domain: String,
    pub email: Option<String>,
    pub directory: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsSettingsError {
    #[error("BOOKCHAT_TLS_CERT and BOOKCHAT_TLS_KEY go together: set both, or neither")]
    HalfAPair,
    #[error("set BOOKCHAT_TLS_CERT and BOOKCHAT_TLS_KEY, or BOOKCHAT_ACME_DOMAIN, not both")]
    FilesAndAcme,
    #[error("invalid BOOKCHAT_ACME_DOMAIN {0:?}: expected one domain name such as chat.example.org (no wildcard, no address)")]
    Domain(String),
    #[error("invalid BOOKCHAT_ACME_EMAIL {0:?}: expected an address such as you@example.org")]
    Email(String),
    #[error("BOOKCHAT_ACME_EMAIL is set but BOOKCHAT_ACME_DOMAIN is not: name the domain to get a certificate for")]
    EmailWithoutDomain,
    #[error("invalid BOOKCHAT_ACME_DIRECTORY {0:?}: ACME servers speak HTTPS, so it starts with https://")]
    Directory(String),
    #[error("automatic certificates are for a single node: with BOOKCHAT_DATABASE_URL, terminate TLS at the load balancer or give each node BOOKCHAT_TLS_CERT and BOOKCHAT_TLS_KEY")]
    AcmeInCluster,
    #[error("BOOKCHAT_HTTP_REDIRECT_PORT needs HTTPS on: set BOOKCHAT_TLS_CERT and BOOKCHAT_TLS_KEY, or BOOKCHAT_ACME_DOMAIN")]
    RedirectWithoutTls,
    #[error(
        "BOOKCHAT_HTTP_REDIRECT_PORT {0} is the HTTPS port itself: pick another (80 is usual)"
    )]
    RedirectOnTlsPort(u16),
}

/// The checked settings, or `None` when the server speaks plain HTTP. An empty value
/// means unset, as an empty line in an environment file does.
pub fn from_args(
    args: &TlsArgs,
    port: u16,
    clustered: bool,
) -> Result<Option<TlsSettings>, TlsSettingsError> {
    let cert = args.tls_cert.clone().filter(|p| !p.as_os_str().is_empty());
    let key = args.tls_key.clone().filter(|p| !p.as_os_str().is_empty());
    let domain = nonempty(args.acme_domain.as_deref());
    let email = nonempty(args.acme_email.as_deref());
    let source = match (cert, key, domain) {
        (Some(_), Some(_), Some(_)) => return Err(TlsSettingsError::FilesAndAcme),
        (Some(cert), Some(key), None) => Some(CertSource::Files { cert, key }),
        (Some(_), None, _) | (None, Some(_), _) => return Err(TlsSettingsError::HalfAPair),
        (None, None, Some(domain)) => {
            if clustered {
                return Err(TlsSettingsError::AcmeInCluster);
            }
            Some(CertSource::Acme(acme(domain, email, &args.acme_directory)?))
        }
        (None, None, None) => None,
    };
    if source.is_none() && email.is_some() {
        return Err(TlsSettingsError::EmailWithoutDomain);
    }
    match (source, args.http_redirect_port) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(TlsSettingsError::RedirectWithoutTls),
        (Some(_), Some(redirect)) if redirect == port && port != 0 => {
            Err(TlsSettingsError::RedirectOnTlsPort(redirect))
        }
        (Some(source), redirect_port) => Ok(Some(TlsSettings {
            source,
            redirect_port,
        })),
    }
}

fn acme(
    domain: &str,
    email: Option<&str>,
    directory: &str,
) -> Result<AcmeSettings, TlsSettingsError> {
    let domain = domain.to_ascii_lowercase();
    // An address parses as a DNS name too, but no CA issues for one by this challenge.
    let is_address = domain.parse::<std::net::IpAddr>().is_ok();
    if is_address || domain.contains('*') || DnsName::try_from(domain.as_str()).is_err() {
        return Err(TlsSettingsError::Domain(domain));
    }
    if let Some(email) = email {
        let valid = email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
            && !email.contains(char::is_whitespace);
        if !valid {
            return Err(TlsSettingsError::Email(email.to_string()));
        }
    }
    let directory = directory.trim();
    if !directory.starts_with("https://") {
        return Err(TlsSettingsError::Directory(directory.to_string()));
    }
    Ok(AcmeSettings {
        domain,
        email: email.map(str::to_string),
        directory: directory.to_string(),
    })
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::LETS_ENCRYPT;

    fn args() -> TlsArgs {
        TlsArgs::default()
    }

    fn files() -> TlsArgs {
        TlsArgs {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..args()
        }
    }

    #[test]
    fn nothing_set_is_plain_http_and_empty_values_are_unset() {
        assert_eq!(from_args(&args(), 5002, false), Ok(None));
        let empty = TlsArgs {
            tls_cert: Some(PathBuf::new()),
            tls_key: Some(PathBuf::new()),
            acme_domain: Some(" ".into()),
            ..args()
        };
        assert_eq!(from_args(&empty, 5002, false), Ok(None));
    }

    #[test]
    fn files_need_both_halves() {
        let settings = from_args(&files(), 443, false).unwrap().unwrap();
        assert_eq!(
            settings.source,
            CertSource::Files {
                cert: "cert.pem".into(),
                key: "key.pem".into()
            }
        );
        let half = TlsArgs {
            tls_key: None,
            ..files()
        };
        assert_eq!(
            from_args(&half, 443, false),
            Err(TlsSettingsError::HalfAPair)
        );
    }

    #[test]
    fn acme_checks_domain_email_directory_and_cluster() {
        let acme = |domain: &str, email: Option<&str>, directory: &str| TlsArgs {
            acme_domain: Some(domain.into()),
            acme_email: email.map(Into::into),
            acme_directory: directory.into(),
            ..args()
        };
        let ok = from_args(
            &acme("Chat.Example.org", Some("me@example.org"), LETS_ENCRYPT),
            443,
            false,
        );
        let Ok(Some(TlsSettings {
            source: CertSource::Acme(settings),
            ..
        })) = ok
        else {
            panic!("expected ACME settings, got {ok:?}");
        };
        assert_eq!(settings.domain, "chat.example.org");
        for bad in ["*.example.org", "10.0.0.1", "exa mple.org", "-"] {
            let err = from_args(&acme(bad, None, LETS_ENCRYPT), 443, false);
            assert!(
                matches!(err, Err(TlsSettingsError::Domain(_))),
                "{bad}: {err:?}"
            );
        }
        let err = from_args(
            &acme("chat.example.org", Some("nobody"), LETS_ENCRYPT),
            443,
            false,
        );
        assert!(matches!(err, Err(TlsSettingsError::Email(_))));
        let err = from_args(
            &acme("chat.example.org", None, "http://acme.test/dir"),
            443,
            false,
        );
        assert!(matches!(err, Err(TlsSettingsError::Directory(_))));
        let err = from_args(&acme("chat.example.org", None, LETS_ENCRYPT), 443, true);
        assert_eq!(err, Err(TlsSettingsError::AcmeInCluster));
        let both = TlsArgs {
            acme_domain: Some("chat.example.org".into()),
            ..files()
        };
        assert_eq!(
            from_args(&both, 443, false),
            Err(TlsSettingsError::FilesAndAcme)
        );
        let lonely = TlsArgs {
            acme_email: Some("me@example.org".into()),
            ..args()
        };
        assert_eq!(
            from_args(&lonely, 443, false),
            Err(TlsSettingsError::EmailWithoutDomain)
        );
    }

    #[test]
    fn the_redirect_port_needs_tls_and_its_own_port() {
        let redirect = |tls: TlsArgs| TlsArgs {
            http_redirect_port: Some(8080),
            ..tls
        };
        assert_eq!(
            from_args(&redirect(args()), 8443, false),
            Err(TlsSettingsError::RedirectWithoutTls)
        );
        assert_eq!(
            from_args(&redirect(files()), 8080, false),
            Err(TlsSettingsError::RedirectOnTlsPort(8080))
        );
        let settings = from_args(&redirect(files()), 8443, false).unwrap().unwrap();
        assert_eq!(settings.redirect_port, Some(8080));
    }
}
