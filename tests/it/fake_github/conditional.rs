//! Conditional requests: an `ETag` on every 200 answer to a GET, and `304 Not Modified` for
//! a GET whose `If-None-Match` names the current one (which GitHub does not charge for).

use serde_json::Value;

use super::routes::Answer;

/// Tags a 200 answer to a GET; turns it into a bodiless 304 and returns true when the
/// client already holds this very body.
pub fn tag(answer: &mut Answer, method: &str, if_none_match: Option<&str>) -> bool {
    if method != "GET" || answer.status != 200 {
        return false;
    }
    let etag = format!("\"{}\"", sha1_smol::Sha1::from(answer.bytes()).digest());
    let fresh = if_none_match.is_some_and(|tags| names(tags, &etag));
    if fresh {
        answer.status = 304;
        answer.body = Value::Null;
        answer.raw = None;
    }
    answer.headers.push(("etag", etag));
    fresh
}

/// `If-None-Match` compares weakly: a `W/` prefix does not matter, and any tag of a list
/// (or `*`) may match.
fn names(tags: &str, etag: &str) -> bool {
    tags.split(',').map(str::trim).any(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*" || tag == etag
    })
}
