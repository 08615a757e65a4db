//! Entry point: parse the command line, dispatch to a command, turn failure into an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use bookchat::cli::{self, Cli, Command};
use bookchat::commands;
use clap::Parser;

fn main() -> ExitCode {
    // Real environment variables win: dotenvy never overwrites one that is already set.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("bookchat: cannot read .env: {err}");
            return ExitCode::from(2);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: clap prints them to stdout and exits 0.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            eprintln!("bookchat: {}", cli::usage_error(&err));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        None => commands::serve::run(&cli.serve),
        Some(Command::Serve(args)) => commands::serve::run(&args),
        Some(Command::Backup(args)) => commands::backup::run(args),
        Some(Command::Restore(args)) => commands::restore::run(&args),
        Some(Command::Stats(args)) => commands::stats::run(&args),
        Some(Command::Import(args)) => commands::import::run(&args),
        Some(Command::Completions(args)) => commands::completions::run(args.shell),
        Some(Command::Man) => commands::man::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bookchat: {err}");
            ExitCode::FAILURE
        }
    }
}
