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
    use crate::route::Route;

    /// Every route the router knows is described with exactly the methods it answers, and
    /// the description has no path the router does not know.
    #[test]
    fn describes_every_route_and_method() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let paths = doc["paths"].as_object().unwrap();
        let known: Vec<Route> = Route::ALL
            .into_iter()
            .filter(|r| *r != Route::Other)
            .collect();
        assert_eq!(paths.len(), known.len(), "{:?}", paths.keys());
        for route in known {
            let item = paths
                .get(route.path())
                .unwrap_or_else(|| panic!("{} is not described", route.path()))
                .as_object()
                .unwrap();
            let mut documented: Vec<String> = item.keys().map(|m| m.to_uppercase()).collect();
            documented.sort();
            // HEAD is answered as GET and described once, in the document's introduction.
            let mut answered: Vec<String> = route
                .allow()
                .split(", ")
                .filter(|m| *m != "HEAD")
                .map(str::to_owned)
                .collect();
            answered.sort();
            assert_eq!(documented, answered, "methods of {}", route.path());
        }
    }

    /// Every `$ref` points at something that exists.
    #[test]
    fn references_resolve() {
        fn walk(doc: &serde_json::Value, node: &serde_json::Value, seen: &mut usize) {
            match node {
                serde_json::Value::Object(map) => {
                    if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                        let pointer = target.strip_prefix('#').expect("a local reference");
                        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
                        *seen += 1;
                    }
                    map.values().for_each(|v| walk(doc, v, seen));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(doc, v, seen)),
                _ => {}
            }
        }
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 50, "only {seen} references");
    }
}
