//! A JSON-RPC client over HTTP/1.1 for the consensus-client driver, over the [`Network`] seam.
//!
//! The connection is [`eb_transport::HttpClient`]'s: one idle keep-alive connection kept when
//! the server allows it (EthereumJS answers every request with `Connection: close`, so against
//! it every call opens a connection, as it does for a real CL), a stale pooled connection retried
//! once on a fresh one. On top: every request is signed with a fresh HS256 token when given a
//! secret, every call has a timeout, and the answer must carry the id that was sent.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use eb_transport::jwt::{sign, Claims};
use eb_transport::{HttpClient, HttpError, JwtSecret, Network, SharedClock};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

/// Largest answer read (a getPayload with six blobs is about 1.6 MB).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// The `clv` claim the driver's tokens carry.
pub const CLIENT_VERSION: &str = concat!("mock-cl/", env!("CARGO_PKG_VERSION"));

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: io::Error },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("JSON-RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error("unusable answer: {0}")]
    BadReply(String),
    /// The Engine API answered, but not what block production needs (no payloadId, a status
    /// that is not VALID…).
    #[error("{0}")]
    Protocol(String),
    #[error("bad URL {0:?}: expected http://host:port[/path]")]
    BadUrl(String),
}

impl ClError {
    /// The JSON-RPC error code, for an answer that was an error object.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// One HTTP JSON-RPC endpoint: an EL's engine port (with a secret), its plain RPC port
/// (without), or a proxy in front of ELs.
pub struct RpcClient<N: Network> {
    http: HttpClient<N>,
    url: String,
    secret: Option<JwtSecret>,
    clock: SharedClock,
    timeout: Duration,
    next_id: AtomicU64,
}

impl<N: Network> std::fmt::Debug for RpcClient<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.url)
            .field("jwt", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl<N: Network> RpcClient<N> {
    /// A client for `url` (`http://host:port[/path]`). With a secret every request carries
    /// `Authorization: Bearer` with a token minted just before it is sent.
    pub fn new(
        net: N,
        url: &str,
        secret: Option<JwtSecret>,
        clock: SharedClock,
    ) -> Result<Self, ClError> {
        let bad = || ClError::BadUrl(url.to_owned());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") {
            return Err(bad());
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(bad)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        Ok(Self {
            http: HttpClient::new(net, &host, port, &path).with_max_response(MAX_RESPONSE),
            url: url.trim_end_matches('/').to_owned(),
            secret,
            clock,
            timeout: Duration::from_secs(8),
            next_id: AtomicU64::new(1),
        })
    }
    /// Per-call timeout (default 8 s, the Engine API's newPayload timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and returns its `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let (status, reply) = self.post(body).await?;
        if status != StatusCode::OK.as_u16() {
            let text = String::from_utf8_lossy(&reply[..reply.len().min(300)])
                .trim()
                .to_owned();
            return Err(ClError::Http { status, body: text });
        }
        let mut reply: Value = serde_json::from_slice(&reply).map_err(|e| {
            ClError::BadReply(format!(
                "{method}: not JSON ({e}): {}",
                String::from_utf8_lossy(&reply[..reply.len().min(200)])
            ))
        })?;
        if reply.get("id") != Some(&Value::from(id)) {
            return Err(ClError::BadReply(format!(
                "{method}: answer id {} for request id {id}",
                reply.get("id").unwrap_or(&Value::Null)
            )));
        }
        if let Some(error) = reply.get("error") {
            return Err(ClError::Rpc {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        match reply.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => Err(ClError::BadReply(format!(
                "{method}: neither result nor error"
            ))),
        }
    }

    /// POSTs a raw body and returns the HTTP status and body, whatever they are.
    pub async fn post(&self, body: Bytes) -> Result<(u16, Bytes), ClError> {
        let authorization = self.authorization()?;
        match tokio::time::timeout(self.timeout, self.http.post(body, authorization)).await {
            Ok(Ok(reply)) => Ok((reply.status.as_u16(), reply.body)),
            Ok(Err(HttpError::Connect(source))) => Err(ClError::Connect {
                url: self.url.clone(),
                source,
            }),
            Ok(Err(e)) => Err(ClError::Transport(e.to_string())),
            Err(_) => {
                self.http.clear_pool();
                Err(ClError::Timeout(self.timeout))
            }
        }
    }

    /// A fresh `Authorization: Bearer` value, when there is a secret.
    fn authorization(&self) -> Result<Option<HeaderValue>, ClError> {
        let Some(secret) = &self.secret else {
            return Ok(None);
        };
        let token = sign(
            secret,
            &Claims {
                iat: self.clock.unix_seconds(),
                id: None,
                clv: Some(CLIENT_VERSION.into()),
            },
        );
        HeaderValue::from_str(&format!("Bearer {token}"))
            .map(Some)
            .map_err(|e| ClError::Transport(e.to_string()))
    }
}
