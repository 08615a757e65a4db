//! The sync lease: of all nodes, the one holding a session-level advisory lock syncs to
//! GitHub. A node that dies ends its session and frees the lock for another; a node cut off
//! from PostgreSQL may not learn for a long time that its session is gone, so the holder
//! re-confirms the lock every few seconds and counts itself the syncing node only while
//! its last confirmation is recent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_postgres::Client;

use super::connect::Target;
use super::schema::SYNC_LOCK;
use crate::db::DbError;

/// How often a node tries for the lock, and how often the holder confirms it.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How long one attempt or confirmation may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// The holder syncs only while its last confirmation is younger than this. With checks
/// every 5 s, a cut-off holder stops within 15 s, well inside the contract's 30 s; the
/// session's TCP keepalives and user timeout (see `connect`) end it within about 25 s.
pub const VALID_FOR: Duration = Duration::from_secs(15);

/// Whether this node holds the lease, and since when it is sure: shared by the task that
/// keeps it and the sync worker.
#[derive(Default)]
pub struct Lease {
    // std Mutex: a copy in or out, never held across an await.
    confirmed: Mutex<Option<Instant>>,
    /// Set once the task has made its first attempt, won or lost.
    tried: AtomicBool,
}

impl Lease {
    fn confirmed(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn confirm(&self, now: Instant) {
        *self.confirmed() = Some(now);
    }

    /// Forgets the lease; answers whether it was held.
    fn lose(&self) -> bool {
        self.confirmed().take().is_some()
    }

    fn holding(&self) -> bool {
        self.confirmed().is_some()
    }

    fn tried(&self) {
        self.tried.store(true, Ordering::Release);
    }

    /// Whether the task has made its first attempt: before, `held_at` means "not yet".
    pub fn has_tried(&self) -> bool {
        self.tried.load(Ordering::Acquire)
    }

    /// True while this node may sync: it holds the lock and confirmed it recently.
    pub fn held_at(&self, now: Instant) -> bool {
        self.confirmed()
            .is_some_and(|at| now.saturating_duration_since(at) < VALID_FOR)
    }
}

/// Keeps trying for the lease, and confirms it while held, until `stop`.
pub async fn run(target: Target, lease: Arc<Lease>, mut stop: watch::Receiver<bool>) {
    let mut reported = false;
    while !*stop.borrow() {
        match target.watched().connect().await {
            Ok((client, connection)) => {
                reported = false;
                let (ended, mut ended_rx) = watch::channel(false);
                tokio::spawn(async move {
                    let _ = connection.await;
                    let _ = ended.send(true);
                });
                hold(&client, &lease, &mut stop, &mut ended_rx).await;
                // At shutdown the lock is given up, not lost: no warning then.
                if lease.lose() && !*stop.borrow() {
                    log::warn!("lost the sync lock; this node has stopped syncing to GitHub");
                }
            }
            Err(err) => {
                lease.tried();
                if !reported {
                    log::warn!("cannot open the sync lease session: {err}; retrying");
                    reported = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
    let _ = lease.lose();
}

/// Tries for the lock, or confirms it, every `CHECK_EVERY` on one session; returns when
/// the session fails or ends (the lock, if held, is then released by PostgreSQL).
async fn hold(
    client: &Client,
    lease: &Lease,
    stop: &mut watch::Receiver<bool>,
    ended: &mut watch::Receiver<bool>,
) {
    loop {
        let holding = lease.holding();
        let checked = tokio::time::timeout(CHECK_TIMEOUT, check(client, holding)).await;
        if let Ok(Ok(true)) = checked {
            lease.confirm(Instant::now());
        }
        lease.tried();
        match checked {
            Ok(Ok(true)) => {
                if !holding {
                    log::info!("this node now holds the sync lock and syncs to GitHub");
                }
            }
            Ok(Ok(false)) if !holding => {}
            Ok(Ok(false)) => return,
            Ok(Err(err)) => {
                log::debug!("sync lease check failed: {err}");
                return;
            }
            Err(_) => {
                log::warn!("PostgreSQL did not confirm the sync lock in time");
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.changed() => return,
            _ = ended.changed() => return,
        }
    }
}

/// Takes the lock if free, or asks whether this session still holds it.
async fn check(client: &Client, holding: bool) -> Result<bool, DbError> {
    let row = if holding {
        client
            .query_one(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' \
                 AND pid = pg_backend_pid() AND granted \
                 AND ((classid::bigint << 32) | objid::bigint) = $1",
                &[&SYNC_LOCK],
            )
            .await?
    } else {
        client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&SYNC_LOCK])
            .await?
    };
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_counts_only_while_recently_confirmed() {
        let lease = Lease::default();
        let t0 = Instant::now();
        assert!(!lease.held_at(t0));
        lease.confirm(t0);
        assert!(lease.held_at(t0 + VALID_FOR.saturating_sub(Duration::from_millis(1))));
        assert!(
            !lease.held_at(t0 + VALID_FOR),
            "stale: the node may be cut off"
        );
        lease.confirm(t0 + VALID_FOR);
        assert!(lease.held_at(t0 + VALID_FOR));
        assert!(lease.lose());
        assert!(!lease.held_at(t0 + VALID_FOR));
    }
}
