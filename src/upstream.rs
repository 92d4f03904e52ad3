//! An HTTP/1.1 JSON-RPC client for one EL, over the [`Network`] seam.
//!
//! The pooled connection handling (keep-alive pool, one retry of a stale pooled connection, TLS,
//! the response size limit) is [`eb_transport::HttpClient`]'s. What is the daemon's own is here:
//! every request is signed with this EL's own secret (tokens cached for a few seconds by
//! [`TokenCache`]) and carries the loop marker ([`crate::trust`]); an answer other than `200 OK`
//! is an error; the errors carry the daemon's own cases (timeout, queue full, node removed).
//! The body sent is the caller's [`Bytes`], shared, never copied. Timeouts are the caller's
//! business (`tokio::time::timeout` around [`Upstream::call`]): dropping the future drops the
//! connection.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eb_transport::{HttpClient, HttpError, Network, Reply, SharedClock, TokenCache};
use http::{HeaderName, HeaderValue, StatusCode};

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

impl From<HttpError> for UpstreamError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Connect(e) => Self::Connect(e),
            HttpError::Tls { label, reason } => Self::Tls { label, reason },
            HttpError::Transport(reason) => Self::Transport(reason),
            HttpError::TooLarge(limit) => Self::TooLarge(limit),
            HttpError::Encoded(encoding) => Self::Encoded(encoding),
        }
    }
}

pub struct Upstream<N: Network> {
    http: HttpClient<N>,
    tokens: TokenCache,
    /// The last `Authorization` value and the token it was made from (tokens live for seconds).
    authorization: Mutex<Option<(Arc<str>, HeaderValue)>>,
    clock: SharedClock,
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
        // Marks every request as this process's own, so a node entry that leads back here is
        // recognised (see crate::trust).
        let http = HttpClient::new(net, &spec.host, spec.port, &spec.path)
            .with_header(
                HeaderName::from_static(crate::trust::LOOP_HEADER),
                HeaderValue::from_static(crate::trust::loop_marker()),
            )
            .with_max_response(max_response)
            .with_max_idle(max_idle)
            .with_tls(tls);
        Self {
            http,
            tokens,
            authorization: Mutex::new(None),
            clock,
        }
    }

    /// POSTs `body` and returns the response body of a `200 OK`. A pooled connection the EL has
    /// closed since its last use (restart, idle timeout) is retried once on a fresh connection.
    pub async fn call(&self, body: Bytes) -> Result<Bytes, UpstreamError> {
        let reply = self.http.post(body, Some(self.authorization()?)).await?;
        ok_body(reply)
    }

    /// POSTs `body` on a new connection, never a pooled one (the on-the-spot check: a pooled
    /// connection may be stuck behind a call the EL never answers).
    pub async fn call_fresh(&self, body: Bytes) -> Result<Bytes, UpstreamError> {
        let reply = self
            .http
            .post_fresh(body, Some(self.authorization()?))
            .await?;
        ok_body(reply)
    }

    /// Drops every pooled connection (after the EL was found dead, for example).
    pub fn clear_pool(&self) {
        self.http.clear_pool();
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
}

/// The body of a `200 OK`; any other status is an error carrying the start of the body.
fn ok_body(reply: Reply) -> Result<Bytes, UpstreamError> {
    if reply.status == StatusCode::OK {
        Ok(reply.body)
    } else {
        Err(UpstreamError::Http {
            status: reply.status.as_u16(),
            body: reply.body_text(200),
        })
    }
}
