//! `bookchat import`: the disaster-recovery path. Takes the data directory's lock (so it
//! refuses while a server runs there), opens or creates the database, and fills it from
//! the GitHub repository with a progress line and a closing summary. With a PostgreSQL
//! URL it fills that database instead, holding it to itself: it refuses while any node
//! serves it, and no node starts serving until it is done.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::cli::ImportArgs;
use crate::commands::messages;
use crate::config::{self, ConfigError};
use crate::db;
use crate::error::Error;
use crate::lock::DataDirLock;
use crate::sync::import::{self, Phase, Progress, Summary};
use crate::sync::import_sink::{ImportSink, PgSink};
use crate::sync::GithubConfig;

pub fn run(args: &ImportArgs) -> Result<(), Error> {
    let config = GithubConfig::from_args(&args.github)
        .map_err(ConfigError::from)?
        .ok_or(ConfigError::ImportNeedsGithub)?;
    let summary = if let Some(url) = config::database_url(&args.data)? {
        let mut sink = PgSink::open(&url)?;
        let into = format!("PostgreSQL database {}", sink.database);
        import_into(&config, &mut sink, &into)?
    } else {
        let dir = &args.data.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|err| Error::io(format!("cannot create {}", dir.display()), err))?;
        let _lock = DataDirLock::acquire(dir)?;
        let path = crate::backup::db_path(dir);
        let mut conn = db::open_writer(&path)?;
        db::migrate(&mut conn)?;
        import_into(&config, &mut conn, &path.display().to_string())?
    };
    print_summary(&summary);
    Ok(())
}

/// Runs the import into `sink` (named `into` for people) with the progress line.
fn import_into(
    config: &GithubConfig,
    sink: &mut dyn ImportSink,
    into: &str,
) -> Result<Summary, Error> {
    eprintln!(
        "importing from {} (branch {}, folder {}/) into {into}",
        config.full_name(),
        config.branch,
        config.path,
    );
    let mut line = ProgressLine::new();
    let summary = import::run_into(config, sink, &mut |p| line.show(p));
    line.finish();
    Ok(summary?)
}

fn print_summary(summary: &Summary) {
    println!(
        "{} on the branch: {} added, {} already in the database{}{}; {} GitHub requests",
        messages(count(summary.found)),
        count(summary.added),
        count(summary.present),
        match summary.skipped {
            0 => String::new(),
            n => format!(", {n} files skipped (not BookChat messages)"),
        },
        match summary.looked_up {
            0 => String::new(),
            n => format!(", {n} commits looked up one by one"),
        },
        summary.requests
    );
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One line on stderr, redrawn in place on a terminal, else printed every few seconds.
struct ProgressLine {
    tty: bool,
    last: Option<Instant>,
    last_phase: Option<Phase>,
}

impl ProgressLine {
    fn new() -> ProgressLine {
        ProgressLine {
            tty: std::io::stderr().is_terminal(),
            last: None,
            last_phase: None,
        }
    }

    fn show(&mut self, p: &Progress) {
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        let new_phase = self.last_phase != Some(p.phase);
        if !new_phase && self.last.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        self.last_phase = Some(p.phase);
        let text = render(p);
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{text}")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

fn render(p: &Progress) -> String {
    let eta = p
        .eta()
        .map(|left| format!(", about {} s left", left.as_secs() + 1))
        .unwrap_or_default();
    match p.phase {
        Phase::Walking => format!("walking the repository: {} message files found", p.found),
        Phase::Reading => format!(
            "reading the archive: {} of {} missing messages found{eta}",
            p.done, p.missing
        ),
        Phase::Matching => format!(
            "reading the history: {} of {} messages matched to their commits{eta}",
            p.done, p.total
        ),
        Phase::Saving => format!(
            "checking and saving: {} of {} messages{eta}",
            p.done, p.total
        ),
    }
}
