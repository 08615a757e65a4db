//! The error a command returns to `main`: one readable line, never a secret.

use crate::config::ConfigError;
use crate::db::DbError;
use crate::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{0}")]
    Lock(#[from] LockError),
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
