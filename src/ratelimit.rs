//! Token buckets per client, with memory that stays bounded whatever passes. Time is an
//! argument (`now`), so tests move it instead of sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept per limiter before idle ones are pruned and, if that is not enough, the
/// fullest are evicted. At about 48 bytes each this caps a limiter near 3 MB.
pub const DEFAULT_CAPACITY: usize = 50_000;
/// How often idle (full again) buckets are dropped even when the table is not full.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// `tokens` per `per`, up to `burst` saved. Parsed from `30/60` and a burst of `10`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub tokens: u32,
    pub per: Duration,
    pub burst: u32,
}

impl Policy {
    /// Parses a rate such as `30/60` (30 per 60 s) or `5` (5 per second); `0` is `None`,
    /// which turns limiting off.
    pub fn parse(rate: &str, burst: u32) -> Result<Option<Policy>, String> {
        let rate = rate.trim();
        let (tokens, seconds) = rate.split_once('/').unwrap_or((rate, "1"));
        let number = |text: &str| text.trim().parse::<u32>().ok();
        let (Some(tokens), Some(seconds)) = (number(tokens), number(seconds)) else {
            return Err(format!(
                "{rate:?} is not a rate like 30/60 (tokens/seconds) or 0"
            ));
        };
        if tokens == 0 {
            return Ok(None);
        }
        if seconds == 0 || burst == 0 {
            return Err(format!(
                "{rate:?} with burst {burst}: seconds and burst must be at least 1"
            ));
        }
        Ok(Some(Policy {
            tokens,
            per: Duration::from_secs(u64::from(seconds)),
            burst,
        }))
    }

    fn per_second(&self) -> f64 {
        f64::from(self.tokens) / self.per.as_secs_f64()
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served; `remaining` whole tokens are left of `limit`.
    Allowed { limit: u32, remaining: u32 },
    /// Refused; a token will be there after `retry_after` whole seconds.
    Limited { limit: u32, retry_after: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn level(&self, policy: &Policy, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * policy.per_second()).min(f64::from(policy.burst))
    }
}

pub struct Limiter {
    policy: Policy,
    capacity: usize,
    // std Mutex: held for one hash lookup and a little arithmetic, never across an await;
    // pruning is amortised so that the lock is never held for a long scan on every call.
    table: Mutex<Table>,
}

struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    last_prune: Option<Instant>,
}

impl Limiter {
    pub fn new(policy: Policy, capacity: usize) -> Limiter {
        Limiter {
            policy,
            capacity: capacity.max(16),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                last_prune: None,
            }),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Takes a token for `client` if one is there.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "token counts lie in 0..=burst and waits are positive seconds; float casts saturate"
    )]
    pub fn check(&self, client: IpAddr, now: Instant) -> Decision {
        let policy = self.policy;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let due = table
            .last_prune
            .is_none_or(|last| now.saturating_duration_since(last) >= PRUNE_EVERY);
        if due || table.buckets.len() >= self.capacity {
            table.prune(&policy, now, self.capacity);
        }
        let bucket = table.buckets.entry(client).or_insert(Bucket {
            tokens: f64::from(policy.burst),
            updated: now,
        });
        let level = bucket.level(&policy, now);
        bucket.updated = now;
        if level >= 1.0 {
            bucket.tokens = level - 1.0;
            Decision::Allowed {
                limit: policy.burst,
                remaining: bucket.tokens.floor() as u32,
            }
        } else {
            bucket.tokens = level;
            let wait = (1.0 - level) / policy.per_second();
            Decision::Limited {
                limit: policy.burst,
                retry_after: wait.ceil().max(1.0) as u64,
            }
        }
    }

    /// Gives back the token `check` took, for a request that turned out not to count (a
    /// sign-in with the right code). Taking first and refunding after keeps parallel
    /// requests from all passing a check none of them has paid for yet.
    pub fn refund(&self, client: IpAddr, now: Instant) {
        let policy = self.policy;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = table.buckets.get_mut(&client) {
            bucket.tokens = (bucket.level(&policy, now) + 1.0).min(f64::from(policy.burst));
            bucket.updated = now;
        }
    }

    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }
}

