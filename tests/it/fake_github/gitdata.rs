//! The Git Data API: refs, commits, blobs and trees under `/repos/{o}/{r}/git/`, the
//! low-level path a client takes to put many files in one commit.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::contents::decode_base64;
use super::git::{self, Commit, Files, Repo};
use super::routes::{
    error, invalid, not_found, ok, optional_str, required_str, Answer, Call, Outcome, Site,
};

fn date(time: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(time).unwrap_or(i64::MAX), 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn parents_json(commit: &Commit) -> Value {
    commit.parents.iter().map(|p| json!({ "sha": p })).collect()
}

/// The Git Data shape of a commit, also used inside the contents API's answers.
pub fn commit_json(id: &str, commit: &Commit) -> Value {
    let who = json!({ "name": "Fake", "email": "fake@example.com", "date": date(commit.time) });
    json!({
        "sha": id,
        "tree": { "sha": commit.tree },
        "parents": parents_json(commit),
        "message": commit.message,
        "author": who,
        "committer": who,
    })
}

/// The `/commits` (repository API) shape: the git commit nested under `commit`.
pub fn summary_json(id: &str, commit: &Commit) -> Value {
    let mut inner = commit_json(id, commit);
    inner.as_object_mut().expect("an object").remove("sha");
    json!({ "sha": id, "commit": inner, "parents": parents_json(commit) })
}

fn ref_json(branch: &str, sha: &str) -> Value {
    json!({ "ref": format!("refs/heads/{branch}"), "object": { "sha": sha, "type": "commit" } })
}

pub fn get_ref(repo: &Repo, branch: &str) -> Outcome {
    let sha = repo.branches.get(branch).ok_or_else(not_found)?;
    ok(200, ref_json(branch, sha))
}

pub fn update_ref(repo: &mut Repo, branch: &str, call: &Call) -> Outcome {
    let body = call.json()?;
    let sha = required_str(&body, "sha")?.to_ascii_lowercase();
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let head = repo.branches.get(branch).cloned();
    let head = head.ok_or_else(|| error(422, "Reference does not exist"))?;
    if !repo.commits.contains_key(&sha) {
        return Err(error(422, "Object does not exist"));
    }
    if !force && !repo.is_ancestor(&head, &sha) {
        return Err(error(422, "Update is not a fast forward"));
    }
    repo.branches.insert(branch.to_owned(), sha.clone());
    ok(200, ref_json(branch, &sha))
}

pub fn create_ref(repo: &mut Repo, call: &Call) -> Outcome {
    let body = call.json()?;
    let name = required_str(&body, "ref")?;
    let sha = required_str(&body, "sha")?.to_ascii_lowercase();
    // Tags and other namespaces exist on GitHub, but the fake only models branches.
    let branch = name
        .strip_prefix("refs/heads/")
        .filter(|b| git::valid_path(b));
    let branch = branch.ok_or_else(|| error(422, format!("{name} is not a valid ref name.")))?;
    if repo.branches.contains_key(branch) {
        return Err(error(422, "Reference already exists"));
    }
    if !repo.commits.contains_key(&sha) {
        return Err(error(422, "Object does not exist"));
    }
    repo.branches.insert(branch.to_owned(), sha.clone());
    ok(201, ref_json(branch, &sha))
}

pub fn delete_ref(repo: &mut Repo, branch: &str) -> Outcome {
    match repo.branches.remove(branch) {
        Some(_) => ok(204, Value::Null),
        None => Err(error(422, "Reference does not exist")),
    }
}

pub fn get_commit(repo: &Repo, sha: &str) -> Outcome {
    let id = sha.to_ascii_lowercase();
    let commit = repo.commits.get(&id).ok_or_else(not_found)?;
    ok(200, commit_json(&id, commit))
}

pub fn create_commit(repo: &mut Repo, call: &Call) -> Outcome {
    let body = call.json()?;
    let message = required_str(&body, "message")?.to_owned();
    let tree = required_str(&body, "tree")?.to_ascii_lowercase();
    let parents = match body.get("parents") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| p.as_str().map(str::to_ascii_lowercase))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("For 'items', parents must be strings."))?,
        Some(other) => {
            return Err(invalid(&format!(
                "For 'properties/parents', {other} is not an array."
            )))
        }
    };
    if !repo.trees.contains_key(&tree) {
        return Err(error(422, "Tree SHA does not exist"));
    }
    if parents.iter().any(|p| !repo.commits.contains_key(p)) {
        return Err(error(
            422,
            "Parent SHA does not exist or is not a commit object",
        ));
    }
    let id = repo.put_commit(&tree, parents, &message);
    ok(201, commit_json(&id, &repo.commits[&id]))
}

pub fn get_blob(repo: &Repo, sha: &str) -> Outcome {
    let id = sha.to_ascii_lowercase();
    let bytes = repo.blobs.get(&id).ok_or_else(not_found)?;
    let content = STANDARD.encode(bytes);
    ok(
        200,
        json!({ "sha": id, "size": bytes.len(), "encoding": "base64", "content": content }),
    )
}

