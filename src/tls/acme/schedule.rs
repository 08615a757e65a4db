//! When to order: 30 days before the certificate expires, at once without one, and after a
//! failure with a doubling wait. Pure functions of the time given, so tests need no clock.

use std::time::{Duration, SystemTime};

/// Renew this long before expiry, as Let's Encrypt advises for its 90-day certificates:
/// a month leaves room for a CA outage or a few failed attempts.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The first wait after a failed order. Let's Encrypt allows 5 failed validations per
/// domain per hour, so a retry never comes sooner.
pub const FIRST_RETRY: Duration = Duration::from_secs(5 * 60);
/// The longest wait between attempts, however often they failed.
pub const LONGEST_RETRY: Duration = Duration::from_secs(6 * 3600);
/// The longest single sleep: the wall clock is read again after it, so that a suspended
/// machine or a clock set forward does not push a renewal past the certificate's expiry
/// (the monotonic clock a sleep runs on stands still while the machine sleeps).
pub const LONGEST_NAP: Duration = Duration::from_secs(3600);

/// When a certificate valid until `not_after` is to be renewed.
pub fn renew_from(not_after: SystemTime) -> SystemTime {
    not_after
        .checked_sub(RENEW_BEFORE)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The wait before the next attempt after `failures` failed ones in a row (1 or more):
/// 5 minutes, then 10, 20… up to 6 hours.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

/// What the task knows between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The next attempt is due at this time.
    pub next: SystemTime,
    /// Failed attempts since the last success.
    pub failures: u32,
}

impl Schedule {
    /// At start: renew from the stored certificate's date, or order now without one.
    pub fn at_start(not_after: Option<SystemTime>, now: SystemTime) -> Schedule {
        Schedule {
            next: not_after.map_or(now, renew_from),
            failures: 0,
        }
    }

    /// After a certificate valid until `not_after` was obtained.
    pub fn obtained(not_after: SystemTime) -> Schedule {
        Schedule::at_start(Some(not_after), SystemTime::UNIX_EPOCH)
    }

    /// After an attempt failed at `now`.
    #[must_use]
    pub fn failed(self, now: SystemTime) -> Schedule {
        let failures = self.failures.saturating_add(1);
        Schedule {
            next: now + backoff(failures),
            failures,
        }
    }

    /// How long to sleep before looking again, or `None` when the attempt is due now.
    pub fn nap(&self, now: SystemTime) -> Option<Duration> {
        let left = self.next.duration_since(now).ok()?;
        (!left.is_zero()).then(|| left.min(LONGEST_NAP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn at(days: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + DAY * 20_000 + DAY * u32::try_from(days).unwrap()
    }

    #[test]
    fn a_stored_certificate_is_renewed_thirty_days_before_it_expires() {
        let now = at(0);
        let fresh = Schedule::at_start(Some(at(90)), now);
        assert_eq!(fresh.next, at(60));
        assert_eq!(fresh.nap(now), Some(LONGEST_NAP));
        assert_eq!(
            fresh.nap(at(60) - Duration::from_secs(7)),
            Some(Duration::from_secs(7))
        );
        assert_eq!(fresh.nap(at(60)), None);
        // Ten days left: due already.
        let due = Schedule::at_start(Some(at(10)), now);
        assert_eq!(due.nap(now), None);
        // No certificate: order now.
        assert_eq!(Schedule::at_start(None, now).nap(now), None);
        // Expired long ago: due, however far back.
        let expired = Schedule::at_start(Some(SystemTime::UNIX_EPOCH), now);
        assert_eq!(expired.nap(now), None);
    }

    #[test]
    fn failures_wait_five_minutes_doubling_up_to_six_hours_and_success_resets() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs() / 60).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 360, 360]);
        assert_eq!(backoff(u32::MAX), LONGEST_RETRY);
        let now = at(0);
        let once = Schedule::at_start(None, now).failed(now);
        assert_eq!((once.next, once.failures), (now + FIRST_RETRY, 1));
        let twice = once.failed(once.next);
        assert_eq!(twice.next, once.next + 2 * FIRST_RETRY);
        assert_eq!(twice.nap(once.next), Some(2 * FIRST_RETRY));
        let renewed = Schedule::obtained(at(90));
        assert_eq!((renewed.next, renewed.failures), (at(60), 0));
    }
}
