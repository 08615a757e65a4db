//! What the background threads (sync, automatic backups) share: a sleep that a stop can
//! cut short, and a join at shutdown that waits up to a deadline, then leaves a stuck one.

use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sleeps on `wake` for `pause`. Other wake-ups are slept through; `stopped`, checked
/// under the lock, ends the sleep early. Returns `false` on stop.
pub fn sleep_unless<T>(
    lock: &Mutex<T>,
    wake: &Condvar,
    pause: Duration,
    stopped: impl Fn(&T) -> bool,
) -> bool {
    let deadline = Instant::now() + pause;
    let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if stopped(&guard) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        guard = wake
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

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
    fn a_stop_cuts_the_sleep_short_and_other_wakeups_do_not() {
        let state = std::sync::Arc::new((Mutex::new(false), Condvar::new()));
        assert!(sleep_unless(
            &state.0,
            &state.1,
            Duration::from_millis(20),
            |s| *s
        ));
        let other = std::sync::Arc::clone(&state);
        let stopper = std::thread::spawn(move || {
            other.1.notify_all(); // a spurious wake-up: slept through
            std::thread::sleep(Duration::from_millis(50));
            *other.0.lock().unwrap() = true;
            other.1.notify_all();
        });
        let started = Instant::now();
        assert!(!sleep_unless(
            &state.0,
            &state.1,
            Duration::from_secs(30),
            |s| *s
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        stopper.join().unwrap();
    }

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