pub fn create_blob(repo: &mut Repo, call: &Call) -> Outcome {
    let body = call.json()?;
    let content = required_str(&body, "content")?;
    let bytes = match optional_str(&body, "encoding")?.unwrap_or("utf-8") {
        "utf-8" | "utf8" => content.as_bytes().to_vec(),
        "base64" => decode_base64(content).ok_or_else(|| error(422, "Invalid Base64"))?,
        other => return Err(invalid(&format!("encoding {other} is not supported"))),
    };
    let sha = repo.put_blob(bytes);
    ok(201, json!({ "sha": sha }))
}

/// One entry of a `POST /git/trees` body, applied to the files built so far.
fn apply_entry(repo: &mut Repo, files: &mut Files, entry: &Value) -> Result<(), Answer> {
    let entry = entry
        .as_object()
        .ok_or_else(|| invalid("For 'items', tree entries must be objects."))?;
    let path = required_str(entry, "path")?;
    if !git::valid_path(path) {
        return Err(error(422, format!("tree.path {path:?} is malformed")));
    }
    let mode = required_str(entry, "mode")?;
    let kind = optional_str(entry, "type")?.unwrap_or("blob");
    // Only regular files exist in the fake's model; executables, links and submodules don't.
    if mode != git::FILE_MODE || kind != "blob" {
        return Err(error(
            422,
            format!("the fake only supports 100644 blobs, not {mode} {kind}"),
        ));
    }
    match (entry.get("content"), entry.get("sha")) {
        (Some(Value::String(text)), None | Some(Value::Null)) => {
            let sha = repo.put_blob(text.as_bytes().to_vec());
            git::place(files, path, sha);
        }
        (None, Some(Value::Null)) => git::remove(files, path),
        (None, Some(Value::String(sha))) if repo.blobs.contains_key(&sha.to_ascii_lowercase()) => {
            git::place(files, path, sha.to_ascii_lowercase());
        }
        (None, Some(Value::String(_))) => return Err(error(422, "Invalid tree info")),
        _ => {
            return Err(invalid(
                "Must supply either tree.sha or tree.content, not both.",
            ))
        }
    }
    Ok(())
}

pub fn create_tree(repo: &mut Repo, call: &Call, site: &Site) -> Outcome {
    let body = call.json()?;
    let Some(Value::Array(entries)) = body.get("tree") else {
        return Err(invalid("\"tree\" wasn't supplied."));
    };
    let mut files = match optional_str(&body, "base_tree")? {
        Some(base) => repo
            .flatten(&base.to_ascii_lowercase())
            .ok_or_else(|| error(422, "GitRPC::BadObjectState"))?,
        None => Files::new(),
    };
    for entry in entries {
        apply_entry(repo, &mut files, entry)?;
    }
    let id = repo.put_tree(&files);
    ok(201, tree_json(repo, &id, false, site.tree_entry_limit))
}

/// How far one listing may go: entries past `limit` are left out, as GitHub does.
struct Listing {
    recursive: bool,
    limit: usize,
    out: Vec<Value>,
}

/// Lists a tree's entries as the API does, subtrees' too when recursive (each right after
/// its folder); false once an entry had to be left out.
fn tree_entries(repo: &Repo, id: &str, prefix: &str, listing: &mut Listing) -> bool {
    for entry in &repo.trees[id] {
        if listing.out.len() >= listing.limit {
            return false;
        }
        let path = format!("{prefix}{}", entry.name);
        let mut item = Map::new();
        item.insert("path".into(), json!(path));
        // The API spells the directory mode with a leading zero, unlike the object itself.
        let mode = if entry.is_tree {
            "040000"
        } else {
            git::FILE_MODE
        };
        item.insert("mode".into(), json!(mode));
        item.insert(
            "type".into(),
            json!(if entry.is_tree { "tree" } else { "blob" }),
        );
        item.insert("sha".into(), json!(entry.sha));
        if !entry.is_tree {
            item.insert("size".into(), json!(repo.blobs[&entry.sha].len()));
        }
        listing.out.push(Value::Object(item));
        if entry.is_tree
            && listing.recursive
            && !tree_entries(repo, &entry.sha, &format!("{path}/"), listing)
        {
            return false;
        }
    }
    true
}

fn tree_json(repo: &Repo, id: &str, recursive: bool, limit: usize) -> Value {
    let mut listing = Listing {
        recursive,
        limit,
        out: Vec::new(),
    };
    let complete = tree_entries(repo, id, "", &mut listing);
    json!({ "sha": id, "tree": listing.out, "truncated": !complete })
}

pub fn get_tree(repo: &Repo, rev: &str, call: &Call, site: &Site) -> Outcome {
    let lower = rev.to_ascii_lowercase();
    // Like GitHub, accept any tree-ish: a tree id, a commit id or a branch name.
    let id = if repo.trees.contains_key(&lower) {
        lower
    } else {
        let commit = repo.resolve(rev).ok_or_else(not_found)?;
        repo.commits[&commit].tree.clone()
    };
    // GitHub recurses whenever the parameter is present, whatever its value.
    let recursive = call.query("recursive").is_some();
    ok(200, tree_json(repo, &id, recursive, site.tree_entry_limit))
}
