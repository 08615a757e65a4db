//! The plain-HTTP port beside an HTTPS server: every request gets a `308` to the same path
//! and query on `https://`, so old links and typed addresses land on the encrypted page.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, CONNECTION, HOST, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{empty, Request, Response};

/// Connections the redirect port serves at once; more wait in the kernel's backlog. Each
/// is one short answer, so this bounds memory, not throughput.
const MAX_CONNECTIONS: usize = 256;
/// A client must send its request head within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where redirects point.
#[derive(Debug, Clone)]
pub struct Target {
    /// The HTTPS port; left out of the address when it is 443.
    pub https_port: u16,
    /// The one name the certificate is for (ACME), used whatever `Host` says; without
    /// it the request's own host is kept.
    pub domain: Option<String>,
}

/// Serves redirects until the task is aborted.
pub fn spawn(listener: TcpListener, target: Target) -> tokio::task::JoinHandle<()> {
    let target = Arc::new(target);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    log::warn!("redirect port: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let target = Arc::clone(&target);
            let service = service_fn(move |req: Request| {
                let response = redirect(&target, req.headers(), req.uri());
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(async move {
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(err) = served {
                    log::debug!("redirect connection from {peer} ended: {err}");
                }
                drop(slot);
            });
        }
    })
}

/// `308` keeps the method and body, so a form or API POST is repeated on HTTPS rather
/// than turned into a GET.
fn redirect(target: &Target, headers: &HeaderMap, uri: &Uri) -> Response {
    let host = target
        .domain
        .clone()
        .or_else(|| request_host(headers).map(str::to_string));
    let Some(host) = host else {
        return status(StatusCode::BAD_REQUEST);
    };
    let port = match target.https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let Ok(location) = HeaderValue::try_from(format!("https://{host}{port}{path}")) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let mut response = status(StatusCode::PERMANENT_REDIRECT);
    response.headers_mut().insert(LOCATION, location);
    response
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(empty());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The `Host` header without its port, when it is a plain name, an IPv4 address or a
/// bracketed IPv6 address: anything else could smuggle a path or a user into the address.
fn request_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(HOST)?.to_str().ok()?;
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let bracketed = |n: &str| {
        n.len() > 2
            && n[1..n.len() - 1]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':')
    };
    let valid = !name.is_empty()
        && if name.starts_with('[') {
            bracketed(name)
        } else {
            name.chars().all(plain)
        };
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(target: &Target, host: Option<&str>, uri: &str) -> (StatusCode, Option<String>) {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(HOST, HeaderValue::from_str(host).unwrap());
        }
        let response = redirect(target, &headers, &uri.parse().unwrap());
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        (response.status(), location)
    }

    #[test]
    fn keeps_host_path_and_query_and_names_the_port_unless_443() {
        let elsewhere = Target {
            https_port: 8443,
            domain: None,
        };
        assert_eq!(
            location(
                &elsewhere,
                Some("chat.example.org:8080"),
                "/api/messages?after=5"
            ),
            (
                StatusCode::PERMANENT_REDIRECT,
                Some("https://chat.example.org:8443/api/messages?after=5".into())
            )
        );
        let standard = Target {
            https_port: 443,
            domain: None,
        };
        assert_eq!(
            location(&standard, Some("[::1]:80"), "/").1.as_deref(),
            Some("https://[::1]/")
        );
        assert_eq!(
            location(&standard, Some("10.0.0.7"), "http://10.0.0.7/x")
                .1
                .as_deref(),
            Some("https://10.0.0.7/x")
        );
    }

    #[test]
    fn a_domain_wins_over_host_and_a_strange_host_is_refused() {
        let acme = Target {
            https_port: 443,
            domain: Some("chat.example.org".into()),
        };
        assert_eq!(
            location(&acme, Some("evil.example"), "/page").1.as_deref(),
            Some("https://chat.example.org/page")
        );
        let plain = Target {
            https_port: 443,
            domain: None,
        };
        for host in [
            None,
            Some("user@evil.example"),
            Some("a/b"),
            Some("[zz]"),
            Some(":80"),
        ] {
            assert_eq!(
                location(&plain, host, "/").0,
                StatusCode::BAD_REQUEST,
                "{host:?}"
            );
        }
    }
}
