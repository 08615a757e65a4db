//! The route table: one `match` on method and path segments.

use hyper::Method;

use super::handlers::{assets, events, health, messages, metrics, openapi, stats};
use super::{ApiError, Request, Response};
use crate::state::AppState;

pub async fn route(state: &AppState, req: Request) -> Result<Response, ApiError> {
    // HEAD is answered as GET; hyper sends the headers and drops the body.
    let method = match *req.method() {
        Method::HEAD => Method::GET,
        ref other => other.clone(),
    };
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        (Method::GET, []) => assets::index(state, req).await,
        (Method::GET, ["static", ..]) => assets::static_file(state, req).await,
        (Method::GET, ["api", "messages"]) => messages::list(state, req).await,
        (Method::POST, ["api", "messages"]) => messages::create(state, req).await,
        (Method::GET, ["api", "messages", _]) => messages::get(state, req).await,
        (Method::GET, ["api", "health"]) => health::check(state, req).await,
        (Method::GET, ["api", "events"]) => events::stream(state, req).await,
        (Method::GET, ["api", "stats"]) => stats::show(state, req).await,
        (Method::GET, ["metrics"]) => metrics::show(state, req).await,
        (Method::GET, ["api", "openapi.json"]) => openapi::show(state, req).await,
        (_, segments) => Err(match allowed_methods(segments) {
            Some(allow) => ApiError::MethodNotAllowed { allow },
            None => ApiError::NotFound(format!("no route for {}", truncate(&path))),
        }),
    }
}

/// What the `Allow` header says for a known path requested with the wrong method.
fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    match segments {
        ["api", "messages"] => Some("GET, HEAD, POST, OPTIONS"),
        []
        | ["static", ..]
        | ["api", "messages", _]
        | ["api", "health"]
        | ["api", "stats"]
        | ["api", "events"]
        | ["api", "openapi.json"]
        | ["metrics"] => Some("GET, HEAD, OPTIONS"),
        _ => None,
    }
}

pub(super) fn truncate(path: &str) -> String {
    let mut shown: String = path.chars().take(100).collect();
    if shown.len() < path.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods() {
        assert_eq!(
            allowed_methods(&["api", "messages"]),
            Some("GET, HEAD, POST, OPTIONS")
        );
        assert_eq!(
            allowed_methods(&["api", "messages", "1"]),
            Some("GET, HEAD, OPTIONS")
        );
        assert_eq!(allowed_methods(&[]), Some("GET, HEAD, OPTIONS"));
        assert_eq!(allowed_methods(&["api", "nope"]), None);
        assert_eq!(allowed_methods(&["api", "messages", "1", "x"]), None);
    }

    #[test]
    fn long_paths_are_shortened_in_errors() {
        let long = "/".repeat(300);
        assert_eq!(truncate(&long).chars().count(), 101);
        assert_eq!(truncate("/short"), "/short");
    }
}
