//! Sustained load with real limits, the hour budget with shortened windows, and a burst.

use super::harness::{
    lags, post_burst, post_steadily, start_server, wait_synced, watch_synced, Seen,
};
use super::report::{
    command, commits_rows, drain_row, github_rows, lag_row, posted_row, secs, widest_folder,
    Checks, Section,
};
use super::{
    Duration, FakeGitHub, FakeLimits, Instant, SyncTiming, WriteLimits, BURST, BURST_CONNECTIONS,
    DRAIN_TIMEOUT, HOUR, HOUR_BUDGET_RUN, MINUTE, RATE, SUSTAINED_SECONDS,
};

/// A steady `RATE` messages a second against `fake`: the posts, the drain and the figures
/// the two steady scenarios share. Returns what the fake saw, the lags and when posting ended.
pub(crate) struct Steady {
    pub(crate) posted: Vec<(i64, Instant)>,
    pub(crate) length: Duration,
    pub(crate) drain: Option<Duration>,
    pub(crate) lags: Vec<Duration>,
    pub(crate) unseen: usize,
    pub(crate) seen: Seen,
    pub(crate) ended: Instant,
    pub(crate) budget: bookchat::sync::BudgetStatus,
}

pub(crate) async fn run_steady(
    fake: &FakeGitHub,
    limits: WriteLimits,
    length: Duration,
    label: &str,
    checks: &mut Checks,
) -> Steady {
    let commits_before = fake.commits().len();
    let server = start_server(fake, SyncTiming::default(), limits).await;
    let (watch, watcher) = watch_synced(&server.state);
    let started = Instant::now();
    let (posted, refused) = post_steadily(server.addr, RATE, length, label).await;
    let ended = Instant::now();
    let length = ended - started;
    checks.check(
        label,
        refused.is_empty(),
        format!("{} POST(s) refused: {refused:?}", refused.len()),
    );
    let ids: Vec<i64> = posted.iter().map(|(id, _)| *id).collect();
    let total = i64::try_from(posted.len()).expect("a count");
    let synced = wait_synced(&server, &watch, &ids, total, DRAIN_TIMEOUT).await;
    let counts = server.counts().await;
    checks.check(
        label,
        synced.is_some(),
        format!(
            "{} message(s) never synced ({} s after the last POST)",
            counts.pending,
            DRAIN_TIMEOUT.as_secs()
        ),
    );
    let (lags, unseen) = lags(&posted, &watch);
    let budget = server.state.sync.status().budget;
    server.stop().await;
    watcher.abort();
    Steady {
        drain: synced.map(|at| at.saturating_duration_since(ended)),
        seen: Seen::of(fake, commits_before),
        posted,
        length,
        lags,
        unseen,
        ended,
        budget,
    }
}

/// 1. `RATE` messages a second with GitHub's real limits and the worker's real defaults.
pub(crate) async fn sustained(checks: &mut Checks) -> Section {
    let (seconds, env) = match std::env::var("BOOKCHAT_BENCH_SECONDS") {
        Ok(value) => {
            let seconds = value.trim().parse::<u64>().ok().filter(|s| *s > 0);
            let seconds =
                seconds.expect("BOOKCHAT_BENCH_SECONDS must be a whole number of seconds");
            (seconds, format!("BOOKCHAT_BENCH_SECONDS={seconds} "))
        }
        Err(_) => (SUSTAINED_SECONDS, String::new()),
    };
    let fake = FakeGitHub::start_default().await;
    let github = FakeLimits::default();
    let limits = WriteLimits::default();
    let length = Duration::from_secs(seconds);
    let run = run_steady(&fake, limits, length, "sustained", checks).await;
    checks.github("sustained", &run.seen, &github, &fake);
    let mut section = Section::new(
        format!(
            "1. Sustained {RATE} messages/s for {seconds} s: GitHub's real limits, \
             SyncTiming::default(), WriteLimits::default()"
        ),
        command("sustained", &env),
    );
    posted_row(&mut section, &run);
    section.row(
        "writes in any rolling 60 s (max)",
        fake.max_writes_in(MINUTE).to_string(),
        format!(
            "GitHub's limit {}, the worker's cap {}",
            github.per_minute,
            limits.minute_cap()
        ),
    );
    let writes = run.seen.writes();
    section.row(
        "writes in the run",
        writes.to_string(),
        format!("in {}", secs(run.length)),
    );
    section.row(
        "writes/hour, extrapolated linearly",
        format!("{:.0}/h", writes as f64 * 3600.0 / run.length.as_secs_f64()),
        format!(
            "naive; not reachable: the worker's hour cap is {} (see 1b)",
            limits.hour_cap()
        ),
    );
    let last_minute = run
        .seen
        .writes_since(run.ended.checked_sub(MINUTE).unwrap_or(run.ended));
    section.row(
        "writes in the last 60 s of posting",
        last_minute.to_string(),
        format!("×60 = {}/h at the pace reached", last_minute * 60),
    );
    section.row(
        "writes in any rolling hour (max)",
        fake.max_writes_in(HOUR).to_string(),
        format!(
            "GitHub's limit {}; the worker's budget at the end: {}/{} used",
            github.per_hour, run.budget.used_hour, run.budget.limit_hour
        ),
    );
    commits_rows(&mut section, &run.seen);
    github_rows(&mut section, &run.seen, &fake);
    lag_row(&mut section, &run.lags, run.unseen);
    drain_row(&mut section, run.drain);
    section
}

