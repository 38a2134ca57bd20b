//! HTTP/1.1 for the LLM clients, kept to what their APIs need: a POST with a JSON body, an
//! answer with a length or chunked body, connections kept alive in a pool. A request takes an
//! idle connection (or opens one), writes the request in one write, reads the answer into the
//! connection's own buffer and parses it with `httparse`: no task per connection, no channel,
//! and a handful of allocations per request, where a general client spends several times the
//! CPU. TLS by rustls with the webpki roots for `https://` URLs.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::proxy::Proxy;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Idle connections are closed after this long: servers close theirs after 5 to 120 s.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Headers an answer may have, at most.
const MAX_HEADERS: usize = 64;
/// An answer larger than this is refused: LLM answers are far smaller.
const MAX_ANSWER: usize = 64 << 20;

/// A failed exchange: what happened, and whether another attempt may pass.
#[derive(Debug)]
pub(crate) struct TransportError {
    pub(crate) message: String,
    pub(crate) retryable: bool,
    /// No connection could be opened (refused, unknown host, no answer, TLS failed).
    pub(crate) unreachable: bool,
}

impl TransportError {
    fn retryable(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            retryable: true,
            unreachable: false,
        }
    }

    fn unreachable(message: impl Into<String>) -> Self {
        TransportError {
            unreachable: true,
            ..TransportError::retryable(message)
        }
    }
}

/// A complete answer: its status, the headers the client looks at, its body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// `(lower-case name, value)` of `retry-after` and the rate-limit headers.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// A header the client keeps, by lower-case name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where a client's requests go: a scheme, a host, a port.
pub(crate) struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    /// `Host:` header value.
    authority: String,
}

impl Endpoint {
    /// `host:port` as written in the URL.
    pub(crate) fn authority(&self) -> &str {
        &self.authority
    }

    /// The host, without brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Whether the endpoint is `https://`.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    /// Reads `http(s)://host[:port]` from the start of a URL; the path is the caller's.
    pub(crate) fn parse(url: &str) -> Result<(Endpoint, String), String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse()
                    .map_err(|_| format!("`{url}` has an invalid port"))?;
                (host, port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        let endpoint = Endpoint {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            authority: authority.to_owned(),
        };
        Ok((endpoint, path.to_owned()))
    }
}

