//! The request pipeline around the router: preflight, error mapping, CORS, security headers,
//! and the access-log line.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::header::ORIGIN;
use hyper::{Method, StatusCode};

use super::{headers, router, Request, Response};
use crate::state::AppState;

pub async fn handle(state: &AppState, req: Request, peer: SocketAddr) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let target = req.uri().path().to_owned();
    let origin = req.headers().get(ORIGIN).cloned();
    let production = state.config.is_production();

    let mut response = if method == Method::OPTIONS {
        headers::preflight()
    } else {
        router::route(state, req)
            .await
            .unwrap_or_else(|err| err.into_response(production))
    };
    headers::cors(response.headers_mut(), &state.config.cors, origin.as_ref());
    headers::secure(response.headers_mut(), production);
    access_log(&method, &target, response.status(), started.elapsed(), peer);
    response
}

fn access_log(method: &Method, path: &str, status: StatusCode, took: Duration, peer: SocketAddr) {
    log::info!(
        target: "bookchat::access",
        "{} {} {} {:.1}ms {}",
        method,
        path,
        status.as_u16(),
        took.as_secs_f64() * 1000.0,
        peer.ip()
    );
}
