//! The validated runtime configuration, built once at start from the parsed command line.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use hyper::header::HeaderValue;

use crate::auth::{Credentials, MIN_ADMIN_TOKEN};
use crate::backup::BackupPolicy;
use crate::cidr::{parse_trusted, Cidr};
use crate::cli::{
    AccessArgs, AutoBackupArgs, DataArgs, Environment, LimitArgs, LogFormat, ServeArgs,
};
use crate::db::DB_FILE;
use crate::ratelimit::Policy;
use crate::secret::Secret;
use crate::sync::{GithubConfig, GithubSettingsError};
use crate::tls::{TlsSettings, TlsSettingsError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid host {0:?}: expected an IP address such as 127.0.0.1 or a resolvable name")]
    Host(String),
    #[error("invalid CORS origin {0:?}: expected `*` or origins like https://example.org")]
    CorsOrigin(String),
    #[error(transparent)]
    Github(#[from] GithubSettingsError),
    #[error(transparent)]
    Tls(#[from] TlsSettingsError),
    #[error("import needs the repository: set GITHUB_TOKEN and GITHUB_REPO (or --github-token and --github-repo)")]
    ImportNeedsGithub,
    #[error("BOOKCHAT_ADMIN_TOKEN is {0} characters; it must be at least {MIN_ADMIN_TOKEN} (try `openssl rand -hex 16`)")]
    AdminTokenTooShort(usize),
    #[error(
        "BOOKCHAT_ADMIN_TOKEN and BOOKCHAT_ACCESS_CODE must differ: members would be moderators"
    )]
    AdminTokenIsAccessCode,
    #[error("invalid BOOKCHAT_TRUSTED_PROXIES entry {0:?}: expected an address or CIDR block")]
    TrustedProxy(String),
    #[error("invalid {name}: {reason}")]
    Rate { name: &'static str, reason: String },
    #[error("invalid BOOKCHAT_MAX_CONNECTIONS: it must be at least 1")]
    MaxConnections,
    #[error("invalid BOOKCHAT_MAX_CONNECTIONS_PER_CLIENT: it must be at least 1")]
    MaxConnectionsPerClient,
    #[error("invalid BOOKCHAT_MAX_STREAMS_PER_CLIENT: it must be at least 1 (BOOKCHAT_MAX_EVENT_STREAMS=0 turns streams off)")]
    MaxStreamsPerClient,
    #[error("invalid BOOKCHAT_DATABASE_URL: {0}")]
    DatabaseUrl(String),
    #[error("invalid BOOKCHAT_BACKUP_KEEP: it must be at least 1")]
    BackupKeep,
    #[error("invalid BOOKCHAT_BACKUP_INTERVAL: at most {MAX_BACKUP_INTERVAL} seconds (a year); 0 turns automatic backups off")]
    BackupInterval,
}

/// A longer interval is surely a typo, and would overflow a timer; `0` means off.
const MAX_BACKUP_INTERVAL: u64 = 365 * 24 * 3600;

/// Which browser origins may read API responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    Any,
    /// Exact origins, kept as header values so a match is echoed back without re-encoding.
    Origins(Vec<HeaderValue>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `Some` when messages live in PostgreSQL (see `store::pg`); a secret, as it may hold
    /// a password.
    pub database_url: Option<Secret>,
    pub environment: Environment,
    pub log_format: LogFormat,
    pub cors: CorsPolicy,
    /// `None` when GitHub sync is off.
    pub github: Option<GithubConfig>,
    pub trusted_proxies: Vec<Cidr>,
    /// The admin token and the access code, if set.
    pub credentials: Credentials,
    /// `None` turns a limit off.
    pub write_limit: Option<Policy>,
    pub read_limit: Option<Policy>,
    pub connections: ConnectionLimits,
    pub backups: BackupPolicy,
    /// `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
}

/// What one connection may cost the server. The caps on counts have flags; the times and
/// sizes are fixed here (and shortened by tests).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// A client must send a request's headers within this time, and an idle keep-alive
    /// connection is closed after it (hyper starts the clock when it waits for a request).
    pub header_timeout: Duration,
    /// More headers than this, or more header bytes, is a 431; a longer target a 414.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub max_url_bytes: usize,
    /// Open `/api/events` streams at once; more get a 503.
    pub max_event_streams: usize,
    /// Connections one peer address (IPv6: one /64) may hold; trusted proxies are exempt.
    pub max_connections_per_client: usize,
    /// Open `/api/events` streams one client may hold; more get a 429.
    pub max_streams_per_client: usize,
    /// How often an idle event stream gets a `heartbeat` event, so proxies keep it open and
    /// the page (told this interval) can tell a live stream from a dead one.
    pub heartbeat: Duration,
    /// How long an event stream waits for its reader to take a frame when its queue is
    /// full; then the stream and its connection are dropped.
    pub slow_reader_deadline: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_url_bytes: 8 * 1024,
            max_event_streams: 1000,
            max_connections_per_client: 64,
            max_streams_per_client: 8,
            heartbeat: Duration::from_secs(15),
            slow_reader_deadline: Duration::from_secs(30),
        }
    }
}

