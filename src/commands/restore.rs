//! `bookchat restore FILE`: checks a backup and makes it the database, keeping the old one.

use crate::backup;
use crate::cli::RestoreArgs;
use crate::commands::messages;
use crate::error::Error;

pub fn run(args: &RestoreArgs) -> Result<(), Error> {
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
