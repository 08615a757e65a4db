//! The validated GitHub sync settings and the worker's timing, built from `GithubArgs`.

use std::time::Duration;

use super::budget::WriteLimits;
use crate::cli::GithubArgs;
use crate::secret::Secret;

/// A GitHub setting that cannot work. Its own type, so that sync needs nothing from
/// `config`; `config::GithubSettingsError` wraps it, and prints it as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GithubSettingsError {
    #[error("invalid GITHUB_REPO {0:?}: expected owner/name, e.g. octocat/bookchat-log")]
    Repo(String),
    #[error("invalid GITHUB_BRANCH {0:?}: not a usable branch name")]
    Branch(String),
    #[error("invalid GITHUB_API_URL {0:?}: expected an http:// or https:// URL")]
    ApiUrl(String),
    #[error("invalid BOOKCHAT_GITHUB_PATH {0:?}: expected a folder such as `messages`")]
    Path(String),
}

#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub token: Secret,
    pub owner: String,
    pub repo: String,
    pub branch: String,
    /// API base without a trailing slash, e.g. `https://api.github.com`.
    pub api_url: String,
    /// Folder for message files, without leading or trailing slashes.
    pub path: String,
    pub timing: SyncTiming,
    /// GitHub's secondary limits, which the write budget keeps under.
    pub limits: WriteLimits,
}

/// How patient the worker is. Defaults suit GitHub; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncTiming {
    /// First wait after a transient failure; doubles each time up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// First wait after a failure retrying cannot fix soon (bad token, missing repository);
    /// doubles each time up to `fatal_retry`.
    pub fatal_first: Duration,
    pub fatal_retry: Duration,
    /// Wait after a secondary-limit answer that names no time (GitHub: "at least a minute").
    pub secondary_limit: Duration,
    /// Per-request deadline; a request that runs over is a transient failure.
    pub request_timeout: Duration,
}

impl Default for SyncTiming {
    fn default() -> SyncTiming {
        SyncTiming {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            fatal_first: Duration::from_secs(15),
            fatal_retry: Duration::from_secs(300),
            secondary_limit: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl GithubConfig {
    /// `None` when sync is off (no token or no repository); an error when what is given
    /// cannot work, so a typo is caught at start rather than at the first message.
    pub fn from_args(args: &GithubArgs) -> Result<Option<GithubConfig>, GithubSettingsError> {
        let token = args.github_token.as_ref().map_or("", |t| t.expose().trim());
        let repo = args.github_repo.as_deref().map_or("", str::trim);
        if repo.is_empty() {
            if !token.is_empty() {
                log::warn!("GITHUB_TOKEN is set but GITHUB_REPO is not: GitHub sync is off");
            }
            return Ok(None);
        }
        let (owner, name) = parse_repo(repo)?;
        if token.is_empty() {
            log::warn!("GITHUB_REPO is set but GITHUB_TOKEN is not: GitHub sync is off");
            return Ok(None);
        }
        Ok(Some(GithubConfig {
            token: Secret::new(token),
            owner,
            repo: name,
            branch: parse_branch(&args.github_branch)?,
            api_url: parse_api_url(&args.github_api_url)?,
            path: parse_path(&args.github_path)?,
            timing: SyncTiming::default(),
            limits: WriteLimits::default(),
        }))
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

/// `owner/name`, each part as GitHub allows: letters, digits, `-`, `_` and `.`.
fn parse_repo(raw: &str) -> Result<(String, String), GithubSettingsError> {
    let bad = || GithubSettingsError::Repo(raw.to_owned());
    let (owner, name) = raw.split_once('/').ok_or_else(bad)?;
    let valid = |part: &str| {
        !part.is_empty()
            && part.len() <= 100
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !valid(owner) || !valid(name) {
        return Err(bad());
    }
    Ok((owner.to_owned(), name.to_owned()))
}

fn parse_branch(raw: &str) -> Result<String, GithubSettingsError> {
    let branch = raw.trim();
    let valid = !branch.is_empty()
        && !branch.starts_with('/')
        && !branch.ends_with('/')
        && !branch.contains("..")
        && !branch
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if valid {
        Ok(branch.to_owned())
    } else {
        Err(GithubSettingsError::Branch(raw.to_owned()))
    }
}

fn parse_api_url(raw: &str) -> Result<String, GithubSettingsError> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(GithubSettingsError::ApiUrl(raw.to_owned())),
    }
}

fn parse_path(raw: &str) -> Result<String, GithubSettingsError> {
    let path = raw.trim().trim_matches('/');
    let valid = path.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && !part.contains(|c: char| c.is_control() || c == '\\')
    });
    if valid {
        Ok(path.to_owned())
    } else {
        Err(GithubSettingsError::Path(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token: Option<&str>, repo: Option<&str>) -> GithubArgs {
        GithubArgs {
            github_token: token.map(Secret::new),
            github_repo: repo.map(str::to_owned),
            github_branch: "main".into(),
            github_api_url: "https://api.github.com/".into(),
            github_path: "/messages/".into(),
        }
    }

    #[test]
    fn sync_is_on_only_with_token_and_repo() {
        assert!(GithubConfig::from_args(&args(None, None))
            .unwrap()
            .is_none());
        assert!(GithubConfig::from_args(&args(Some("t"), None))
            .unwrap()
            .is_none());
        assert!(GithubConfig::from_args(&args(None, Some("a/b")))
            .unwrap()
            .is_none());
        let on = GithubConfig::from_args(&args(Some("t"), Some("octo/chat")))
            .unwrap()
            .unwrap();
        assert_eq!(on.full_name(), "octo/chat");
        assert_eq!(on.api_url, "https://api.github.com");
        assert_eq!(on.path, "messages");
    }

    #[test]
    fn malformed_repositories_are_refused_even_without_a_token() {
        for bad in [
            "octo",
            "octo/",
            "/chat",
            "a/b/c",
            "octo/ch at",
            "../x",
            "a/..",
        ] {
            assert!(
                matches!(
                    GithubConfig::from_args(&args(None, Some(bad))),
                    Err(GithubSettingsError::Repo(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn branch_url_and_path_are_checked() {
        assert!(parse_branch("feature/chat").is_ok());
        for bad in ["", "a..b", "a b", "a:b", "/a"] {
            assert!(parse_branch(bad).is_err(), "{bad}");
        }
        assert!(parse_api_url("http://127.0.0.1:9000").is_ok());
        for bad in ["api.github.com", "ftp://x", "https://", "https://a b"] {
            assert!(parse_api_url(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_path("chat/log").unwrap(), "chat/log");
        for bad in ["", "/", "a/../b", "a//b", "a\\b"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let on = GithubConfig::from_args(&args(Some("ghp_s3cret"), Some("o/r")))
            .unwrap()
            .unwrap();
        assert!(!format!("{on:?}").contains("s3cret"));
    }
}
