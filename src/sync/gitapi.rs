//! The GitHub endpoints sync and import use: refs, commits and trees of the Git Data API
//! (one commit of any size is three writes: tree, commit, ref), folder listings, the commit
//! history, and the tarball of a commit.

use std::io::Read;

use serde_json::{json, Value};
use ureq::http::Method;

use super::failure::Failure;
use super::github::{encode_path, str_at, GitHub};

/// One entry of a folder, from a listing or a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// The blob id of a file, the tree id of a folder.
    pub sha: String,
    pub is_dir: bool,
}

/// One change in a commit: a file written with `content`, or removed (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub content: Option<String>,
}

/// A commit of the branch's history as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    pub sha: String,
    pub message: String,
}

fn entries(items: &[Value], name_key: &str, dir_type: &str) -> Vec<Entry> {
    items
        .iter()
        .filter_map(|item| {
            let name = item.get(name_key)?.as_str()?;
            let name = name.rsplit('/').next().unwrap_or(name);
            Some(Entry {
                name: name.to_owned(),
                sha: item.get("sha")?.as_str()?.to_owned(),
                is_dir: item.get("type").and_then(Value::as_str) == Some(dir_type),
            })
        })
        .collect()
}

impl GitHub {
    /// The commit the branch points at (a conditional request: unchanged costs nothing).
    pub fn head(&mut self) -> Result<String, Failure> {
        let url = self.repo_url(&format!(
            "git/ref/heads/{}",
            encode_path(&self.config.branch)
        ));
        str_at(&self.call(&Method::GET, &url, None)?, "/object/sha")
    }

    /// The tree of a commit.
    pub fn tree_of(&mut self, commit: &str) -> Result<String, Failure> {
        let url = self.repo_url(&format!("git/commits/{commit}"));
        str_at(&self.call(&Method::GET, &url, None)?, "/tree/sha")
    }

    /// A folder's entries at commit `rev` through the contents API, `None` when there is no
    /// such folder. GitHub lists at most 1,000 entries, which the layout never exceeds.
    pub fn list_dir(&mut self, path: &str, rev: &str) -> Result<Option<Vec<Entry>>, Failure> {
        let url = self.repo_url(&format!("contents/{}?ref={rev}", encode_path(path)));
        match self.call(&Method::GET, &url, None) {
            Ok(Value::Array(items)) => Ok(Some(entries(&items, "name", "dir"))),
            Ok(_) => Ok(None),
            Err(Failure::Fatal { reason }) if reason.starts_with("GitHub answered 404") => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// A tree's own entries (not recursive) and whether GitHub truncated the list.
    pub fn tree(&mut self, sha: &str) -> Result<(Vec<Entry>, bool), Failure> {
        let answer = self.call(
            &Method::GET,
            &self.repo_url(&format!("git/trees/{sha}")),
            None,
        )?;
        let items = answer.get("tree").and_then(Value::as_array);
        let truncated = answer.get("truncated").and_then(Value::as_bool) == Some(true);
        Ok((
            entries(items.map_or(&[][..], Vec::as_slice), "path", "tree"),
            truncated,
        ))
    }

    /// The tree id of the folder at `path` below tree `root`, walking one level a request.
    pub fn folder_tree(&mut self, root: &str, path: &str) -> Result<Option<String>, Failure> {
        let mut sha = root.to_owned();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let (items, _) = self.tree(&sha)?;
            match items.into_iter().find(|e| e.is_dir && e.name == part) {
                Some(entry) => sha = entry.sha,
                None => return Ok(None),
            }
        }
        Ok(Some(sha))
    }

    /// A tree that is `base` with `changes` applied, blobs created inline (no blob requests).
    pub fn create_tree(&mut self, base: &str, changes: &[Change]) -> Result<String, Failure> {
        let entries: Vec<Value> = changes
            .iter()
            .map(|change| match &change.content {
                Some(content) => json!({
                    "path": change.path, "mode": "100644", "type": "blob", "content": content
                }),
                None => json!({
                    "path": change.path, "mode": "100644", "type": "blob", "sha": null
                }),
            })
            .collect();
        let body = json!({ "base_tree": base, "tree": entries });
        str_at(
            &self.call(&Method::POST, &self.repo_url("git/trees"), Some(body))?,
            "/sha",
        )
    }

    pub fn create_commit(
        &mut self,
        message: &str,
        tree: &str,
        parent: &str,
    ) -> Result<String, Failure> {
        let body = json!({ "message": message, "tree": tree, "parents": [parent] });
        str_at(
            &self.call(&Method::POST, &self.repo_url("git/commits"), Some(body))?,
            "/sha",
        )
    }

    /// Moves the branch to `commit` without force: `Ok(false)` when someone else pushed
    /// first, so nothing of theirs is ever overwritten.
    pub fn advance_branch(&mut self, commit: &str) -> Result<bool, Failure> {
        let url = self.repo_url(&format!(
            "git/refs/heads/{}",
            encode_path(&self.config.branch)
        ));
        let body = json!({ "sha": commit, "force": false });
        match self.call(&Method::PATCH, &url, Some(body)) {
            Ok(_) => Ok(true),
            Err(Failure::Fatal { reason }) if reason.contains("not a fast forward") => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The newest commit on the branch that touched `path`: for a message file, which is
    /// never edited, the commit that added it.
    pub fn commit_touching(&mut self, path: &str) -> Result<Option<CommitSummary>, Failure> {
        let url = self.repo_url(&format!(
            "commits?path={}&sha={}&per_page=1",
            encode_path(path),
            encode_path(&self.config.branch)
        ));
        Ok(summaries(&self.call(&Method::GET, &url, None)?)
            .into_iter()
            .next())
    }

    /// Page `page` (1-based) of the history from `rev`, newest first.
    pub fn commits_page(
        &mut self,
        rev: &str,
        page: usize,
        per_page: usize,
    ) -> Result<Vec<CommitSummary>, Failure> {
        let url = self.repo_url(&format!(
            "commits?sha={}&per_page={per_page}&page={page}",
            encode_path(rev)
        ));
        Ok(summaries(&self.call(&Method::GET, &url, None)?))
    }

    /// Page `page` of the paths a commit added, changed or removed.
    pub fn commit_files_page(
        &mut self,
        sha: &str,
        page: usize,
        per_page: usize,
    ) -> Result<Vec<String>, Failure> {
        let url = self.repo_url(&format!("commits/{sha}?per_page={per_page}&page={page}"));
        let answer = self.call(&Method::GET, &url, None)?;
        let files = answer.get("files").and_then(Value::as_array);
        Ok(files
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("filename").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }

    /// The gzip'd tar of the files at commit `rev`: one request for the whole history.
    pub fn tarball(&mut self, rev: &str) -> Result<Box<dyn Read + Send>, Failure> {
        let url = self.repo_url(&format!("tarball/{rev}"));
        self.download(&url)
    }
}

fn summaries(answer: &Value) -> Vec<CommitSummary> {
    let items = answer.as_array().map_or(&[][..], Vec::as_slice);
    items
        .iter()
        .filter_map(|item| {
            Some(CommitSummary {
                sha: item.get("sha")?.as_str()?.to_owned(),
                message: item.pointer("/commit/message")?.as_str()?.to_owned(),
            })
        })
        .collect()
}
