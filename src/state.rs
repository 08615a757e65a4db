//! `AppState`: the cheap handles every request shares, behind one `Arc`.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::Sessions;
use crate::backup::BackupHandle;
use crate::client_counts::ClientCounts;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, Policy, DEFAULT_CAPACITY};
use crate::request_id::RequestIds;
use crate::tls::Certs;

/// Wrong sign-in codes one client may try: 5 a minute, as a bucket of 5.
const SIGN_INS: Policy = Policy {
    tokens: 5,
    per: std::time::Duration::from_secs(60),
    burst: 5,
};
use crate::store::Store;
use crate::sync::SyncHandle;

pub struct AppState {
    /// Read-only after start-up, so no lock.
    pub config: Config,
    /// A cloneable handle; its locks live inside `Db` and are explained there.
    pub store: Store,
    /// Wakes the GitHub sync worker and reads its status; its locks are explained there.
    pub sync: SyncHandle,
    /// Reads the automatic backups' status and stops their thread; its locks are
    /// explained in `backup`.
    pub backups: BackupHandle,
    /// Per-client token buckets for POSTs and for API reads; `None` when turned off.
    /// Their locks are explained in `ratelimit`.
    pub write_limiter: Option<Limiter>,
    pub read_limiter: Option<Limiter>,
    /// Sign-in attempts per client; a right code gives its token back.
    pub sign_ins: Limiter,
    /// Signs and checks session cookies with the database's key and the configured
    /// secrets; read-only.
    pub sessions: Sessions,
    /// Open connections per peer address and open event streams per client; their lock
    /// is explained in `client_counts`.
    pub client_connections: Arc<ClientCounts>,
    pub client_streams: Arc<ClientCounts>,
    /// Request counters and the latency histogram: atomics, no lock.
    pub metrics: Metrics,
    pub request_ids: RequestIds,
    pub started: Instant,
    /// The certificate this server serves, when it speaks HTTPS: for its expiry in
    /// `/api/stats` and `/metrics`. Its lock is explained in `tls::certs`.
    pub certs: Option<Arc<Certs>>,
}

impl AppState {
    pub fn new(config: Config, store: Store, sync: SyncHandle, backups: BackupHandle) -> AppState {
        let limiter = |policy: Option<Policy>| policy.map(|p| Limiter::new(p, DEFAULT_CAPACITY));
        AppState {
            write_limiter: limiter(config.write_limit),
            read_limiter: limiter(config.read_limit),
            sign_ins: Limiter::new(SIGN_INS, DEFAULT_CAPACITY),
            sessions: Sessions::new(store.session_key(), config.credentials.clone()),
            config,
            store,
            sync,
            client_connections: Arc::default(),
            client_streams: Arc::default(),
            metrics: Metrics::default(),
            request_ids: RequestIds::default(),
            backups,
            started: Instant::now(),
            certs: None,
        }
    }
}
