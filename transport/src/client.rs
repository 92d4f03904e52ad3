//! One pooled HTTP/1.1 client for one endpoint, over the [`Network`] seam: the daemon's
//! connection to each EL and the mock CL's connection to its Engine API endpoint.
//!
//! Every request is a `POST` of the caller's [`Bytes`] (shared, never copied) to one path, with
//! headers fixed at construction (`Host`, `Content-Type: application/json`, and any the caller
//! adds) plus an optional `Authorization` value per call. Up to `max_idle` idle keep-alive
//! connections are kept. A pooled connection the server has closed since its last use (a
//! restart, an idle timeout) fails before anything was processed; such a failure is retried once
//! on a fresh connection. A connection goes back to the pool only after a complete `200 OK`
//! whose body fit in `max_response` bytes: after anything else the server's state is not
//! trusted and the next call opens a new one.
//!
//! Timeouts are the caller's business (`tokio::time::timeout` around [`HttpClient::post`]):
//! dropping the future drops the connection. JWTs too: the caller passes the header value.

use std::io;
use std::sync::Mutex;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::net::Network;
use crate::tls::{failure_label, ClientTls};

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
    /// `Host`, `Content-Type` and the caller's, built once and cloned into every request.
    headers: HeaderMap,
    max_response: usize,
    /// Idle connections kept (as many as calls may be in flight, so a steady load reuses them).
    max_idle: usize,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
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
        Self {
            net,
            host: host.to_owned(),
            port,
            uri: path.parse().unwrap_or_else(|_| Uri::from_static("/")),
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

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, sender: SendRequest<Full<Bytes>>) {
        if !sender.is_ready() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(sender);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, HttpError> {
        let stream = self
            .net
            .connect(&self.host, self.port)
            .await
            .map_err(HttpError::Connect)?;
        match &self.tls {
            None => handshake(stream).await,
            // Boxed: a TLS handshake's state is large, and inline it would grow every call's
            // future, plain http ones included.
            Some(tls) => Box::pin(connect_tls(tls, stream)).await,
        }
    }

    async fn send(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        body: Bytes,
        authorization: Option<HeaderValue>,
    ) -> Result<Reply, Attempt> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        *headers = self.headers.clone();
        if let Some(value) = authorization {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) if e.is_canceled() || e.is_closed() || e.is_incomplete_message() => {
                return Err(Attempt::Stale)
            }
            Err(e) => return Err(Attempt::Failed(HttpError::Transport(e.to_string()))),
        };
        let status = response.status();
        if let Some(encoding) = response.headers().get(CONTENT_ENCODING) {
            let encoding = String::from_utf8_lossy(encoding.as_bytes()).into_owned();
            if !encoding.eq_ignore_ascii_case("identity") {
                return Err(Attempt::Failed(HttpError::Encoded(encoding)));
            }
        }
        let body = Limited::new(response.into_body(), self.max_response)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Attempt::Failed(HttpError::TooLarge(self.max_response))
                } else {
                    Attempt::Failed(HttpError::Transport(e.to_string()))
                }
            })?
            .to_bytes();
        if status == StatusCode::OK {
            self.put_idle(sender);
        }
        Ok(Reply { status, body })
    }
}

/// The TLS handshake on a connected stream, then HTTP/1.1 over it.
async fn connect_tls<S>(tls: &ClientTls, stream: S) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let stream = tls
        .connector
        .connect(tls.name.clone(), stream)
        .await
        .map_err(|e| HttpError::Tls {
            label: failure_label(&e),
            reason: e.to_string(),
        })?;
    handshake(stream).await
}

/// Starts HTTP/1.1 on a connected stream (plain, or TLS already negotiated).
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Connect(io::Error::other(e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::trace!(error = %e, "HTTP client connection ended");
        }
    });
    Ok(sender)
}

enum Attempt {
    /// The pooled connection was dead before the request got through; retry on a new one.
    Stale,
    Failed(HttpError),
}
