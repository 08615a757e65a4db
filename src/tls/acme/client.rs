//! instant-acme's HTTP client, over the blocking ureq we already ship (run on tokio's
//! blocking pool), trusting `tls::roots`: so a test CA named by `SSL_CERT_FILE` is trusted
//! here as everywhere else. Every answer reaches instant-acme as it came: a 4xx keeps its
//! problem document (RFC 7807) for the error message, and no redirect is followed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Bytes;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use ureq::http::{Method, Request};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// One ACME request, from connecting to the last byte; Let's Encrypt answers in well under
/// a second, and an abandoned request holds a blocking thread (and shutdown) this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest answer read: a certificate chain or a directory is a few kilobytes.
const MAX_ANSWER: u64 = 1024 * 1024;

#[derive(Clone)]
pub struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    /// Trusts Mozilla's roots and those `SSL_CERT_FILE` / `SSL_CERT_DIR` name.
    ///
    /// # Errors
    /// A named CA file that cannot be read, as one line.
    pub fn new() -> Result<UreqClient, String> {
        let roots: Vec<Certificate<'static>> = crate::tls::roots::certificates()?
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("bookchat/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(UreqClient { agent })
    }
}

impl HttpClient for UreqClient {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let agent = self.agent.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map_or_else(|never| match never {}, http_body_util::Collected::to_bytes);
            tokio::task::spawn_blocking(move || send(&agent, parts, &body))
                .await
                .map_err(|err| Error::Other(Box::new(err)))?
        })
    }
}

/// Sends one request and reads the whole answer, whatever its status.
fn send(
    agent: &ureq::Agent,
    parts: ureq::http::request::Parts,
    body: &[u8],
) -> Result<BytesResponse, Error> {
    // Named in the error, so that the log says which server could not be reached.
    let asked = format!("{} {}", parts.method, parts.uri);
    let failed = |err: ureq::Error| Error::Other(format!("{asked}: {err}").into());
    let bodiless = body.is_empty() && matches!(parts.method, Method::GET | Method::HEAD);
    let answer = if bodiless {
        agent.run(Request::from_parts(parts, ()))
    } else {
        agent.run(Request::from_parts(parts, body))
    };
    let (parts, mut body) = answer.map_err(failed)?.into_parts();
    let bytes = body
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(failed)?;
    Ok(BytesResponse {
        parts,
        body: Box::new(Bytes::from(bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answers one connection with `answer`, and hands back what was asked.
    fn one_answer(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let asked = read_request(&mut stream);
            stream.write_all(answer.as_bytes()).unwrap();
            asked
        });
        (url, server)
    }

    /// The head and body of one request, however the client split its writes.
    fn read_request(stream: &mut std::net::TcpStream) -> String {
        let mut asked = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&asked).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the client hung up mid-request");
            asked.extend_from_slice(&buf[..n]);
        }
    }

    async fn call(client: &UreqClient, method: Method, url: &str, body: &[u8]) -> BytesResponse {
        let request = Request::builder()
            .method(method)
            .uri(url)
            .body(BodyWrapper::from(body.to_vec()))
            .unwrap();
        client.request(request).await.expect("an answer")
    }

    #[tokio::test]
    async fn a_problem_document_reaches_instant_acme_with_its_status_and_nonce() {
        let problem = r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates","status":429}"#;
        let answer = Box::leak(
            format!(
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/problem+json\r\n\
                 replay-nonce: n0nce\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{problem}",
                problem.len()
            )
            .into_boxed_str(),
        );
        let (url, server) = one_answer(answer);
        let client = UreqClient::new().unwrap();
        let mut reply = call(
            &client,
            Method::POST,
            &format!("{url}/order"),
            b"{\"jws\":1}",
        )
        .await;
        assert_eq!(reply.parts.status, 429);
        assert_eq!(reply.parts.headers["replay-nonce"], "n0nce");
        let body = reply.body.into_bytes().await.unwrap();
        let parsed: instant_acme::Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed.r#type.as_deref(),
            Some("urn:ietf:params:acme:error:rateLimited")
        );
        assert_eq!(parsed.detail.as_deref(), Some("too many certificates"));
        let asked = server.join().unwrap();
        assert!(asked.starts_with("POST /order HTTP/1.1"), "{asked}");
        assert!(asked.ends_with("{\"jws\":1}"), "the body is sent: {asked}");
    }

    #[tokio::test]
    async fn a_redirect_is_handed_back_not_followed() {
        let (url, server) = one_answer(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/elsewhere\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n",
        );
        let client = UreqClient::new().unwrap();
        let reply = call(&client, Method::GET, &format!("{url}/dir"), b"").await;
        assert_eq!(reply.parts.status, 302);
        assert_eq!(
            reply.parts.headers["location"],
            "http://127.0.0.1:1/elsewhere"
        );
        assert!(server.join().unwrap().starts_with("GET /dir HTTP/1.1"));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_naming_the_cause() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = UreqClient::new().unwrap();
        let request = Request::builder()
            .uri(format!("http://127.0.0.1:{port}/dir"))
            .body(BodyWrapper::default())
            .unwrap();
        let err = client.request(request).await.err().expect("refused");
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    }
}
