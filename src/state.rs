//! `AppState`: the cheap handles every request shares, behind one `Arc`.

use std::time::Instant;

use crate::config::Config;
use crate::db::Db;

pub struct AppState {
    /// Read-only after start-up, so no lock.
    pub config: Config,
    /// A cloneable handle; its locks live inside `Db` and are explained there.
    pub db: Db,
    pub started: Instant,
}

impl AppState {
    pub fn new(config: Config, db: Db) -> AppState {
        AppState {
            config,
            db,
            started: Instant::now(),
        }
    }
}
