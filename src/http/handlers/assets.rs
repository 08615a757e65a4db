//! The embedded frontend: `/` and `/static/<file>`, from rust-embed, with ETag revalidation.
//! Lookups go only to the compiled-in map, so no path can reach the filesystem.

use std::borrow::Cow;
use std::fmt::Write as _;

use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use hyper::StatusCode;
use rust_embed::RustEmbed;

use crate::http::{empty, full, ApiError, Request, Response};
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// Always revalidate: asset names carry no version, and a 304 costs next to nothing.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

pub async fn index(_state: &AppState, req: Request) -> Result<Response, ApiError> {
    serve(req.headers(), "index.html")
}

pub async fn static_file(_state: &AppState, req: Request) -> Result<Response, ApiError> {
    let name = req.uri().path().strip_prefix("/static/").unwrap_or("");
    if !is_plain_name(name) {
        return Err(not_found());
    }
    serve(req.headers(), &format!("static/{name}"))
}

/// Names are letters, digits, `-`, `_` and inner dots, in `/`-separated parts: nothing that
/// decodes, climbs or hides (`%`, `..`, `\`, dot-files).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.contains("..")
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

fn serve(request: &HeaderMap, path: &str) -> Result<Response, ApiError> {
    let file = Assets::get(path).ok_or_else(not_found)?;
    let etag = entity_tag(&file.metadata.sha256_hash());
    let mut response = if matches_etag(request, &etag) {
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let bytes = match file.data {
            Cow::Borrowed(data) => Bytes::from_static(data),
            Cow::Owned(data) => Bytes::from(data),
        };
        let mut response = Response::new(full(bytes));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type(path));
        response
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, etag);
    headers.insert(CACHE_CONTROL, REVALIDATE);
    Ok(response)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such file".into())
}

fn content_type(path: &str) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "svg");
    let value = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// A strong validator from the file's SHA-256, which rust-embed computes at build time.
fn entity_tag(hash: &[u8; 32]) -> HeaderValue {
    let hex = hash[..16]
        .iter()
        .fold(String::with_capacity(32), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
    HeaderValue::try_from(format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
fn matches_etag(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(ours) = etag.to_str() else {
        return false;
    };
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for ok in ["app.js", "app.css", "img/logo.svg", "a-b_c.min.js"] {
            assert!(is_plain_name(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../index.html",
            "a/../b",
            ".env",
            "a/.git/config",
            "%2e%2e/x",
            "a\\b",
            "a//b",
            "/etc/passwd",
            "a/",
            "app.js%00",
            "..%2fCargo.toml",
        ] {
            assert!(!is_plain_name(bad), "{bad}");
        }
    }

    #[test]
    fn types_carry_a_charset_for_text() {
        assert_eq!(
            content_type("static/app.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("static/app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("static/x.png"), "image/png");
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = HeaderValue::from_static("\"abc\"");
        let mut headers = HeaderMap::new();
        assert!(!matches_etag(&headers, &etag));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(matches_etag(&headers, &etag));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!matches_etag(&headers, &etag));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_etag(&headers, &etag));
    }

    #[test]
    fn every_embedded_file_is_reachable_by_its_route() {
        let names: Vec<_> = Assets::iter().collect();
        assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
        for name in names.iter().filter(|n| n.as_ref() != "index.html") {
            let rest = name
                .strip_prefix("static/")
                .unwrap_or_else(|| panic!("{name} is unreachable"));
            assert!(is_plain_name(rest), "{name} has a name the route refuses");
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// No accepted static name can climb, decode, or name a hidden file.
        #[test]
        fn accepted_names_cannot_escape(name in "[a-zA-Z0-9./%\\\\_-]{0,24}|.{0,24}") {
            if is_plain_name(&name) {
                proptest::prop_assert!(!name.contains("..") && !name.contains('%'));
                proptest::prop_assert!(!name.contains('\\') && !name.starts_with('/'));
                proptest::prop_assert!(name.split('/').all(|p| !p.is_empty() && !p.starts_with('.')));
            }
        }
    }
}
