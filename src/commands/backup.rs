//! `bookchat backup`: one verified snapshot of the database, safe while the server runs.
//! With a PostgreSQL URL, the snapshot of the PostgreSQL data is the same kind of SQLite
//! file, in the same place: what `restore` takes, on one node or many.

use crate::backup::{self, Kind, Snapshot};
use crate::cli::BackupArgs;
use crate::commands::{human_bytes, messages};
use crate::config;
use crate::error::Error;
use crate::secret::Secret;
use crate::store::pg::command::Session;

/// Databases at least this big get a line on stderr first, so a long wait is explained.
const ANNOUNCE_BYTES: u64 = 64 * 1000 * 1000;

pub fn run(args: BackupArgs) -> Result<(), Error> {
    let url = config::database_url(&args.data)?;
    let data_dir = &args.data.data_dir;
    let db = backup::db_path(data_dir);
    if url.is_none() && !db.is_file() {
        return Err(Error::NoDatabase(db));
    }
    let dest = match args.output {
        Some(path) => path,
        None => backup::default_destination(data_dir, Kind::Manual)?,
    };
    let made = if let Some(url) = url {
        from_postgres(&url, &dest)?
    } else {
        let size = std::fs::metadata(&db).map_or(0, |m| m.len());
        if size >= ANNOUNCE_BYTES {
            eprintln!("backing up {} from {}…", human_bytes(size), db.display());
        }
        backup::snapshot(&db, &dest)?
    };
    println!(
        "backup written: {} ({}, {}, verified)",
        made.path.display(),
        human_bytes(made.bytes),
        messages(made.messages)
    );
    Ok(())
}

fn from_postgres(url: &Secret, dest: &std::path::Path) -> Result<Snapshot, Error> {
    let mut session = Session::open(url, "bookchat backup")?;
    let (name, size) = session.database()?;
    if size >= ANNOUNCE_BYTES {
        eprintln!(
            "backing up {} from PostgreSQL database {name}…",
            human_bytes(size)
        );
    }
    Ok(backup::snapshot_postgres(&mut session, dest)?)
}
