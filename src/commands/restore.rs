//! `bookchat restore FILE`: checks a backup and makes it the database, keeping the old one.
//! With a PostgreSQL URL, it loads the checked backup into an empty PostgreSQL database
//! instead: the way from one node to many.

use crate::backup;
use crate::cli::RestoreArgs;
use crate::commands::messages;
use crate::config;
use crate::error::Error;

pub fn run(args: &RestoreArgs) -> Result<(), Error> {
    if let Some(url) = config::database_url(&args.data)? {
        let done = backup::restore_postgres(&args.data.data_dir, &args.file, &url)?;
        println!(
            "restored {} from {} into PostgreSQL database {}",
            messages(done.messages),
            args.file.display(),
            done.database
        );
        return Ok(());
    }
    let done = backup::restore(&args.data.data_dir, &args.file)?;
    let restored = format!(
        "restored {} from {} into {}",
        messages(done.messages),
        args.file.display(),
        done.db_path.display()
    );
    match done.previous {
        Some(previous) => println!(
            "{restored}; the previous database ({}) is kept at {}",
            messages(previous.messages),
            previous.path.display()
        ),
        None => println!("{restored} (there was no database before)"),
    }
    Ok(())
}
