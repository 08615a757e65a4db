//! Importing 10,000 messages seeded in the fake, timed.

use super::report::{command, secs, Checks, Section};
use super::support::github_args;
use super::{Duration, FakeGitHub, GithubConfig, Instant, Path, IMPORTED, IMPORT_COMMIT_FILES};

/// A message file as sync writes it (`QueuedRow::file_content`): pretty JSON, fields in
/// this order, a trailing newline.
#[derive(serde::Serialize)]
pub(crate) struct MessageFile<'a> {
    pub(crate) id: i64,
    pub(crate) content: String,
    pub(crate) author: Option<&'a str>,
    pub(crate) created_at: &'a str,
}

pub(crate) const SEED_DAY: &str = "2026-11-25T06:48:08.123Z";

pub(crate) fn seed_path(id: i64) -> String {
    let first = id / 1000 * 1000;
    format!(
        "messages/2026/11/25/{first:08}-{:08}/{id:08}.json",
        first + 999
    )
}

pub(crate) fn seed_file(id: i64) -> Vec<u8> {
    let file = MessageFile {
        id,
        content: format!("imported message {id}"),
        author: (id % 3 != 0).then_some("bench"),
        created_at: SEED_DAY,
    };
    let mut text = serde_json::to_string_pretty(&file).expect("JSON");
    text.push('\n');
    text.into_bytes()
}

/// Commits `IMPORTED` message files in commits of `IMPORT_COMMIT_FILES`, named the way
/// this version's sync names its commits.
pub(crate) fn seed(fake: &FakeGitHub) {
    let mut first = 1;
    while first <= IMPORTED {
        let last = (first + IMPORT_COMMIT_FILES - 1).min(IMPORTED);
        let files: Vec<(String, Vec<u8>)> = (first..=last)
            .map(|id| (seed_path(id), seed_file(id)))
            .collect();
        let message = format!(
            "Add {} BookChat messages\n\nids: {first}-{last}\n",
            last - first + 1
        );
        fake.push_commit(&files, &message);
        first = last + 1;
    }
}

pub(crate) struct Imported {
    pub(crate) summary: Result<bookchat::sync::import::Summary, String>,
    pub(crate) took: Duration,
    pub(crate) rows: i64,
    pub(crate) synced_rows: i64,
}

pub(crate) fn import_into(config: &GithubConfig, db: &Path) -> Imported {
    let mut conn = bookchat::db::open_writer(db).expect("open the database");
    bookchat::db::migrate(&mut conn).expect("migrate");
    let started = Instant::now();
    let summary = bookchat::sync::import::run(config, &mut conn, &mut |_| {});
    let took = started.elapsed();
    let (rows, synced_rows) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(synced), 0) FROM messages",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("count the messages");
    Imported {
        summary: summary.map_err(|err| err.to_string()),
        took,
        rows,
        synced_rows,
    }
}

/// 3. `bookchat import` of `IMPORTED` messages into an empty database.
pub(crate) async fn import(checks: &mut Checks) -> Section {
    let fake = FakeGitHub::start_default().await;
    let seeding = Instant::now();
    let seeder = fake.clone();
    tokio::task::spawn_blocking(move || seed(&seeder))
        .await
        .expect("seed the fake");
    let seeded_in = seeding.elapsed();
    let config = GithubConfig::from_args(&github_args(&fake))
        .expect("valid GitHub settings")
        .expect("sync is on");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bookchat.db");
    let before = fake.request_count();
    let imported = tokio::task::spawn_blocking(move || import_into(&config, &db))
        .await
        .expect("import task");
    let requests = fake.request_count() - before;
    let mut section = Section::new(
        format!(
            "3. Import of {IMPORTED} messages ({} commits of {IMPORT_COMMIT_FILES} files) \
             into an empty database",
            IMPORTED / IMPORT_COMMIT_FILES
        ),
        command("import", ""),
    );
    section.row(
        "seeding the fake (not timed below)",
        secs(seeded_in),
        format!("{IMPORTED} files, commit messages `ids: a-b`"),
    );
    let summary = match imported.summary {
        Ok(summary) => summary,
        Err(err) => {
            checks.check("import", false, format!("import failed: {err}"));
            section.row("import", "FAILED", err);
            return section;
        }
    };
    checks.check(
        "import",
        i64::try_from(summary.added) == Ok(IMPORTED)
            && imported.rows == IMPORTED
            && imported.synced_rows == IMPORTED,
        format!(
            "imported {} messages ({} rows, {} synced), not {IMPORTED}",
            summary.added, imported.rows, imported.synced_rows
        ),
    );
    section.row(
        "import time",
        secs(imported.took),
        format!(
            "{:.0} messages/s",
            summary.added as f64 / imported.took.as_secs_f64()
        ),
    );
    section.row(
        "GitHub requests",
        requests.to_string(),
        format!("the importer counted {}", summary.requests),
    );
    section.row(
        "messages imported",
        summary.added.to_string(),
        format!(
            "of {} found; {} rows in the database, all synced: {}; looked up one by one: {}, \
             skipped: {}",
            summary.found,
            imported.rows,
            imported.synced_rows == imported.rows,
            summary.looked_up,
            summary.skipped
        ),
    );
    section
}