/// A connection and its read buffer.
struct Conn {
    stream: Stream,
    buffer: Vec<u8>,
    idle_since: Instant,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A client's connections to its endpoint.
pub(crate) struct Transport {
    endpoint: Endpoint,
    /// Connections go through this proxy's CONNECT tunnel.
    proxy: Option<Proxy>,
    tls: Option<tokio_rustls::TlsConnector>,
    idle: Mutex<Vec<Conn>>,
}

impl Transport {
    pub(crate) fn new(endpoint: Endpoint, proxy: Option<Proxy>) -> Self {
        let tls = endpoint.tls.then(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(config))
        });
        Transport {
            endpoint,
            proxy,
            tls,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// POSTs `body` to `path` with the request's `head` lines (`Name: value\r\n` each) and
    /// reads the whole answer, within `timeout`.
    pub(crate) async fn post(
        &self,
        path: &str,
        head: &[u8],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Answer, TransportError> {
        match tokio::time::timeout(timeout, self.exchange(path, head, body)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::retryable(format!(
                "no answer within {:.1} s",
                timeout.as_secs_f64()
            ))),
        }
    }

    async fn exchange(
        &self,
        path: &str,
        head: &[u8],
        body: &[u8],
    ) -> Result<Answer, TransportError> {
        let mut request = Vec::with_capacity(160 + head.len() + body.len());
        request.extend_from_slice(b"POST ");
        request.extend_from_slice(path.as_bytes());
        request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        request.extend_from_slice(self.endpoint.authority.as_bytes());
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(head);
        request.extend_from_slice(b"Content-Length: ");
        request.extend_from_slice(body.len().to_string().as_bytes());
        request.extend_from_slice(b"\r\n\r\n");
        request.extend_from_slice(body);
        loop {
            let (mut conn, reused) = match self.take_idle() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            match conn.round_trip(&request).await {
                Ok((answer, keep_alive)) => {
                    if keep_alive {
                        conn.idle_since = Instant::now();
                        self.idle.lock().expect("not poisoned").push(conn);
                    }
                    return Ok(answer);
                }
                // A pooled connection the server closed while idle fails before any byte
                // of an answer: send again on a fresh connection.
                Err(Failure::Stale) if reused => continue,
                Err(Failure::Stale) => {
                    return Err(TransportError::retryable(
                        "the server closed the connection without answering",
                    ));
                }
                Err(Failure::Other(e)) => return Err(e),
            }
        }
    }

    /// A TCP connection to the endpoint through the proxy's CONNECT tunnel.
    async fn tunnel(&self, proxy: &Proxy) -> Result<TcpStream, TransportError> {
        let mut tcp = open(&proxy.endpoint).await?;
        let target = format!("{}:{}", self.endpoint.host, self.endpoint.port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(authorization) = &proxy.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        let failed = |message: String| {
            TransportError::unreachable(format!("the proxy {} {message}", proxy.endpoint.authority))
        };
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| failed(format!("failed: {e}")))?;
        // The proxy's answer is a head without a body; the tunnel starts right after it.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = tcp
                .read_u8()
                .await
                .map_err(|e| failed(format!("closed the tunnel to {target}: {e}")))?;
            head.push(byte);
            if head.len() > 64 << 10 {
                return Err(failed("answered CONNECT with an endless head".to_owned()));
            }
        }
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut answer = httparse::Response::new(&mut slots);
        match answer.parse(&head) {
            Ok(httparse::Status::Complete(_)) if answer.code == Some(200) => Ok(tcp),
            Ok(_) => Err(failed(format!(
                "refused the tunnel to {target}: HTTP {} {}",
                answer.code.unwrap_or(0),
                answer.reason.unwrap_or("")
            ))),
            Err(e) => Err(failed(format!(
                "answered CONNECT with a malformed head: {e}"
            ))),
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("not poisoned");
        while let Some(conn) = idle.pop() {
            if conn.idle_since.elapsed() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Conn, TransportError> {
        let endpoint = &self.endpoint;
        let tcp = match &self.proxy {
            None => open(endpoint).await?,
            Some(proxy) => self.tunnel(proxy).await?,
        };
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone()).map_err(
                    |e| TransportError {
                        message: format!("`{}` is not a valid host name: {e}", endpoint.host),
                        retryable: false,
                        unreachable: false,
                    },
                )?;
                let tls = connector.connect(name, tcp).await.map_err(|e| {
                    TransportError::unreachable(format!(
                        "TLS with {} failed: {e}",
                        endpoint.authority
                    ))
                })?;
                Stream::Tls(Box::new(tls))
            }
        };
        Ok(Conn {
            stream,
            buffer: Vec::with_capacity(8192),
            idle_since: Instant::now(),
        })
    }
}

/// A TCP connection to `endpoint`, within 10 s.
async fn open(endpoint: &Endpoint) -> Result<TcpStream, TransportError> {
    let connect = TcpStream::connect((endpoint.host.as_str(), endpoint.port));
    let tcp = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| {
            TransportError::unreachable(format!(
                "cannot connect to {}: no answer within 10 s",
                endpoint.authority
            ))
        })?
        .map_err(|e| {
            TransportError::unreachable(format!("cannot connect to {}: {e}", endpoint.authority))
        })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

enum Failure {
    /// Nothing came back: the connection was closed.
    Stale,
    Other(TransportError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Other(TransportError::retryable(e.to_string()))
    }
}

/// Where the body of an answer ends.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

impl Conn {
    /// Sends a request and reads its answer; also says whether the connection may be reused.
    async fn round_trip(&mut self, request: &[u8]) -> Result<(Answer, bool), Failure> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let (status, headers, framing, keep_alive, start) = loop {
            if self.read_more().await? == 0 {
                return Err(if self.buffer.is_empty() {
                    Failure::Stale
                } else {
                    cut("the connection closed in the middle of the answer's headers")
                });
            }
            if let Some(head) = parse_head(&self.buffer)? {
                break head;
            }
        };
        let body = match framing {
            Framing::Length(length) => {
                if length > MAX_ANSWER {
                    return Err(too_large());
                }
                while self.buffer.len() < start + length {
                    if self.read_more().await? == 0 {
                        return Err(cut("the connection closed in the middle of the answer"));
                    }
                }
                self.buffer[start..start + length].to_vec()
            }
            Framing::Chunked => self.read_chunked(start).await?,
            Framing::UntilClose => {
                while self.read_more().await? > 0 {
                    if self.buffer.len() > MAX_ANSWER {
                        return Err(too_large());
                    }
                }
                self.buffer[start..].to_vec()
            }
        };
        let keep_alive = keep_alive && !matches!(framing, Framing::UntilClose);
        Ok((
            Answer {
                status,
                headers,
                body,
            },
            keep_alive,
        ))
    }

    /// Reads what has arrived into the buffer; 0 at the end of the stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        self.buffer.reserve(8192);
        self.stream.read_buf(&mut self.buffer).await
    }

    /// Decodes a chunked body that starts at `start` of the buffer.
    async fn read_chunked(&mut self, start: usize) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        let mut at = start;
        loop {
            // The size line.
            let line_end = loop {
                if let Some(end) = find_crlf(&self.buffer[at..]) {
                    break at + end;
                }
                if self.read_more().await? == 0 {
                    return Err(cut(
                        "the connection closed in the middle of a chunked answer",
                    ));
                }
            };
            let line = std::str::from_utf8(&self.buffer[at..line_end]).unwrap_or("");
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| malformed("a chunk size is not a hexadecimal number"))?;
            at = line_end + 2;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(end) = find_crlf(&self.buffer[at..]) {
                        if end == 0 {
                            return Ok(body);
                        }
                        at += end + 2;
                        continue;
                    }
                    if self.read_more().await? == 0 {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_ANSWER {
                return Err(too_large());
            }
            while self.buffer.len() < at + size + 2 {
                if self.read_more().await? == 0 {
                    return Err(cut(
                        "the connection closed in the middle of a chunked answer",
                    ));
                }
            }
            body.extend_from_slice(&self.buffer[at..at + size]);
            at += size + 2;
        }
    }
}

