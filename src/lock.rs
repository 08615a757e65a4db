//! The data-directory lock: one process at a time may own `bookchat.db` for writing its
//! file (a server, or a restore), so a restore can never swap the file under a server.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "bookchat.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the data directory {} is in use by a running bookchat{}; stop it first",
        dir.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Busy { dir: PathBuf, holder: Option<u32> },
    #[error("cannot lock the data directory {}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as the directory is ours. Dropping it unlocks and closes the file; the
/// OS releases the lock too if the process dies, so a crash never leaves it stuck.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
}

impl Drop for DataDirLock {
    /// Unlocks before the file closes. Closing alone is not enough: a child process forked
    /// at that moment (a backup's helper, a test's browser) holds a copy of the descriptor
    /// until it execs, and the lock would live on in that copy, so a server restarted in
    /// the same instant would find its own directory "in use".
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl DataDirLock {
    /// Takes the lock without waiting: a second owner is told at once who holds it.
    /// The directory must exist.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io {
            dir: data_dir.to_owned(),
            source,
        };
        // Not truncated on open: a holder's pid must still be readable by the loser.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(data_dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    dir: data_dir.to_owned(),
                    holder: read_pid(&mut file),
                })
            }
            Err(TryLockError::Error(err)) => return Err(io(err)),
        }
        // The pid is only for the message a second owner prints; failing to write it
        // leaves the lock as good as ever.
        let _ = write_pid(&mut file);
        Ok(DataDirLock { file })
    }
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(err, LockError::Busy { holder: Some(pid), .. } if pid == std::process::id()),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("in use by a running bookchat")
                && message.contains(&format!("(pid {})", std::process::id()))
                && message.contains("stop it first"),
            "{message}"
        );
        drop(held);
        let again = DataDirLock::acquire(dir.path()).expect("free once dropped");
        drop(again);
    }

    #[test]
    fn dropping_frees_the_directory_even_while_a_copy_of_the_descriptor_lives() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDirLock::acquire(dir.path()).unwrap();
        // What a child forked just now would hold: the same open file, locked.
        let copy = held.file.try_clone().unwrap();
        drop(held);
        let again = DataDirLock::acquire(dir.path()).expect("free once dropped");
        drop(again);
        drop(copy);
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = DataDirLock::acquire(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
    }
}
