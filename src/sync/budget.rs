//! The write budget: GitHub's secondary limits on content-creating requests (80 in any
//! minute, 500 in any hour, counted in sliding windows) kept with a margin, at least a
//! second between writes, and a pace that spends the hour without ever running dry.
//!
//! The times of the last hour's writes live in the database (`sync_writes`), so a restart
//! loop cannot spend the hour twice. Every function takes `now` (Unix milliseconds), so
//! tests move time instead of sleeping.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

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

    /// Loads the last hour's writes from the database.
    pub fn load(conn: &Connection, limits: WriteLimits, now: u64) -> rusqlite::Result<Budget> {
        let since = now.saturating_sub(ms(limits.hour));
        let times = conn
            .prepare("SELECT at_ms FROM sync_writes WHERE at_ms > ?1 ORDER BY at_ms")?
            .query_map([i64::try_from(since).unwrap_or(i64::MAX)], |row| {
                row.get::<_, i64>(0)
            })?
            .map(|at| at.map(|at| u64::try_from(at).unwrap_or(0)))
            .collect::<rusqlite::Result<Vec<u64>>>()?;
        Ok(Budget::new(limits, times))
    }

    /// Records a write at `now` in memory and in the database, dropping what has aged out.
    pub fn record(&mut self, conn: &Connection, now: u64) -> rusqlite::Result<()> {
        let at = i64::try_from(now).unwrap_or(i64::MAX);
        let old = i64::try_from(now.saturating_sub(ms(self.limits.hour))).unwrap_or(0);
        conn.execute("DELETE FROM sync_writes WHERE at_ms <= ?1", [old])?;
        conn.execute("INSERT INTO sync_writes (at_ms) VALUES (?1)", [at])?;
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

    /// How long before one more write may be sent: the gap and both windows.
    pub fn write_wait(&self, now: u64) -> Duration {
        let l = &self.limits;
        let gap = self
            .last()
            .map_or(0, |last| (last + ms(l.min_gap)).saturating_sub(now));
        let minute = self.window_wait(now, l.minute, l.minute_cap(), 1);
        let hour = self.window_wait(now, l.hour, l.hour_cap(), 1);
        Duration::from_millis(gap.max(minute).max(hour))
    }

    /// How long before a batch of `writes` may start. On top of the windows, the pace:
    /// while a quarter of the hour's budget is used, batches go at once; from there to
    /// three quarters, the wait after the last write grows to the sustainable interval
    /// (one hour's worth of batches spread evenly), so under steady load the budget is
    /// spent evenly and never runs out with messages waiting.
    pub fn batch_wait(&self, now: u64, writes: usize) -> Duration {
        let l = &self.limits;
        let cap = l.hour_cap();
        let minute = self.window_wait(now, l.minute, l.minute_cap(), writes);
        let hour = self.window_wait(now, l.hour, cap, writes);
        let interval = ms(l.hour) as f64 * writes as f64 / cap as f64;
        let used = self.used(now, l.hour) as f64 / cap as f64;
        let share = ((used - 0.25) / 0.5).clamp(0.0, 1.0);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a non-negative wait of at most an hour, in milliseconds"
        )]
        let pace = (interval * share) as u64;
        let since_last = |after: u64| {
            self.last()
                .map_or(0, |last| (last + after).saturating_sub(now))
        };
        let wait = since_last(ms(l.min_gap).max(pace)).max(minute).max(hour);
        Duration::from_millis(wait)
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
        let wait = spent.batch_wait(now, 3);
        // The third-oldest write (at 10 s) must age out: 3600 + 10 − 2400 s, and a ms.
        assert_eq!(wait, Duration::from_millis((3610 - 2400) * S + 1));
    }

    #[test]
    fn the_pace_grows_with_the_share_of_the_hour_spent() {
        let limits = WriteLimits::default();
        let at = |n: usize| -> Duration {
            // n writes in the last hour, the newest just now.
            let times: Vec<u64> = (0..n as u64).map(|i| T0 - i * 7 * S).collect();
            budget(&times).batch_wait(T0, 3)
        };
        assert_eq!(at(100), Duration::from_secs(1), "a quarter: only the gap");
        let half = at(240);
        let full = at(400);
        assert!(
            half > Duration::from_secs(10) && half < full,
            "{half:?} {full:?}"
        );
        let interval = 3600.0 * 3.0 / limits.hour_cap() as f64;
        assert!((full.as_secs_f64() - interval).abs() < 0.01, "{full:?}");
    }

    #[test]
    fn steady_load_never_exceeds_either_window_and_never_stalls() {
        // Simulate an hour and a half of batches sent as soon as the budget allows.
        let limits = WriteLimits::default();
        let mut b = budget(&[]);
        let mut now = T0;
        let mut longest = 0;
        let end = T0 + 5400 * S;
        while now < end {
            let wait = ms(b.batch_wait(now, 3));
            longest = longest.max(wait);
            now += wait;
            for _ in 0..3 {
                now += ms(b.write_wait(now));
                b.times.push_back(now);
                b.forget(now);
                assert!(b.used(now, limits.minute) <= 60);
                assert!(b.used(now, limits.hour) <= limits.hour_cap());
            }
        }
        assert!(longest < 30 * S, "a batch waited {longest} ms");
    }

    #[test]
    fn writes_persist_across_a_restart() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut conn).unwrap();
        let limits = WriteLimits::default();
        let mut b = Budget::load(&conn, limits, T0).unwrap();
        b.record(&conn, T0 - 4000 * S).unwrap();
        for i in 0..5 {
            b.record(&conn, T0 + i * S).unwrap();
        }
        let again = Budget::load(&conn, limits, T0 + 10 * S).unwrap();
        assert_eq!(again.used(T0 + 10 * S, limits.hour), 5);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM sync_writes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 5, "writes older than the hour are dropped");
    }
}
