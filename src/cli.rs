//! The command line as a person types it: clap structs with their environment variables.
//! Nothing here is validated beyond its type; `config::Config` does that once, at start.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::secret::Secret;

pub const DEFAULT_PORT: u16 = 5002;
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_DATA_DIR: &str = "./bookchat-data";
/// Let's Encrypt's production directory: the default ACME server.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// What `--version` prints after the name: the crate version, then the commit and the date
/// `build.rs` found (`unknown` for a build outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BOOKCHAT_GIT_COMMIT"),
    ", built ",
    env!("BOOKCHAT_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "bookchat",
    version = VERSION,
    about = "A self-hosted chat server in one file: messages land in SQLite, then on GitHub.",
    long_about = "A self-hosted chat server in one file.\n\n\
        Run `bookchat` (or `bookchat serve`) and open http://127.0.0.1:5002 in a browser.\n\
        Every option can also be set through the environment variable shown beside it, or in a\n\
        .env file in the working directory; flags win over both.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// A command-line mistake as one line, like every other failure: clap's first line,
/// plus the environment variable that can also set the flag, since the bad value may
/// have come from there (or from `.env`) rather than from what was typed.
pub fn usage_error(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let reason = first.strip_prefix("error: ").unwrap_or(first);
    let source = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => env_var_of(arg),
        _ => None,
    }
    .map(|var| format!(" (the flag or {var})"))
    .unwrap_or_default();
    // clap lists the accepted values on a later line; one line must say them.
    let valid = match err.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) if !values.is_empty() => {
            format!("; use one of {}", values.join(", "))
        }
        _ => String::new(),
    };
    format!("{reason}{source}{valid}; see bookchat --help")
}

/// The environment variable behind a flag as clap names it (`--port <PORT>`).
fn env_var_of(arg: &str) -> Option<String> {
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
    let cli = Cli::command();
    // Bound to a name so the borrow of `cli` ends before `cli` is dropped.
    let var = std::iter::once(&cli)
        .chain(cli.get_subcommands())
        .flat_map(clap::Command::get_arguments)
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|var| var.to_string_lossy().into_owned());
    var
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server (the default when no command is given).
    Serve(Box<ServeArgs>),
    /// Write a consistent, verified copy of the database; safe while the server runs.
    Backup(BackupArgs),
    /// Replace the database with a backup file, after checking it; keeps the replaced one.
    Restore(RestoreArgs),
    /// Show message counts, database size and the latest backup; safe while the server runs.
    Stats(StatsArgs),
    /// Rebuild or complete the database from the GitHub repository (disaster recovery)
    ///
    /// Adds every message file on the branch that the database lacks, marked synced with
    /// the commit that added it, and shows its progress. Safe to run again; resumes after
    /// an interruption. The server must be stopped. Uses the same GitHub settings as
    /// `serve`.
    Import(ImportArgs),
    /// Print a shell completion script for bash, zsh or fish
    ///
    /// For example `bookchat completions bash > /etc/bash_completion.d/bookchat`; the
    /// README says where each shell looks.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), covering every command and flag: `man -l <(bookchat man)`.
    Man,
}

/// Options of `bookchat completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `bookchat completions` writes for: the three people use on Linux servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Options of `bookchat import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub github: GithubArgs,
}

/// Options of `bookchat backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Where to write the backup [default: <data-dir>/backups/bookchat-<UTC time>.db].
    /// An existing file is never overwritten.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Options of `bookchat restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// The backup to restore: a BookChat database file. The server must be stopped.
    pub file: PathBuf,
}

/// Options of `bookchat stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

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

/// Where messages are committed on GitHub. Sync is on when both a token and a repository
/// are given; without them BookChat keeps every message in SQLite only.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "GitHub sync")]
pub struct GithubArgs {
    /// Token for the GitHub REST API (needs contents: write on the repository).
    /// Never printed, not even here.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub github_token: Option<Secret>,

    /// Repository to commit messages to, as owner/name.
    #[arg(long, env = "GITHUB_REPO")]
    pub github_repo: Option<String>,

    /// Branch to commit to.
    #[arg(long, env = "GITHUB_BRANCH", default_value = "main")]
    pub github_branch: String,

