//! The request pipeline around the router: who the client is, a request id, size, access
//! and rate checks, preflight, error mapping, CORS, security headers, metrics and the
//! access log.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hyper::header::{HeaderValue, ORIGIN};
use hyper::{Method, StatusCode};

use super::access;
use super::guard::{self, Quota};
use super::{client_ip, headers, router, ApiError, Request, Response};
use crate::request_id::X_REQUEST_ID;
use crate::route::Route;
use crate::state::AppState;

/// What the access log and the metrics need to know of a request after it is consumed.
struct Seen {
    method: Method,
    /// Shortened: a log line should not carry an 8 KiB target a client chose.
    path: String,
    route: Route,
    client: IpAddr,
    id: HeaderValue,
}

pub async fn handle(state: &AppState, mut req: Request, peer: SocketAddr) -> Response {
    let started = Instant::now();
    let seen = Seen {
        method: req.method().clone(),
        path: router::truncate(req.uri().path()),
        route: Route::of(req.uri().path()),
        client: client_ip::resolve(peer.ip(), req.headers(), &state.config.trusted_proxies),
        id: state.request_ids.for_request(req.headers()),
    };
    req.extensions_mut()
        .insert(client_ip::ClientAddr(seen.client));
    let origin = req.headers().get(ORIGIN).cloned();
    let production = state.config.is_production();

    let who = access::identify(
        &state.sessions,
        req.headers(),
        chrono::Utc::now().timestamp(),
    );
    let mut quota = None;
    let checked = pre(state, &req, seen.route, seen.client, &who);
    req.extensions_mut().insert(who);
    let result = match checked {
        Ok(_) if seen.method == Method::OPTIONS => Ok(headers::preflight()),
        Ok(granted) => {
            quota = granted;
            router::route(state, req, seen.route).await
        }
        Err(err) => Err(err),
    };
    let mut response = result.unwrap_or_else(|err| err.into_response(production));
    let out = response.headers_mut();
    if let Some(Quota { limit, remaining }) = quota {
        headers::rate_limit(out, limit, remaining);
    }
    headers::cors(out, &state.config.cors, origin.as_ref());
    headers::secure(out, production);
    out.insert(X_REQUEST_ID, seen.id.clone());
    let took = started.elapsed();
    state
        .metrics
        .record(seen.route, response.status().as_u16(), took);
    access_log(&seen, response.status(), took);
    response
}

/// Everything that can refuse a request before a handler sees it. Access comes before
/// the rate: a refused stranger spends none of the buckets.
fn pre(
    state: &AppState,
    req: &Request,
    route: Route,
    client: IpAddr,
    who: &access::Access,
) -> Result<Option<Quota>, ApiError> {
    guard::check_size(req.uri(), req.headers(), &state.config.connections)?;
    if req.method() == Method::OPTIONS {
        return Ok(None);
    }
    access::admit(
        &state.config.credentials,
        req.method(),
        route,
        who,
        req.headers(),
    )?;
    guard::check_rate(state, req, route, client)
}

/// One line per request. The fields also travel as structured key-values, which the JSON
/// log format writes as their own keys.
fn access_log(seen: &Seen, status: StatusCode, took: Duration) {
    let duration_ms = (took.as_secs_f64() * 1e4).round() / 10.0;
    let client = seen.client.to_string();
    let id = seen.id.to_str().unwrap_or("");
    log::info!(
        target: "bookchat::access",
        method = seen.method.as_str(),
        path = seen.path.as_str(),
        status = status.as_u16(),
        duration_ms = duration_ms,
        client = client.as_str(),
        request_id = id;
        "{} {} {} {duration_ms:.1}ms {client} {id}",
        seen.method,
        seen.path,
        status.as_u16(),
    );
}