type Head = (u16, Vec<(String, String)>, Framing, bool, usize);

/// The status line and headers, once complete: status, kept headers, framing, keep-alive,
/// where the body starts.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, Failure> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let start = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => {
            if buffer.len() > 1 << 20 {
                return Err(malformed("the answer's headers are larger than 1 MiB"));
            }
            return Ok(None);
        }
        Err(e) => return Err(malformed(&format!("not an HTTP answer ({e})"))),
    };
    let status = response.code.unwrap_or(0);
    let mut keep_alive = response.version == Some(1);
    let mut framing = if status == 204 || status == 304 {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    let mut kept = Vec::new();
    for header in response.headers.iter() {
        let name = header.name;
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse()
                .map_err(|_| malformed("the Content-Length is not a number"))?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(length);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("retry-after")
            || starts_with_ignore_case(name, "x-ratelimit-")
            || starts_with_ignore_case(name, "anthropic-ratelimit-")
        {
            kept.push((name.to_ascii_lowercase(), value.to_owned()));
        }
    }
    Ok(Some((status, kept, framing, keep_alive, start)))
}

fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

fn cut(message: &str) -> Failure {
    Failure::Other(TransportError::retryable(message))
}

/// A malformed answer is the server's fault and may pass, like a 5xx.
fn malformed(message: &str) -> Failure {
    Failure::Other(TransportError::retryable(format!(
        "malformed HTTP answer: {message}"
    )))
}

fn too_large() -> Failure {
    Failure::Other(TransportError {
        message: format!("the answer is larger than {} MiB", MAX_ANSWER >> 20),
        retryable: false,
        unreachable: false,
    })
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let (e, path) = Endpoint::parse("https://api.example.com/v1/chat/completions").unwrap();
        assert!(e.tls);
        assert_eq!(
            (e.host.as_str(), e.port, path.as_str()),
            ("api.example.com", 443, "/v1/chat/completions")
        );
        let (e, path) = Endpoint::parse("http://127.0.0.1:8000/v1/x?a=b").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.authority.as_str(), path.as_str()),
            ("127.0.0.1", 8000, "127.0.0.1:8000", "/v1/x?a=b")
        );
        let (e, _) = Endpoint::parse("http://[::1]:9000/v1").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9000));
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://host:port/").is_err());
    }

    #[test]
    fn reads_heads_and_framing() {
        let head = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nX-RateLimit-Remaining-Requests: 0\r\nContent-Length: 5\r\n\r\nhello";
        let Ok(Some((status, kept, framing, keep_alive, start))) = parse_head(head) else {
            panic!("a complete head");
        };
        assert_eq!(status, 429);
        assert!(keep_alive);
        assert!(matches!(framing, Framing::Length(5)));
        assert_eq!(&head[start..], b"hello");
        assert_eq!(kept[0], ("retry-after".to_owned(), "2".to_owned()));
        assert_eq!(kept[1].0, "x-ratelimit-remaining-requests");
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-"),
            Ok(None)
        ));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let Ok(Some((_, _, framing, keep_alive, _))) = parse_head(chunked) else {
            panic!("a complete head");
        };
        assert!(matches!(framing, Framing::Chunked));
        assert!(!keep_alive);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