    /// API base URL: GitHub Enterprise's, or a local test server's.
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,

    /// Folder in the repository that holds the message files.
    #[arg(long, env = "BOOKCHAT_GITHUB_PATH", default_value = "messages")]
    pub github_path: String,
}

/// Where the database lives; shared by every command that touches it.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Folder holding bookchat.db and backups/ (`serve` creates it when missing).
    #[arg(long, env = "BOOKCHAT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// `postgres://user:password@host/db`: messages live in PostgreSQL instead of the data
    /// directory's SQLite, so that several `bookchat serve` processes serve one chat.
    /// `?sslmode=require` encrypts and verifies the server's certificate.
    #[arg(long, env = "BOOKCHAT_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<Secret>,
}

/// Wraps the token at once, so not even a `Debug` of the parsed arguments shows it.
#[allow(
    clippy::unnecessary_wraps,
    reason = "clap's value parsers return a Result"
)]
fn parse_secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::Path;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bare_invocation_and_serve_take_the_same_flags() {
        let bare = Cli::try_parse_from(["bookchat", "--port", "6000"]).unwrap();
        assert!(bare.command.is_none());
        assert_eq!(bare.serve.port, 6000);
        let sub = Cli::try_parse_from(["bookchat", "serve", "--port", "6001"]).unwrap();
        match sub.command {
            Some(Command::Serve(args)) => assert_eq!(args.port, 6001),
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn help_never_shows_the_token_value() {
        let mut command = Cli::command();
        let help = command.render_long_help().to_string();
        assert!(help.contains("GITHUB_TOKEN"), "{help}");
        let token = command
            .get_arguments()
            .find(|a| a.get_id() == "github_token")
            .expect("token flag");
        assert!(token.is_hide_env_values_set());
    }

    #[test]
    fn help_and_debug_never_show_the_access_secrets() {
        let cli = Cli::try_parse_from([
            "bookchat",
            "--admin-token",
            "moderator-s3cret-token",
            "--access-code",
            "club-c0de",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("c0de"),
            "{shown}"
        );
        let command = Cli::command();
        for id in ["admin_token", "access_code", "database_url"] {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            assert!(arg.is_hide_env_values_set(), "{id}");
        }
    }

    #[test]
    fn debug_of_parsed_arguments_hides_the_token() {
        let cli = Cli::try_parse_from(["bookchat", "--github-token", "ghp_s3cret"]).unwrap();
        assert!(!format!("{cli:?}").contains("s3cret"));
        assert_eq!(
            cli.serve.github.github_token.unwrap().expose(),
            "ghp_s3cret"
        );
    }

    #[test]
    fn operations_commands_take_the_data_directory() {
        let cli =
            Cli::try_parse_from(["bookchat", "backup", "--data-dir", "d", "-o", "x.db"]).unwrap();
        match cli.command {
            Some(Command::Backup(args)) => {
                assert_eq!(args.data.data_dir, PathBuf::from("d"));
                assert_eq!(args.output, Some(PathBuf::from("x.db")));
            }
            other => panic!("expected backup, got {other:?}"),
        }
        let cli = Cli::try_parse_from(["bookchat", "restore", "saved.db"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Restore(a)) if a.file == Path::new("saved.db"))
        );
        let cli = Cli::try_parse_from(["bookchat", "stats", "--json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Stats(a)) if a.json));
        assert!(Cli::try_parse_from(["bookchat", "restore"]).is_err());
    }

    #[test]
    fn completions_take_one_of_three_shells_and_man_takes_nothing() {
        let cli = Cli::try_parse_from(["bookchat", "completions", "fish"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Completions(a)) if a.shell == Shell::Fish));
        let cli = Cli::try_parse_from(["bookchat", "man"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Man)));
        assert!(Cli::try_parse_from(["bookchat", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["bookchat", "completions"]).is_err());
        assert!(Cli::try_parse_from(["bookchat", "man", "--port", "1"]).is_err());
    }

    #[test]
    fn rejects_unknown_environment() {
        assert!(Cli::try_parse_from(["bookchat", "--env", "staging"]).is_err());
    }
}
