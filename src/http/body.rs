//! Reading a request body: JSON only, and never more than `MAX_BODY` bytes held in memory.

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};

use super::{ApiError, Request};

/// The largest request body accepted: ample for a 2000-character message in any script.
pub const MAX_BODY: usize = 16 * 1024;

/// Checks the media type and reads the body, stopping as soon as it passes `MAX_BODY`
/// (a declared length over the cap is refused before a byte is read).
pub async fn read_json(req: Request) -> Result<Bytes, ApiError> {
    require_json(req.headers())?;
    if declared_length(req.headers()).is_some_and(|len| len > MAX_BODY as u64) {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
    }
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge { limit: MAX_BODY })
        }
        Err(err) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {err}"
        ))),
    }
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match media_type.as_deref() {
        Some("application/json") => Ok(()),
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn accepts_json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(require_json(&with_type(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert!(require_json(&HeaderMap::new()).is_err());
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "text/json",
        ] {
            assert!(matches!(
                require_json(&with_type(bad)),
                Err(ApiError::UnsupportedMediaType)
            ));
        }
    }
}