impl Table {
    /// Drops buckets that have refilled (they equal a new one). If the table is still
    /// full, evicts the fullest tenth: those clients lose the least by starting afresh,
    /// and a flood of new addresses cannot push out the ones it has drained.
    fn prune(&mut self, policy: &Policy, now: Instant, capacity: usize) {
        self.last_prune = Some(now);
        let full = f64::from(policy.burst);
        self.buckets.retain(|_, b| b.level(policy, now) < full);
        if self.buckets.len() < capacity {
            return;
        }
        let keep = capacity - capacity / 10;
        let mut levels: Vec<f64> = self
            .buckets
            .values()
            .map(|b| b.level(policy, now))
            .collect();
        let cut = levels.len() - keep;
        let (_, threshold, _) = levels.select_nth_unstable_by(keep, f64::total_cmp);
        let threshold = *threshold;
        let mut evicted = 0;
        self.buckets.retain(|_, b| {
            let drop = evicted < cut && b.level(policy, now) >= threshold;
            evicted += usize::from(drop);
            !drop
        });
        log::debug!("rate limiter full: evicted {evicted} of the fullest buckets");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn limiter(rate: &str, burst: u32) -> Limiter {
        Limiter::new(
            Policy::parse(rate, burst).unwrap().unwrap(),
            DEFAULT_CAPACITY,
        )
    }

    #[test]
    fn a_refund_gives_the_token_back() {
        let limiter = limiter("5/60", 2);
        let now = Instant::now();
        assert!(matches!(limiter.check(A, now), Decision::Allowed { .. }));
        limiter.refund(A, now);
        limiter.refund(A, now);
        assert!(matches!(limiter.check(A, now), Decision::Allowed { .. }));
        assert!(matches!(limiter.check(A, now), Decision::Allowed { .. }));
        assert!(
            matches!(limiter.check(A, now), Decision::Limited { .. }),
            "never above the burst"
        );
        limiter.refund(B, now);
        assert_eq!(
            limiter.tracked(),
            1,
            "a refund to an unknown client adds nothing"
        );
    }

    #[test]
    fn parses_rates() {
        let p = Policy::parse("30/60", 10).unwrap().unwrap();
        assert_eq!(
            (p.tokens, p.per, p.burst),
            (30, Duration::from_secs(60), 10)
        );
        assert_eq!(
            Policy::parse("5", 1).unwrap().unwrap().per,
            Duration::from_secs(1)
        );
        assert_eq!(Policy::parse("0", 10).unwrap(), None);
        assert_eq!(Policy::parse("0/60", 10).unwrap(), None);
        for bad in ["", "x", "30/", "30/0", "-1/60", "1.5/60", "30/60/2"] {
            assert!(Policy::parse(bad, 10).is_err(), "{bad}");
        }
        assert!(Policy::parse("30/60", 0).is_err());
    }

    #[test]
    fn burst_then_limited_with_exact_retry_after() {
        let limiter = limiter("30/60", 3);
        let now = Instant::now();
        for remaining in [2, 1, 0] {
            assert_eq!(
                limiter.check(A, now),
                Decision::Allowed {
                    limit: 3,
                    remaining
                }
            );
        }
        // 30 per 60 s is one token every 2 s.
        assert_eq!(
            limiter.check(A, now),
            Decision::Limited {
                limit: 3,
                retry_after: 2
            }
        );
        // Another client has its own bucket.
        assert!(matches!(limiter.check(B, now), Decision::Allowed { .. }));
        // Half-way, the wait left is rounded up to whole seconds.
        assert_eq!(
            limiter.check(A, now + Duration::from_millis(500)),
            Decision::Limited {
                limit: 3,
                retry_after: 2
            }
        );
        assert_eq!(
            limiter.check(A, now + Duration::from_millis(1500)),
            Decision::Limited {
                limit: 3,
                retry_after: 1
            }
        );
        // At the advertised time the token is there.
        assert_eq!(
            limiter.check(A, now + Duration::from_secs(2)),
            Decision::Allowed {
                limit: 3,
                remaining: 0
            }
        );
    }

    #[test]
    fn refills_up_to_the_burst_only() {
        let limiter = limiter("1", 2);
        let now = Instant::now();
        limiter.check(A, now);
        limiter.check(A, now);
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            limiter.check(A, later),
            Decision::Allowed {
                limit: 2,
                remaining: 1
            }
        );
    }

    #[test]
    fn a_million_addresses_keep_memory_bounded_and_drained_clients_stay_limited() {
        let capacity = 10_000;
        let limiter = Limiter::new(Policy::parse("1/60", 1).unwrap().unwrap(), capacity);
        let now = Instant::now();
        // The attacker's victim of interest: a client that has used its token.
        assert!(matches!(limiter.check(A, now), Decision::Allowed { .. }));
        for i in 0..1_000_000u32 {
            let ip = IpAddr::V6(Ipv6Addr::from(u128::from(i) << 64));
            limiter.check(ip, now);
            assert!(limiter.tracked() <= capacity);
        }
        // Every bucket is equally drained here; what matters is the bound held.
        assert!(limiter.tracked() <= capacity);
        // Idle buckets go once they have refilled.
        let later = now + Duration::from_secs(120);
        limiter.check(B, later);
        assert!(limiter.tracked() <= 1, "{} left", limiter.tracked());
    }

    #[test]
    fn eviction_prefers_the_fullest_buckets() {
        let limiter = Limiter::new(Policy::parse("1/60", 2).unwrap().unwrap(), 16);
        let now = Instant::now();
        // A is drained (two requests); the flood each use one of two tokens.
        limiter.check(A, now);
        limiter.check(A, now);
        for i in 0..100u32 {
            limiter.check(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), now);
        }
        assert!(
            matches!(limiter.check(A, now), Decision::Limited { .. }),
            "the drained client was evicted and got a fresh bucket"
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// Over any sequence of requests, a client never gets more than its burst plus
        /// what the rate earned, and a refusal always names a wait of at least a second.
        #[test]
        fn never_more_than_burst_plus_earned(
            tokens in 1u32..100, seconds in 1u32..120, burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..5_000, 1..200),
        ) {
            let policy = Policy::parse(&format!("{tokens}/{seconds}"), burst).unwrap().unwrap();
            let limiter = Limiter::new(policy, DEFAULT_CAPACITY);
            let start = Instant::now();
            let mut now = start;
            let mut allowed = 0u64;
            for gap in gaps {
                now += Duration::from_millis(gap);
                match limiter.check(A, now) {
                    Decision::Allowed { remaining, limit } => {
                        allowed += 1;
                        proptest::prop_assert!(remaining < limit);
                    }
                    Decision::Limited { retry_after, .. } => proptest::prop_assert!(retry_after >= 1),
                }
            }
            let earned = (now - start).as_secs_f64() * f64::from(tokens) / f64::from(seconds);
            proptest::prop_assert!(allowed as f64 <= f64::from(burst) + earned + 1e-6);
        }
    }
}
