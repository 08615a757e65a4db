//! A small blocking client for the parts of the GitHub REST API that sync uses: the
//! contents API for single files and the Git Data API for many files in one commit.
//! It honours rate limits itself: after GitHub says "wait", it sends nothing until then.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};
use ureq::http::{self, HeaderMap, Method};

use super::failure::{classify, Failure, RateHeaders};
use super::settings::GithubConfig;

/// Largest answer read into memory; GitHub's answers here are far smaller.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

pub struct GitHub {
    agent: ureq::Agent,
    config: GithubConfig,
    stop: Arc<AtomicBool>,
    /// Set when GitHub said to wait; no request leaves before this instant.
    quiet_until: Option<Instant>,
    /// Requests sent and content-creating ones among them (the secondary limit counts those).
    pub requests: u64,
    pub writes: u64,
}

/// What a contents-API PUT of a new file did.
#[derive(Debug, PartialEq, Eq)]
pub enum Put {
    Created {
        commit: String,
    },
    /// The file is there already (`422 "sha" wasn't supplied`).
    Exists,
}

impl GitHub {
    pub fn new(config: GithubConfig, stop: Arc<AtomicBool>) -> GitHub {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timing.request_timeout))
            .user_agent(concat!("bookchat/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        GitHub {
            agent,
            config,
            stop,
            quiet_until: None,
            requests: 0,
            writes: 0,
        }
    }

    /// Creates `path` with `bytes` in one commit, unless it already exists.
    pub fn put_file(&mut self, path: &str, bytes: &[u8], message: &str) -> Result<Put, Failure> {
        let body = json!({
            "message": message,
            "content": BASE64.encode(bytes),
            "branch": self.config.branch,
        });
        let url = self.repo_url(&format!("contents/{}", encode_path(path)));
        match self.call(&Method::PUT, &url, Some(body)) {
            Ok(answer) => str_at(&answer, "/commit/sha").map(|commit| Put::Created { commit }),
            Err(Failure::Fatal { reason }) if reason.contains("\"sha\" wasn't supplied") => {
                Ok(Put::Exists)
            }
            Err(other) => Err(other),
        }
    }

    /// The file's bytes on the branch, or `None` when it does not exist.
    pub fn get_file(&mut self, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        let url = self.repo_url(&format!(
            "contents/{}?ref={}",
            encode_path(path),
            encode_path(&self.config.branch)
        ));
        let answer = match self.call(&Method::GET, &url, None) {
            Ok(answer) => answer,
            Err(Failure::Fatal { reason }) if reason.starts_with("GitHub answered 404") => {
                return Ok(None)
            }
            Err(other) => return Err(other),
        };
        let encoded: String = str_at(&answer, "/content")?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        BASE64
            .decode(encoded)
            .map(Some)
            .map_err(|err| unexpected(format!("file content is not base64: {err}")))
    }

    /// The newest commit on the branch that touched `path`: for our never-edited message
    /// files, the commit that added it.
    pub fn commit_touching(&mut self, path: &str) -> Result<Option<String>, Failure> {
        let url = self.repo_url(&format!(
            "commits?path={}&sha={}&per_page=1",
            encode_path(path),
            encode_path(&self.config.branch)
        ));
        let answer = self.call(&Method::GET, &url, None)?;
        Ok(answer
            .pointer("/0/sha")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The paths a commit added or changed.
    pub fn commit_files(&mut self, sha: &str) -> Result<Vec<String>, Failure> {
        let answer = self.call(
            &Method::GET,
            &self.repo_url(&format!("commits/{sha}")),
            None,
        )?;
        let files = answer.get("files").and_then(Value::as_array);
        Ok(files
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("filename").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }

    /// The commit the branch points at.
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

    /// A tree that is `base` plus `files` (path, text), blobs created inline.
    pub fn create_tree(
        &mut self,
        base: &str,
        files: &[(String, String)],
    ) -> Result<String, Failure> {
        let entries: Vec<Value> = files
            .iter()
            .map(|(path, content)| {
                json!({ "path": path, "mode": "100644", "type": "blob", "content": content })
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

    fn repo_url(&self, rest: &str) -> String {
        let c = &self.config;
        format!("{}/repos/{}/{}/{rest}", c.api_url, c.owner, c.repo)
    }

    /// Sends one request. Anything but a 2xx becomes a `Failure`, its text redacted.
    fn call(&mut self, method: &Method, url: &str, body: Option<Value>) -> Result<Value, Failure> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Failure::Stopped);
        }
        if let Some(until) = self.quiet_until {
            let now = Instant::now();
            if now < until {
                return Err(Failure::RateLimited {
                    reason: "waiting for GitHub's rate limit to reset".into(),
                    wait: until - now,
                });
            }
            self.quiet_until = None;
        }
        let write = *method != Method::GET;
        self.requests += 1;
        self.writes += u64::from(write);
        let started = Instant::now();
        let result = self.send(method, url, body);
        log::debug!(
            "GitHub {method} {url}: {:?} in {:?}",
            result.as_ref().map(|r| r.0),
            started.elapsed()
        );
        let (status, headers, bytes) = result.map_err(|reason| Failure::Transient {
            reason: self.config.token.redact(&reason),
            ambiguous: write,
        })?;
        let rate = rate_headers(&headers);
        if let Some(wait) = rate.exhausted_for(unix_now()) {
            self.quiet_until = Some(Instant::now() + wait);
        }
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = answer
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let failure = classify(
            status,
            &self.config.token.redact(message),
            rate,
            unix_now(),
            self.config.timing.secondary_limit,
            write,
        );
        if let Failure::RateLimited { wait, .. } = &failure {
            self.quiet_until = Some(Instant::now() + *wait);
        }
        Err(failure)
    }

    fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), String> {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(
                "Authorization",
                format!("Bearer {}", self.config.token.expose()),
            )
            .header("Content-Type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .map_err(|err| format!("cannot build the request: {err}"))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|err| format!("cannot reach GitHub: {err}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|err| format!("GitHub's answer was cut off: {err}"))?;
        Ok((status, response.headers().clone(), bytes))
    }
}

fn rate_headers(headers: &HeaderMap) -> RateHeaders {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    RateHeaders {
        retry_after: number("retry-after"),
        remaining: number("x-ratelimit-remaining"),
        reset: number("x-ratelimit-reset"),
    }
}

fn str_at(answer: &Value, pointer: &str) -> Result<String, Failure> {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unexpected(format!("GitHub's answer has no {pointer}")))
}

/// A 2xx that does not say what it should: treat as transient, GitHub may be mid-deploy.
fn unexpected(reason: String) -> Failure {
    Failure::Transient {
        reason,
        ambiguous: true,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Percent-encodes everything but unreserved characters and `/`, for paths and queries.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded_but_keep_slashes() {
        assert_eq!(
            encode_path("messages/00000001_x.json"),
            "messages/00000001_x.json"
        );
        assert_eq!(encode_path("chat log/ü?&"), "chat%20log/%C3%BC%3F%26");
    }

    #[test]
    fn rate_headers_are_read_leniently() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        headers.insert("x-ratelimit-remaining", " 0".parse().unwrap());
        headers.insert("x-ratelimit-reset", "nonsense".parse().unwrap());
        assert_eq!(
            rate_headers(&headers),
            RateHeaders {
                retry_after: Some(30),
                remaining: Some(0),
                reset: None
            }
        );
    }
}
