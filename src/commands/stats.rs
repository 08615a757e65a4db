//! `bookchat stats`: message counts, file sizes and the latest backup, as text or JSON.
//! It opens the database read-only, so it works beside a running server, and it never
//! reads the GitHub settings, so it cannot print the token.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::backup::{self, files};
use crate::cli::StatsArgs;
use crate::commands::human_bytes;
use crate::db::queries::{self, Counts};
use crate::db::sqlite::{self, Access};
use crate::db::DbError;
use crate::error::Error;

/// The `--json` shape; its field names are a promise to scripts.
#[derive(Debug, Serialize)]
pub struct Report {
    pub messages: Counts,
    pub database: DatabaseFiles,
    pub backups: Backups,
}

#[derive(Debug, Serialize)]
pub struct DatabaseFiles {
    pub path: String,
    pub bytes: u64,
    /// The write-ahead log: commits not yet folded into the main file. 0 when absent.
    pub wal_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Backups {
    pub count: usize,
    pub last_at: Option<String>,
    pub last_path: Option<String>,
}

pub fn run(args: &StatsArgs) -> Result<(), Error> {
    let report = gather(&args.data.data_dir)?;
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|err| Error::io("cannot encode the statistics", err.into()))?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

pub fn gather(data_dir: &Path) -> Result<Report, Error> {
    let db = backup::db_path(data_dir);
    if !db.is_file() {
        return Err(Error::NoDatabase(db));
    }
    let open_error = |source| DbError::Open {
        path: db.clone(),
        source,
    };
    // Read-only, and patient: a server's writer holds its lock only for a moment.
    let conn = sqlite::open(&db, Access::ReadOnly).map_err(open_error)?;
    // A `count(*)`, walking the whole table: fine for a command run by hand, unlike the
    // server's `/api/stats`, which reads counters instead.
    let messages = queries::counts(&conn).map_err(DbError::from)?;
    drop(conn);
    let folder = files::backups_dir(data_dir);
    let found = files::list(&folder)
        .map_err(|err| Error::io(format!("cannot list {}", folder.display()), err))?;
    let newest = found.last();
    let (bytes, wal_bytes) = crate::db::sizes_on_disk(&db);
    Ok(Report {
        messages,
        database: DatabaseFiles {
            path: db.display().to_string(),
            bytes,
            wal_bytes,
        },
        backups: Backups {
            count: found.len(),
            last_at: newest.map(|b| files::rfc3339(b.at)),
            last_path: newest.map(|b| b.path.display().to_string()),
        },
    })
}

/// Aligned `label: value` lines for people.
pub fn render(report: &Report) -> String {
    let m = &report.messages;
    let d = &report.database;
    let b = &report.backups;
    let last_backup = match (&b.last_at, &b.last_path) {
        (Some(at), Some(path)) => format!("{at} ({path})"),
        _ => "none".into(),
    };
    let rows = [
        ("messages", m.total.to_string()),
        ("  synced", m.synced.to_string()),
        ("  pending", m.pending.to_string()),
        (
            "newest message",
            m.newest_at.as_deref().unwrap_or("none").into(),
        ),
        ("database", d.path.clone()),
        ("database size", human_bytes(d.bytes)),
        ("WAL size", human_bytes(d.wal_bytes)),
        ("backups", b.count.to_string()),
        ("last backup", last_backup),
    ];
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    let mut text = String::new();
    for (label, value) in &rows {
        let _ = writeln!(text, "{:<width$} {value}", format!("{label}:"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_aligned_and_says_none_when_empty() {
        let report = Report {
            messages: Counts {
                total: 3,
                synced: 2,
                pending: 1,
                newest_at: None,
                oldest_pending_at: None,
            },
            database: DatabaseFiles {
                path: "d/bookchat.db".into(),
                bytes: 4096,
                wal_bytes: 0,
            },
            backups: Backups {
                count: 0,
                last_at: None,
                last_path: None,
            },
        };
        let text = render(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "messages:       3");
        assert_eq!(lines[2], "  pending:      1");
        assert_eq!(lines[3], "newest message: none");
        assert_eq!(lines[5], "database size:  4.1 kB");
        assert_eq!(lines[8], "last backup:    none");
        // Every value starts in the same column.
        for line in &lines {
            assert!(
                line.as_bytes()[15] == b' ' && line.as_bytes()[16] != b' ',
                "{text}"
            );
        }
    }
}
