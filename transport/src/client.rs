//! One pooled HTTP/1.1 client for one endpoint, over the [`Network`] seam: the daemon's
//! connection to each EL and the mock CL's connection to its Engine API endpoint.
//!
//! Every request is a `POST` of the caller's [`Bytes`] to one path, with headers fixed at
//! construction (`Host`, `Content-Type: application/json`, and any the caller adds) plus an
//! optional `Authorization` value per call. A body up to 16 KiB goes out in one write with the
//! head; a larger one is written from the caller's buffer, never copied. The exchange itself
//! (the request out, the untrusted response in) is [`exchange`]'s, written by hand for this one
//! shape: no connection task, no header map per call.
//!
//! Up to `max_idle` idle keep-alive connections are kept. Before a pooled connection is reused
//! it is checked without waiting: one the server has closed (or that has unasked-for bytes) is
//! dropped. One that the server closes in the meantime fails before a byte of the answer
//! arrives; such a failure is retried once on a fresh connection. A connection goes back to the
//! pool only after a complete `200 OK` whose body fit in `max_response` bytes and was framed,
//! without `Connection: close` and with nothing after it: after anything else the server's
//! state is not trusted and the next call opens a new one.
//!
//! Timeouts are the caller's business (`tokio::time::timeout` around [`HttpClient::post`]):
//! dropping the future drops the connection. JWTs too: the caller passes the header value.

mod exchange;

pub use exchange::write_both;

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;

use crate::net::Network;
use crate::tls::{failure_label, ClientTls};
use exchange::{exchange, idle_and_open, Buffers, ExchangeError};

/// Why a request got no answer (or an answer that cannot be used).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connect failed: {0}")]
    Connect(io::Error),
    /// The TLS handshake failed (an untrusted or wrong-name certificate, most often). `label` is
    /// a bounded name for metrics ([`failure_label`]).
    #[error("TLS handshake failed: {reason}")]
    Tls { label: &'static str, reason: String },
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    #[error("response is {0}-encoded, which was not asked for")]
    Encoded(String),
}

/// A complete answer: its status and its whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The start of the body as text, at most `max` bytes (for an error message).
    pub fn body_text(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(max)])
            .trim()
            .to_owned()
    }
}

/// A pooled HTTP/1.1 client for one `host:port` and path.
pub struct HttpClient<N: Network> {
    net: N,
    host: String,
    port: u16,
    /// The request target, parsed once.
    uri: Uri,
    /// `Host`, `Content-Type` and the caller's.
    headers: HeaderMap,
    /// The request line and `headers`, as written on every request.
    head_prefix: Vec<u8>,
    max_response: usize,
    /// Idle connections kept (as many as calls may be in flight, so a steady load reuses them).
    max_idle: usize,
    idle: Mutex<Vec<Conn<N::Stream>>>,
    /// `https://` endpoints: every connection is wrapped in TLS before HTTP starts on it.
    tls: Option<ClientTls>,
}

impl<N: Network> HttpClient<N> {
    /// A client for `host:port` (`host` a name or an IP literal without brackets) posting to
    /// `path`, keeping one idle connection and reading at most 64 MiB per answer.
    pub fn new(net: N, host: &str, port: u16, path: &str) -> Self {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            HOST,
            HeaderValue::from_str(&authority)
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let uri = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        Self {
            net,
            host: host.to_owned(),
            port,
            head_prefix: head_prefix(&uri, &headers),
            uri,
            headers,
            max_response: 64 * 1024 * 1024,
            max_idle: 1,
            idle: Mutex::new(Vec::new()),
            tls: None,
        }
    }

