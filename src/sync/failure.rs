//! What a failed GitHub request means for the worker: retry with backoff, wait exactly as
//! long as GitHub asked, or stop retrying hot. Pure functions of status, headers and time,
//! so every rule is unit-tested without a network.

use std::time::Duration;

/// Why a sync attempt stopped, and what the worker does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Network trouble, 5xx, 409: retry with exponential backoff. `ambiguous` means a write
    /// may have reached GitHub, so the next attempt first checks what is already there.
    Transient { reason: String, ambiguous: bool },
    /// GitHub said how long to wait (`Retry-After`, `X-RateLimit-Reset`, secondary limit).
    /// No request is sent until `wait` has passed.
    RateLimited { reason: String, wait: Duration },
    /// Retrying soon cannot help: bad token, missing repository or branch, no permission.
    Fatal { reason: String },
    /// The server is shutting down; the attempt was abandoned between requests.
    Stopped,
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Transient { reason, .. }
            | Failure::RateLimited { reason, .. }
            | Failure::Fatal { reason } => reason,
            Failure::Stopped => "shutting down",
        }
    }
}

/// The rate-limit headers of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub retry_after: Option<u64>,
    pub remaining: Option<u64>,
    /// Unix seconds at which the primary budget refills.
    pub reset: Option<u64>,
}

impl RateHeaders {
    /// How long to hold off before the next request because the budget is spent, if it is.
    /// Used on successful answers too: the last allowed request still succeeds.
    pub fn exhausted_for(&self, now_unix: u64) -> Option<Duration> {
        match (self.remaining, self.reset) {
            (Some(0), Some(reset)) => Some(Duration::from_secs(reset.saturating_sub(now_unix))),
            _ => None,
        }
    }
}

/// Classifies a non-success status. `write` says whether the request could have changed
/// the repository, which makes a 5xx ambiguous.
pub fn classify(
    status: u16,
    message: &str,
    rate: RateHeaders,
    now_unix: u64,
    secondary_default: Duration,
    write: bool,
) -> Failure {
    let said = |what: &str| format!("GitHub answered {status}{what}: {message}");
    if status == 403 || status == 429 {
        if let Some(wait) = rate_limit_wait(status, message, rate, now_unix, secondary_default) {
            return Failure::RateLimited {
                reason: said(" (rate limited)"),
                wait,
            };
        }
    }
    match status {
        401 => Failure::Fatal {
            reason: said(" (the token was rejected; check GITHUB_TOKEN)"),
        },
        403 => Failure::Fatal {
            reason: said(" (the token may not write to this repository)"),
        },
        404 => Failure::Fatal {
            reason: said(" (check GITHUB_REPO and GITHUB_BRANCH, and that the token can see them)"),
        },
        409 | 500..=599 => Failure::Transient {
            reason: said(""),
            ambiguous: write && status != 409,
        },
        _ => Failure::Fatal { reason: said("") },
    }
}

/// GitHub's documented order: `Retry-After` first; then a spent primary budget waits for
/// `X-RateLimit-Reset`; then a secondary limit without either waits at least a minute.
fn rate_limit_wait(
    status: u16,
    message: &str,
    rate: RateHeaders,
    now_unix: u64,
    secondary_default: Duration,
) -> Option<Duration> {
    if let Some(seconds) = rate.retry_after {
        return Some(Duration::from_secs(seconds));
    }
    if let Some(wait) = rate.exhausted_for(now_unix) {
        return Some(wait);
    }
    let lower = message.to_ascii_lowercase();
    if status == 429 || lower.contains("rate limit") || lower.contains("abuse") {
        return Some(secondary_default);
    }
    None
}

