//! `bookchat man`: the manual page, generated from the clap definitions so that it can
//! never drift from the flags. `clap_mangen` renders one command per page; BookChat ships one
//! page, so the top-level page is followed by a section for each command with its options.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::Cli;
use crate::error::Error;

/// Prints the page to stdout, for `man -l <(bookchat man)` or to install as `bookchat.1`.
pub fn run() -> Result<(), Error> {
    std::io::stdout()
        .write_all(page().as_bytes())
        .map_err(|e| Error::io("cannot write the man page", e))
}

/// BookChat's whole page as roff.
#[must_use]
pub fn page() -> String {
    page_of(Cli::command())
}

/// The page of any command line; the tests hand it a doctored one to see them fail.
pub(crate) fn page_of(mut cli: clap::Command) -> String {
    // Building sets each subcommand's full name (`bookchat serve`) for its synopsis.
    cli.build();
    // The footer holds source, date and title on one line: the long version (with its
    // commit) would run into the date there, so the source names the plain version.
    let top = Man::new(cli.clone())
        .date(env!("BOOKCHAT_BUILD_DATE"))
        .source(concat!("bookchat ", env!("CARGO_PKG_VERSION")))
        .manual("BookChat Manual");
    let mut out = Vec::new();
    render_top(&top, &mut out).expect("writing to a Vec cannot fail");
    command_list(&cli)
        .to_writer(&mut out)
        .expect("writing to a Vec cannot fail");
    for sub in visible_subcommands(&cli) {
        render_command(&cli, sub, &mut out).expect("writing to a Vec cannot fail");
    }
    top.render_version_section(&mut out)
        .expect("writing to a Vec cannot fail");
    let page = String::from_utf8(out).expect("clap_mangen writes UTF-8");
    once_each(&page, PREAMBLE)
}

/// The lines roff writes at the top of every piece it renders (so that `'` prints as an
/// apostrophe); the page needs them once.
const PREAMBLE: [&str; 2] = [".ie \\n(.g .ds Aq \\(aq", ".el .ds Aq '"];

/// `page` with only the first occurrence of each of `lines`.
fn once_each(page: &str, lines: [&str; 2]) -> String {
    let mut seen = [false; 2];
    let mut kept = String::with_capacity(page.len());
    for line in page.lines() {
        if let Some(i) = lines.iter().position(|l| *l == line) {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// The commands a person can type; clap's own `help` command is left to `--help`.
fn visible_subcommands(cli: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cli.get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
}

/// Title, name, synopsis, description and options of `bookchat` itself. `clap_mangen`'s own
/// list of commands is left out: it names one page per command (`bookchat-serve(1)`),
/// which BookChat does not ship; [`command_list`] points to the sections below instead.
fn render_top(top: &Man, out: &mut Vec<u8>) -> std::io::Result<()> {
    top.render_title(out)?;
    top.render_name_section(out)?;
    top.render_synopsis_section(out)?;
    top.render_description_section(out)?;
    top.render_options_section(out)?;
    Ok(())
}

/// The COMMANDS list: each command's name and one-line summary.
fn command_list(cli: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    for sub in visible_subcommands(cli) {
        roff.control("TP", []);
        roff.text([bold(sub.get_name())]);
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        roff.text([roman(about)]);
    }
    roff.control("PP", []);
    roff.text([roman("Each command has a section of its own below.")]);
    roff
}

/// One command's section: its synopsis, description and options, with `clap_mangen`'s
/// top-level headings (`.SH`) turned into subsections (`.SS`) of it.
fn render_command(
    cli: &clap::Command,
    sub: &clap::Command,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
    let mut heading = Roff::default();
    heading.control("SH", [format!("COMMAND: {}", name.to_uppercase()).as_str()]);
    heading.to_writer(out)?;
    let man = Man::new(sub.clone());
    let mut body = Vec::new();
    man.render_synopsis_section(&mut body)?;
    let mut paragraph = Roff::default();
    paragraph.control("PP", []);
    paragraph.to_writer(&mut body)?;
    man.render_description_section(&mut body)?;
    if takes_the_top_level_options(cli, sub) {
        let mut same = Roff::default();
        same.control("PP", []);
        same.text([
            roman("Takes the same options as "),
            bold(cli.get_name()),
            roman(" itself: see OPTIONS above."),
        ]);
        same.to_writer(&mut body)?;
    } else if sub.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut body)?;
    }
    let body = String::from_utf8_lossy(&body);
    for line in body.lines() {
        // SYNOPSIS and DESCRIPTION are implied by the command's own heading.
        if line == ".SH SYNOPSIS" || line == ".SH DESCRIPTION" {
            continue;
        }
        let line = line
            .strip_prefix(".SH ")
            .map_or_else(|| line.to_string(), |rest| format!(".SS {rest}"));
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `serve` takes exactly the flags of a bare `bookchat`: printing them twice would only
/// make the page longer.
fn takes_the_top_level_options(cli: &clap::Command, sub: &clap::Command) -> bool {
    let ids = |c: &clap::Command| {
        let mut ids: Vec<String> = c.get_arguments().map(|a| a.get_id().to_string()).collect();
        ids.sort();
        ids
    };
    let mut top = ids(cli);
    // The top level also has --version, which a subcommand does not repeat.
    top.retain(|id| id != "version");
    ids(sub) == top
}
