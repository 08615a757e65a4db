//! A small blocking client for the GitHub REST API: one request at a time, redacted
//! errors, GitHub's rate-limit answers obeyed (after "wait", nothing is sent until then),
//! conditional GETs (a `304` costs no quota), and every content-creating request passed
//! through the write budget first. The endpoints sync and import use are in `gitapi`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use ureq::http::{self, HeaderMap, Method};

use super::budget::{unix_ms, Budget};
use super::failure::{classify, Failure, RateHeaders};
use super::settings::GithubConfig;
use crate::store::SyncQueue;

/// Largest answer read into memory; GitHub's JSON answers here are far smaller.
const MAX_ANSWER: u64 = 64 * 1024 * 1024;
/// Largest archive import reads: far above any chat's history, but not unbounded.
const MAX_ARCHIVE: u64 = 8 * 1024 * 1024 * 1024;
/// Conditional answers remembered; a few hundred URLs is all sync and import revisit.
const ETAG_CACHE: usize = 512;
/// The longest wait for the write budget spent inside a request; longer ones go back to
/// the worker, which sleeps them out where a stop can wake it.
const GATE_SLEEP: Duration = Duration::from_secs(2);

/// The write budget with the connection that keeps it.
pub struct Gate {
    pub budget: Budget,
    pub queue: SyncQueue,
}

pub struct GitHub {
    agent: ureq::Agent,
    pub(super) config: GithubConfig,
    stop: Arc<AtomicBool>,
    /// Set when GitHub said to wait; no request leaves before this instant.
    quiet_until: Option<Instant>,
    /// Every content-creating request goes through it; `None` for read-only use (import).
    pub gate: Option<Gate>,
    /// URL → (ETag, answer) of earlier GETs, for `If-None-Match`.
    etags: HashMap<String, (String, Value)>,
    /// Requests sent and content-creating ones among them (the secondary limit counts those).
    pub requests: u64,
    pub writes: u64,
    pub not_modified: u64,
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
            gate: None,
            etags: HashMap::new(),
            requests: 0,
            writes: 0,
            not_modified: 0,
        }
    }

    pub(super) fn repo_url(&self, rest: &str) -> String {
        let c = &self.config;
        format!("{}/repos/{}/{}/{rest}", c.api_url, c.owner, c.repo)
    }

    /// Sends one request. Anything but a 2xx (or a 304 for a remembered GET) becomes a
    /// `Failure`, its text redacted.
    pub(super) fn call(
        &mut self,
        method: &Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let write = *method != Method::GET;
        self.before(write)?;
        let cached = (!write).then(|| self.etags.get(url)).flatten();
        let etag = cached.map(|(etag, _)| etag.clone());
        let started = Instant::now();
        let result = self.send(method, url, body, etag.as_deref(), MAX_ANSWER);
        if write {
            if let Some(gate) = &mut self.gate {
                gate.budget.answered(unix_ms());
            }
        }
        log::debug!(
            "GitHub {method} {url}: {:?} in {:?}",
            result.as_ref().map(|r| r.0),
            started.elapsed()
        );
        let (status, headers, mut reader) = result.map_err(|reason| Failure::Transient {
            reason: self.config.token.redact(&reason),
            ambiguous: write,
        })?;
        let rate = self.rate(&headers);
        if status == 304 {
            self.not_modified += 1;
            if let Some((_, answer)) = self.etags.get(url) {
                return Ok(answer.clone());
            }
        }
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|err| unexpected(format!("GitHub's answer was cut off: {err}")))?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            if let Some(etag) = headers.get("etag").and_then(|v| v.to_str().ok()) {
                if self.etags.len() >= ETAG_CACHE {
                    self.etags.clear();
                }
                self.etags
                    .insert(url.to_owned(), (etag.to_owned(), answer.clone()));
            }
            return Ok(answer);
        }
        Err(self.failure(status, &answer, rate, write))
    }

    /// A GET whose answer is read as a stream (an archive): 2xx only, redirects followed.
    pub(super) fn download(&mut self, url: &str) -> Result<Box<dyn Read + Send>, Failure> {
        self.before(false)?;
        let (status, headers, reader) = self
            .send(&Method::GET, url, None, None, MAX_ARCHIVE)
            .map_err(|reason| Failure::Transient {
                reason: self.config.token.redact(&reason),
                ambiguous: false,
            })?;
        let rate = self.rate(&headers);
        if (200..300).contains(&status) {
            return Ok(reader);
        }
        let mut bytes = Vec::new();
        let _ = reader.take(MAX_ANSWER).read_to_end(&mut bytes);
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(self.failure(status, &answer, rate, false))
    }

    /// What every request passes first: a stop, GitHub's last "wait", and for a write the
    /// write budget (the gap between writes and both windows), which it then records.
    fn before(&mut self, write: bool) -> Result<(), Failure> {
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
        if write {
            if let Some(gate) = &mut self.gate {
                let wait = gate.budget.write_wait(unix_ms());
                if wait > GATE_SLEEP {
                    return Err(Failure::RateLimited {
                        reason: "the write budget is spent for now".into(),
                        wait,
                    });
                }
                std::thread::sleep(wait);
                if self.stop.load(Ordering::Relaxed) {
                    return Err(Failure::Stopped);
                }
                gate.budget
                    .record(&gate.queue, unix_ms())
                    .map_err(|err| Failure::Transient {
                        reason: format!("cannot record a GitHub write: {err}"),
                        ambiguous: false,
                    })?;
            }
        }
        self.requests += 1;
        self.writes += u64::from(write);
        Ok(())
    }

    fn rate(&mut self, headers: &HeaderMap) -> RateHeaders {
        let rate = rate_headers(headers);
        if let Some(wait) = rate.exhausted_for(unix_now()) {
            self.quiet_until = Some(Instant::now() + wait);
        }
        rate
    }

    fn failure(&mut self, status: u16, answer: &Value, rate: RateHeaders, write: bool) -> Failure {
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
        failure
    }

    fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<Value>,
        etag: Option<&str>,
        limit: u64,
    ) -> Result<(u16, HeaderMap, Box<dyn Read + Send>), String> {
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(
                "Authorization",
                format!("Bearer {}", self.config.token.expose()),
            )
            .header("Content-Type", "application/json");
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        let request = request
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .map_err(|err| format!("cannot build the request: {err}"))?;
        let response = self
            .agent
            .run(request)
            .map_err(|err| format!("cannot reach GitHub: {err}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let reader = response
            .into_body()
            .into_with_config()
            .limit(limit)
            .reader();
        Ok((status, headers, Box::new(reader)))
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

pub(super) fn str_at(answer: &Value, pointer: &str) -> Result<String, Failure> {
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
