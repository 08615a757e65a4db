//! The write budget under sustained load, with GitHub's windows shortened through
//! configuration (on the server and on the fake alike) so that both the minute and the
//! hour bind within a test: never a write over either limit, never a request inside a
//! wait GitHub asked for, every message exactly once, and a bounded lag.

use std::time::{Duration, Instant};

use bookchat::sync::WriteLimits;

use crate::fake_github::{self, FakeGitHub};
use crate::stores::per_store;
use crate::support::{fast_timing, github_args};
use crate::sync::assert_each_committed_once;

per_store! {
    async fn sustained_posting_stays_inside_both_windows_and_keeps_the_lag_bounded(store) {
        // "A minute" of 3 s with 12 writes, "an hour" of 40 s with 50: at 3 messages a
        // second for 50 s, both windows bind many times over.
        let (minute, hour) = (Duration::from_secs(3), Duration::from_secs(40));
        let fake = FakeGitHub::start_default().await;
        fake.set_write_limits(fake_github::WriteLimits {
            per_minute: 12,
            minute,
            per_hour: 50,
            hour,
        });
        let dir = tempfile::tempdir().unwrap();
        let server = store.start_configured(
            dir.path(),
            |args| args.github = github_args(&fake),
            |config| {
                let github = config.github.as_mut().unwrap();
                github.timing = fast_timing();
                github.limits = WriteLimits {
                    per_minute: 12,
                    minute,
                    per_hour: 50,
                    hour,
                    min_gap: Duration::from_millis(100),
                };
            },
        )
        .await;
        let started = Instant::now();
        let mut posted = 0;
        while started.elapsed() < Duration::from_secs(50) {
            server.post_message(&format!("steady {posted}")).await;
            posted += 1;
            tokio::time::sleep(Duration::from_millis(333)).await;
        }
        let stats = server
            .wait_all_synced(posted, Duration::from_secs(60))
            .await;
        let drained = started.elapsed();
        let per_minute = fake.max_writes_in(minute);
        let per_hour = fake.max_writes_in(hour);
        eprintln!(
            "{posted} messages in 50 s: at most {per_minute} writes per {minute:?}, \
             {per_hour} per {hour:?}, all synced after {drained:?}, {} commits",
            stats["sync"]["commits"]
        );
        assert!(
            per_minute <= 9,
            "{per_minute} writes in a 'minute' (cap 9 of 12)"
        );
        assert!(
            per_hour <= 48,
            "{per_hour} writes in an 'hour' (cap 48 of 50)"
        );
        let gap = fake.min_write_gap().unwrap();
        assert!(gap >= Duration::from_millis(100), "writes {gap:?} apart");
        assert!(
            fake.requests().iter().all(|r| r.status != 403),
            "hit a limit"
        );
        assert!(fake.requests_in_wait().is_empty(), "sent inside a wait");
        // The hour's budget is paced, not spent and then waited out: the backlog never
        // grows past what one "hour" of batches clears.
        assert!(
            drained < Duration::from_secs(50 + 25),
            "lag grew: {drained:?}"
        );
        assert_each_committed_once(&server, &fake, usize::try_from(posted).unwrap()).await;
        let budget = &stats["sync"]["budget"];
        assert_eq!(budget["limit_hour"], 48, "{stats}");
        assert!(budget["used_hour"].as_u64().unwrap() <= 48, "{stats}");
        server.stop().await;
    }
}
