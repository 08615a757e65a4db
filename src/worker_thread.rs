//! Joining the background threads (sync, automatic backups) at shutdown without letting a
//! stuck one hold the process: wait up to a deadline, then leave it.

use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Takes the thread out of `slot` and joins it if it finishes within `deadline`. Blocking.
/// `what` names it in the log ("the sync worker"); `busy` says what it may be stuck on.
pub fn join_within(
    slot: &Mutex<Option<JoinHandle<()>>>,
    deadline: Duration,
    what: &str,
    busy: &str,
) {
    let Some(thread) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        return;
    };
    let until = Instant::now() + deadline;
    while !thread.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !thread.is_finished() {
        log::warn!("{what} is still {busy} after {deadline:?}; leaving it");
    } else if thread.join().is_err() {
        log::error!("{what} panicked");
    } else {
        log::debug!("{what} stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_a_finished_thread_and_leaves_a_stuck_one() {
        let quick = Mutex::new(Some(std::thread::spawn(|| {})));
        join_within(&quick, Duration::from_secs(5), "quick", "working");
        assert!(quick.lock().unwrap().is_none());
        let (_keep, parked) = std::sync::mpsc::channel::<()>();
        let stuck = Mutex::new(Some(std::thread::spawn(move || {
            let _ = parked.recv();
        })));
        let started = Instant::now();
        join_within(&stuck, Duration::from_millis(50), "stuck", "waiting");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
