//! The repository commits API: `GET /commits` (history, optionally only commits touching a
//! path) and `GET /commits/{sha}` (one commit with its changed files).

use serde_json::{json, Value};

use super::git::{self, Repo};
use super::gitdata::summary_json;
use super::routes::{error, not_found, ok, Call, Outcome};

fn number(call: &Call, name: &str, default: usize) -> usize {
    call.query(name)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Walks first parents only: the fake's branches are linear, so GitHub's full history
/// simplification would give the same answer.
pub fn list(repo: &Repo, call: &Call) -> Outcome {
    let rev = call.query("sha").unwrap_or(&repo.default_branch);
    let start = repo.resolve(rev).ok_or_else(not_found)?;
    let per_page = number(call, "per_page", 30).clamp(1, 100);
    let page = number(call, "page", 1).max(1);
    let path = call
        .query("path")
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    let listed: Vec<Value> = repo
        .first_parents(&start)
        .into_iter()
        .filter(|(_, commit)| {
            path.is_none_or(|p| git::touches(&repo.parent_files(commit), &commit.files, p))
        })
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(id, commit)| summary_json(&id, commit))
        .collect();
    ok(200, Value::Array(listed))
}

pub fn show(repo: &Repo, rev: &str) -> Outcome {
    let id = repo
        .resolve(rev)
        .ok_or_else(|| error(422, format!("No commit found for SHA: {rev}")))?;
    let commit = &repo.commits[&id];
    let files: Vec<Value> = git::diff(&repo.parent_files(commit), &commit.files)
        .into_iter()
        .map(
            |(filename, status, sha)| json!({ "filename": filename, "status": status, "sha": sha }),
        )
        .collect();
    let mut answer = summary_json(&id, commit);
    answer["files"] = Value::Array(files);
    ok(200, answer)
}