/// 1b. The hour budget with its windows shortened (minute 6 s, hour 60 s) on both sides.
pub(crate) async fn hour_budget(checks: &mut Checks) -> Section {
    let fake = FakeGitHub::start_default().await;
    let github = FakeLimits {
        per_minute: 80,
        minute: Duration::from_secs(6),
        per_hour: 500,
        hour: Duration::from_secs(60),
    };
    fake.set_write_limits(github);
    let limits = WriteLimits {
        per_minute: 80,
        minute: github.minute,
        per_hour: 500,
        hour: github.hour,
        min_gap: Duration::from_millis(100),
    };
    let run = run_steady(&fake, limits, HOUR_BUDGET_RUN, "hour-budget", checks).await;
    checks.github("hour-budget", &run.seen, &github, &fake);
    let mut section = Section::new(
        format!(
            "1b. Hour budget: {RATE} messages/s for {} s with shortened windows \
             (80 per 6 s, 500 per 60 s \"hour\", 100 ms gap), same on the fake",
            HOUR_BUDGET_RUN.as_secs()
        ),
        command("hour-budget", ""),
    );
    posted_row(&mut section, &run);
    section.row(
        "writes in any 60 s \"hour\" window (max)",
        format!("{} / {}", fake.max_writes_in(github.hour), github.per_hour),
        format!(
            "the worker's cap {}; {:.1} \"hours\" of posting",
            limits.hour_cap(),
            run.length.as_secs_f64() / github.hour.as_secs_f64()
        ),
    );
    section.row(
        "writes in any 6 s \"minute\" window (max)",
        format!(
            "{} / {}",
            fake.max_writes_in(github.minute),
            github.per_minute
        ),
        format!("the worker's cap {}", limits.minute_cap()),
    );
    section.row(
        "writes in the run",
        run.seen.writes().to_string(),
        format!("in {}", secs(run.length)),
    );
    commits_rows(&mut section, &run.seen);
    github_rows(&mut section, &run.seen, &fake);
    lag_row(&mut section, &run.lags, run.unseen);
    drain_row(&mut section, run.drain);
    section
}

/// 2. `BURST` messages as fast as the connections go, with the real limits and timing.
pub(crate) async fn burst(checks: &mut Checks) -> Section {
    let fake = FakeGitHub::start_default().await;
    let github = FakeLimits::default();
    let commits_before = fake.commits().len();
    let server = start_server(&fake, SyncTiming::default(), WriteLimits::default()).await;
    let (watch, watcher) = watch_synced(&server.state);
    let started = Instant::now();
    let (ids, refused) = post_burst(server.addr, BURST, BURST_CONNECTIONS).await;
    let posted_in = started.elapsed();
    checks.check(
        "burst",
        refused.is_empty(),
        format!("{} POST(s) refused", refused.len()),
    );
    let total = i64::try_from(ids.len()).expect("a count");
    let synced = wait_synced(&server, &watch, &ids, total, DRAIN_TIMEOUT + posted_in).await;
    let counts = server.counts().await;
    checks.check(
        "burst",
        synced.is_some(),
        format!("{} message(s) never synced", counts.pending),
    );
    server.stop().await;
    watcher.abort();
    let seen = Seen::of(&fake, commits_before);
    checks.github("burst", &seen, &github, &fake);
    let mut section = Section::new(
        format!(
            "2. Burst of {BURST} messages over {BURST_CONNECTIONS} connections: \
             GitHub's real limits, SyncTiming::default(), WriteLimits::default()"
        ),
        command("burst", ""),
    );
    section.row(
        "messages posted (all 201)",
        ids.len().to_string(),
        format!(
            "in {} ({:.0}/s)",
            secs(posted_in),
            ids.len() as f64 / posted_in.as_secs_f64()
        ),
    );
    section.row(
        "first POST → all synced",
        synced.map_or_else(|| "NEVER".to_owned(), |at| secs(at - started)),
        format!("{} synced in the database", counts.synced),
    );
    commits_rows(&mut section, &seen);
    section.row(
        "writes in any rolling 60 s (max)",
        fake.max_writes_in(MINUTE).to_string(),
        format!("GitHub's limit {}", github.per_minute),
    );
    github_rows(&mut section, &seen, &fake);
    let files = fake.files();
    let (folder, widest) = widest_folder(files.keys());
    section.row(
        "most entries in one folder on the branch",
        widest.to_string(),
        format!("{folder} ({} files on the branch)", files.len()),
    );
    section
}
