//! `ApiError`: the one place that knows which status a failure gets and the `{"error": …}` shape.

use hyper::header::{HeaderValue, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::StatusCode;
use serde_json::json;

use super::Response;
use crate::db::DbError;

/// What a 401 asks for: a Bearer token (the page signs in with a cookie instead).
const BEARER: HeaderValue = HeaderValue::from_static("Bearer realm=\"bookchat\"");

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or none that prove anything: the answer says which to send.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Credentials were shown, but they do not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// The thing asked for existed once and was deleted.
    #[error("{0}")]
    Gone(String),
    /// Well-formed, but it contradicts something the server already holds.
    #[error("{0}")]
    Unprocessable(String),
    #[error("method not allowed; this path accepts {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("request body is larger than the {limit} byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("too many requests; try again in {retry_after} s")]
    TooManyRequests { limit: u32, retry_after: u64 },
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("{0}")]
    Busy(&'static str),
    /// One client holds as many of something as it may; others are still served.
    #[error("{0}")]
    TooManyOpen(&'static str),
    #[error("the database is unavailable: {0}")]
    Unavailable(#[from] DbError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::TooManyOpen(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::Unavailable(_) | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response a client sees. In production, internal detail (SQLite's words, paths)
    /// stays in the log and the client gets a generic sentence.
    pub fn into_response(self, production: bool) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Unavailable(err) => {
                log::error!("request failed: {err}");
                if production {
                    "the database is unavailable; try again shortly".to_owned()
                } else {
                    self.to_string()
                }
            }
            _ => self.to_string(),
        };
        let mut response = super::json(status, &json!({ "error": message }));
        let headers = response.headers_mut();
        match self {
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Unauthorized(_) => {
                headers.insert(WWW_AUTHENTICATE, BEARER);
            }
            ApiError::TooManyRequests { limit, retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
                super::headers::rate_limit(headers, limit, 0);
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn method_not_allowed_carries_allow() {
        let response = ApiError::MethodNotAllowed { allow: "GET, HEAD" }.into_response(false);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET, HEAD");
        assert!(body_json(response).await["error"]
            .as_str()
            .unwrap()
            .contains("GET"));
    }

    #[tokio::test]
    async fn too_many_requests_says_when_to_come_back() {
        let response = ApiError::TooManyRequests {
            limit: 10,
            retry_after: 6,
        }
        .into_response(false);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "6");
        assert_eq!(response.headers()["x-ratelimit-limit"], "10");
        assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
        assert!(body_json(response).await["error"]
            .as_str()
            .unwrap()
            .contains("6 s"));
    }

    #[tokio::test]
    async fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized("sign in").into_response(false);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"bookchat\""
        );
        let response = ApiError::Forbidden("no").into_response(false);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
    }

    #[tokio::test]
    async fn production_hides_internal_detail() {
        let detail = "disk I/O error at /secret/path";
        let err = || ApiError::Unavailable(DbError::Commit(detail.into()));
        let dev = body_json(err().into_response(false)).await;
        assert!(dev["error"].as_str().unwrap().contains(detail));
        let prod = err().into_response(true);
        assert_eq!(prod.status(), StatusCode::SERVICE_UNAVAILABLE);
        let prod = body_json(prod).await;
        assert!(!prod["error"].as_str().unwrap().contains("secret"));
    }
}
