//! `AppState`: the cheap handles every request shares, behind one `Arc`.

use std::time::Instant;

use crate::config::Config;
use crate::db::Db;
use crate::sync::SyncHandle;

pub struct AppState {
    /// Read-only after start-up, so no lock.
    pub config: Config,
    /// A cloneable handle; its locks live inside `Db` and are explained there.
    pub db: Db,
    /// Wakes the GitHub sync worker and reads its status; its locks are explained there.
    pub sync: SyncHandle,
    pub started: Instant,
}

impl AppState {
    pub fn new(config: Config, db: Db, sync: SyncHandle) -> AppState {
        AppState {
            config,
            db,
            sync,
            started: Instant::now(),
        }
    }
}
