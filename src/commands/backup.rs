//! `bookchat backup`: one verified snapshot of the database, safe while the server runs.

use crate::backup::{self, Kind};
use crate::cli::BackupArgs;
use crate::commands::{human_bytes, messages};
use crate::error::Error;

/// Databases at least this big get a line on stderr first, so a long wait is explained.
const ANNOUNCE_BYTES: u64 = 64 * 1000 * 1000;

pub fn run(args: BackupArgs) -> Result<(), Error> {
    let data_dir = &args.data.data_dir;
    let db = backup::db_path(data_dir);
    if !db.is_file() {
        return Err(Error::NoDatabase(db));
    }
    let dest = match args.output {
        Some(path) => path,
        None => backup::default_destination(data_dir, Kind::Manual)?,
    };
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());
    if size >= ANNOUNCE_BYTES {
        eprintln!("backing up {} from {}…", human_bytes(size), db.display());
    }
    let made = backup::snapshot(&db, &dest)?;
    println!(
        "backup written: {} ({}, {}, verified)",
        made.path.display(),
        human_bytes(made.bytes),
        messages(made.messages)
    );
    Ok(())
}
