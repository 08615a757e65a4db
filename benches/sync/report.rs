//! The bench's tables and invariant checks: sections, rows, percentiles.

use super::harness::Seen;
use super::scenarios::Steady;
use super::{BTreeSet, Duration, FakeGitHub, FakeLimits, HashMap, DRAIN_TIMEOUT};

/// The folder with the most entries (files and subfolders) on the branch, and that count.
pub(crate) fn widest_folder<'a>(paths: impl Iterator<Item = &'a String>) -> (String, usize) {
    let mut entries: HashMap<String, BTreeSet<&'a str>> = HashMap::new();
    for path in paths {
        let parts: Vec<&str> = path.split('/').collect();
        for (depth, name) in parts.iter().enumerate() {
            let folder = parts[..depth].join("/");
            entries.entry(folder).or_default().insert(name);
        }
    }
    let (folder, names) = entries
        .into_iter()
        .max_by_key(|(_, names)| names.len())
        .unwrap_or_default();
    (format!("{folder}/"), names.len())
}

// ---------------------------------------------------------------------------------------
// The report.

/// The breaches of an invariant, across scenarios.
#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) failures: Vec<String>,
}

impl Checks {
    pub(crate) fn check(&mut self, scenario: &str, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            eprintln!("sync bench: INVARIANT BROKEN in {scenario}: {what}");
            self.failures.push(format!("{scenario}: {what}"));
        }
    }

    /// The invariants every sync scenario shares.
    pub(crate) fn github(
        &mut self,
        scenario: &str,
        seen: &Seen,
        limits: &FakeLimits,
        fake: &FakeGitHub,
    ) {
        let forbidden = seen.with_status(403);
        self.check(
            scenario,
            forbidden == 0,
            format!("{forbidden} 403 answer(s)"),
        );
        let in_wait = fake.requests_in_wait().len();
        self.check(
            scenario,
            in_wait == 0,
            format!("{in_wait} request(s) sent inside an announced wait"),
        );
        let minute = fake.max_writes_in(limits.minute);
        self.check(
            scenario,
            minute <= limits.per_minute,
            format!(
                "{minute} writes in one minute window, over {}",
                limits.per_minute
            ),
        );
        let hour = fake.max_writes_in(limits.hour);
        self.check(
            scenario,
            hour <= limits.per_hour,
            format!("{hour} writes in one hour window, over {}", limits.per_hour),
        );
    }
}

pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) command: String,
    pub(crate) rows: Vec<(String, String, String)>,
}

impl Section {
    pub(crate) fn new(title: impl Into<String>, command: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            command: command.into(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, what: &str, value: impl Into<String>, detail: impl Into<String>) {
        self.rows
            .push((what.to_owned(), value.into(), detail.into()));
    }

    pub(crate) fn print(&self) {
        println!("\n### {}\n", self.title);
        println!("reproduce: `{}`\n", self.command);
        println!("| {:<44} | {:>22} | detail", "measure", "result");
        println!("|{:-<46}|{:-<24}|{:-<60}", "", "", "");
        for (what, value, detail) in &self.rows {
            println!("| {what:<44} | {value:>22} | {detail}");
        }
    }
}

/// The `q` quantile of sorted samples, by the nearest-rank rule.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "q is in 0..=1, so the rank is a small non-negative index"
)]
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(crate) fn lag_row(section: &mut Section, lags: &[Duration], unseen: usize) {
    let unseen = match unseen {
        0 => String::new(),
        n => format!("; {n} synced but their event not seen"),
    };
    section.row(
        "sync lag per message (201 → synced)",
        format!("p99 {}", secs(percentile(lags, 0.99))),
        format!(
            "p50 {}, max {}, over {} messages{unseen}",
            secs(percentile(lags, 0.5)),
            secs(lags.last().copied().unwrap_or_default()),
            lags.len()
        ),
    );
}

pub(crate) fn command(filter: &str, env: &str) -> String {
    format!("{env}cargo bench --bench sync -- {filter}")
}

// ---------------------------------------------------------------------------------------
// Scenarios.

pub(crate) fn posted_row(section: &mut Section, run: &Steady) {
    section.row(
        "messages posted (all 201)",
        run.posted.len().to_string(),
        format!(
            "in {} ({:.2}/s), one keep-alive connection",
            secs(run.length),
            run.posted.len() as f64 / run.length.as_secs_f64()
        ),
    );
}

pub(crate) fn commits_rows(section: &mut Section, seen: &Seen) {
    let (average, most) = seen.messages_per_commit();
    section.row(
        "commits",
        seen.commits.len().to_string(),
        "on the branch, each a tree + commit + ref update",
    );
    section.row(
        "messages per commit",
        format!("{average:.1} avg"),
        format!("max {most}"),
    );
}

pub(crate) fn github_rows(section: &mut Section, seen: &Seen, fake: &FakeGitHub) {
    section.row(
        "GitHub requests",
        seen.requests.len().to_string(),
        format!(
            "{} writes, {} answered 304 (free)",
            seen.writes(),
            seen.with_status(304)
        ),
    );
    section.row(
        "requests inside an announced wait",
        fake.requests_in_wait().len().to_string(),
        "must be 0",
    );
    section.row(
        "403s received",
        seen.with_status(403).to_string(),
        format!(
            "must be 0; other errors (not 2xx/304/404): {}",
            seen.other_errors()
        ),
    );
}

pub(crate) fn drain_row(section: &mut Section, drain: Option<Duration>) {
    section.row(
        "last POST → all synced",
        drain.map_or_else(|| "NEVER".to_owned(), secs),
        format!("drain; a message unsynced after {DRAIN_TIMEOUT:?} fails the run"),
    );
}
