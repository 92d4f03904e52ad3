//! The consensus-client side: a keep-alive HTTP/1.1 JSON-RPC client with Engine API JWTs.
//!
//! One [`Conn`] is one TCP connection, used for one request at a time, exactly as a CL's
//! engine connection is. It reconnects after a failure. Every call is bounded by
//! [`CALL_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use eb_transport::{JwtSecret, SystemClock, TokenCache};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// Longest a single call may take before it counts as failed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Where requests go, and the secret they are signed with.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    host: HeaderValue,
    tokens: Arc<TokenCache>,
}

impl Endpoint {
    pub fn new(addr: SocketAddr, secret: &JwtSecret) -> Self {
        Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            tokens: Arc::new(TokenCache::new(secret.clone())),
        }
    }

    /// A connection, opened on first use.
    pub fn connection(&self) -> Conn {
        Conn {
            endpoint: self.clone(),
            sender: None,
        }
    }
}

/// One keep-alive connection.
pub struct Conn {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Opens the connection now (so that a later timed call does not pay for it).
    pub async fn connect(&mut self) -> anyhow::Result<()> {
        if self.sender.as_ref().is_none_or(|s| !s.is_ready()) {
            self.sender = Some(self.open().await?);
        }
        Ok(())
    }

    /// POSTs a JSON-RPC body; returns the response body of a `200 OK`.
    pub async fn call(&mut self, body: Bytes) -> anyhow::Result<Bytes> {
        match tokio::time::timeout(CALL_TIMEOUT, self.exchange(body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(anyhow!("no answer within {CALL_TIMEOUT:?}"))
            }
        }
    }

    async fn exchange(&mut self, body: Bytes) -> anyhow::Result<Bytes> {
        self.connect().await?;
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| anyhow!("not connected"))?;
        let authorization = self.endpoint.tokens.authorization(&SystemClock);
        let request = Request::post("/")
            .header(HOST, self.endpoint.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, HeaderValue::from_str(&authorization)?)
            .body(Full::new(body))?;
        let response = sender.send_request(request).await.context("sending")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        if status != StatusCode::OK {
            bail!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
        }
        Ok(body)
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.endpoint.addr)
            .await
            .with_context(|| format!("connecting to {}", self.endpoint.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}
