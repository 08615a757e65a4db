//! The embedded frontend: `/` and `/static/<file>`, from rust-embed, with ETag revalidation.
//! Lookups go only to the compiled-in map, so no path can reach the filesystem. `app.rs`
//! serves the service worker and the manifest from the same map with the same helpers.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use hyper::StatusCode;
use rust_embed::RustEmbed;

use crate::auth::{Credentials, Role};
use crate::http::access::{Access, Via};
use crate::http::{empty, full, ApiError, Request, Response};
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub(super) struct Assets;

/// Always revalidate: asset names carry no version, and a 304 costs next to nothing.
pub(super) const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
/// The page says who is looking at it, so no shared cache may keep it.
const PAGE_CACHE: HeaderValue = HeaderValue::from_static("private, no-cache");
/// The tag in `index.html` that the server fills with what the page must know of access.
const ACCESS_META: &str = r#"<meta name="bookchat-access" content="">"#;
/// The tag the server fills with its event streams' heartbeat interval, in seconds: the
/// page takes a stream silent for three of them for dead, and reconnects.
const HEARTBEAT_META: &str = r#"<meta name="bookchat-heartbeat" content="">"#;

/// The chat page, with its access tag filled in: `private` (members-only), `moderation`
/// (an admin token is set) and, for a signed-in visitor, `signed-in` and the role. The
/// page reads it to show the sign-in form, the delete controls and "Sign out" at once,
/// with no round trip (the cookie itself is out of scripts' reach).
/// The chat page, with its tags filled in: the access words (`private` when members-only,
/// `moderation` when an admin token is set, and for a signed-in visitor `signed-in` and the
/// role) and the heartbeat interval. The page reads them to show the sign-in form, the
/// delete controls and "Sign out" at once, with no round trip (the cookie itself is out of
/// scripts' reach), and to know when a silent stream is dead.
pub async fn index(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let words = access_words(&state.config.credentials, req.extensions().get::<Access>());
    let heartbeat = heartbeat_seconds(state.config.connections.heartbeat);
    let file = Assets::get("index.html").ok_or_else(not_found)?;
    let tag = page_tag(&file.metadata.sha256_hash(), &words, &heartbeat);
    let mut response = answer(req.headers(), tag, PAGE_CACHE, || {
        let page = fill_page(&String::from_utf8_lossy(&file.data), &words, &heartbeat);
        (Bytes::from(page), content_type("index.html"))
    });
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Cookie"));
    Ok(response)
}

/// The page's validator: the file's, plus what the server fills in, since that is part of
/// the page too (a restart with another heartbeat must not revalidate an old copy).
fn page_tag(hash: &[u8; 32], words: &str, heartbeat: &str) -> HeaderValue {
    let tag = entity_tag(hash);
    let file = tag.to_str().unwrap_or("\"\"").trim_end_matches('"');
    let mut filled: Vec<&str> = words.split(' ').filter(|w| !w.is_empty()).collect();
    let beat = format!("hb{heartbeat}");
    filled.push(&beat);
    HeaderValue::try_from(format!("{file}-{}\"", filled.join("."))).unwrap_or(tag)
}

