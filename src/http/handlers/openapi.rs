//! `GET /api/openapi.json`: the OpenAPI 3.1 description of this API, compiled in.

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::StatusCode;

use crate::http::{full, ApiError, Request, Response, JSON};

const DOCUMENT: &str = include_str!("openapi.json");

pub async fn show(_state: &crate::state::AppState, _req: Request) -> Result<Response, ApiError> {
    let mut response = Response::new(full(DOCUMENT));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response.headers_mut().insert(
        CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The description names every route the router serves, and parses.
    #[test]
    fn describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        for path in [
            "/api/messages",
            "/api/messages/{id}",
            "/api/events",
            "/api/health",
            "/api/stats",
            "/metrics",
            "/api/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is not described");
        }
        let message = &doc["components"]["schemas"]["Message"]["required"];
        assert_eq!(message.as_array().unwrap().len(), 6);
    }
}
