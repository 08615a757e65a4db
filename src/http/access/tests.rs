//! The access rules, request by request, without a server.

use hyper::header::HeaderValue;

use super::*;
use crate::secret::Secret;

const NOW: i64 = 1_780_000_000;
const TOKEN: &str = "moderator-token-0123";
const CODE: &str = "book club";

fn sessions(admin: bool, code: bool) -> Sessions {
    let credentials = Credentials::new(
        admin.then(|| Secret::new(TOKEN)),
        code.then(|| Secret::new(CODE)),
    );
    Sessions::new([9; 32], credentials)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn cookie(sessions: &Sessions, role: Role, name: Option<&str>) -> String {
    let session = Sessions::start(role, name.map(str::to_owned), NOW);
    format!(
        "{}={}",
        crate::auth::COOKIE,
        sessions.sign(&session).unwrap()
    )
}

fn status(result: Result<(), ApiError>) -> u16 {
    result.map_or_else(|err| err.status().as_u16(), |()| 200)
}

#[test]
fn bearer_wins_over_a_cookie_and_other_schemes_are_ignored() {
    let sessions = sessions(true, true);
    let member = cookie(&sessions, Role::Member, Some("Ann"));
    let who = |pairs: &[(&'static str, &str)]| identify(&sessions, &headers(pairs), NOW);
    assert_eq!(who(&[]), Access::default());
    let by_cookie = who(&[("cookie", &format!("theme=dark; {member}"))]);
    assert_eq!(by_cookie.role, Some(Role::Member));
    assert_eq!(by_cookie.via, Via::Cookie);
    assert_eq!(by_cookie.name.as_deref(), Some("Ann"));
    let token = format!("bearer {TOKEN}");
    let by_bearer = who(&[("authorization", &token), ("cookie", &member)]);
    assert_eq!(
        (by_bearer.role, by_bearer.via),
        (Some(Role::Moderator), Via::Bearer)
    );
    let wrong = who(&[("authorization", "Bearer nope"), ("cookie", &member)]);
    assert_eq!((wrong.role, wrong.via), (None, Via::Bearer));
    let basic = who(&[("authorization", "Basic YTpi"), ("cookie", &member)]);
    assert_eq!(basic.via, Via::Cookie, "a proxy's Basic auth is not ours");
    let forged = who(&[("cookie", "bookchat_session=1.a.99999999999..AAAA")]);
    assert_eq!(forged, Access::default());
}

#[test]
fn deleting_needs_the_moderator() {
    let on = sessions(true, false).credentials().clone();
    let off = sessions(false, true).credentials().clone();
    let delete = |credentials: &Credentials, role, via| {
        let access = Access {
            role,
            via,
            name: None,
        };
        status(admit(
            credentials,
            &Method::DELETE,
            Route::Message,
            &access,
            &HeaderMap::new(),
        ))
    };
    assert_eq!(delete(&on, None, Via::Nothing), 401);
    assert_eq!(delete(&on, None, Via::Bearer), 403, "a wrong token");
    assert_eq!(
        delete(&on, Some(Role::Member), Via::Bearer),
        403,
        "the access code"
    );
    assert_eq!(delete(&on, Some(Role::Member), Via::Cookie), 403);
    assert_eq!(delete(&on, Some(Role::Moderator), Via::Bearer), 200);
    assert_eq!(delete(&on, Some(Role::Moderator), Via::Cookie), 200);
    assert_eq!(
        delete(&off, Some(Role::Member), Via::Bearer),
        403,
        "no admin token set"
    );
    assert_eq!(delete(&off, None, Via::Nothing), 403);
}

#[test]
fn members_only_closes_everything_but_the_way_in() {
    let credentials = sessions(false, true).credentials().clone();
    let get = Method::GET;
    let nobody = Access::default();
    let member = Access {
        role: Some(Role::Member),
        via: Via::Bearer,
        name: None,
    };
    let none = HeaderMap::new();
    for route in Route::ALL {
        let open = matches!(
            route,
            Route::Page
                | Route::Static
                | Route::ServiceWorker
                | Route::Manifest
                | Route::Health
                | Route::Session
        );
        let expected = if open { 200 } else { 401 };
        assert_eq!(
            status(admit(&credentials, &get, route, &nobody, &none)),
            expected,
            "{route:?}"
        );
        assert_eq!(
            status(admit(&credentials, &get, route, &member, &none)),
            200,
            "{route:?}"
        );
    }
    let post = Method::POST;
    assert_eq!(
        status(admit(&credentials, &post, Route::Messages, &nobody, &none)),
        401
    );
    assert_eq!(
        status(admit(&credentials, &post, Route::Session, &nobody, &none)),
        200
    );
}

#[test]
fn the_figures_need_the_admin_token_once_one_is_set() {
    let both = sessions(true, true).credentials().clone();
    let open = Credentials::default();
    let as_ = |role, via| Access {
        role,
        via,
        name: None,
    };
    let none = HeaderMap::new();
    for route in [Route::Stats, Route::Metrics] {
        let check = |c: &Credentials, a: &Access| status(admit(c, &Method::GET, route, a, &none));
        assert_eq!(check(&open, &Access::default()), 200, "no token set: open");
        assert_eq!(check(&both, &Access::default()), 401);
        assert_eq!(check(&both, &as_(Some(Role::Member), Via::Bearer)), 403);
        assert_eq!(check(&both, &as_(Some(Role::Moderator), Via::Bearer)), 200);
        assert_eq!(check(&both, &as_(Some(Role::Moderator), Via::Cookie)), 200);
    }
}

#[test]
fn signed_in_changes_must_come_from_the_same_site() {
    let credentials = sessions(false, true).credentials().clone();
    let by_cookie = Access {
        role: Some(Role::Member),
        via: Via::Cookie,
        name: None,
    };
    let by_bearer = Access {
        via: Via::Bearer,
        ..by_cookie.clone()
    };
    let post = |access: &Access, pairs: &[(&'static str, &str)]| {
        status(admit(
            &credentials,
            &Method::POST,
            Route::Messages,
            access,
            &headers(pairs),
        ))
    };
    let host = ("host", "chat.example:5002");
    assert_eq!(
        post(&by_cookie, &[host, ("origin", "http://chat.example:5002")]),
        200
    );
    assert_eq!(
        post(&by_cookie, &[host, ("origin", "https://evil.example")]),
        403
    );
    assert_eq!(post(&by_cookie, &[host, ("origin", "null")]), 403);
    assert_eq!(
        post(&by_cookie, &[host, ("sec-fetch-site", "cross-site")]),
        403
    );
    assert_eq!(
        post(&by_cookie, &[host, ("sec-fetch-site", "same-origin")]),
        200
    );
    assert_eq!(post(&by_cookie, &[host]), 200, "curl sends neither");
    assert_eq!(
        post(&by_bearer, &[host, ("origin", "https://evil.example")]),
        200
    );
    let signin = |pairs: &[(&'static str, &str)]| {
        status(admit(
            &credentials,
            &Method::POST,
            Route::Session,
            &Access::default(),
            &headers(pairs),
        ))
    };
    assert_eq!(signin(&[host, ("origin", "https://evil.example")]), 403);
    assert_eq!(signin(&[host]), 200);
}

#[test]
fn same_site_means_same_host_and_port_whatever_the_scheme() {
    let cross =
        |origin: &str, host: &str| cross_site(&headers(&[("origin", origin), ("host", host)]));
    assert!(!cross("https://Chat.Example", "chat.example"));
    assert!(!cross("https://chat.example", "chat.example:443"));
    assert!(!cross("http://127.0.0.1:5002", "127.0.0.1:5002"));
    assert!(!cross("http://[::1]:5002", "[::1]:5002"));
    assert!(cross("http://127.0.0.1:5003", "127.0.0.1:5002"));
    assert!(cross("http://chat.example.evil", "chat.example"));
    assert!(cross("chat.example", "chat.example"), "not an origin");
    assert!(
        cross_site(&headers(&[("origin", "http://a.example")])),
        "no Host"
    );
}