/// Exponential backoff with jitter: `base · 2^(failures-1)`, capped, then scaled by a
/// factor in [0.5, 1) so many servers that failed together do not retry together.
pub fn backoff(base: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    full.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// A wait as a person reads it: `0.6 s`, `12 s`, `300 s`.
pub fn seconds(wait: Duration) -> String {
    let secs = wait.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1} s")
    } else {
        format!("{secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_seconds() {
        assert_eq!(seconds(Duration::from_micros(618_454)), "0.6 s");
        assert_eq!(seconds(Duration::from_secs(12)), "12 s");
        assert_eq!(seconds(Duration::from_secs(300)), "300 s");
    }

    const NOW: u64 = 1_700_000_000;
    const MINUTE: Duration = Duration::from_secs(60);

    fn run(status: u16, message: &str, rate: RateHeaders) -> Failure {
        classify(status, message, rate, NOW, MINUTE, true)
    }

    #[test]
    fn retry_after_is_obeyed_exactly() {
        let rate = RateHeaders {
            retry_after: Some(7),
            ..RateHeaders::default()
        };
        for status in [403, 429] {
            assert!(matches!(
                run(status, "You have exceeded a secondary rate limit", rate),
                Failure::RateLimited { wait, .. } if wait == Duration::from_secs(7)
            ));
        }
    }

    #[test]
    fn spent_primary_budget_waits_for_the_reset() {
        let rate = RateHeaders {
            retry_after: None,
            remaining: Some(0),
            reset: Some(NOW + 42),
        };
        assert!(matches!(
            run(403, "API rate limit exceeded for user ID 1.", rate),
            Failure::RateLimited { wait, .. } if wait == Duration::from_secs(42)
        ));
        assert_eq!(rate.exhausted_for(NOW), Some(Duration::from_secs(42)));
        assert_eq!(rate.exhausted_for(NOW + 100), Some(Duration::ZERO));
        let left = RateHeaders {
            remaining: Some(3),
            ..rate
        };
        assert_eq!(left.exhausted_for(NOW), None);
    }

    #[test]
    fn secondary_limit_without_headers_waits_a_minute() {
        let failure = run(
            403,
            "You have exceeded a secondary rate limit",
            RateHeaders::default(),
        );
        assert!(matches!(failure, Failure::RateLimited { wait, .. } if wait == MINUTE));
        assert!(matches!(
            run(429, "Too Many Requests", RateHeaders::default()),
            Failure::RateLimited { .. }
        ));
    }

    #[test]
    fn auth_and_missing_repo_are_fatal_plain_403_too() {
        for status in [401, 404, 422] {
            assert!(
                matches!(
                    run(status, "x", RateHeaders::default()),
                    Failure::Fatal { .. }
                ),
                "{status}"
            );
        }
        let forbidden = run(
            403,
            "Resource not accessible by personal access token",
            RateHeaders {
                remaining: Some(4999),
                ..RateHeaders::default()
            },
        );
        assert!(matches!(forbidden, Failure::Fatal { .. }));
        assert!(run(401, "Bad credentials", RateHeaders::default())
            .reason()
            .contains("GITHUB_TOKEN"));
    }

    #[test]
    fn server_errors_and_conflicts_are_transient() {
        assert_eq!(
            run(502, "Bad Gateway", RateHeaders::default()),
            Failure::Transient {
                reason: "GitHub answered 502: Bad Gateway".into(),
                ambiguous: true
            }
        );
        assert!(matches!(
            run(409, "conflict", RateHeaders::default()),
            Failure::Transient {
                ambiguous: false,
                ..
            }
        ));
        assert!(matches!(
            classify(500, "x", RateHeaders::default(), NOW, MINUTE, false),
            Failure::Transient {
                ambiguous: false,
                ..
            }
        ));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(300);
        assert_eq!(backoff(base, max, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(base, max, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(base, max, 4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(base, max, 20, 1.0), max);
        assert_eq!(backoff(base, max, u32::MAX, 1.0), max);
        let jittered = backoff(base, max, 3, 0.5);
        assert!(jittered > Duration::from_secs(2) && jittered < Duration::from_secs(4));
    }
}
