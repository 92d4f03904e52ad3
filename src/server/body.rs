//! Reading a request body within the front end's limits: size (413, connection closed) and
//! time (408, connection closed). The body comes from hyper ([`Incoming`]) or from the
//! hand-written HTTP/1.1 side ([`super::conn::Direct`]); both read it the same way.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body_pool::{BodyPool, POOLED_FROM};
use super::{Front, Limits};
use crate::http::{json, json_error, HttpResponse};
use crate::refusals::{Reason, Refusals};
use crate::rpc::{self, RpcError};

/// A request's body, not read yet.
pub(super) trait RequestBody: Send {
    /// Reads the whole body, of at most `limit` bytes; `declared` is its `Content-Length`.
    /// A body of [`POOLED_FROM`] bytes or more that is not already in one piece is gathered
    /// into a buffer from `pool`.
    fn gather(
        self,
        declared: Option<usize>,
        limit: usize,
        pool: &BodyPool,
    ) -> impl Future<Output = Result<Bytes, Gathered>> + Send;
}

impl Front {
    /// The whole body of `req`, or the response that refuses it (the refusal counted by
    /// reason).
    pub(super) async fn read_body<B: RequestBody>(
        &self,
        refusals: &Refusals,
        peer: SocketAddr,
        req: Request<B>,
    ) -> Result<Bytes, HttpResponse> {
        read_body(&self.limits, &self.bodies, refusals, peer, req).await
    }
}

async fn read_body<B: RequestBody>(
    limits: &Limits,
    pool: &BodyPool,
    refusals: &Refusals,
    peer: SocketAddr,
    req: Request<B>,
) -> Result<Bytes, HttpResponse> {
    let limit = limits.max_request_bytes;
    let too_large = || {
        refusals.refused(Reason::TooLarge, peer, &format!("limit {limit} bytes"));
        let mut resp = json(
            StatusCode::PAYLOAD_TOO_LARGE,
            rpc::error_response(
                b"null",
                &RpcError::invalid_request(&format!("body over {limit} bytes")),
            ),
        );
        // The rest of the body is never read: the connection cannot carry another request.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        resp
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let timeout = limits.body_timeout;
    let gathering = req.into_body().gather(declared, limit, pool);
    match tokio::time::timeout(timeout, gathering).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(Gathered::TooLarge)) => Err(too_large()),
        Ok(Err(Gathered::Broken(e))) => Err(json_error(
            StatusCode::BAD_REQUEST,
            &format!("could not read the body: {e}"),
        )),
        Err(_) => {
            refusals.refused(
                Reason::BodyTimeout,
                peer,
                &format!("{} ms", timeout.as_millis()),
            );
            let mut resp = json(
                StatusCode::REQUEST_TIMEOUT,
                rpc::error_response(
                    b"null",
                    &RpcError::invalid_request(&format!(
                        "request body not received within {} ms",
                        timeout.as_millis()
                    )),
                ),
            );
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            Err(resp)
        }
    }
}

/// Why a body could not be read whole.
pub(super) enum Gathered {
    TooLarge,
    Broken(String),
}

impl RequestBody for Incoming {
    async fn gather(
        self,
        declared: Option<usize>,
        limit: usize,
        pool: &BodyPool,
    ) -> Result<Bytes, Gathered> {
        gather(self, declared, limit, pool).await
    }
}

/// Reads a whole body of at most `limit` bytes from hyper.
async fn gather(
    mut body: Incoming,
    declared: Option<usize>,
    limit: usize,
    pool: &BodyPool,
) -> Result<Bytes, Gathered> {
    // A body that arrives in one chunk is used as it is; a longer one is gathered into one
    // buffer sized from Content-Length up front, so it is copied once and never reallocated.
    // A large one's buffer comes from (and goes back to) the pool.
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Gathered::Broken(e.to_string()))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let so_far = gathered.as_ref().map_or(0, Vec::len) + first.as_ref().map_or(0, Bytes::len);
        if so_far + chunk.len() > limit {
            return Err(Gathered::TooLarge);
        }
        match (&mut gathered, first.take()) {
            (Some(buf), _) => buf.extend_from_slice(&chunk),
            (None, None) => first = Some(chunk),
            (None, Some(head)) => {
                let capacity = declared.unwrap_or(0).clamp(head.len() + chunk.len(), limit);
                let mut buf = if capacity >= POOLED_FROM {
                    pool.take(capacity)
                } else {
                    Vec::with_capacity(capacity)
                };
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&chunk);
                gathered = Some(buf);
            }
        }
    }
    Ok(match gathered {
        Some(buf) if buf.capacity() >= POOLED_FROM => pool.share(buf),
        Some(buf) => Bytes::from(buf),
        None => first.unwrap_or_default(),
    })
}