    /// A header sent with every request.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self.head_prefix = head_prefix(&self.uri, &self.headers);
        self
    }

    /// The largest body read back; a longer one is [`HttpError::TooLarge`].
    pub fn with_max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// How many idle connections are kept.
    pub fn with_max_idle(mut self, connections: usize) -> Self {
        self.max_idle = connections;
        self
    }

    /// TLS on every connection (an `https://` endpoint).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    /// POSTs `body` on a pooled connection when one is idle (retried once on a fresh connection
    /// when the pooled one turns out closed), else on a new one; returns the answer, whatever
    /// its status.
    pub async fn post(
        &self,
        body: Bytes,
        authorization: Option<HeaderValue>,
    ) -> Result<Reply, HttpError> {
        if let Some(sender) = self.take_idle() {
            match self.send(sender, body.clone(), authorization.clone()).await {
                Err(Attempt::Stale) => {}
                Err(Attempt::Failed(e)) => return Err(e),
                Ok(reply) => return Ok(reply),
            }
        }
        self.post_fresh(body, authorization).await
    }

    /// POSTs `body` on a new connection, never a pooled one (a pooled connection may be stuck
    /// behind a call the server never answers).
    pub async fn post_fresh(
        &self,
        body: Bytes,
        authorization: Option<HeaderValue>,
    ) -> Result<Reply, HttpError> {
        let sender = self.connect().await?;
        match self.send(sender, body, authorization).await {
            Ok(reply) => Ok(reply),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::Stale) => Err(HttpError::Transport(
                "connection closed before the response".into(),
            )),
        }
    }

    /// Drops every pooled connection (after the server was found dead, or a call timed out).
    pub fn clear_pool(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn take_idle(&self) -> Option<Conn<N::Stream>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut conn) = idle.pop() {
            if idle_and_open(&mut conn.io) {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: Conn<N::Stream>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Conn<N::Stream>, HttpError> {
        let stream = self
            .net
            .connect(&self.host, self.port)
            .await
            .map_err(HttpError::Connect)?;
        let io = match &self.tls {
            None => Stream::Plain(stream),
            // Boxed: a TLS handshake's state is large, and inline it would grow every call's
            // future, plain http ones included.
            Some(tls) => Box::pin(connect_tls(tls, stream)).await?,
        };
        Ok(Conn {
            io,
            bufs: Buffers::default(),
        })
    }

    async fn send(
        &self,
        mut conn: Conn<N::Stream>,
        body: Bytes,
        authorization: Option<HeaderValue>,
    ) -> Result<Reply, Attempt> {
        let response = exchange(
            &mut conn.io,
            &mut conn.bufs,
            &self.head_prefix,
            authorization.as_ref().map(HeaderValue::as_bytes),
            &body,
            self.max_response,
        )
        .await
        .map_err(|e| match e {
            ExchangeError::ClosedEarly => Attempt::Stale,
            ExchangeError::TooLarge(limit) => Attempt::Failed(HttpError::TooLarge(limit)),
            ExchangeError::Broken(why) => Attempt::Failed(HttpError::Transport(why)),
        })?;
        if let Some(encoding) = response.encoding {
            return Err(Attempt::Failed(HttpError::Encoded(encoding)));
        }
        if response.status == StatusCode::OK && response.reusable {
            self.put_idle(conn);
        }
        Ok(Reply {
            status: response.status,
            body: response.body,
        })
    }
}

/// `POST <path> HTTP/1.1` and `headers`, each line ending in CRLF (the values are
/// [`HeaderValue`]s, which cannot hold a line break).
fn head_prefix(uri: &Uri, headers: &HeaderMap) -> Vec<u8> {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(128);
    head.extend_from_slice(b"POST ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head
}

/// One kept-alive connection and its buffers.
struct Conn<S> {
    io: Stream<S>,
    bufs: Buffers,
}

/// A connection, plain or in TLS.
enum Stream<S> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
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

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
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

/// The TLS handshake on a connected stream.
async fn connect_tls<S>(tls: &ClientTls, stream: S) -> Result<Stream<S>, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = tls
        .connector
        .connect(tls.name.clone(), stream)
        .await
        .map_err(|e| HttpError::Tls {
            label: failure_label(&e),
            reason: e.to_string(),
        })?;
    Ok(Stream::Tls(Box::new(stream)))
}

enum Attempt {
    /// The pooled connection was dead before the request got through; retry on a new one.
    Stale,
    Failed(HttpError),
}
