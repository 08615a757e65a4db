//! The route table: one `match` on the method and the route a path names.

use hyper::Method;

use super::handlers::{app, assets, events, health, messages, metrics, openapi, session, stats};
use super::{ApiError, Request, Response};
use crate::route::Route;
use crate::state::AppState;

pub async fn route(state: &AppState, req: Request, route: Route) -> Result<Response, ApiError> {
    // HEAD is answered as GET; hyper sends the headers and drops the body.
    let method = match *req.method() {
        Method::HEAD => Method::GET,
        ref other => other.clone(),
    };
    match (method, route) {
        (Method::GET, Route::Page) => assets::index(state, req).await,
        (Method::GET, Route::Static) => assets::static_file(state, req).await,
        (Method::GET, Route::ServiceWorker) => app::service_worker(state, req).await,
        (Method::GET, Route::Manifest) => app::manifest(state, req).await,
        (Method::GET, Route::Messages) => messages::list(state, req).await,
        (Method::POST, Route::Messages) => messages::create(state, req).await,
        (Method::GET, Route::Message) => messages::get(state, req).await,
        (Method::DELETE, Route::Message) => messages::delete(state, req).await,
        (Method::POST, Route::Session) => session::sign_in(state, req).await,
        (Method::DELETE, Route::Session) => session::sign_out(state, req).await,
        (Method::GET, Route::Health) => health::check(state, req).await,
        (Method::GET, Route::Events) => events::stream(state, req).await,
        (Method::GET, Route::Stats) => stats::show(state, req).await,
        (Method::GET, Route::Metrics) => metrics::show(state, req).await,
        (Method::GET, Route::OpenApi) => openapi::show(state, req).await,
        (_, Route::Other) => Err(ApiError::NotFound(format!(
            "no route for {}",
            truncate(req.uri().path())
        ))),
        (_, known) => Err(ApiError::MethodNotAllowed {
            allow: known.allow(),
        }),
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
    fn long_paths_are_shortened_in_errors() {
        let long = "/".repeat(300);
        assert_eq!(truncate(&long).chars().count(), 101);
        assert_eq!(truncate("/short"), "/short");
    }
}
