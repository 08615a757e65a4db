//! The contents API: `GET` and `PUT /repos/{o}/{r}/contents/{path}`, one commit per write,
//! with GitHub's optimistic locking on the file's blob id.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::git::{self, Entry, Repo};
use super::gitdata::commit_json;
use super::routes::{error, invalid, not_found, ok, optional_str, required_str, Call, Outcome};

/// GitHub breaks the base64 of a file every 60 characters, last line included.
fn wrapped_base64(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for line in encoded.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Clients send base64 with or without line breaks; GitHub accepts both.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

/// GitHub lists at most this many entries of a directory; the Git Trees API sees the rest.
const LISTING_CAP: usize = 1000;

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn file_json(repo: &Repo, path: &str, sha: &str) -> Value {
    let bytes = &repo.blobs[sha];
    json!({
        "type": "file",
        "encoding": "base64",
        "size": bytes.len(),
        "name": file_name(path),
        "path": path,
        "sha": sha,
        "content": wrapped_base64(bytes),
    })
}

fn entry_json(repo: &Repo, dir: &str, entry: &Entry) -> Value {
    let path = match dir {
        "" => entry.name.clone(),
        _ => format!("{dir}/{}", entry.name),
    };
    let (kind, size) = if entry.is_tree {
        ("dir", 0)
    } else {
        ("file", repo.blobs[&entry.sha].len())
    };
    json!({ "type": kind, "name": entry.name, "path": path, "sha": entry.sha, "size": size })
}

pub fn get(repo: &Repo, path: &str, call: &Call) -> Outcome {
    let rev = call.query("ref").unwrap_or(&repo.default_branch);
    let Some(id) = repo.resolve(rev) else {
        return Err(error(404, format!("No commit found for the ref {rev}")));
    };
    let commit = &repo.commits[&id];
    if let Some(sha) = commit.files.get(path) {
        return ok(200, file_json(repo, path, sha));
    }
    let tree = repo.tree_at(&commit.tree, path).ok_or_else(not_found)?;
    let listing = repo.trees[&tree]
        .iter()
        .take(LISTING_CAP)
        .map(|entry| entry_json(repo, path, entry))
        .collect();
    ok(200, Value::Array(listing))
}

pub fn put(repo: &mut Repo, path: &str, call: &Call) -> Outcome {
    if path.is_empty() {
        return Err(not_found());
    }
    if !git::valid_path(path) {
        return Err(invalid("path contains a malformed path component"));
    }
    let body = call.json()?;
    let message = required_str(&body, "message")?;
    let content = required_str(&body, "content")?;
    let branch = optional_str(&body, "branch")?.unwrap_or(&repo.default_branch);
    let expected = optional_str(&body, "sha")?;
    let bytes = decode_base64(content).ok_or_else(|| error(422, "content is not valid Base64"))?;
    let head = repo.branches.get(branch).ok_or_else(not_found)?;
    let mut files = repo.commits[head].files.clone();
    match (files.get(path), expected) {
        (Some(_), None) => return Err(invalid("\"sha\" wasn't supplied.")),
        (Some(current), Some(given)) if current != given => {
            return Err(error(409, format!("{path} does not match {given}")));
        }
        (None, _) if git::conflicts(&files, path) => {
            return Err(invalid(&format!(
                "{path} collides with an existing file or directory"
            )));
        }
        _ => {}
    }
    let status = if files.contains_key(path) { 200 } else { 201 };
    let (branch, message) = (branch.to_owned(), message.to_owned());
    let size = bytes.len();
    let blob = repo.put_blob(bytes);
    files.insert(path.to_owned(), blob.clone());
    let id = repo
        .commit_on(&branch, &files, &message)
        .expect("the branch exists");
    let content = json!({
        "type": "file", "name": file_name(path), "path": path, "sha": blob, "size": size,
    });
    ok(
        status,
        json!({ "content": content, "commit": commit_json(&id, &repo.commits[&id]) }),
    )
}
