//! The options of `bookchat serve` (also those of a bare `bookchat`): where it listens,
//! HTTPS, who may do what, limits and automatic backups.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{parse_secret, DataArgs, GithubArgs};
use crate::secret::Secret;

pub const DEFAULT_PORT: u16 = 5002;
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Let's Encrypt's production directory: the default ACME server.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Options of `bookchat serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Address to bind: 127.0.0.1 for this machine only, 0.0.0.0 or :: for everyone.
    #[arg(long, env = "BOOKCHAT_HOST", default_value = DEFAULT_HOST)]
    pub host: String,

    #[command(flatten)]
    pub data: DataArgs,

    /// `production` adds HSTS, hides internal error detail and logs JSON.
    #[arg(long = "env", env = "BOOKCHAT_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,

    /// Log line format [default: text, or json in production].
    #[arg(long, env = "BOOKCHAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Origins allowed to call the API from a browser: `*`, or a comma-separated list such as
    /// `https://chat.example.org,https://example.org`.
    #[arg(long, env = "BOOKCHAT_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub access: AccessArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub backups: AutoBackupArgs,

    #[command(flatten)]
    pub github: GithubArgs,
}

/// HTTPS on the serving port: certificate files, or a certificate obtained automatically.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTPS")]
pub struct TlsArgs {
    /// PEM certificate chain: the server speaks HTTPS on its port. Re-read, with the key,
    /// on SIGHUP (`systemctl reload bookchat`), so a renewal needs no restart.
    #[arg(long, env = "BOOKCHAT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's PEM private key.
    #[arg(long, env = "BOOKCHAT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Obtain and renew this domain's certificate automatically (ACME, TLS-ALPN-01 on the
    /// serving port, which the world must reach as port 443); kept in <data-dir>/acme/.
    #[arg(long, env = "BOOKCHAT_ACME_DOMAIN", value_name = "DOMAIN")]
    pub acme_domain: Option<String>,

    /// Contact address for the ACME account (expiry warnings, policy changes).
    #[arg(long, env = "BOOKCHAT_ACME_EMAIL", value_name = "ADDRESS")]
    pub acme_email: Option<String>,

    /// ACME directory URL: a staging or test server instead of Let's Encrypt.
    #[arg(long, env = "BOOKCHAT_ACME_DIRECTORY", value_name = "URL", default_value = LETS_ENCRYPT)]
    pub acme_directory: String,

    /// With HTTPS on, also listen for plain HTTP on this port and answer `308` to the same
    /// path on https://.
    #[arg(long, env = "BOOKCHAT_HTTP_REDIRECT_PORT", value_name = "PORT")]
    pub http_redirect_port: Option<u16>,
}

impl Default for TlsArgs {
    fn default() -> TlsArgs {
        TlsArgs {
            tls_cert: None,
            tls_key: None,
            acme_domain: None,
            acme_email: None,
            acme_directory: LETS_ENCRYPT.into(),
            http_redirect_port: None,
        }
    }
}

/// Who may read, write and moderate. Both values are secrets: never printed, not even here.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Private chats and moderation")]
pub struct AccessArgs {
    /// The moderator's secret (at least 16 characters). It may delete messages (as
    /// `Authorization: Bearer <token>`, or signed in on the page), and /api/stats and
    /// /metrics then need it.
    #[arg(long, env = "BOOKCHAT_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub admin_token: Option<Secret>,

    /// Makes the chat members-only: only a client that shows this code (signed in on the
    /// page, or as `Authorization: Bearer <code>`), or the admin token, may read or write.
    #[arg(long, env = "BOOKCHAT_ACCESS_CODE", hide_env_values = true, value_parser = parse_secret)]
    pub access_code: Option<Secret>,
}

/// Backups the server makes by itself into <data-dir>/backups/.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Automatic backups")]
pub struct AutoBackupArgs {
    /// Seconds between automatic backups; `0` turns them off.
    #[arg(long, env = "BOOKCHAT_BACKUP_INTERVAL", default_value_t = 3600)]
    pub backup_interval: u64,

    /// Automatic backups kept; older ones are deleted (never manual or pre-restore ones).
    #[arg(long, env = "BOOKCHAT_BACKUP_KEEP", default_value_t = 24)]
    pub backup_keep: usize,
}

impl Default for AutoBackupArgs {
    fn default() -> AutoBackupArgs {
        AutoBackupArgs {
            backup_interval: 3600,
            backup_keep: 24,
        }
    }
}

/// Who is believed about client addresses, and how much each client may ask for.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Reverse proxies whose X-Forwarded-For is believed: comma-separated addresses or
    /// CIDR blocks, e.g. `127.0.0.1,10.0.0.0/8`. Empty: the peer address is the client.
    #[arg(long, env = "BOOKCHAT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// POSTs per client: tokens/seconds, e.g. `30/60`; `0` turns the limit off.
    #[arg(long, env = "BOOKCHAT_WRITE_RATE", default_value = "30/60")]
    pub write_rate: String,

    /// POSTs a client may send at once before the rate applies.
    #[arg(long, env = "BOOKCHAT_WRITE_BURST", default_value_t = 10)]
    pub write_burst: u32,

    /// API GETs per client: tokens/seconds; `0` turns the limit off.
    #[arg(long, env = "BOOKCHAT_READ_RATE", default_value = "600/60")]
    pub read_rate: String,

    /// API GETs a client may send at once before the rate applies.
    #[arg(long, env = "BOOKCHAT_READ_BURST", default_value_t = 120)]
    pub read_burst: u32,

    /// Open connections served at once; more are answered 503 and closed.
    #[arg(long, env = "BOOKCHAT_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Live /api/events streams open at once (each is also a connection); 0 turns them off.
    #[arg(long, env = "BOOKCHAT_MAX_EVENT_STREAMS", default_value_t = 1000)]
    pub max_event_streams: usize,

    /// Connections one peer address may hold at once (trusted proxies are exempt); more
    /// are answered 429 and closed.
    #[arg(
        long,
        env = "BOOKCHAT_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 64
    )]
    pub max_connections_per_client: usize,

    /// Live /api/events streams one client may hold at once; more get a 429.
    #[arg(long, env = "BOOKCHAT_MAX_STREAMS_PER_CLIENT", default_value_t = 8)]
    pub max_streams_per_client: usize,
}

impl Default for LimitArgs {
    fn default() -> LimitArgs {
        LimitArgs {
            trusted_proxies: String::new(),
            write_rate: "30/60".into(),
            write_burst: 10,
            read_rate: "600/60".into(),
            read_burst: 120,
            max_connections: 1024,
            max_event_streams: 1000,
            max_connections_per_client: 64,
            max_streams_per_client: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
