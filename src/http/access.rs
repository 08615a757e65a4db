//! Who is asking, and whether they may: credentials from `Authorization: Bearer` or the
//! session cookie, the members-only rule, the moderator's routes and the same-origin rule.
//! Runs before the router; handlers read the outcome (`Access`) from the request.

use hyper::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use hyper::{HeaderMap, Method};

use super::ApiError;
use crate::auth::{Credentials, Role, Session, Sessions};
use crate::route::Route;

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// What a request proved about its sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The role it proved, if any.
    pub role: Option<Role>,
    pub via: Via,
    /// The display name its session carries.
    pub name: Option<String>,
}

/// How a request showed its credentials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Via {
    /// None at all (an expired or forged cookie counts as none).
    #[default]
    Nothing,
    /// A Bearer token, right or wrong.
    Bearer,
    /// A valid session cookie: the same-origin rule then applies.
    Cookie,
}

/// Reads the credentials of a request: a Bearer token wins over a cookie. Other
/// `Authorization` schemes (a proxy's Basic, say) are not ours and are ignored.
pub fn identify(sessions: &Sessions, headers: &HeaderMap, now: i64) -> Access {
    if let Some(token) = bearer(headers) {
        return Access {
            role: sessions.credentials().check(token),
            via: Via::Bearer,
            name: None,
        };
    }
    match session_cookie(sessions, headers, now) {
        Some(Session { role, name, .. }) => Access {
            role: Some(role),
            via: Via::Cookie,
            name,
        },
        None => Access::default(),
    }
}

/// Refuses what `access` does not allow on `route`: `401` asks for credentials, `403`
/// says the ones shown are not enough (or the request came from another site).
pub fn admit(
    credentials: &Credentials,
    method: &Method,
    route: Route,
    access: &Access,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let deletion = *method == Method::DELETE && route == Route::Message;
    let figures = read && matches!(route, Route::Stats | Route::Metrics);
    if deletion && !credentials.moderation() {
        return Err(ApiError::Forbidden(
            "moderation is off on this server: its operator sets BOOKCHAT_ADMIN_TOKEN to turn it on",
        ));
    }
    if deletion || (figures && credentials.moderation()) {
        match (access.role, access.via) {
            (Some(Role::Moderator), _) => {}
            (_, Via::Nothing) => {
                return Err(ApiError::Unauthorized(
                    "this needs the admin token: send Authorization: Bearer <token>, or sign in as moderator",
                ))
            }
            _ => {
                return Err(ApiError::Forbidden(
                    "only a moderator may do this: the admin token is needed",
                ))
            }
        }
    } else if credentials.members_only() && !is_open(route) && access.role.is_none() {
        return Err(ApiError::Unauthorized(
            "this chat is private: sign in with the access code (POST /api/session), or send \
             Authorization: Bearer <code>",
        ));
    }
    let changes = matches!(*method, Method::POST | Method::DELETE);
    if changes && (access.via == Via::Cookie || route == Route::Session) && cross_site(headers) {
        return Err(ApiError::Forbidden(
            "this request came from another site; signed-in changes must come from this chat's own page",
        ));
    }
    Ok(())
}

/// What a members-only chat shows to anyone: the page and what it needs to sign in, and
/// the installed app's service worker and manifest (which hold no messages), so that the
/// app installs and opens before anyone signs in.
fn is_open(route: Route) -> bool {
    matches!(
        route,
        Route::Page
            | Route::Static
            | Route::ServiceWorker
            | Route::Manifest
            | Route::Health
            | Route::Session
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The first valid session among the request's cookies of our name.
fn session_cookie(sessions: &Sessions, headers: &HeaderMap, now: i64) -> Option<Session> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == crate::auth::COOKIE)
        .find_map(|(_, value)| sessions.verify(value.trim_matches('"'), now))
}

/// True when `Origin` names another host and port than `Host` (the scheme may differ
/// behind a TLS proxy), or, with no `Origin`, when `Sec-Fetch-Site` says `cross-site`.
/// A request with neither (curl, a script) is not a browser's cross-site request.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(origin) = headers.get(ORIGIN) {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        let origin = origin.to_str().ok();
        return match (origin.and_then(origin_authority), host) {
            (Some(origin), Some(host)) => authority(origin) != authority(host),
            _ => true,
        };
    }
    headers
        .get(SEC_FETCH_SITE)
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

/// `example.org:8080` of `https://example.org:8080`; `None` for `null` and the like.
fn origin_authority(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    let valid = matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/');
    valid.then_some(rest)
}

/// Host and port, lower-cased, without a default port (`:80`, `:443`): an `Origin` of
/// `https://chat.example` and a `Host` of `chat.example` name the same site.
fn authority(text: &str) -> String {
    let text = text.trim().to_ascii_lowercase();
    for default in [":80", ":443"] {
        if let Some(bare) = text.strip_suffix(default) {
            return bare.to_owned();
        }
    }
    text
}

#[cfg(test)]
mod tests;
