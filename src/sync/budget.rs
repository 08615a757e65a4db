//! The write budget: GitHub's secondary limits on content-creating requests (80 in any
//! minute, 500 in any hour, counted in sliding windows) kept with a margin, at least a
//! second between writes, and a pace that spends the hour without ever running dry.
//!
//! The times of the last hour's writes live in the database (`sync_writes`), so a restart
//! loop cannot spend the hour twice. Every function takes `now` (Unix milliseconds), so
//! tests move time instead of sleeping.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::db::DbError;
use crate::store::SyncQueue;

/// GitHub's published secondary limits, and the gap it asks for between writes. Tests
/// shorten the windows; the caps below keep a margin under whatever is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    pub per_minute: u32,
    pub minute: Duration,
    pub per_hour: u32,
    pub hour: Duration,
    pub min_gap: Duration,
}

impl Default for WriteLimits {
    fn default() -> WriteLimits {
        WriteLimits {
            per_minute: 80,
            minute: Duration::from_secs(60),
            per_hour: 500,
            hour: Duration::from_secs(3600),
            min_gap: Duration::from_secs(1),
        }
    }
}

impl WriteLimits {
    /// What we allow ourselves in a minute: three quarters of GitHub's limit.
    pub fn minute_cap(&self) -> usize {
        (self.per_minute as usize * 3 / 4).max(1)
    }

    /// What we allow ourselves in an hour: 96 % of GitHub's limit (480 of 500).
    pub fn hour_cap(&self) -> usize {
        (self.per_hour as usize * 24 / 25).max(1)
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The writes of the last hour, oldest first, and the rules for the next ones.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: WriteLimits,
    times: VecDeque<u64>,
    /// When the last write's answer came: the gap runs from there too, so two writes
    /// never reach GitHub closer than `min_gap`, however long the first one took.
    answered: u64,
}

impl Budget {
    pub fn new(limits: WriteLimits, mut times: Vec<u64>) -> Budget {
        times.sort_unstable();
        Budget {
            limits,
            times: times.into(),
            answered: 0,
        }
    }

    /// Loads the last hour's writes from the store: every node's, on PostgreSQL.
    pub fn load(queue: &SyncQueue, limits: WriteLimits, now: u64) -> Result<Budget, DbError> {
        let since = now.saturating_sub(ms(limits.hour));
        let times = queue.writes_since(i64::try_from(since).unwrap_or(i64::MAX))?;
        Ok(Budget::new(limits, times))
    }

    /// Records a write at `now` in memory and in the database, dropping what has aged out.
    pub fn record(&mut self, queue: &SyncQueue, now: u64) -> Result<(), DbError> {
        let at = i64::try_from(now).unwrap_or(i64::MAX);
        let old = i64::try_from(now.saturating_sub(ms(self.limits.hour))).unwrap_or(0);
        queue.record_write(at, old)?;
        self.times.push_back(now);
        self.forget(now);
        Ok(())
    }

    fn forget(&mut self, now: u64) {
        let horizon = now.saturating_sub(ms(self.limits.hour));
        while self.times.front().is_some_and(|at| *at <= horizon) {
            self.times.pop_front();
        }
    }

    pub fn limits(&self) -> WriteLimits {
        self.limits
    }

    /// Writes in the window of length `window` ending at `now`.
    pub fn used(&self, now: u64, window: Duration) -> usize {
        let start = now.saturating_sub(ms(window));
        self.times
            .iter()
            .rev()
            .take_while(|at| **at > start)
            .count()
    }

    /// How long until `writes` more fit in the window under `cap`.
    fn window_wait(&self, now: u64, window: Duration, cap: usize, writes: usize) -> u64 {
        let used = self.used(now, window);
        if used + writes <= cap {
            return 0;
        }
        // The oldest writes in the window must age out first; `excess` of them.
        let excess = (used + writes - cap).min(used);
        let in_window = self.times.len() - used;
        match excess
            .checked_sub(1)
            .and_then(|i| self.times.get(in_window + i))
        {
            Some(at) => (at + ms(window) + 1).saturating_sub(now),
            None => ms(window),
        }
    }

    /// Records that the last write's answer came at `now`.
    pub fn answered(&mut self, now: u64) {
        self.answered = self.answered.max(now);
    }

    fn last(&self) -> Option<u64> {
        let sent = self.times.back().copied();
        sent.map(|sent| sent.max(self.answered))
    }

    /// Milliseconds before `writes` more may be sent: the gap after the last write, and
    /// room for them in both windows.
    fn room_wait(&self, now: u64, writes: usize) -> u64 {
        let l = &self.limits;
        let gap = self
            .last()
            .map_or(0, |last| (last + ms(l.min_gap)).saturating_sub(now));
        let minute = self.window_wait(now, l.minute, l.minute_cap(), writes);
        let hour = self.window_wait(now, l.hour, l.hour_cap(), writes);
        gap.max(minute).max(hour)
    }

    /// How long before one more write may be sent: the gap and both windows.
    pub fn write_wait(&self, now: u64) -> Duration {
        Duration::from_millis(self.room_wait(now, 1))
    }

    /// The pace: a token bucket of `bucket()` writes refilled at `refill()` per
    /// millisecond, replayed over the writes of the last hour from a full bucket at its
    /// start. Any hour then holds at most the bucket plus an hour's refill, which is the
    /// hour's cap: bursts go out at once, and a steady load is spread over the hour
    /// instead of spending it in minutes and then waiting out the rest.
    fn bucket(&self) -> f64 {
        (self.limits.hour_cap() / 8).max(1) as f64
    }

