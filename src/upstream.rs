//! An HTTP/1.1 JSON-RPC client for one EL, over the [`Network`] seam.
//!
//! Keeps a small pool of idle keep-alive connections, signs every request with this EL's own
//! secret (tokens cached for a few seconds by [`TokenCache`]), and reads at most
//! `max_response` bytes back. The body sent is the caller's [`Bytes`], shared, never copied.
//! Timeouts are the caller's business (`tokio::time::timeout` around [`Upstream::call`]):
//! dropping the future drops the connection.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eb_transport::{Network, SharedClock, TokenCache};
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::config::NodeSpec;
use crate::tls::ClientTls;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect failed: {0}")]
    Connect(io::Error),
    /// The TLS handshake failed (an untrusted or wrong-name certificate, most often). `label` is
    /// a bounded name for metrics.
    #[error("TLS handshake failed: {reason}")]
    Tls { label: &'static str, reason: String },
    #[error("timed out")]
    Timeout,
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    #[error("response is {0}-encoded, which was not asked for")]
    Encoded(String),
    #[error("too many requests queued for this node")]
    Overloaded,
    #[error("node removed")]
    Gone,
}

impl UpstreamError {
    /// Failures that say the node is down (as opposed to slow or confused).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Tls { .. } | Self::Timeout)
    }
}

pub struct Upstream<N: Network> {
    net: N,
    host: String,
    port: u16,
    /// The request target, parsed once.
    uri: Uri,
    /// `Host` and `Content-Type`, built once and cloned into every request.
    headers: HeaderMap,
    tokens: TokenCache,
    /// The last `Authorization` value and the token it was made from (tokens live for seconds).
    authorization: Mutex<Option<(Arc<str>, HeaderValue)>>,
    clock: SharedClock,
    max_response: usize,
    /// Idle connections kept (as many as calls may be in flight, so a steady load reuses them).
    max_idle: usize,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    /// `https://` nodes: every connection is wrapped in TLS before HTTP starts on it.
    tls: Option<ClientTls>,
}

impl<N: Network> Upstream<N> {
    pub fn new(
        net: N,
        spec: &NodeSpec,
        tokens: TokenCache,
        clock: SharedClock,
        max_response: usize,
        max_idle: usize,
        tls: Option<ClientTls>,
    ) -> Self {
        let authority = if spec.host.contains(':') {
            format!("[{}]:{}", spec.host, spec.port)
        } else {
            format!("{}:{}", spec.host, spec.port)
        };
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            HOST,
            HeaderValue::from_str(&authority)
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // Marks every request as this process's own, so a node entry that leads back here is
        // recognised (see crate::trust).
        headers.insert(
            crate::trust::LOOP_HEADER,
            HeaderValue::from_static(crate::trust::loop_marker()),
        );
        Self {
            net,
            host: spec.host.clone(),
            port: spec.port,
            uri: spec.path.parse().unwrap_or_else(|_| Uri::from_static("/")),
            headers,
            tokens,
            authorization: Mutex::new(None),
            clock,
            max_response,
            max_idle,
            idle: Mutex::new(Vec::new()),
            tls,
        }
    }

    /// POSTs `body` and returns the response body of a `200 OK`.
    pub async fn call(&self, body: Bytes) -> Result<Bytes, UpstreamError> {
        // A pooled connection may have been closed by the EL since its last use (restart, idle
        // timeout); hyper then fails the request before anything was processed. Such a failure
        // is retried once on a fresh connection.
        if let Some(sender) = self.take_idle() {
            match self.send(sender, body.clone()).await {
                Err(Attempt::Stale) => {}
                Err(Attempt::Failed(e)) => return Err(e),
                Ok(reply) => return Ok(reply),
            }
        }
        self.call_fresh(body).await
    }

    /// POSTs `body` on a new connection, never a pooled one (the on-the-spot check: a pooled
    /// connection may be stuck behind a call the EL never answers).
    pub async fn call_fresh(&self, body: Bytes) -> Result<Bytes, UpstreamError> {
        let sender = self.connect().await?;
        match self.send(sender, body).await {
            Ok(reply) => Ok(reply),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::Stale) => Err(UpstreamError::Transport(
                "connection closed before the response".into(),
            )),
        }
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

    /// Drops every pooled connection (after the EL was found dead, for example).
    pub fn clear_pool(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, UpstreamError> {
        let stream = self
            .net
            .connect(&self.host, self.port)
            .await
            .map_err(UpstreamError::Connect)?;
        match &self.tls {
            None => handshake(stream).await,
            // Boxed: a TLS handshake's state is large, and inline it would grow every call's
            // future, plain http ones included.
            Some(tls) => Box::pin(connect_tls(tls, stream)).await,
        }
    }

    /// The `Authorization` header for now, reused while the token is.
    fn authorization(&self) -> Result<HeaderValue, UpstreamError> {
        let token = self.tokens.authorization(self.clock.as_ref());
        let mut cached = self.authorization.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, value)) = cached.as_ref() {
            if Arc::ptr_eq(t, &token) {
                return Ok(value.clone());
            }
        }
        let value = HeaderValue::from_str(&token)
            .map_err(|_| UpstreamError::Transport("unprintable token".into()))?;
        *cached = Some((token, value.clone()));
        Ok(value)
    }

    async fn send(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        body: Bytes,
    ) -> Result<Bytes, Attempt> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        *headers = self.headers.clone();
        headers.insert(
            AUTHORIZATION,
            self.authorization().map_err(Attempt::Failed)?,
        );
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) if e.is_canceled() || e.is_closed() || e.is_incomplete_message() => {
                return Err(Attempt::Stale)
            }
            Err(e) => return Err(Attempt::Failed(UpstreamError::Transport(e.to_string()))),
        };
        let status = response.status();
        if let Some(encoding) = response.headers().get(CONTENT_ENCODING) {
            let encoding = String::from_utf8_lossy(encoding.as_bytes()).into_owned();
            if !encoding.eq_ignore_ascii_case("identity") {
                return Err(Attempt::Failed(UpstreamError::Encoded(encoding)));
            }
        }
        let body = Limited::new(response.into_body(), self.max_response)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Attempt::Failed(UpstreamError::TooLarge(self.max_response))
                } else {
                    Attempt::Failed(UpstreamError::Transport(e.to_string()))
                }
            })?
            .to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_owned();
            return Err(Attempt::Failed(UpstreamError::Http {
                status: status.as_u16(),
                body: text,
            }));
        }
        self.put_idle(sender);
        Ok(body)
    }
}

/// The TLS handshake on a connected stream, then HTTP/1.1 over it.
async fn connect_tls<S>(
    tls: &ClientTls,
    stream: S,
) -> Result<SendRequest<Full<Bytes>>, UpstreamError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let stream = tls
        .connector
        .connect(tls.name.clone(), stream)
        .await
        .map_err(|e| UpstreamError::Tls {
            label: crate::tls::failure_label(&e),
            reason: e.to_string(),
        })?;
    handshake(stream).await
}

/// Starts HTTP/1.1 on a connected stream (plain, or TLS already negotiated).
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, UpstreamError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| UpstreamError::Connect(io::Error::other(e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::trace!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

enum Attempt {
    /// The pooled connection was dead before the request got through; retry on a new one.
    Stale,
    Failed(UpstreamError),
}
