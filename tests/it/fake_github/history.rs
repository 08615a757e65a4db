//! The repository commits API: `GET /commits` (history, optionally only commits touching a
//! path) and `GET /commits/{sha}` (one commit with its changed files, paged like GitHub's).

use serde_json::{json, Value};

use super::git::{self, Repo};
use super::gitdata::summary_json;
use super::routes::{error, not_found, ok, Answer, Call, Outcome, Site};

/// GitHub lists at most this many changed files of one commit, over all pages.
const FILES_CAP: usize = 3000;
/// Files on one page when the client names no `per_page`.
const FILES_PAGE: usize = 300;

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

/// The pages of one listing, for the `Link` header that tells the client more remain.
struct Pages {
    url: String,
    /// Repeated in the links only when the client gave it, as GitHub does.
    per_page: Option<usize>,
}

impl Pages {
    fn page(&self, page: usize) -> String {
        match self.per_page {
            Some(per_page) => format!("<{}?per_page={per_page}&page={page}>", self.url),
            None => format!("<{}?page={page}>", self.url),
        }
    }

    fn link(&self, next: usize, last: usize) -> String {
        let (next, last) = (self.page(next), self.page(last));
        format!("{next}; rel=\"next\", {last}; rel=\"last\"")
    }
}

pub fn show(repo: &Repo, rev: &str, call: &Call, site: &Site) -> Outcome {
    let id = repo
        .resolve(rev)
        .ok_or_else(|| error(422, format!("No commit found for SHA: {rev}")))?;
    let commit = &repo.commits[&id];
    let mut changes = git::diff(&repo.parent_files(commit), &commit.files);
    changes.truncate(FILES_CAP);
    let asked = call.query("per_page").and_then(|n| n.parse::<usize>().ok());
    let per_page = asked.map_or(FILES_PAGE, |n| n.clamp(1, 100));
    let page = number(call, "page", 1).max(1);
    let start = (page - 1).saturating_mul(per_page).min(changes.len());
    let end = start.saturating_add(per_page).min(changes.len());
    let files: Vec<Value> = changes[start..end]
        .iter()
        .map(
            |(filename, status, sha)| json!({ "filename": filename, "status": status, "sha": sha }),
        )
        .collect();
    let mut body = summary_json(&id, commit);
    body["files"] = Value::Array(files);
    let mut headers = Vec::new();
    if end < changes.len() {
        let pages = Pages {
            url: format!(
                "{}/repos/{}/{}/commits/{rev}",
                site.origin, repo.owner, repo.name
            ),
            per_page: asked.map(|_| per_page),
        };
        let last = changes.len().div_ceil(per_page);
        headers.push(("link", pages.link(page + 1, last)));
    }
    Ok(Answer {
        status: 200,
        body,
        raw: None,
        headers,
    })
}
