//! Checks that run before the router: request size limits and per-client rate limits.

use std::net::IpAddr;
use std::time::Instant;

use hyper::{HeaderMap, Method, Uri};

use super::client_ip::limit_key;
use super::{ApiError, Request};
use crate::config::ConnectionLimits;
use crate::ratelimit::{Decision, Limiter};
use crate::route::Route;
use crate::state::AppState;

/// A quota to report on a rate-limited route's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
}

/// Refuses targets and header sets over our limits with a JSON 414/431 (hyper's own,
/// bare 431 only answers what is too large for it to parse at all).
pub fn check_size(
    uri: &Uri,
    headers: &HeaderMap,
    limits: &ConnectionLimits,
) -> Result<(), ApiError> {
    let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > limits.max_url_bytes {
        return Err(ApiError::UriTooLong {
            limit: limits.max_url_bytes,
        });
    }
    if headers.len() > limits.max_headers {
        return Err(ApiError::HeadersTooLarge(format!(
            "too many header fields: {} (the limit is {})",
            headers.len(),
            limits.max_headers
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > limits.max_header_bytes {
        return Err(ApiError::HeadersTooLarge(format!(
            "request headers are {bytes} bytes; the limit is {}",
            limits.max_header_bytes
        )));
    }
    Ok(())
}

/// Takes a token from the bucket the route uses: POSTs from the write bucket, reads of
/// the API from the read bucket. The page, its assets (the service worker and manifest
/// too), the health check and metrics are not limited, so a limited client can still load
/// the page and monitoring always gets through. The route decides, not the raw path:
/// `/api/messages/` is the same bucket.
pub fn check_rate(
    state: &AppState,
    req: &Request,
    route: Route,
    client: IpAddr,
) -> Result<Option<Quota>, ApiError> {
    let Some(limiter) = limiter_for(state, req, route) else {
        return Ok(None);
    };
    match limiter.check(limit_key(client), Instant::now()) {
        Decision::Allowed { limit, remaining } => Ok(Some(Quota { limit, remaining })),
        Decision::Limited { limit, retry_after } => {
            Err(ApiError::TooManyRequests { limit, retry_after })
        }
    }
}

fn limiter_for<'a>(state: &'a AppState, req: &Request, route: Route) -> Option<&'a Limiter> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let api = match route {
        Route::Messages | Route::Message | Route::Events | Route::Stats | Route::OpenApi => true,
        Route::Page
        | Route::Static
        | Route::ServiceWorker
        | Route::Manifest
        | Route::Health
        | Route::Metrics
        | Route::Session => false,
        // An unknown path under /api/ is still a read of the API.
        Route::Other => req.uri().path().split('/').find(|s| !s.is_empty()) == Some("api"),
    };
    match route {
        Route::Messages if req.method() == Method::POST => state.write_limiter.as_ref(),
        _ if read && api => state.read_limiter.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max_headers: 3,
            max_header_bytes: 64,
            max_url_bytes: 20,
            ..ConnectionLimits::default()
        }
    }

    #[test]
    fn long_targets_are_414_and_big_header_sets_431() {
        let short: Uri = "/api/messages?x=1".parse().unwrap();
        let long: Uri = "/api/messages?after=12345678".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert!(check_size(&short, &headers, &limits()).is_ok());
        assert!(matches!(
            check_size(&long, &headers, &limits()),
            Err(ApiError::UriTooLong { limit: 20 })
        ));
        for name in ["a", "b", "c", "d"] {
            headers.insert(name, HeaderValue::from_static("1"));
        }
        assert!(matches!(
            check_size(&short, &headers, &limits()),
            Err(ApiError::HeadersTooLarge(_))
        ));
        let mut big = HeaderMap::new();
        big.insert("a", HeaderValue::from_str(&"x".repeat(70)).unwrap());
        assert!(matches!(
            check_size(&short, &big, &limits()),
            Err(ApiError::HeadersTooLarge(_))
        ));
    }
}
