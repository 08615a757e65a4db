//! Post-processing every response gets: security headers and CORS, with values as constants.

use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, VARY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::StatusCode;

use super::{empty, Response};
use crate::config::CorsPolicy;

/// Only our own origin may supply anything; no inline script or style, no framing, no plugins.
pub const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'",
);
pub const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
pub const DENY: HeaderValue = HeaderValue::from_static("DENY");
pub const REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
pub const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");
pub const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
pub const NO_FEATURES: HeaderValue =
    HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()");
pub const COOP: HeaderName = HeaderName::from_static("cross-origin-opener-policy");
pub const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");

pub const CORS_ANY: HeaderValue = HeaderValue::from_static("*");
pub const CORS_METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, POST, DELETE, OPTIONS");
pub const CORS_HEADERS: HeaderValue = HeaderValue::from_static(
    "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id",
);
pub const CORS_EXPOSE: HeaderValue = HeaderValue::from_static(
    "Location, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id",
);
pub const CORS_MAX_AGE: HeaderValue = HeaderValue::from_static("600");
pub const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// The quota headers every response on a rate-limited route carries.
pub fn rate_limit(headers: &mut HeaderMap, limit: u32, remaining: u32) {
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(remaining));
}

/// Adds the headers every response carries; HSTS only in production, where TLS is expected
/// in front of us (sending it over plain local HTTP would be ignored at best).
pub fn secure(headers: &mut HeaderMap, production: bool) {
    headers.insert(CONTENT_SECURITY_POLICY, CSP);
    headers.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    headers.insert(X_FRAME_OPTIONS, DENY);
    headers.insert(REFERRER_POLICY, REFERRER);
    headers.insert(PERMISSIONS_POLICY, NO_FEATURES);
    headers.insert(COOP, SAME_ORIGIN);
    if production {
        headers.insert(STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

/// Adds CORS headers for a request from `origin`. With a list, only a listed origin is
/// echoed; others get no CORS header at all and the browser blocks the read.
pub fn cors(headers: &mut HeaderMap, policy: &CorsPolicy, origin: Option<&HeaderValue>) {
    match policy {
        CorsPolicy::Any => {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, CORS_ANY);
        }
        CorsPolicy::Origins(allowed) => {
            // The answer depends on Origin, so caches must key on it even when we refuse.
            headers.append(VARY, VARY_ORIGIN);
            match origin {
                Some(origin) if allowed.contains(origin) => {
                    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                }
                _ => return,
            }
        }
    }
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, CORS_EXPOSE);
}

/// The answer to any `OPTIONS` request: a preflight `204` naming what may be sent.
pub fn preflight() -> Response {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS);
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, CORS_HEADERS);
    headers.insert(ACCESS_CONTROL_MAX_AGE, CORS_MAX_AGE);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_headers_are_always_set_and_hsts_only_in_production() {
        let mut dev = HeaderMap::new();
        secure(&mut dev, false);
        assert_eq!(dev[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(dev[X_FRAME_OPTIONS], "DENY");
        assert!(dev.contains_key(REFERRER_POLICY));
        assert!(!dev.contains_key(STRICT_TRANSPORT_SECURITY));
        let mut prod = HeaderMap::new();
        secure(&mut prod, true);
        assert!(prod[STRICT_TRANSPORT_SECURITY]
            .to_str()
            .unwrap()
            .contains("max-age="));
    }

    #[test]
    fn csp_is_self_only_without_unsafe_inline() {
        let csp = CSP;
        let csp = csp.to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    }

    #[test]
    fn cors_any_allows_every_origin() {
        let mut headers = HeaderMap::new();
        cors(&mut headers, &CorsPolicy::Any, None);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }

    #[test]
    fn cors_list_echoes_only_listed_origins() {
        let policy = CorsPolicy::Origins(vec![HeaderValue::from_static("https://ok.example")]);
        let mut ok = HeaderMap::new();
        cors(
            &mut ok,
            &policy,
            Some(&HeaderValue::from_static("https://ok.example")),
        );
        assert_eq!(ok[ACCESS_CONTROL_ALLOW_ORIGIN], "https://ok.example");
        assert_eq!(ok[VARY], "Origin");
        let mut other = HeaderMap::new();
        cors(
            &mut other,
            &policy,
            Some(&HeaderValue::from_static("https://evil.example")),
        );
        assert!(!other.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(other[VARY], "Origin");
    }
}
