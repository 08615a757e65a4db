//! `POST /api/session` signs in with the access code or the admin token and sets the
//! session cookie; `DELETE /api/session` signs out.

use std::time::Instant;

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::StatusCode;
use serde::Deserialize;

use crate::auth::{Role, Sessions, COOKIE, LIFETIME_SECS};
use crate::http::client_ip;
use crate::http::{body, empty, ApiError, OverTls, Request, Response};
use crate::message::parse_name;
use crate::ratelimit::Decision;
use crate::state::AppState;

#[derive(Deserialize)]
struct SignIn {
    code: String,
    #[serde(default)]
    name: Option<String>,
}

pub async fn sign_in(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (client, address) = (client_ip::key_of(&req), client_ip::addr_of(&req));
    let secure = secure_cookie(state, &req);
    let bytes = body::read_json(req).await?;
    let input: SignIn = serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::BadRequest(
            "body must be a JSON object with a string `code` and an optional string `name`".into(),
        )
    })?;
    let name = parse_name("name", input.name.as_deref())
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    // Every attempt takes a token first and a right code gives it back, so parallel
    // guesses cannot all slip past a check that none of them has paid for yet; a client
    // that is refused stays refused, right code or not, until its wait is over.
    let now = Instant::now();
    if let Decision::Limited { limit, retry_after } = state.sign_ins.check(client, now) {
        return Err(ApiError::TooManyRequests { limit, retry_after });
    }
    let Some(role) = state.sessions.credentials().check(&input.code) else {
        log::warn!("{address}: a sign-in with a wrong code");
        return Err(ApiError::Unauthorized(
            "that code is not right: ask the chat's operator for the access code",
        ));
    };
    state.sign_ins.refund(client, now);
    let session = Sessions::start(role, name, chrono::Utc::now().timestamp());
    let value = state
        .sessions
        .sign(&session)
        .ok_or(ApiError::Unauthorized("that code is not right"))?;
    let who = match role {
        Role::Member => "member",
        Role::Moderator => "moderator",
    };
    log::info!("{address} signed in as {who}");
    let attributes = format!("Max-Age={LIFETIME_SECS}");
    Ok(with_cookie(&value, &attributes, secure))
}

pub async fn sign_out(state: &AppState, req: Request) -> Result<Response, ApiError> {
    Ok(with_cookie("", "Max-Age=0", secure_cookie(state, &req)))
}

/// `Secure` in production (where a TLS proxy may sit in front) and on every request that
/// came over this server's own TLS; not on plain HTTP otherwise, where a browser would
/// drop the cookie (a server with ACME serves plain HTTP until its first certificate).
fn secure_cookie(state: &AppState, req: &Request) -> bool {
    state.config.is_production() || req.extensions().get::<OverTls>().is_some()
}

/// A `204` that sets the session cookie: never readable by scripts, never sent by
/// another site's request, and over HTTPS only when `secure`.
fn with_cookie(value: &str, lifetime: &str, secure: bool) -> Response {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path=/; {lifetime}; HttpOnly; SameSite=Strict{secure}");
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(cookie) = HeaderValue::try_from(cookie) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}
