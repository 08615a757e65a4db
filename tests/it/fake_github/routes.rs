//! Routing for the fake: splits `/repos/{owner}/{repo}/...` into a handler call, and holds
//! the answer and error shapes (GitHub's `{"message", "documentation_url"}`) all handlers share.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::git::Repo;
use super::{archive, contents, gitdata, history};

pub const DOCS: &str = "https://docs.github.com/rest";

pub struct Answer {
    pub status: u16,
    /// `Null` sends no body at all (204).
    pub body: Value,
    /// Sent instead of `body` when set (archives); the headers then name its content type.
    pub raw: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    /// The body exactly as it goes on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        match (&self.raw, &self.body) {
            (Some(raw), _) => raw.clone(),
            (None, Value::Null) => Vec::new(),
            (None, body) => body.to_string().into_bytes(),
        }
    }
}

/// What the routes need to know about the fake beyond the repository.
pub struct Site {
    /// `http://{address}`, for the URLs answers carry (`Location`, `Link`).
    pub origin: String,
    /// Most entries one `GET /git/trees` lists before it says `"truncated": true`.
    pub tree_entry_limit: usize,
}

/// Handlers return their error answers through `Err` so that `?` works on every check.
pub type Outcome = Result<Answer, Answer>;

#[allow(
    clippy::unnecessary_wraps,
    reason = "handlers end with `ok(..)`, an `Outcome` like their `?` exits"
)]
pub fn ok(status: u16, body: Value) -> Outcome {
    Ok(Answer {
        status,
        body,
        raw: None,
        headers: Vec::new(),
    })
}

pub fn error(status: u16, message: impl Into<String>) -> Answer {
    Answer {
        status,
        body: json!({ "message": message.into(), "documentation_url": DOCS }),
        raw: None,
        headers: Vec::new(),
    }
}

pub fn not_found() -> Answer {
    error(404, "Not Found")
}

/// GitHub's validation failure: 422 with the details after a blank line.
pub fn invalid(detail: &str) -> Answer {
    error(422, format!("Invalid request.\n\n{detail}"))
}

/// One request, with the path already split and percent-decoded.
pub struct Call<'a> {
    pub method: &'a str,
    pub parts: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: &'a [u8],
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<'a> Call<'a> {
    pub fn parse(method: &'a str, target: &str, body: &'a [u8]) -> Call<'a> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let parts = path
            .split('/')
            .filter(|part| !part.is_empty())
            .map(percent_decode)
            .collect();
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    percent_decode(name),
                    percent_decode(&value.replace('+', " ")),
                )
            })
            .collect();
        Call {
            method,
            parts,
            query,
            body,
        }
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// The body as a JSON object: 400 when it does not parse, 422 when it is not an object.
    pub fn json(&self) -> Result<Map<String, Value>, Answer> {
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(invalid(&format!(
                "For 'links/0/schema', {other} is not an object."
            ))),
            Err(_) => Err(error(400, "Problems parsing JSON")),
        }
    }
}

/// A string field that must be there, with GitHub's wording when it is not.
pub fn required_str<'m>(body: &'m Map<String, Value>, name: &str) -> Result<&'m str, Answer> {
    match body.get(name) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(invalid(&format!("\"{name}\" wasn't supplied."))),
        Some(other) => Err(invalid(&format!(
            "For 'properties/{name}', {other} is not a string."
        ))),
    }
}

pub fn optional_str<'m>(
    body: &'m Map<String, Value>,
    name: &str,
) -> Result<Option<&'m str>, Answer> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_str(body, name).map(Some),
    }
}

pub fn route(repo: &mut Repo, site: &Site, call: &Call) -> Outcome {
    let parts: Vec<&str> = call.parts.iter().map(String::as_str).collect();
    let ["repos", owner, name, rest @ ..] = parts.as_slice() else {
        return Err(not_found());
    };
    // GitHub matches owner and repository names case-insensitively.
    if !owner.eq_ignore_ascii_case(&repo.owner) || !name.eq_ignore_ascii_case(&repo.name) {
        return Err(not_found());
    }
    match (call.method, rest) {
        ("GET", []) => ok(200, repo_json(repo)),
        ("GET", ["contents", path @ ..]) => contents::get(repo, &path.join("/"), call),
        ("PUT", ["contents", path @ ..]) => contents::put(repo, &path.join("/"), call),
        ("GET", ["git", "ref" | "refs", "heads", branch @ ..]) => {
            gitdata::get_ref(repo, &branch.join("/"))
        }
        ("PATCH", ["git", "refs", "heads", branch @ ..]) => {
            gitdata::update_ref(repo, &branch.join("/"), call)
        }
        ("DELETE", ["git", "refs", "heads", branch @ ..]) => {
            gitdata::delete_ref(repo, &branch.join("/"))
        }
        ("POST", ["git", "refs"]) => gitdata::create_ref(repo, call),
        ("GET", ["git", "commits", sha]) => gitdata::get_commit(repo, sha),
        ("POST", ["git", "commits"]) => gitdata::create_commit(repo, call),
        ("GET", ["git", "blobs", sha]) => gitdata::get_blob(repo, sha),
        ("POST", ["git", "blobs"]) => gitdata::create_blob(repo, call),
        ("GET", ["git", "trees", sha]) => gitdata::get_tree(repo, sha, call, site),
        ("POST", ["git", "trees"]) => gitdata::create_tree(repo, call, site),
        ("GET", ["commits"]) => history::list(repo, call),
        ("GET", ["commits", sha]) => history::show(repo, sha, call, site),
        ("GET", ["tarball", rev @ ..]) => archive::redirect(repo, &rev.join("/"), site),
        _ => Err(not_found()),
    }
}

fn repo_json(repo: &Repo) -> Value {
    json!({
        "name": repo.name,
        "full_name": format!("{}/{}", repo.owner, repo.name),
        "owner": { "login": repo.owner },
        "private": true,
        "default_branch": repo.default_branch,
        "permissions": { "admin": false, "push": true, "pull": true },
    })
}
