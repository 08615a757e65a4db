//! `bookchat import`: rebuilds or completes the database from the repository. It walks the
//! message folder one tree at a time (GitHub truncates recursive trees), reads every file
//! from one tarball, finds each file's commit from the history's commit messages, checks
//! that inference against the commits' file lists, and inserts what the database lacks,
//! marked synced, one verified commit at a time, so an interrupted run resumes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Deserialize;

use super::failure::{backoff, seconds, Failure};
use super::github::GitHub;
use super::import_sink::{ImportSink, Imported};
use super::layout;
use super::naming::ids_added;
use super::settings::GithubConfig;

/// Commits per history page, and files per page of a commit (GitHub's maximum).
const PER_PAGE: usize = 100;
/// GitHub lists at most 3,000 files of a commit.
const MAX_FILE_PAGES: usize = 30;
/// The largest message file read from the archive.
const MAX_FILE: u64 = 1024 * 1024;
/// Transient failures retried in a row before import gives up.
const RETRIES: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("GitHub: {0}")]
    GitHub(String),
    #[error("the repository archive could not be read: {0}")]
    Archive(String),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Store(crate::db::DbError),
    #[error("a bookchat server is serving this database; stop every node first")]
    Serving,
    #[error("another import or restore is running on this database; wait for it to end")]
    Occupied,
}

/// Where import stands, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Walking,
    Reading,
    Matching,
    Saving,
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    /// Message files found on the branch so far, and the ones the database lacks.
    pub found: usize,
    pub missing: usize,
    /// Messages done in this phase, out of `total`.
    pub done: usize,
    pub total: usize,
    pub started: Instant,
}

impl Progress {
    /// Time left in this phase at the rate so far.
    pub fn eta(&self) -> Option<Duration> {
        if self.done == 0 || self.total <= self.done {
            return None;
        }
        let per_item = self.started.elapsed().as_secs_f64() / self.done as f64;
        Some(Duration::from_secs_f64(
            per_item * (self.total - self.done) as f64,
        ))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Message files on the branch.
    pub found: usize,
    /// Messages added to the database.
    pub added: usize,
    /// Files whose message the database already had.
    pub present: usize,
    /// Files skipped because they are not a BookChat message.
    pub skipped: usize,
    /// Messages whose commit came from a per-file lookup, not from the commit messages.
    pub looked_up: usize,
    pub requests: u64,
}

/// A message file's fields, as sync writes them.
#[derive(Debug, Clone, Deserialize)]
struct File {
    id: i64,
    content: String,
    author: Option<String>,
    created_at: String,
}

struct Run<'a> {
    github: GitHub,
    folder: String,
    sink: &'a mut dyn ImportSink,
    report: &'a mut dyn FnMut(&Progress),
    progress: Progress,
    summary: Summary,
}

/// Imports every message file on the configured branch that the SQLite database lacks.
pub fn run(
    config: &GithubConfig,
    conn: &mut Connection,
    report: &mut dyn FnMut(&Progress),
) -> Result<Summary, ImportError> {
    run_into(config, conn, report)
}

/// Imports every message file on the configured branch that `sink` lacks.
pub fn run_into(
    config: &GithubConfig,
    sink: &mut dyn ImportSink,
    report: &mut dyn FnMut(&Progress),
) -> Result<Summary, ImportError> {
    let mut run = Run {
        github: GitHub::new(config.clone(), Arc::new(AtomicBool::new(false))),
        folder: config.path.clone(),
        sink,
        report,
        progress: Progress {
            phase: Phase::Walking,
            found: 0,
            missing: 0,
            done: 0,
            total: 0,
            started: Instant::now(),
        },
        summary: Summary::default(),
    };
    let result = run.all();
    run.summary.requests = run.github.requests;
    result.map(|()| run.summary)
}

