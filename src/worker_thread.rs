//! The one scaffold for background threads (sync, automatic backups): a named thread, the
//! signals it sleeps on (a wake-up and a stop), and a stop that joins it within a deadline,
//! then leaves a stuck one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a background thread and its owner share: a wake-up and a stop.
#[derive(Debug)]
pub struct Signals {
    // std Mutex + Condvar: the thread is a plain thread that sleeps on it; the flag is held
    // only to flip or read it, never across I/O.
    woken: Mutex<bool>,
    wake: Condvar,
    /// Also readable without the lock, by code that must notice a stop between two
    /// requests (the GitHub client), through `stop_flag`.
    stop: Arc<AtomicBool>,
}

impl Signals {
    /// `woken`: whether the thread's first wait returns at once (work left by an earlier
    /// run, say).
    pub fn new(woken: bool) -> Arc<Signals> {
        Arc::new(Signals {
            woken: Mutex::new(woken),
            wake: Condvar::new(),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The stop as a flag, for code that checks it without the lock.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Tells the thread there is work. Cheap: a flag and a condvar signal.
    pub fn wake(&self) {
        *self.lock() = true;
        self.wake.notify_one();
    }

    /// Sleeps until a wake-up or a stop, and takes the wake-up; `false` on stop.
    pub fn wait_for_wake(&self) -> bool {
        let mut woken = self.lock();
        while !*woken && !self.stopped() {
            woken = self
                .wake
                .wait(woken)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *woken = false;
        !self.stopped()
    }

    /// Sleeps for `pause` whatever arrives (a rate limit must be waited out), but wakes
    /// for a stop; `false` on stop.
    pub fn sleep(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut guard = self.lock();
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self
                .wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // Taking the lock orders the store before a sleeping thread's next check.
        drop(self.lock());
        self.wake.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.woken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How a thread is named in the log: "the sync worker", and what it may be stuck on,
/// "waiting on GitHub".
#[derive(Debug, Clone, Copy)]
pub struct Labels {
    pub what: &'static str,
    pub busy: &'static str,
}

/// A running background thread, with the one way to wake, stop and join it.
#[derive(Debug)]
pub struct WorkerThread {
    signals: Arc<Signals>,
    labels: Labels,
    // std Mutex: taken once, at stop, to join the thread.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl WorkerThread {
    /// Runs `body` on a new thread called `name`; `body` sleeps on `signals`.
    pub fn spawn(
        name: &str,
        labels: Labels,
        signals: Arc<Signals>,
        body: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<WorkerThread> {
        let thread = std::thread::Builder::new().name(name.into()).spawn(body)?;
        Ok(WorkerThread {
            signals,
            labels,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn wake(&self) {
        self.signals.wake();
    }

    /// Stops the thread and joins it if it finishes within `deadline`, else leaves it
    /// with a warning. Blocking. A second call does nothing.
    pub fn stop(&self, deadline: Duration) {
        self.signals.stop();
        let taken = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(thread) = taken else {
            return;
        };
        let Labels { what, busy } = self.labels;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: Labels = Labels {
        what: "the test thread",
        busy: "waiting",
    };

    #[test]
    fn a_stop_cuts_the_sleep_short_and_wakeups_do_not() {
        let signals = Signals::new(false);
        assert!(signals.sleep(Duration::from_millis(20)));
        let other = Arc::clone(&signals);
        let stopper = std::thread::spawn(move || {
            other.wake(); // slept through
            std::thread::sleep(Duration::from_millis(50));
            other.stop();
        });
        let started = Instant::now();
        assert!(!signals.sleep(Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(5));
        stopper.join().unwrap();
    }

    #[test]
    fn a_wake_up_is_kept_until_taken_and_a_stop_ends_the_wait() {
        let signals = Signals::new(true);
        assert!(signals.wait_for_wake(), "woken from the start");
        signals.wake();
        assert!(
            signals.wait_for_wake(),
            "a wake-up before the wait is not lost"
        );
        let other = Arc::clone(&signals);
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.stop();
        });
        assert!(!signals.wait_for_wake());
        stopper.join().unwrap();
    }

    #[test]
    fn joins_a_finished_thread_and_leaves_a_stuck_one() {
        let signals = Signals::new(false);
        let for_body = Arc::clone(&signals);
        let quick = WorkerThread::spawn("quick", LABELS, Arc::clone(&signals), move || {
            while for_body.wait_for_wake() {}
        })
        .unwrap();
        quick.stop(Duration::from_secs(5));
        assert!(quick.thread.lock().unwrap().is_none());
        quick.stop(Duration::from_secs(5));

        let (_keep, parked) = std::sync::mpsc::channel::<()>();
        let stuck = WorkerThread::spawn("stuck", LABELS, Signals::new(false), move || {
            let _ = parked.recv();
        })
        .unwrap();
        let started = Instant::now();
        stuck.stop(Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
