//! The command line as a person types it: clap structs with their environment variables.
//! Nothing here is validated beyond its type; `config::Config` does that once, at start.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::secret::Secret;

mod serve;

pub use serve::{
    AccessArgs, AutoBackupArgs, Environment, LimitArgs, LogFormat, ServeArgs, TlsArgs,
    DEFAULT_HOST, DEFAULT_PORT, LETS_ENCRYPT,
};

pub const DEFAULT_DATA_DIR: &str = "./bookchat-data";

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
pub(crate) fn parse_secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
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