/// The page with its server-filled tags: access words and the heartbeat interval.
fn fill_page(page: &str, words: &str, heartbeat: &str) -> String {
    page.replacen(
        ACCESS_META,
        &format!(r#"<meta name="bookchat-access" content="{words}">"#),
        1,
    )
    .replacen(
        HEARTBEAT_META,
        &format!(r#"<meta name="bookchat-heartbeat" content="{heartbeat}">"#),
        1,
    )
}

/// Whole seconds print bare ("15"); tests' shorter intervals keep their fraction ("0.5").
fn heartbeat_seconds(heartbeat: Duration) -> String {
    heartbeat.as_secs_f64().to_string()
}

fn access_words(credentials: &Credentials, access: Option<&Access>) -> String {
    let mut words = Vec::new();
    if credentials.members_only() {
        words.push("private");
    }
    if credentials.moderation() {
        words.push("moderation");
    }
    if let Some(Access {
        role: Some(role),
        via: Via::Cookie,
        ..
    }) = access
    {
        words.push("signed-in");
        words.push(match role {
            Role::Member => "member",
            Role::Moderator => "moderator",
        });
    }
    words.join(" ")
}

fn not_modified() -> Response {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response
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

pub(super) fn serve(request: &HeaderMap, path: &str) -> Result<Response, ApiError> {
    let file = Assets::get(path).ok_or_else(not_found)?;
    let etag = entity_tag(&file.metadata.sha256_hash());
    Ok(answer(request, etag, REVALIDATE, || {
        let bytes = match file.data {
            Cow::Borrowed(data) => Bytes::from_static(data),
            Cow::Owned(data) => Bytes::from(data),
        };
        (bytes, content_type(path))
    }))
}

/// The one shape of every embedded answer: `304` when the client's copy is current, else
/// the body `make` builds (only then) with its type; the validator and `cache` either way.
pub(super) fn answer(
    request: &HeaderMap,
    etag: HeaderValue,
    cache: HeaderValue,
    make: impl FnOnce() -> (Bytes, HeaderValue),
) -> Response {
    let mut response = if matches_etag(request, &etag) {
        not_modified()
    } else {
        let (body, kind) = make();
        let mut response = Response::new(full(body));
        response.headers_mut().insert(CONTENT_TYPE, kind);
        response
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, etag);
    headers.insert(CACHE_CONTROL, cache);
    response
}

pub(super) fn not_found() -> ApiError {
    ApiError::NotFound("no such file".into())
}

pub(super) fn content_type(path: &str) -> HeaderValue {
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
pub(super) fn entity_tag(hash: &[u8; 32]) -> HeaderValue {
    HeaderValue::try_from(format!("\"{}\"", hex(&hash[..16])))
        .unwrap_or(HeaderValue::from_static("\"\""))
}

/// Lower-case hex, as validators and versions are written.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
pub(super) fn matches_etag(request: &HeaderMap, etag: &HeaderValue) -> bool {
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
    fn the_page_has_one_access_tag_to_fill() {
        let page = Assets::get("index.html").unwrap();
        let page = String::from_utf8_lossy(&page.data).into_owned();
        assert_eq!(page.matches(ACCESS_META).count(), 1);
    }

    #[test]
    fn the_page_has_one_heartbeat_tag_filled_in_seconds() {
        let page = Assets::get("index.html").unwrap();
        let page = String::from_utf8_lossy(&page.data).into_owned();
        assert_eq!(page.matches(HEARTBEAT_META).count(), 1);
        assert_eq!(heartbeat_seconds(Duration::from_secs(15)), "15");
        assert_eq!(heartbeat_seconds(Duration::from_millis(500)), "0.5");
        let filled = fill_page(&page, "private", "15");
        assert!(filled.contains(r#"<meta name="bookchat-heartbeat" content="15">"#));
        assert!(filled.contains(r#"<meta name="bookchat-access" content="private">"#));
        assert!(!filled.contains(HEARTBEAT_META) && !filled.contains(ACCESS_META));
    }

    #[test]
    fn the_page_tag_changes_with_what_is_filled_in() {
        let hash = [7; 32];
        let plain = page_tag(&hash, "", "15");
        assert_eq!(plain, "\"07070707070707070707070707070707-hb15\"");
        assert_eq!(
            page_tag(&hash, "private signed-in member", "15"),
            "\"07070707070707070707070707070707-private.signed-in.member.hb15\""
        );
        assert_ne!(page_tag(&hash, "", "1"), plain);
    }

    #[test]
    fn access_words_name_the_mode_and_the_visitor() {
        use crate::secret::Secret;
        let both = Credentials::new(
            Some(Secret::new("moderator-token-0123")),
            Some(Secret::new("club")),
        );
        assert_eq!(access_words(&Credentials::default(), None), "");
        assert_eq!(access_words(&both, None), "private moderation");
        let moderator = Access {
            role: Some(Role::Moderator),
            via: Via::Cookie,
            name: None,
        };
        assert_eq!(
            access_words(&both, Some(&moderator)),
            "private moderation signed-in moderator"
        );
        let by_bearer = Access {
            via: Via::Bearer,
            ..moderator
        };
        assert_eq!(access_words(&both, Some(&by_bearer)), "private moderation");
    }

    #[test]
    fn every_embedded_file_is_reachable_by_its_route() {
        let names: Vec<_> = Assets::iter().collect();
        assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
        // The page, and the two files the app needs at the root, have routes of their own.
        let rooted = [
            "index.html",
            super::super::app::WORKER,
            super::super::app::MANIFEST,
        ];
        for name in names.iter().filter(|n| !rooted.contains(&n.as_ref())) {
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
