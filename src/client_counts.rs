//! Per-client caps: how many connections or event streams each client holds open. Outside
//! `http` because `AppState` holds the counts, and `state` must not import `http`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open things per client key (see `http::client_ip::limit_key`). An entry exists only while its
/// count is above zero, so the map never holds more entries than there are open
/// connections or streams, which the global caps already bound.
#[derive(Debug, Default)]
pub struct ClientCounts {
    // Mutex: each acquire and release is one map lookup, never held across an await.
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientCounts {
    /// Counts one more for `key`; `None` when `key` holds `max` already.
    pub fn acquire(self: &Arc<Self>, key: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= max {
            if *count == 0 {
                open.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            counts: Arc::clone(self),
            key,
        })
    }

    /// Clients holding anything.
    pub fn clients(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One connection or stream of one client; counted down when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    counts: Arc<ClientCounts>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_client_has_its_own_cap_and_entries_go_at_zero() {
        let counts = Arc::new(ClientCounts::default());
        let a = counts.acquire(ip("10.0.0.1"), 2).unwrap();
        let b = counts.acquire(ip("10.0.0.1"), 2).unwrap();
        assert!(counts.acquire(ip("10.0.0.1"), 2).is_none());
        let other = counts.acquire(ip("10.0.0.2"), 2).unwrap();
        assert_eq!(counts.clients(), 2);
        drop(a);
        assert!(
            counts.acquire(ip("10.0.0.1"), 2).is_some(),
            "a slot came back"
        );
        drop((b, other));
        assert_eq!(counts.clients(), 0, "no entry outlives its last slot");
    }

    #[test]
    fn a_cap_of_zero_refuses_and_leaves_no_entry() {
        let counts = Arc::new(ClientCounts::default());
        assert!(counts.acquire(ip("10.0.0.1"), 0).is_none());
        assert_eq!(counts.clients(), 0);
    }
}