impl Run<'_> {
    fn all(&mut self) -> Result<(), ImportError> {
        let head = self.patient(GitHub::head)?;
        let root = self.patient(|gh| gh.tree_of(&head))?;
        let walked = self.walk(&root)?;
        let have = self.sink.existing_ids()?;
        // The walk sizes the work; the archive decides it, so a folder GitHub truncated
        // loses nothing.
        self.progress.missing = walked.values().filter(|id| !have.contains(id)).count();
        let files = self.read_archive(&head, &have)?;
        self.progress.missing = files.len();
        if files.is_empty() {
            return Ok(());
        }
        let commits = self.match_commits(&head, &files)?;
        self.save(&files, commits)
    }

    fn phase(&mut self, phase: Phase, total: usize) {
        self.progress.phase = phase;
        self.progress.done = 0;
        self.progress.total = total;
        self.progress.started = Instant::now();
        (self.report)(&self.progress);
    }

    fn tick(&mut self, done: usize) {
        self.progress.done = done;
        (self.report)(&self.progress);
    }

    /// Runs one request, sleeping out GitHub's rate limits and retrying transient failures.
    fn patient<T>(
        &mut self,
        mut call: impl FnMut(&mut GitHub) -> Result<T, Failure>,
    ) -> Result<T, ImportError> {
        let mut failures = 0;
        loop {
            match call(&mut self.github) {
                Ok(value) => return Ok(value),
                Err(Failure::RateLimited { wait, reason }) => {
                    eprintln!("\nbookchat: {reason}; waiting {}", seconds(wait));
                    std::thread::sleep(wait + Duration::from_millis(50));
                }
                Err(Failure::Transient { reason, .. }) if failures < RETRIES => {
                    failures += 1;
                    let wait = backoff(
                        Duration::from_secs(1),
                        Duration::from_secs(30),
                        failures,
                        1.0,
                    );
                    eprintln!("\nbookchat: {reason}; retrying in {}", seconds(wait));
                    std::thread::sleep(wait);
                }
                Err(failure) => return Err(ImportError::GitHub(failure.reason().to_owned())),
            }
        }
    }

    /// Every message file under the folder, path → id, one folder a request.
    fn walk(&mut self, root: &str) -> Result<BTreeMap<String, i64>, ImportError> {
        self.phase(Phase::Walking, 0);
        let mut paths = BTreeMap::new();
        let folder = self.folder.clone();
        let Some(top) = self.patient(|gh| gh.folder_tree(root, &folder))? else {
            return Ok(paths);
        };
        let mut todo = vec![(top, folder)];
        while let Some((sha, prefix)) = todo.pop() {
            let (entries, truncated) = self.patient(|gh| gh.tree(&sha))?;
            if truncated {
                eprintln!("\nbookchat: GitHub truncated the listing of {prefix}/; files past it come from the archive");
            }
            for entry in entries {
                let path = format!("{prefix}/{}", entry.name);
                if entry.is_dir {
                    todo.push((entry.sha, path));
                } else if let Some(id) = layout::id_of(&self.folder, &path) {
                    paths.insert(path, id);
                }
            }
            self.progress.found = paths.len();
            self.tick(0);
        }
        Ok(paths)
    }

    /// The message files the database lacks, read from one tarball of `head`:
    /// id → (path, file). Counts every message file it sees.
    fn read_archive(
        &mut self,
        head: &str,
        have: &HashSet<i64>,
    ) -> Result<HashMap<i64, (String, File)>, ImportError> {
        let expected = self.progress.missing;
        self.phase(Phase::Reading, expected);
        let reader = self.patient(|gh| gh.tarball(head))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
        let mut files = HashMap::new();
        let broken = |err: std::io::Error| ImportError::Archive(err.to_string());
        for entry in archive.entries().map_err(broken)? {
            let mut entry = entry.map_err(broken)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let full = entry.path().map_err(broken)?.to_string_lossy().into_owned();
            // Every path sits under one top folder, `<owner>-<repo>-<short sha>/`.
            let Some((_, path)) = full.split_once('/') else {
                continue;
            };
            let Some(id) = layout::id_of(&self.folder, path) else {
                continue;
            };
            self.summary.found += 1;
            if have.contains(&id) {
                self.summary.present += 1;
                continue;
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_FILE)
                .read_to_end(&mut bytes)
                .map_err(broken)?;
            match serde_json::from_slice::<File>(&bytes) {
                Ok(file)
                    if file.id == id
                        && chrono::DateTime::parse_from_rfc3339(&file.created_at).is_ok() =>
                {
                    files.insert(id, (path.to_owned(), file));
                }
                _ => {
                    eprintln!("\nbookchat: {path} is not a BookChat message file; skipped");
                    self.summary.skipped += 1;
                }
            }
            if files.len() % 250 == 0 {
                self.tick(files.len());
            }
        }
        self.tick(files.len());
        Ok(files)
    }

    /// The commit that added each file: inferred from the commit messages (which name the
    /// ids they add), newest first, one request per hundred commits.
    fn match_commits(
        &mut self,
        head: &str,
        files: &HashMap<i64, (String, File)>,
    ) -> Result<HashMap<i64, String>, ImportError> {
        self.phase(Phase::Matching, files.len());
        let mut found: HashMap<i64, String> = HashMap::new();
        for page in 1.. {
            let commits = self.patient(|gh| gh.commits_page(head, page, PER_PAGE))?;
            for commit in &commits {
                for id in ids_added(&commit.message) {
                    if files.contains_key(&id) {
                        found.entry(id).or_insert_with(|| commit.sha.clone());
                    }
                }
            }
            self.tick(found.len());
            if commits.len() < PER_PAGE || found.len() == files.len() {
                break;
            }
        }
        Ok(found)
    }

    /// Verifies each inferred commit against its file list, looks up the rest one by one,
    /// and inserts one commit's messages per transaction.
    fn save(
        &mut self,
        files: &HashMap<i64, (String, File)>,
        inferred: HashMap<i64, String>,
    ) -> Result<(), ImportError> {
        self.phase(Phase::Saving, files.len());
        let mut by_commit: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (id, sha) in inferred {
            by_commit.entry(sha).or_default().push(id);
        }
        let matched: HashSet<i64> = by_commit.values().flatten().copied().collect();
        let mut unverified: Vec<i64> = files
            .keys()
            .copied()
            .filter(|id| !matched.contains(id))
            .collect();
        let mut done = 0;
        for (sha, ids) in by_commit {
            let listed = self.commit_paths(&sha)?;
            let (good, bad): (Vec<i64>, Vec<i64>) = ids
                .into_iter()
                .partition(|id| listed.contains(&files[id].0));
            unverified.extend(bad);
            done += good.len();
            self.summary.added += insert(self.sink, files, &good, &sha)?;
            self.tick(done);
        }
        unverified.sort_unstable();
        for id in unverified {
            let path = files[&id].0.clone();
            if let Some(commit) = self.patient(|gh| gh.commit_touching(&path))? {
                self.summary.looked_up += 1;
                self.summary.added += insert(self.sink, files, &[id], &commit.sha)?;
            }
            done += 1;
            self.tick(done);
        }
        Ok(())
    }

    /// The paths a commit added, page by page (GitHub lists at most 3,000).
    fn commit_paths(&mut self, sha: &str) -> Result<HashSet<String>, ImportError> {
        let mut paths = HashSet::new();
        for page in 1..=MAX_FILE_PAGES {
            let listed = self.patient(|gh| gh.commit_files_page(sha, page, PER_PAGE))?;
            let before = paths.len();
            let count = listed.len();
            paths.extend(listed);
            // A short page is the last; a page with nothing new means the list repeats.
            if count < PER_PAGE || paths.len() == before {
                break;
            }
        }
        Ok(paths)
    }
}

/// Inserts these messages as synced in `commit`; an id the database has is left alone.
fn insert(
    sink: &mut dyn ImportSink,
    files: &HashMap<i64, (String, File)>,
    ids: &[i64],
    commit: &str,
) -> Result<usize, ImportError> {
    let rows: Vec<Imported> = ids
        .iter()
        .map(|id| {
            let file = &files[id].1;
            Imported {
                id: *id,
                content: &file.content,
                author: file.author.as_deref(),
                created_at: &file.created_at,
            }
        })
        .collect();
    sink.insert(&rows, commit)
}
