//! GitHub's limits on how fast a client may go: the core window every request spends, the
//! sliding windows content-creating requests are counted in, and the waits the fake has told
//! the client about, so a test can find the requests sent before such a wait was over.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::git::unix_now;
use super::routes::{error, Answer};

pub const RATE_LIMIT: u32 = 5000;
const RATE_WINDOW_SECS: u64 = 3600;

/// The core rate-limit window, spent by every authenticated request but a 304.
pub struct Rate {
    pub remaining: u32,
    pub reset: u64,
}

impl Rate {
    pub fn new() -> Rate {
        Rate {
            remaining: RATE_LIMIT,
            reset: unix_now() + RATE_WINDOW_SECS,
        }
    }

    pub fn roll(&mut self) {
        let now = unix_now();
        if now >= self.reset {
            self.remaining = RATE_LIMIT;
            self.reset = now + RATE_WINDOW_SECS;
        }
    }

    /// Whether the window is spent (a new one starts first if its time has come).
    pub fn exhausted(&mut self) -> bool {
        self.roll();
        self.remaining == 0
    }

    pub fn spend(&mut self) {
        self.remaining = self.remaining.saturating_sub(1);
    }

    pub fn headers(&mut self) -> Vec<(&'static str, String)> {
        self.roll();
        rate_headers(self.remaining, self.reset)
    }
}

pub fn rate_headers(remaining: u32, reset: u64) -> Vec<(&'static str, String)> {
    vec![
        ("x-ratelimit-limit", RATE_LIMIT.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-used", (RATE_LIMIT - remaining).to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
    ]
}

/// GitHub's secondary limits on content-creating requests (POST, PUT, PATCH, DELETE): at
/// most `per_minute` in any `minute` and at most `per_hour` in any `hour`.
#[derive(Clone, Copy, Debug)]
pub struct WriteLimits {
    pub per_minute: usize,
    pub minute: Duration,
    pub per_hour: usize,
    pub hour: Duration,
}

impl Default for WriteLimits {
    /// GitHub's published figures: 80 a minute, 500 an hour.
    fn default() -> Self {
        WriteLimits {
            per_minute: 80,
            minute: Duration::from_secs(60),
            per_hour: 500,
            hour: Duration::from_secs(3600),
        }
    }
}

/// GitHub's answer once the core window is spent.
pub fn primary_limit() -> Answer {
    error(403, "API rate limit exceeded for user ID 1.")
}

/// GitHub's answer to a client going too fast, whatever the window it broke.
pub fn secondary_limit(retry_after: u64) -> Answer {
    let message = "You have exceeded a secondary rate limit. \
                   Please wait a few minutes before you try again.";
    let mut answer = error(403, message);
    answer
        .headers
        .push(("retry-after", retry_after.to_string()));
    answer
}

pub fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// Arrival times of the content-creating requests still inside a window, refused ones
/// included: GitHub counts the requests made, so hammering a closed window keeps it closed.
pub struct Windows {
    pub limits: WriteLimits,
    arrivals: VecDeque<Instant>,
}

impl Windows {
    pub fn new() -> Windows {
        Windows {
            limits: WriteLimits::default(),
            arrivals: VecDeque::new(),
        }
    }

    /// Counts a content-creating request arriving `now`; when it is one too many for either
    /// window, the whole seconds until that window would admit one again.
    pub fn arrive(&mut self, now: Instant) -> Option<u64> {
        self.arrivals.push_back(now);
        let WriteLimits {
            per_minute,
            minute,
            per_hour,
            hour,
        } = self.limits;
        let longest = minute.max(hour);
        while self
            .arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            self.arrivals.pop_front();
        }
        let minute_wait = self.wait(now, per_minute, minute);
        let hour_wait = self.wait(now, per_hour, hour);
        minute_wait.max(hour_wait).map(whole_seconds)
    }

    /// How long until a request arriving then would be at most the `cap`-th in the window
    /// that ends with it; `None` if the one that just arrived already is.
    fn wait(&self, now: Instant, cap: usize, window: Duration) -> Option<Duration> {
        let start = self
            .arrivals
            .partition_point(|t| now.duration_since(*t) >= window);
        let inside = self.arrivals.len() - start;
        if inside <= cap {
            return None;
        }
        // All but the newest `cap - 1` must have left; the oldest of those that must stay
        // out is the one to wait for (the one just counted, when nothing may pass at all).
        let leaving = self.arrivals.get(start + inside - cap).unwrap_or(&now);
        Some((*leaving + window).saturating_duration_since(now))
    }
}

/// Rounded up, as a client must not come back before the window opens; at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let up = u64::from(wait.subsec_nanos() > 0);
    (wait.as_secs() + up).max(1)
}

/// The latest moment the fake has told the client to hold off until.
#[derive(Default)]
pub struct Waits {
    until: Option<Instant>,
}

impl Waits {
    pub fn running(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    /// Reads the wait an answer announces as it is sent `now`: a `Retry-After`, or the
    /// reset of a spent core window (`x-ratelimit-remaining: 0`).
    pub fn told(&mut self, headers: &[(&'static str, String)], now: Instant) {
        let find = |wanted: &str| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(_, value)| value.as_str())
        };
        let retry = find("retry-after")
            .and_then(|secs| secs.parse().ok())
            .map(Duration::from_secs);
        let reset = find("x-ratelimit-remaining")
            .filter(|remaining| *remaining == "0")
            .and_then(|_| find("x-ratelimit-reset")?.parse().ok())
            .map(until_unix);
        for wait in [retry, reset].into_iter().flatten() {
            let until = now + wait;
            self.until = Some(self.until.map_or(until, |known| known.max(until)));
        }
    }
}

/// The time from now until the unix second `at` (zero if it has passed).
fn until_unix(at: u64) -> Duration {
    let at = UNIX_EPOCH + Duration::from_secs(at);
    at.duration_since(SystemTime::now()).unwrap_or_default()
}

/// The most arrival times (sorted) that fit in any span of length `window`.
pub fn most_in(times: &[Instant], window: Duration) -> usize {
    if window.is_zero() {
        return 0;
    }
    let mut first = 0;
    let mut most = 0;
    for (last, at) in times.iter().enumerate() {
        while at.duration_since(times[first]) >= window {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

/// The smallest gap between consecutive arrival times (sorted).
pub fn smallest_gap(times: &[Instant]) -> Option<Duration> {
    times
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .min()
}
