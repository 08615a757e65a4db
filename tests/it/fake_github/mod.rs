//! An in-process fake of the GitHub REST API (contents, Git Data and commits endpoints) for
//! the sync worker's tests: real git object ids, GitHub's status codes and error bodies,
//! GitHub's limits (core and secondary rate limits, listing caps, ETags), and a handle to
//! inject faults, seed large repositories and inspect what the worker did.

mod archive;
mod conditional;
mod contents;
mod git;
mod gitdata;
mod history;
mod limits;
mod routes;
mod server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use limits::{Rate, Waits, Windows};
use routes::Site;
use server::{lock, Queued, Running, Shared, State};

pub use limits::WriteLimits;

/// GitHub's own cap on the entries one `GET /git/trees` lists.
const TREE_ENTRY_LIMIT: usize = 100_000;

pub struct FakeConfig {
    pub owner: String,
    pub repo: String,
    pub token: String,
    pub branch: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            owner: "octo".into(),
            repo: "chat".into(),
            token: "test-token-s3cret".into(),
            branch: "main".into(),
        }
    }
}

/// What the fake does to one request instead of (or on top of) answering it normally.
#[derive(Clone, Debug)]
pub enum Fault {
    /// This status with GitHub's `{"message": "Server Error"}` body (or the usual text for
    /// 401, 403, 404, 409 and 422); the request is not applied.
    Status(u16),
    /// Close the connection without answering; the request is not applied.
    Drop,
    /// Apply the request, then close the connection without answering.
    LoseAnswer,
    /// 403 with GitHub's secondary-limit message and `Retry-After`.
    SecondaryLimit { retry_after: u64 },
    /// 403 "API rate limit exceeded", `X-RateLimit-Remaining: 0`, reset `reset_in` s from now.
    PrimaryLimit { reset_in: u64 },
    /// 429 with `Retry-After`.
    TooMany { retry_after: u64 },
    /// Answer normally after this extra delay (on top of any latency).
    Delay(Duration),
    /// Another writer wins a race: `path` is committed to `branch` just before this
    /// request is served, which then sees the moved branch.
    ForeignCommitFirst {
        branch: String,
        path: String,
        content: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// When the request (body included) had arrived.
    pub at: Instant,
    /// 0 while in flight and when no answer was sent (`Drop`, `LoseAnswer`).
    pub status: u16,
    /// The `X-GitHub-Request-Id` the answer carried (or would have).
    pub request_id: String,
    /// A content-creating request (POST, PUT, PATCH, DELETE), counted by the write windows.
    pub write: bool,
    /// Sent before a wait the fake had announced was over: a `Retry-After` it sent, or the
    /// reset of a core window it had said was spent (`x-ratelimit-remaining: 0`).
    pub in_wait: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub message: String,
    pub parents: Vec<String>,
    /// Paths added or changed against the first parent.
    pub added: Vec<String>,
}

/// A cheap handle; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeGitHub {
    shared: Shared,
    addr: SocketAddr,
    owner: Arc<str>,
    name: Arc<str>,
    branch: Arc<str>,
    _running: Arc<Running>,
}

impl FakeGitHub {
    pub async fn start(config: FakeConfig) -> FakeGitHub {
        let state = State {
            repo: git::Repo::new(&config.owner, &config.repo, &config.branch),
            token: config.token,
            faults: VecDeque::new(),
            latency: Duration::ZERO,
            down: false,
            log: Vec::new(),
            next_id: 0,
            rate: Rate::new(),
            windows: Windows::new(),
            waits: Waits::default(),
            // Filled in once the listener has its port.
            site: Site {
                origin: String::new(),
                tree_entry_limit: TREE_ENTRY_LIMIT,
            },
        };
        let shared = Arc::new(Mutex::new(state));
        let (addr, running) = server::spawn(shared.clone()).await;
        FakeGitHub {
            shared,
            addr,
            owner: config.owner.into(),
            name: config.repo.into(),
            branch: config.branch.into(),
            _running: Arc::new(running),
        }
    }

