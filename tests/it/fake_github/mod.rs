//! An in-process fake of the GitHub REST API (contents, Git Data and commits endpoints) for
//! the sync worker's tests: real git object ids, GitHub's status codes and error bodies,
//! rate-limit headers, and a handle to inject faults and inspect what the worker did.

mod contents;
mod git;
mod gitdata;
mod history;
mod routes;
mod server;
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use server::{lock, Queued, Rate, Running, Shared, State};

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
        lock(&self.shared).rate.remaining = remaining.min(server::RATE_LIMIT);
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
    let mut state = lock(shared);
    let repo = &mut state.repo;
    let head = repo.branches.get(branch).expect("the branch exists");
    let mut files = repo.commits[head].files.clone();
    let blob = repo.put_blob(content.to_vec());
    git::place(&mut files, path, blob);
    let message = format!("Foreign edit of {path}");
    repo.commit_on(branch, &files, &message);
}
