//! The installable app: `GET /manifest.webmanifest` and the service worker `GET /sw.js`,
//! from the embedded files, at the root because a worker's scope is at most its own folder.
//! The worker is filled in as it is served with this build's files and a version drawn
//! from all of them, so any change to the page installs a new worker with a fresh cache,
//! and nobody has to remember to bump a cache name.

use std::sync::OnceLock;

use hyper::body::Bytes;
use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};

use super::assets::{answer, content_type, entity_tag, hex, not_found, serve, Assets, REVALIDATE};
use crate::http::{ApiError, Request, Response};
use crate::state::AppState;

/// The embedded names of the worker and the manifest (their URLs are these under `/`).
pub const WORKER: &str = "sw.js";
pub const MANIFEST: &str = "manifest.webmanifest";
/// The line of `sw.js` that is replaced by what this build holds.
const BUILD_LINE: &str = r#"const BUILD = { version: "unbuilt", shell: [] };"#;

/// The web app manifest, as it is embedded (`application/manifest+json`).
pub async fn manifest(_state: &AppState, req: Request) -> Result<Response, ApiError> {
    serve(req.headers(), MANIFEST)
}

/// The service worker, filled in. Browsers check a worker for updates on navigation, and
/// `no-cache` makes that check a cheap revalidation rather than a stale copy.
pub async fn service_worker(_state: &AppState, req: Request) -> Result<Response, ApiError> {
    let worker = filled_worker().ok_or_else(not_found)?;
    let etag = worker.etag.clone();
    Ok(answer(req.headers(), etag, REVALIDATE, || {
        (worker.text.clone(), content_type(WORKER))
    }))
}

struct Worker {
    text: Bytes,
    etag: HeaderValue,
}

/// Built once: the embedded files cannot change while the binary runs.
fn filled_worker() -> Option<&'static Worker> {
    static WORKER_TEXT: OnceLock<Option<Worker>> = OnceLock::new();
    WORKER_TEXT.get_or_init(build_worker).as_ref()
}

fn build_worker() -> Option<Worker> {
    let source = Assets::get(WORKER)?;
    let text = fill(&String::from_utf8_lossy(&source.data));
    let etag = entity_tag(&Sha256::digest(text.as_bytes()).into());
    Some(Worker {
        text: Bytes::from(text),
        etag,
    })
}

/// The worker's source with its build line naming this build's version and shell.
fn fill(source: &str) -> String {
    let build = serde_json::json!({ "version": version(), "shell": shell() });
    source.replacen(BUILD_LINE, &format!("const BUILD = {build};"), 1)
}

/// What an installed app needs to open with no network: the page, the manifest, and every
/// file under `/static/` (the modules the page imports, its styles and icons).
fn shell() -> Vec<String> {
    let mut urls = vec!["/".to_owned(), format!("/{MANIFEST}")];
    let mut files: Vec<String> = Assets::iter()
        .filter_map(|name| {
            name.strip_prefix("static/")
                .map(|rest| format!("/static/{rest}"))
        })
        .collect();
    files.sort();
    urls.extend(files);
    urls
}

/// A short digest of every embedded file's name and content: it changes with any of them.
fn version() -> String {
    let mut names: Vec<_> = Assets::iter().collect();
    names.sort();
    let mut hasher = Sha256::new();
    for name in names {
        if let Some(file) = Assets::get(&name) {
            hasher.update(name.as_bytes());
            hasher.update(file.metadata.sha256_hash());
        }
    }
    hex(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_has_one_build_line_to_fill() {
        let source = Assets::get(WORKER).expect("sw.js is embedded");
        let source = String::from_utf8_lossy(&source.data).into_owned();
        assert_eq!(source.matches(BUILD_LINE).count(), 1);
        let filled = fill(&source);
        assert!(!filled.contains("unbuilt"), "the build line was not filled");
        let version = version();
        assert_eq!(version.len(), 16);
        assert!(filled.contains(&format!(r#""version":"{version}""#)));
    }

    #[test]
    fn the_shell_is_the_page_the_manifest_and_every_static_file() {
        let shell = shell();
        assert_eq!(shell[..2], ["/", "/manifest.webmanifest"]);
        for needed in ["/static/app.js", "/static/app.css", "/static/favicon.svg"] {
            assert!(shell.iter().any(|url| url == needed), "{needed}: {shell:?}");
        }
        assert!(shell.iter().all(|url| !url.starts_with("/api/")));
        let statics = Assets::iter().filter(|n| n.starts_with("static/")).count();
        assert_eq!(shell.len(), statics + 2);
    }

    #[test]
    fn the_worker_and_manifest_have_their_types() {
        assert_eq!(content_type(WORKER), "text/javascript; charset=utf-8");
        assert_eq!(content_type(MANIFEST), "application/manifest+json");
        let manifest = Assets::get(MANIFEST).expect("the manifest is embedded");
        let manifest: serde_json::Value = serde_json::from_slice(&manifest.data).unwrap();
        assert_eq!(manifest["start_url"], "/");
    }
}