    /// owner "octo", repo "chat", token "test-token-s3cret", branch "main".
    pub async fn start_default() -> FakeGitHub {
        Self::start(FakeConfig::default()).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn token(&self) -> String {
        lock(&self.shared).token.clone()
    }

    /// The header value a well-behaved client sends.
    pub fn auth_header(&self) -> String {
        format!("Bearer {}", self.token())
    }

    pub fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn branch(&self) -> String {
        self.branch.to_string()
    }

    pub fn set_token(&self, token: &str) {
        token.clone_into(&mut lock(&self.shared).token);
    }

    pub fn push_fault(&self, fault: Fault) {
        self.push_fault_for("", "", fault);
    }

    /// `method` "" matches any method; `path_contains` is matched against path and query.
    pub fn push_fault_for(&self, method: &str, path_contains: &str, fault: Fault) {
        lock(&self.shared).faults.push_back(Queued {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            fault,
        });
    }

    /// Faults not yet used up (a test can assert they all fired).
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared).faults.len()
    }

    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared).latency = latency;
    }

    pub fn set_down(&self, down: bool) {
        lock(&self.shared).down = down;
    }

    /// Sets what is left of the current rate-limit window; 0 makes every request a 403.
    pub fn set_rate_limit_remaining(&self, remaining: u32) {
        lock(&self.shared).rate.remaining = remaining.min(limits::RATE_LIMIT);
    }

    /// The secondary limits on content-creating requests (GitHub's by default). Writes
    /// already counted stay counted.
    pub fn set_write_limits(&self, limits: WriteLimits) {
        lock(&self.shared).windows.limits = limits;
    }

    /// Most entries a `GET /git/trees` lists before it answers `"truncated": true`.
    pub fn set_tree_entry_limit(&self, limit: usize) {
        lock(&self.shared).site.tree_entry_limit = limit;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        let state = lock(&self.shared);
        state.log.iter().map(|(_, r)| r.clone()).collect()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared).log.len()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared).log.clear();
    }

    /// The requests sent while a wait the fake had announced was still running.
    pub fn requests_in_wait(&self) -> Vec<Recorded> {
        let requests = self.requests().into_iter();
        requests.filter(|recorded| recorded.in_wait).collect()
    }

    /// The most content-creating requests that arrived within any span of `window`.
    pub fn max_writes_in(&self, window: Duration) -> usize {
        limits::most_in(&self.write_times(), window)
    }

    /// The smallest gap between two consecutive content-creating requests.
    pub fn min_write_gap(&self) -> Option<Duration> {
        limits::smallest_gap(&self.write_times())
    }

    /// GETs answered `304 Not Modified`.
    pub fn not_modified_count(&self) -> usize {
        let state = lock(&self.shared);
        state.log.iter().filter(|(_, r)| r.status == 304).count()
    }

    fn write_times(&self) -> Vec<Instant> {
        let state = lock(&self.shared);
        let writes = state.log.iter().filter(|(_, r)| r.write);
        let mut times: Vec<Instant> = writes.map(|(_, r)| r.at).collect();
        times.sort();
        times
    }

    /// The head commit of the branch, `None` once it has been deleted.
    pub fn head(&self) -> Option<String> {
        lock(&self.shared).repo.branches.get(&*self.branch).cloned()
    }

    /// The files at the branch head (empty if the branch is gone).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let state = lock(&self.shared);
        let repo = &state.repo;
        let Some(head) = repo.branches.get(&*self.branch) else {
            return BTreeMap::new();
        };
        let files = &repo.commits[head].files;
        let read = |(path, sha): (&String, &String)| (path.clone(), repo.blobs[sha].clone());
        files.iter().map(read).collect()
    }

    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.files().remove(path)
    }

    /// The branch's first-parent history, newest first, down to the initial commit.
    pub fn commits(&self) -> Vec<CommitInfo> {
        let state = lock(&self.shared);
        let repo = &state.repo;
        let Some(head) = repo.branches.get(&*self.branch) else {
            return Vec::new();
        };
        let info = |(sha, commit): (String, &git::Commit)| {
            let changes = git::diff(&repo.parent_files(commit), &commit.files);
            let added = changes
                .into_iter()
                .filter(|(_, status, _)| *status != "removed");
            CommitInfo {
                sha,
                message: commit.message.clone(),
                parents: commit.parents.clone(),
                added: added.map(|(path, _, _)| path).collect(),
            }
        };
        repo.first_parents(head).into_iter().map(info).collect()
    }

    pub fn commit_count_on_branch(&self) -> usize {
        let state = lock(&self.shared);
        let head = state.repo.branches.get(&*self.branch);
        head.map_or(0, |head| state.repo.first_parents(head).len())
    }

    /// Someone else commits `path` to the branch, moving its head under the client's feet.
    pub fn push_foreign_commit(&self, path: &str, content: &[u8]) {
        foreign_commit(&self.shared, &self.branch, path, content);
    }

    /// Commits `files` (added or replaced; the others stay) onto the branch in one commit,
    /// without HTTP: seeds the large repositories import tests read. Returns the commit id.
    pub fn push_commit(&self, files: &[(String, Vec<u8>)], message: &str) -> String {
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
            .collect();
        commit_files(&self.shared, &self.branch, &files, message)
    }

    /// Removes a branch, so requests naming it get GitHub's 404/422.
    pub fn delete_branch(&self, branch: &str) {
        lock(&self.shared).repo.branches.remove(branch);
    }

    /// Points `branch` at `sha` (creating it), e.g. to restore a deleted branch.
    pub fn set_branch(&self, branch: &str, sha: &str) {
        let mut state = lock(&self.shared);
        assert!(state.repo.commits.contains_key(sha), "unknown commit {sha}");
        state
            .repo
            .branches
            .insert(branch.to_owned(), sha.to_owned());
    }
}

/// Commits `path` with `content` on top of `branch`, as someone else's client would.
fn foreign_commit(shared: &Shared, branch: &str, path: &str, content: &[u8]) {
    let message = format!("Foreign edit of {path}");
    commit_files(shared, branch, &[(path, content)], &message);
}

/// Places each file on top of `branch`'s head as the Git Data API would, in one commit.
fn commit_files(shared: &Shared, branch: &str, files: &[(&str, &[u8])], message: &str) -> String {
    let mut state = lock(shared);
    let repo = &mut state.repo;
    let head = repo.branches.get(branch).expect("the branch exists");
    let mut tree = repo.commits[head].files.clone();
    for (path, content) in files {
        assert!(git::valid_path(path), "git cannot store {path:?}");
        let blob = repo.put_blob(content.to_vec());
        git::place(&mut tree, path, blob);
    }
    repo.commit_on(branch, &tree, message)
        .expect("the branch exists")
}
