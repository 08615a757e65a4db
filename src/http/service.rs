//! The request pipeline around the router: who the client is, size and rate checks,
//! preflight, error mapping, CORS, security headers, and the access-log line.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hyper::header::ORIGIN;
use hyper::{Method, StatusCode};

use super::guard::{self, Quota};
use super::{client_ip, headers, router, ApiError, Request, Response};
use crate::state::AppState;

pub async fn handle(state: &AppState, req: Request, peer: SocketAddr) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // Shortened: a log line should not carry an 8 KiB target a client chose.
    let target = router::truncate(req.uri().path());
    let origin = req.headers().get(ORIGIN).cloned();
    let production = state.config.is_production();
    let client = client_ip::resolve(peer.ip(), req.headers(), &state.config.trusted_proxies);

    let mut quota = None;
    let result = match pre(state, &req, client) {
        Ok(_) if method == Method::OPTIONS => Ok(headers::preflight()),
        Ok(granted) => {
            quota = granted;
            router::route(state, req).await
        }
        Err(err) => Err(err),
    };
    let mut response = result.unwrap_or_else(|err| err.into_response(production));
    if let Some(Quota { limit, remaining }) = quota {
        headers::rate_limit(response.headers_mut(), limit, remaining);
    }
    headers::cors(response.headers_mut(), &state.config.cors, origin.as_ref());
    headers::secure(response.headers_mut(), production);
    access_log(
        &method,
        &target,
        response.status(),
        started.elapsed(),
        client,
    );
    response
}

/// Everything that can refuse a request before a handler sees it.
fn pre(state: &AppState, req: &Request, client: IpAddr) -> Result<Option<Quota>, ApiError> {
    guard::check_size(req.uri(), req.headers(), &state.config.connections)?;
    if req.method() == Method::OPTIONS {
        return Ok(None);
    }
    guard::check_rate(state, req.method(), req.uri().path(), client)
}

fn access_log(method: &Method, path: &str, status: StatusCode, took: Duration, client: IpAddr) {
    log::info!(
        target: "bookchat::access",
        "{} {} {} {:.1}ms {}",
        method,
        path,
        status.as_u16(),
        took.as_secs_f64() * 1000.0,
        client
    );
}
