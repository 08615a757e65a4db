//! The backups folder: how backup files are named, found, dated and pruned.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The folder inside the data directory that holds every backup.
pub const BACKUPS_DIR: &str = "backups";
/// Colons are left out so the names are valid on every file system.
const STAMP_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
const PREFIX: &str = "bookchat-";
const EXTENSION: &str = ".db";

pub fn backups_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(BACKUPS_DIR)
}

/// Who made a backup, which decides whether pruning may ever delete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bookchat backup`: `bookchat-<ts>.db`, and any other `bookchat-*.db` put there.
    Manual,
    /// The server's timer: `bookchat-auto-<ts>.db`, the only kind that is pruned.
    Auto,
    /// What `bookchat restore` replaced: `bookchat-pre-restore-<ts>.db`.
    PreRestore,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Manual => "bookchat-",
            Kind::Auto => "bookchat-auto-",
            Kind::PreRestore => "bookchat-pre-restore-",
        }
    }
}

/// `20261125T213000.123Z`: UTC to the millisecond.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format(STAMP_FORMAT).to_string()
}

pub use crate::db::rfc3339;

pub fn file_name(kind: Kind, at: DateTime<Utc>) -> String {
    format!("{}{}{EXTENSION}", kind.prefix(), stamp(at))
}

/// One backup found in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    pub path: PathBuf,
    pub kind: Kind,
    /// From the name when it carries a timestamp, else the file's modification time.
    pub at: DateTime<Utc>,
}

/// Every `bookchat-*.db` in `dir`, oldest first. A missing folder has none. Hidden files
/// are skipped: they are backups still being written.
pub fn list(dir: &Path) -> std::io::Result<Vec<BackupFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((kind, stamp)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        let metadata = entry.metadata()?;
        if !metadata.is_file() {
            continue;
        }
        let at = match stamp {
            Some(at) => at,
            None => metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH).into(),
        };
        found.push(BackupFile {
            path: entry.path(),
            kind,
            at,
        });
    }
    found.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.path.cmp(&b.path)));
    Ok(found)
}

/// Deletes the oldest automatic backups beyond `keep`, and returns what it deleted.
/// Manual and pre-restore backups are never touched: people made those on purpose.
pub fn prune_auto(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let autos: Vec<BackupFile> = list(dir)?
        .into_iter()
        .filter(|b| b.kind == Kind::Auto)
        .collect();
    let excess = autos.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for old in autos.into_iter().take(excess) {
        std::fs::remove_file(&old.path)?;
        deleted.push(old.path);
    }
    Ok(deleted)
}

/// Removes automatic backups that a killed server left half-written. Only the server,
/// which holds the data-directory lock, writes those, so none of them can be in progress;
/// a `bookchat backup` running beside it writes a different name and is left alone.
pub fn remove_stale_auto_partials(dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let mut removed = 0;
    let partial_prefix = format!(".{}", Kind::Auto.prefix());
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&partial_prefix) && name.contains(".partial-") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The kind and, when the name carries one, the time of a backup file name.
fn parse_name(name: &str) -> Option<(Kind, Option<DateTime<Utc>>)> {
    let middle = name.strip_prefix(PREFIX)?.strip_suffix(EXTENSION)?;
    // Longest prefix first: "pre-restore-" and "auto-" both sit after "bookchat-".
    let (kind, rest) = [Kind::PreRestore, Kind::Auto]
        .into_iter()
        .find_map(|kind| {
            let extra = &kind.prefix()[PREFIX.len()..];
            middle.strip_prefix(extra).map(|rest| (kind, rest))
        })
        .unwrap_or((Kind::Manual, middle));
    let at = NaiveDateTime::parse_from_str(rest, STAMP_FORMAT)
        .ok()
        .map(|naive| naive.and_utc());
    Some((kind, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_795_000_000_000 + ms).unwrap()
    }

    #[test]
    fn names_carry_kind_and_millisecond_time_without_colons() {
        let when = Utc.with_ymd_and_hms(2026, 11, 25, 21, 30, 0).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(
            file_name(Kind::Manual, when),
            "bookchat-20261125T213000.123Z.db"
        );
        assert_eq!(
            file_name(Kind::Auto, when),
            "bookchat-auto-20261125T213000.123Z.db"
        );
        assert_eq!(rfc3339(when), "2026-11-25T21:30:00.123Z");
        for kind in [Kind::Manual, Kind::Auto, Kind::PreRestore] {
            assert_eq!(parse_name(&file_name(kind, when)), Some((kind, Some(when))));
        }
    }

    #[test]
    fn other_names_are_manual_without_a_time_or_not_backups() {
        assert_eq!(
            parse_name("bookchat-before-upgrade.db"),
            Some((Kind::Manual, None))
        );
        assert_eq!(parse_name("bookchat.db"), None);
        assert_eq!(parse_name("notes.txt"), None);
        assert_eq!(parse_name("bookchat-x.db-wal"), None);
    }

    #[test]
    fn prune_deletes_only_the_oldest_automatic_backups() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |name: String| std::fs::write(dir.path().join(name), b"x").unwrap();
        for ms in 0..5 {
            touch(file_name(Kind::Auto, at(ms)));
        }
        touch(file_name(Kind::Manual, at(-10)));
        touch(file_name(Kind::PreRestore, at(-5)));
        touch(format!(".{}.partial-1", file_name(Kind::Manual, at(9))));
        let deleted = prune_auto(dir.path(), 2).unwrap();
        assert_eq!(deleted.len(), 3);
        let left: Vec<_> = list(dir.path()).unwrap();
        let kinds: Vec<_> = left.iter().map(|b| (b.kind, b.at)).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Manual, at(-10)),
                (Kind::PreRestore, at(-5)),
                (Kind::Auto, at(3)),
                (Kind::Auto, at(4)),
            ]
        );
    }

    #[test]
    fn stale_partials_of_automatic_backups_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let auto = format!(".{}.partial-77", file_name(Kind::Auto, at(0)));
        let manual = format!(".{}.partial-78", file_name(Kind::Manual, at(0)));
        std::fs::write(dir.path().join(&auto), b"half").unwrap();
        std::fs::write(dir.path().join(&manual), b"half").unwrap();
        assert_eq!(remove_stale_auto_partials(dir.path()).unwrap(), 1);
        assert!(!dir.path().join(auto).exists());
        assert!(dir.path().join(manual).exists());
        assert_eq!(
            remove_stale_auto_partials(&dir.path().join("none")).unwrap(),
            0
        );
    }

    #[test]
    fn a_missing_folder_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(&dir.path().join("backups")).unwrap().is_empty());
    }
}
