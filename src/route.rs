//! The resources the server knows, named from a path: what the router dispatches on, what
//! per-route metrics count, what `Allow` lists and what the OpenAPI description must cover.
//! Outside `http` because `metrics` counts by it and `http` reads `metrics`.

/// A resource, whatever the method (a 405 still counts for its path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Page,
    Static,
    /// The page's service worker, at the root so that its scope is the whole app.
    ServiceWorker,
    /// The web app manifest that makes the page installable.
    Manifest,
    Messages,
    Message,
    Session,
    Events,
    Health,
    Stats,
    Metrics,
    OpenApi,
    Other,
}

impl Route {
    pub const ALL: [Route; 13] = [
        Route::Page,
        Route::Static,
        Route::ServiceWorker,
        Route::Manifest,
        Route::Messages,
        Route::Message,
        Route::Session,
        Route::Events,
        Route::Health,
        Route::Stats,
        Route::Metrics,
        Route::OpenApi,
        Route::Other,
    ];

    /// Looks at no more than four segments and allocates nothing: it runs on every request.
    pub fn of(path: &str) -> Route {
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let parts = [0; 4].map(|_| segments.next());
        match parts {
            [None, ..] => Route::Page,
            [Some("static"), Some(_), ..] => Route::Static,
            [Some("sw.js"), None, ..] => Route::ServiceWorker,
            [Some("manifest.webmanifest"), None, ..] => Route::Manifest,
            [Some("metrics"), None, ..] => Route::Metrics,
            [Some("api"), Some("messages"), None, _] => Route::Messages,
            [Some("api"), Some("messages"), Some(_), None] => Route::Message,
            [Some("api"), Some("session"), None, _] => Route::Session,
            [Some("api"), Some("events"), None, _] => Route::Events,
            [Some("api"), Some("health"), None, _] => Route::Health,
            [Some("api"), Some("stats"), None, _] => Route::Stats,
            [Some("api"), Some("openapi.json"), None, _] => Route::OpenApi,
            _ => Route::Other,
        }
    }

    /// The path as the OpenAPI description writes it; also the metrics label, which
    /// dashboards rely on, so these stay stable.
    pub fn path(self) -> &'static str {
        match self {
            Route::Page => "/",
            Route::Static => "/static/{file}",
            Route::ServiceWorker => "/sw.js",
            Route::Manifest => "/manifest.webmanifest",
            Route::Messages => "/api/messages",
            Route::Message => "/api/messages/{id}",
            Route::Session => "/api/session",
            Route::Events => "/api/events",
            Route::Health => "/api/health",
            Route::Stats => "/api/stats",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/api/openapi.json",
            Route::Other => "other",
        }
    }

    /// What `Allow` says on a 405. HEAD is answered as GET, and OPTIONS (the CORS
    /// preflight) is answered on every path.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Messages => "GET, HEAD, POST, OPTIONS",
            Route::Message => "GET, HEAD, DELETE, OPTIONS",
            Route::Session => "POST, DELETE, OPTIONS",
            Route::Other => "OPTIONS",
            _ => "GET, HEAD, OPTIONS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_route() {
        assert_eq!(Route::of("/"), Route::Page);
        assert_eq!(Route::of(""), Route::Page);
        assert_eq!(Route::of("/static/app.js"), Route::Static);
        assert_eq!(Route::of("/static/a/b.js"), Route::Static);
        assert_eq!(Route::of("/static"), Route::Other);
        assert_eq!(Route::of("/sw.js"), Route::ServiceWorker);
        assert_eq!(Route::of("/manifest.webmanifest"), Route::Manifest);
        assert_eq!(Route::of("/static/sw.js"), Route::Static);
        assert_eq!(Route::of("/sw.js/x"), Route::Other);
        assert_eq!(Route::of("/manifest.json"), Route::Other);
        assert_eq!(Route::of("/api/messages"), Route::Messages);
        assert_eq!(Route::of("//api//messages/"), Route::Messages);
        assert_eq!(Route::of("/api/messages/12"), Route::Message);
        assert_eq!(Route::of("/api/messages/12/x"), Route::Other);
        assert_eq!(Route::of("/api/session"), Route::Session);
        assert_eq!(Route::of("/api/events"), Route::Events);
        assert_eq!(Route::of("/api/health"), Route::Health);
        assert_eq!(Route::of("/api/stats"), Route::Stats);
        assert_eq!(Route::of("/api/openapi.json"), Route::OpenApi);
        assert_eq!(Route::of("/metrics"), Route::Metrics);
        assert_eq!(Route::of("/metrics/x"), Route::Other);
        assert_eq!(Route::of("/api/nope"), Route::Other);
        assert_eq!(Route::of("/api"), Route::Other);
    }

    #[test]
    fn every_route_is_listed_once_and_its_path_leads_back_to_it() {
        for (i, route) in Route::ALL.iter().enumerate() {
            assert!(
                !Route::ALL[..i].contains(route),
                "{route:?} is listed twice"
            );
            if *route != Route::Other {
                let example = route
                    .path()
                    .replace("{file}", "app.js")
                    .replace("{id}", "1");
                assert_eq!(Route::of(&example), *route);
            }
        }
    }

    #[test]
    fn allow_lists_what_each_route_answers() {
        assert_eq!(Route::Messages.allow(), "GET, HEAD, POST, OPTIONS");
        assert_eq!(Route::Message.allow(), "GET, HEAD, DELETE, OPTIONS");
        assert_eq!(Route::Session.allow(), "POST, DELETE, OPTIONS");
        assert_eq!(Route::Health.allow(), "GET, HEAD, OPTIONS");
        assert_eq!(Route::Other.allow(), "OPTIONS");
    }
}