    fn refill(&self) -> f64 {
        let cap = self.limits.hour_cap() as f64;
        (cap - self.bucket()).max(1.0) / ms(self.limits.hour).max(1) as f64
    }

    /// Writes the bucket holds at `now`.
    fn level(&self, now: u64) -> f64 {
        let (size, refill) = (self.bucket(), self.refill());
        let start = now.saturating_sub(ms(self.limits.hour));
        let mut level = size;
        let mut at = start;
        for &sent in self.times.iter().filter(|t| **t > start) {
            level = (level + (sent - at) as f64 * refill).min(size) - 1.0;
            at = sent;
        }
        (level + now.saturating_sub(at) as f64 * refill).min(size)
    }

    /// How long before a batch of `writes` may start: the gap after the last write, both
    /// windows, and the pace.
    pub fn batch_wait(&self, now: u64, writes: usize) -> Duration {
        let short = writes as f64 - self.level(now);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a non-negative wait of at most an hour, in milliseconds"
        )]
        let pace = if short > 0.0 {
            (short / self.refill()).ceil() as u64
        } else {
            0
        };
        Duration::from_millis(self.room_wait(now, writes).max(pace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;
    const T0: u64 = 1_800_000_000_000;

    fn budget(times: &[u64]) -> Budget {
        Budget::new(WriteLimits::default(), times.to_vec())
    }

    #[test]
    fn a_fresh_budget_lets_a_batch_go_at_once_and_keeps_a_second_between_writes() {
        let fresh = budget(&[]);
        assert_eq!(fresh.batch_wait(T0, 3), Duration::ZERO);
        let one = budget(&[T0]);
        assert_eq!(one.write_wait(T0 + 300), Duration::from_millis(700));
        assert_eq!(one.write_wait(T0 + S), Duration::ZERO);
    }

    #[test]
    fn the_minute_window_slides() {
        // 60 writes (the cap) one a second: the next waits until the first ages out.
        let times: Vec<u64> = (0..60).map(|i| T0 + i * S).collect();
        let full = budget(&times);
        let now = T0 + 60 * S;
        assert_eq!(full.used(now, Duration::from_secs(60)), 59);
        assert_eq!(
            full.write_wait(now),
            Duration::ZERO,
            "the first has just left"
        );
        assert_eq!(
            full.write_wait(T0 + 59 * S + 500),
            Duration::from_millis(501)
        );
        let wait = full.batch_wait(now, 3);
        assert_eq!(
            wait,
            Duration::from_millis(2 * S + 1),
            "two more must leave"
        );
    }

    #[test]
    fn the_hour_window_holds_and_frees_as_writes_age_out() {
        let limits = WriteLimits::default();
        // 480 writes spread over the first 40 minutes of the hour.
        let times: Vec<u64> = (0..480).map(|i| T0 + i * 5 * S).collect();
        let spent = budget(&times);
        let now = T0 + 2400 * S;
        assert_eq!(spent.used(now, limits.hour), 480);
        // The third-oldest write (at 10 s) must age out: 3600 + 10 − 2400 s, and a ms.
        let window = spent.window_wait(now, limits.hour, limits.hour_cap(), 3);
        assert_eq!(window, (3610 - 2400) * S + 1);
        assert!(spent.batch_wait(now, 3) >= Duration::from_millis(window));
    }

    #[test]
    fn a_burst_goes_at_once_and_steady_load_is_paced_over_the_hour_never_running_dry() {
        // An hour and a half of batches sent as soon as the budget allows.
        let limits = WriteLimits::default();
        let mut b = budget(&[]);
        let mut now = T0;
        let mut waits = Vec::new();
        while now < T0 + 5400 * S {
            let wait = ms(b.batch_wait(now, 3));
            waits.push(wait);
            now += wait;
            for _ in 0..3 {
                now += ms(b.write_wait(now));
                b.times.push_back(now);
                b.forget(now);
                assert!(b.used(now, limits.minute) <= limits.minute_cap());
                assert!(b.used(now, limits.hour) <= limits.hour_cap());
            }
        }
        // The bucket's 20 batches go with only the gap between writes.
        assert!(waits[..20].iter().all(|w| *w <= S), "{:?}", &waits[..20]);
        // Then the hour's cap spread evenly, a batch every 3600 s · 3 / 480 = 22.5 s (the
        // wait plus the two gaps inside a batch), and never a long stall.
        let late = &waits[waits.len() / 2..];
        let cycle = late.iter().sum::<u64>() as f64 / late.len() as f64 + 2000.0;
        let even = 3.0 * 3_600_000.0 / limits.hour_cap() as f64;
        assert!((cycle - even).abs() < 1000.0, "a batch every {cycle} ms");
        let longest = *waits.iter().max().unwrap();
        assert!(longest <= 26 * S, "a batch waited {longest} ms");
    }

    #[test]
    fn writes_persist_across_a_restart() {
        let queue = SyncQueue::Sqlite(crate::store::sqlite_queue::SqliteQueue::in_memory());
        let limits = WriteLimits::default();
        let mut b = Budget::load(&queue, limits, T0).unwrap();
        b.record(&queue, T0 - 4000 * S).unwrap();
        for i in 0..5 {
            b.record(&queue, T0 + i * S).unwrap();
        }
        let again = Budget::load(&queue, limits, T0 + 10 * S).unwrap();
        assert_eq!(again.used(T0 + 10 * S, limits.hour), 5);
        let SyncQueue::Sqlite(sqlite) = &queue else {
            unreachable!("made as SQLite above")
        };
        let rows: i64 = sqlite
            .connection()
            .query_row("SELECT count(*) FROM sync_writes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 5, "writes older than the hour are dropped");
    }
}