/// The log format asked for, else the environment's: JSON for production collectors.
pub fn log_format(args: &ServeArgs) -> LogFormat {
    args.log_format.unwrap_or(match args.environment {
        Environment::Production => LogFormat::Json,
        Environment::Development => LogFormat::Text,
    })
}

impl Config {
    pub fn from_args(args: &ServeArgs) -> Result<Config, ConfigError> {
        let database_url = database_url(&args.data)?;
        Ok(Config {
            bind: resolve_bind(&args.host, args.port)?,
            data_dir: args.data.data_dir.clone(),
            tls: crate::tls::settings::from_args(&args.tls, args.port, database_url.is_some())?,
            database_url,
            environment: args.environment,
            log_format: log_format(args),
            cors: parse_cors(&args.cors_origins)?,
            github: GithubConfig::from_args(&args.github)?,
            trusted_proxies: parse_trusted(&args.limits.trusted_proxies)
                .map_err(ConfigError::TrustedProxy)?,
            credentials: credentials(&args.access)?,
            write_limit: rate(
                "BOOKCHAT_WRITE_RATE",
                &args.limits.write_rate,
                args.limits.write_burst,
            )?,
            read_limit: rate(
                "BOOKCHAT_READ_RATE",
                &args.limits.read_rate,
                args.limits.read_burst,
            )?,
            connections: connection_limits(&args.limits)?,
            backups: backup_policy(&args.backups)?,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }
}

/// The URL, checked once here so a typo is a start-up error and not a retry loop. An
/// empty value means unset, as for the other secrets. The error never repeats the URL.
pub fn database_url(args: &DataArgs) -> Result<Option<Secret>, ConfigError> {
    let Some(url) = args.database_url.as_ref().map(|u| u.expose().trim()) else {
        return Ok(None);
    };
    if url.is_empty() {
        return Ok(None);
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(ConfigError::DatabaseUrl(
            "expected a URL like postgres://user:password@host/database".into(),
        ));
    }
    crate::store::pg::Target::parse(url, "bookchat")
        .map_err(|err| ConfigError::DatabaseUrl(err.to_string()))?;
    Ok(Some(Secret::new(url)))
}

/// Each count cap at 0 would turn every client away, which is surely a mistake; streams
/// have their own switch for that.
fn connection_limits(args: &LimitArgs) -> Result<ConnectionLimits, ConfigError> {
    let at_least_one =
        |value: usize, err: ConfigError| if value == 0 { Err(err) } else { Ok(value) };
    Ok(ConnectionLimits {
        max_connections: at_least_one(args.max_connections, ConfigError::MaxConnections)?,
        max_event_streams: args.max_event_streams,
        max_connections_per_client: at_least_one(
            args.max_connections_per_client,
            ConfigError::MaxConnectionsPerClient,
        )?,
        max_streams_per_client: at_least_one(
            args.max_streams_per_client,
            ConfigError::MaxStreamsPerClient,
        )?,
        ..ConnectionLimits::default()
    })
}

/// An empty value is no value (`BOOKCHAT_ACCESS_CODE=` in a `.env` turns the code off).
fn credentials(args: &AccessArgs) -> Result<Credentials, ConfigError> {
    let set = |secret: &Option<Secret>| secret.clone().filter(|s| !s.expose().is_empty());
    let admin = set(&args.admin_token);
    let access = set(&args.access_code);
    if let Some(token) = &admin {
        let chars = token.expose().chars().count();
        if chars < MIN_ADMIN_TOKEN {
            return Err(ConfigError::AdminTokenTooShort(chars));
        }
        if access.as_ref() == Some(token) {
            return Err(ConfigError::AdminTokenIsAccessCode);
        }
    }
    Ok(Credentials::new(admin, access))
}

fn backup_policy(args: &AutoBackupArgs) -> Result<BackupPolicy, ConfigError> {
    if args.backup_keep == 0 {
        return Err(ConfigError::BackupKeep);
    }
    let interval = match args.backup_interval {
        0 => None,
        seconds if seconds > MAX_BACKUP_INTERVAL => return Err(ConfigError::BackupInterval),
        seconds => Some(Duration::from_secs(seconds)),
    };
    Ok(BackupPolicy {
        interval,
        keep: args.backup_keep,
    })
}

fn rate(name: &'static str, rate: &str, burst: u32) -> Result<Option<Policy>, ConfigError> {
    Policy::parse(rate, burst).map_err(|reason| ConfigError::Rate { name, reason })
}

fn resolve_bind(host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let host = host.trim();
    // `[::1]` is how people write IPv6 hosts in URLs; accept it here too.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if bare.is_empty() {
        return Err(ConfigError::Host(host.to_owned()));
    }
    (bare, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ConfigError::Host(host.to_owned()))
}

fn parse_cors(raw: &str) -> Result<CorsPolicy, ConfigError> {
    let raw = raw.trim();
    if raw == "*" || raw.is_empty() {
        return Ok(CorsPolicy::Any);
    }
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        let (scheme, rest) = origin
            .split_once("://")
            .ok_or_else(|| ConfigError::CorsOrigin(origin.to_owned()))?;
        let valid_host =
            !rest.is_empty() && !rest.contains('/') && !rest.contains(char::is_whitespace);
        if !matches!(scheme, "http" | "https") || !valid_host {
            return Err(ConfigError::CorsOrigin(origin.to_owned()));
        }
        let value = HeaderValue::from_str(origin)
            .map_err(|_| ConfigError::CorsOrigin(origin.to_owned()))?;
        origins.push(value);
    }
    Ok(CorsPolicy::Origins(origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_ip_addresses_and_bracketed_ipv6() {
        assert_eq!(
            resolve_bind("127.0.0.1", 5002).unwrap().to_string(),
            "127.0.0.1:5002"
        );
        assert_eq!(resolve_bind("[::1]", 80).unwrap().to_string(), "[::1]:80");
        assert_eq!(resolve_bind("0.0.0.0", 1).unwrap().to_string(), "0.0.0.0:1");
    }

    #[test]
    fn rejects_unresolvable_hosts() {
        assert!(matches!(resolve_bind("", 1), Err(ConfigError::Host(_))));
        assert!(matches!(
            resolve_bind("not a host!", 1),
            Err(ConfigError::Host(_))
        ));
    }

    #[test]
    fn backup_settings_are_validated() {
        let policy = |interval, keep| {
            backup_policy(&AutoBackupArgs {
                backup_interval: interval,
                backup_keep: keep,
            })
        };
        assert_eq!(
            policy(3600, 24),
            Ok(BackupPolicy {
                interval: Some(Duration::from_secs(3600)),
                keep: 24
            })
        );
        assert_eq!(policy(0, 1).unwrap().interval, None);
        assert_eq!(policy(60, 0), Err(ConfigError::BackupKeep));
        assert_eq!(
            policy(MAX_BACKUP_INTERVAL + 1, 1),
            Err(ConfigError::BackupInterval)
        );
    }

    #[test]
    fn per_client_caps_are_read_and_must_be_at_least_one() {
        let limits = |connections, streams| {
            connection_limits(&LimitArgs {
                max_connections_per_client: connections,
                max_streams_per_client: streams,
                ..LimitArgs::default()
            })
        };
        let read = limits(3, 2).unwrap();
        assert_eq!(read.max_connections_per_client, 3);
        assert_eq!(read.max_streams_per_client, 2);
        let defaults = limits(64, 8).unwrap();
        assert_eq!(defaults.slow_reader_deadline, Duration::from_secs(30));
        assert_eq!(
            limits(0, 2).unwrap_err(),
            ConfigError::MaxConnectionsPerClient
        );
        assert_eq!(limits(3, 0).unwrap_err(), ConfigError::MaxStreamsPerClient);
    }

    #[test]
    fn the_admin_token_must_be_long_and_not_the_access_code() {
        let access = |admin: Option<&str>, code: Option<&str>| {
            credentials(&AccessArgs {
                admin_token: admin.map(Secret::new),
                access_code: code.map(Secret::new),
            })
        };
        let short = access(Some("fifteen-chars-x"), None).unwrap_err();
        assert_eq!(short, ConfigError::AdminTokenTooShort(15));
        assert!(
            !short.to_string().contains("fifteen"),
            "the value is not shown"
        );
        let ok = access(Some("sixteen-chars-xx"), Some("club")).unwrap();
        assert!(ok.moderation() && ok.members_only());
        assert_eq!(
            access(Some("sixteen-chars-xx"), Some("sixteen-chars-xx")).unwrap_err(),
            ConfigError::AdminTokenIsAccessCode
        );
        let empty = access(Some(""), Some("")).unwrap();
        assert!(
            !empty.moderation() && !empty.members_only(),
            "empty is unset"
        );
    }

    #[test]
    fn cors_star_means_any() {
        assert_eq!(parse_cors("*").unwrap(), CorsPolicy::Any);
    }

    #[test]
    fn cors_lists_are_trimmed_and_checked() {
        let policy = parse_cors(" https://a.example , http://b.example:8080/ ").unwrap();
        assert_eq!(
            policy,
            CorsPolicy::Origins(vec![
                HeaderValue::from_static("https://a.example"),
                HeaderValue::from_static("http://b.example:8080"),
            ])
        );
        for bad in [
            "a.example",
            "ftp://a.example",
            "https://",
            "https://a.example/path",
        ] {
            assert!(parse_cors(bad).is_err(), "{bad} should be refused");
        }
    }
}
