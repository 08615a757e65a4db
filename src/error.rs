//! The error a command returns to `main`: one readable line, never a secret.

use std::path::PathBuf;

use crate::backup::{BackupError, RestoreError};
use crate::config::ConfigError;
use crate::db::DbError;
use crate::lock::LockError;
use crate::sync::import::ImportError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{0}")]
    Backup(#[from] BackupError),
    #[error("{0}")]
    Restore(#[from] RestoreError),
    #[error("{0}")]
    Lock(#[from] LockError),
    #[error("import failed: {0}")]
    Import(#[from] ImportError),
    /// A certificate or key file that cannot serve; the text names the setting and file.
    #[error("{0}")]
    Tls(String),
    #[error("no database at {}: is --data-dir (BOOKCHAT_DATA_DIR) right?", .0.display())]
    NoDatabase(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
