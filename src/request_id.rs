//! `X-Request-Id`: kept from the request when it is sane, made up otherwise, and echoed on
//! the response and in the access log so one request can be followed through a proxy chain.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 64;

pub struct RequestIds {
    /// Random per process, so ids from two runs (or two instances) do not collide.
    prefix: u32,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> RequestIds {
        RequestIds {
            prefix: fastrand::u32(..),
            next: AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    /// The request's own id if a proxy or client sent a sane one, else a new one.
    pub fn for_request(&self, headers: &HeaderMap) -> HeaderValue {
        headers
            .get(X_REQUEST_ID)
            .filter(|value| is_sane(value))
            .cloned()
            .unwrap_or_else(|| self.fresh())
    }

    fn fresh(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::try_from(format!("{:08x}{n:08x}", self.prefix))
            .unwrap_or(HeaderValue::from_static("0"))
    }
}

/// Short, and only characters that cannot forge a log line or a header.
fn is_sane(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_and_replaces_others() {
        let ids = RequestIds::default();
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(ids.for_request(&headers), "abc-123_x.y:z");
        for bad in ["", "has space", "quote\"", &"x".repeat(65)] {
            headers.insert(X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = ids.for_request(&headers);
            assert_ne!(id.as_bytes(), bad.as_bytes(), "{bad:?}");
            assert_eq!(id.len(), 16);
        }
    }

    #[test]
    fn fresh_ids_are_unique() {
        let ids = RequestIds::default();
        let a = ids.for_request(&HeaderMap::new());
        let b = ids.for_request(&HeaderMap::new());
        assert_ne!(a, b);
    }
}
