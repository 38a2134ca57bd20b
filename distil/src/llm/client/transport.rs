//! HTTP/1.1 for the LLM clients: hyper connections kept in a pool and driven by the request
//! that uses them. A request takes an idle connection (or opens one), sends, reads the whole
//! answer and gives the connection back; no task per connection and no channel between the
//! request and its connection, which keeps the CPU cost per request a fraction of a general
//! client's. TLS (rustls, webpki roots) for `https://` URLs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// An open connection: the handle to send on, the connection itself, when it was last used.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    connection: Connection<Stream, Full<Bytes>>,
    idle_since: Instant,
}

/// Idle connections are closed after this long: servers close theirs after 5 to 120 s.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed exchange: what happened, and whether another attempt may pass.
#[derive(Debug)]
pub(crate) struct TransportError {
    pub(crate) message: String,
    pub(crate) retryable: bool,
}

/// A complete answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Where requests go: one scheme, host and port, as a client has one base URL.
pub(crate) struct Transport {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<Vec<Conn>>,
}

impl Transport {
    pub(crate) fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .expect("ring supports TLS 1.2 and 1.3")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Transport {
            connector: tls,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// POSTs `body` to `uri` and reads the whole answer, within `timeout`.
    pub(crate) async fn post(
        &self,
        uri: &Uri,
        headers: &[(header::HeaderName, HeaderValue)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, TransportError> {
        match tokio::time::timeout(timeout, self.exchange(uri, headers, body)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError {
                message: format!("no answer within {:.1} s", timeout.as_secs_f64()),
                retryable: true,
            }),
        }
    }

    async fn exchange(
        &self,
        uri: &Uri,
        headers: &[(header::HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, TransportError> {
        // A pooled connection the server has closed fails before anything is sent: then the
        // request goes again on a fresh connection, once.
        let mut reused = true;
        loop {
            let mut conn = match self.take_idle() {
                Some(conn) => conn,
                None => {
                    reused = false;
                    self.connect(uri).await?
                }
            };
            let request = build(uri, headers, body.clone())?;
            let sent = drive(&mut conn.connection, conn.sender.ready()).await;
            if !matches!(sent, Some(Ok(()))) {
                if reused {
                    continue;
                }
                return Err(closed("the connection closed before the request was sent"));
            }
            let response =
                match drive(&mut conn.connection, conn.sender.try_send_request(request)).await {
                    Some(Ok(response)) => response,
                    Some(Err(e)) if reused && e.message().is_some() => continue,
                    Some(Err(e)) => return Err(hyper_error(e.into_error())),
                    None if reused => continue,
                    None => return Err(closed("the connection closed before the answer")),
                };
            let (parts, body) = response.into_parts();
            let body = match drive(&mut conn.connection, body.collect()).await {
                Some(Ok(collected)) => collected.to_bytes(),
                Some(Err(e)) => return Err(hyper_error(e)),
                None => return Err(closed("the connection closed in the middle of the answer")),
            };
            let keep = parts
                .headers
                .get(header::CONNECTION)
                .is_none_or(|v| !v.as_bytes().eq_ignore_ascii_case(b"close"));
            if keep {
                conn.idle_since = Instant::now();
                self.idle.lock().expect("not poisoned").push(conn);
            }
            return Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            });
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("not poisoned");
        while let Some(conn) = idle.pop() {
            if !conn.sender.is_closed() && conn.idle_since.elapsed() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self, uri: &Uri) -> Result<Conn, TransportError> {
        let mut connector = self.connector.clone();
        let stream = connector
            .call(uri.clone())
            .await
            .map_err(|e| TransportError {
                message: format!("cannot connect: {}", chain(&*e)),
                retryable: true,
            })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(stream)
            .await
            .map_err(hyper_error)?;
        Ok(Conn {
            sender,
            connection,
            idle_since: Instant::now(),
        })
    }
}

fn build(
    uri: &Uri,
    headers: &[(header::HeaderName, HeaderValue)],
    body: Bytes,
) -> Result<Request<Full<Bytes>>, TransportError> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::post(path);
    if let Some(authority) = uri.authority() {
        request = request.header(header::HOST, authority.as_str());
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(Full::new(body)).map_err(|e| TransportError {
        message: format!("cannot build the request: {e}"),
        retryable: false,
    })
}

/// Polls `future` while driving the connection it needs; `None` once the connection is closed
/// without `future` finishing.
async fn drive<F: Future>(
    connection: &mut Connection<Stream, Full<Bytes>>,
    future: F,
) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let done = Pin::new(&mut *connection).poll(cx).is_ready();
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await
}

fn closed(message: &str) -> TransportError {
    TransportError {
        message: message.to_owned(),
        retryable: true,
    }
}

fn hyper_error(e: hyper::Error) -> TransportError {
    TransportError {
        message: chain(&e),
        // Connection-level failures may pass on a fresh connection; a malformed answer is
        // the server's and is retried as well, as a 5xx would be.
        retryable: true,
    }
}

/// An error with its causes.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
