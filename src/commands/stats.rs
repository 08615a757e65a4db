//! `bookchat stats`: message counts, file sizes and the latest backup, as text or JSON.
//! It opens the database read-only, so it works beside a running server, and it never
//! reads the GitHub settings, so it cannot print the token. With a PostgreSQL URL the
//! counts and the size are PostgreSQL's (there is no SQLite file then); the URL, which
//! holds a password, is never printed.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::backup::{self, files};
use crate::cli::StatsArgs;
use crate::commands::human_bytes;
use crate::config;
use crate::db::queries::{self, Counts};
use crate::db::sqlite::{self, Access};
use crate::db::DbError;
use crate::error::Error;
use crate::secret::Secret;
use crate::store::pg::command::Session;
use crate::store::pg::counts_on;

/// The `--json` shape; its field names are a promise to scripts.
#[derive(Debug, Serialize)]
pub struct Report {
    pub messages: Counts,
    pub database: DatabaseFiles,
    pub backups: Backups,
}

/// Where the messages are. `store` is `sqlite` (with the file's `path` and `wal_bytes`)
/// or `postgresql` (with the database's `name`).
#[derive(Debug, Serialize)]
pub struct DatabaseFiles {
    pub store: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub bytes: u64,
    /// The write-ahead log: commits not yet folded into the main file. 0 when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Backups {
    pub count: usize,
    pub last_at: Option<String>,
    pub last_path: Option<String>,
}

pub fn run(args: &StatsArgs) -> Result<(), Error> {
    let report = match config::database_url(&args.data)? {
        Some(url) => gather_postgres(&args.data.data_dir, &url)?,
        None => gather(&args.data.data_dir)?,
    };
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
    let (bytes, wal_bytes) = crate::db::sizes_on_disk(&db);
    Ok(Report {
        messages,
        database: DatabaseFiles {
            store: "sqlite",
            path: Some(db.display().to_string()),
            name: None,
            bytes,
            wal_bytes: Some(wal_bytes),
        },
        backups: backups(data_dir)?,
    })
}

/// The same figures from PostgreSQL: its counts, and the size of the whole database.
pub fn gather_postgres(data_dir: &Path, url: &Secret) -> Result<Report, Error> {
    let session = Session::open(url, "bookchat stats")?;
    let messages = session.block_on(counts_on(&session.client))?;
    let (name, bytes) = session.database()?;
    Ok(Report {
        messages,
        database: DatabaseFiles {
            store: "postgresql",
            path: None,
            name: Some(name),
            bytes,
            wal_bytes: None,
        },
        backups: backups(data_dir)?,
    })
}

/// The backups folder of the data directory, where `backup` writes with either store.
fn backups(data_dir: &Path) -> Result<Backups, Error> {
    let folder = files::backups_dir(data_dir);
    let found = files::list(&folder)
        .map_err(|err| Error::io(format!("cannot list {}", folder.display()), err))?;
    let newest = found.last();
    Ok(Backups {
        count: found.len(),
        last_at: newest.map(|b| files::rfc3339(b.at)),
        last_path: newest.map(|b| b.path.display().to_string()),
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
    let database = match (&d.path, &d.name) {
        (Some(path), _) => path.clone(),
        (None, name) => format!("PostgreSQL database {}", name.as_deref().unwrap_or("?")),
    };
    let mut rows = vec![
        ("messages", m.total.to_string()),
        ("  synced", m.synced.to_string()),
        ("  pending", m.pending.to_string()),
        (
            "newest message",
            m.newest_at.as_deref().unwrap_or("none").into(),
        ),
        ("database", database),
        ("database size", human_bytes(d.bytes)),
    ];
    // PostgreSQL has no write-ahead log file of ours to size.
    if let Some(wal) = d.wal_bytes {
        rows.push(("WAL size", human_bytes(wal)));
    }
    rows.push(("backups", b.count.to_string()));
    rows.push(("last backup", last_backup));
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
                store: "sqlite",
                path: Some("d/bookchat.db".into()),
                name: None,
                bytes: 4096,
                wal_bytes: Some(0),
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
