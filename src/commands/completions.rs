//! `bookchat completions bash|zsh|fish`: a completion script generated from the clap
//! definitions, so that it can never drift from the flags.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell as Generator;

use crate::cli::{Cli, Shell};
use crate::error::Error;

/// Prints the script to stdout.
pub fn run(shell: Shell) -> Result<(), Error> {
    std::io::stdout()
        .write_all(script(shell).as_bytes())
        .map_err(|e| Error::io("cannot write the completions", e))
}

/// BookChat's completion script for `shell`.
#[must_use]
pub fn script(shell: Shell) -> String {
    script_of(shell, Cli::command())
}

/// The script of any command line; the tests hand it a doctored one to see them fail.
pub(crate) fn script_of(shell: Shell, mut command: clap::Command) -> String {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    let name = command.get_name().to_string();
    // Into a buffer first: `clap_complete` panics when its writer fails, and stdout may be
    // a closed pipe; writing it ourselves turns that into an ordinary error.
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut command, name, &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}
