//! One engine-port connection, HTTP/1.1 read and written by hand.
//!
//! A consensus client sends megabyte payloads on a kept-alive connection. Here a request's body
//! is read from the socket straight into the one buffer it is forwarded from (a pooled one for
//! large bodies): no pieces to gather, no second copy. The head is parsed with `httparse`
//! ([`super::head`]); a request this side does not take is handed, with the bytes read so far,
//! to hyper, which serves the rest of the connection as before.
//!
//! The limits are the same on both sides: the head within [`HEADER_READ_TIMEOUT`] of the
//! previous answer (slowloris guard and idle timeout), the body within the body timeout and
//! size limit ([`super::body`]), `Connection: close` honoured, and on shutdown an idle
//! connection closes at once and a busy one after its answer ([`super::drain`]).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use eb_transport::client::write_both;
use eb_transport::Network;
use http::header::CONNECTION;
use http::Request;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::{Gathered, RequestBody};
use super::body_pool::{BodyPool, POOLED_FROM};
use super::drain::DrainSignal;
use super::gate::{ConnInfo, Gate};
use super::head::{self, Head};
use super::response::{self, DateCache};
use super::rewind::Rewind;
use super::{handle, Front, HEADER_READ_TIMEOUT};
use crate::proxy::Proxy;

/// The connection's read buffer for heads (bodies are read into their own buffers).
const READ_BUF: usize = 8 * 1024;
/// After answering a request whose body was not read, and closing, the rest of the body is
/// read and dropped for up to this long, so the client sees the answer rather than a reset.
const LINGER: Duration = Duration::from_secs(2);

/// What a connection serves with.
pub(super) struct Ctx<N: Network> {
    pub(super) proxy: Arc<Proxy<N>>,
    pub(super) front: Arc<Front>,
    pub(super) info: Arc<ConnInfo>,
    pub(super) gate: Arc<Gate>,
    pub(super) drain: DrainSignal,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ConnError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// Serves requests on `io` until the client closes, asks to close, goes quiet past
/// [`HEADER_READ_TIMEOUT`], or draining starts.
pub(super) async fn serve<N, S>(mut io: S, ctx: Ctx<N>) -> Result<(), ConnError>
where
    N: Network,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut dates = DateCache::default();
    let mut drain = ctx.drain.clone();
    loop {
        let read = tokio::time::timeout(
            HEADER_READ_TIMEOUT,
            read_head(&mut io, &mut buf, &mut drain),
        )
        .await;
        let (request, body_len, asked_to_close) = match read {
            Err(_) => {
                tracing::debug!("no request head in time: connection closed");
                return Ok(());
            }
            Ok(read) => match read? {
                Read::Request {
                    request,
                    body_len,
                    close,
                } => (request, body_len, close),
                Read::Closed => return Ok(()),
                Read::Hyper => return hyper_serves(Rewind::new(buf.freeze(), io), ctx).await,
            },
        };
        let mut body_read = body_len == 0;
        let body = Direct {
            io: &mut io,
            buffered: &mut buf,
            len: body_len,
            read: &mut body_read,
        };
        ctx.gate.touch(&ctx.info);
        let resp = handle(
            ctx.proxy.clone(),
            &ctx.front,
            &ctx.info,
            request.map(|()| body),
        )
        .await;
        ctx.gate.touch(&ctx.info);
        if !body_read && buf.len() >= body_len {
            // Refused without reading a body that is already here (a wrong token, say): it is
            // skipped, and the connection carries on.
            buf.advance(body_len);
            body_read = true;
        }
        let close = asked_to_close
            || !body_read
            || drain.has_started()
            || resp
                .headers()
                .get(CONNECTION)
                .is_some_and(|v| head::asks_to_close(v.as_bytes()));
        let (parts, body) = resp.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let body = if response::has_body(parts.status) {
            body
        } else {
            Bytes::new()
        };
        let date = dates.at(ctx.proxy.clock.unix_seconds());
        let head = response::head(&parts, body.len(), close, date);
        write_both(&mut io, &head, &body).await?;
        io.flush().await?;
        if close {
            let _ = io.shutdown().await;
            if !body_read {
                linger(&mut io).await;
            }
            return Ok(());
        }
    }
}

// Lives on the stack for one request and is never stored: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Read {
    Request {
        request: Request<()>,
        body_len: usize,
        close: bool,
    },
    /// The client closed, or draining started with no request begun.
    Closed,
    /// A request for hyper: the buffer holds its bytes from the start.
    Hyper,
}

/// Reads until the buffer starts with a whole head, which it then takes off the buffer.
async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    drain: &mut DrainSignal,
) -> io::Result<Read> {
    loop {
        if !buf.is_empty() {
            match head::parse(buf) {
                Head::Complete {
                    request,
                    head_len,
                    body_len,
                    close,
                } => {
                    buf.advance(head_len);
                    return Ok(Read::Request {
                        request,
                        body_len,
                        close,
                    });
                }
                Head::Hyper => return Ok(Read::Hyper),
                Head::Partial => {}
            }
        }
        if buf.capacity() - buf.len() < READ_BUF / 2 {
            buf.reserve(READ_BUF);
        }
        let n = if buf.is_empty() {
            // Idle between requests: draining closes the connection here.
            tokio::select! {
                biased;
                () = drain.started() => return Ok(Read::Closed),
                n = io.read_buf(buf) => n?,
            }
        } else {
            io.read_buf(buf).await?
        };
        if n == 0 {
            return Ok(Read::Closed);
        }
    }
}

/// A request body still on the socket (its first bytes perhaps already in the read buffer).
pub(super) struct Direct<'c, S> {
    io: &'c mut S,
    buffered: &'c mut BytesMut,
    len: usize,
    /// Set once the whole body has been taken off the connection.
    read: &'c mut bool,
}

impl<S: AsyncRead + Unpin + Send> RequestBody for Direct<'_, S> {
    async fn gather(
        self,
        _declared: Option<usize>,
        limit: usize,
        pool: &BodyPool,
    ) -> Result<Bytes, Gathered> {
        let len = self.len;
        if len > limit {
            return Err(Gathered::TooLarge);
        }
        let have = len.min(self.buffered.len());
        let body = if have == len {
            let body = Bytes::copy_from_slice(&self.buffered[..len]);
            self.buffered.advance(len);
            body
        } else {
            // The buffer holds the body's first bytes and nothing after them.
            let pooled = len >= POOLED_FROM;
            let mut body = if pooled {
                pool.take(len)
            } else {
                Vec::with_capacity(len)
            };
            body.extend_from_slice(&self.buffered[..have]);
            self.buffered.advance(have);
            while body.len() < len {
                let want = len - body.len();
                let n = self
                    .io
                    .read_buf(&mut (&mut body).limit(want))
                    .await
                    .map_err(|e| Gathered::Broken(e.to_string()))?;
                if n == 0 {
                    return Err(Gathered::Broken(format!(
                        "the connection closed after {} of {len} bytes",
                        body.len()
                    )));
                }
            }
            if pooled {
                pool.share(body)
            } else {
                Bytes::from(body)
            }
        };
        *self.read = true;
        Ok(body)
    }
}

/// Reads and drops what the client still sends, until it closes or [`LINGER`] has passed.
async fn linger<S: AsyncRead + Unpin>(io: &mut S) {
    let mut scratch = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(io.read(&mut scratch).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// hyper serves the rest of the connection (see [`super::head`] for which requests).
async fn hyper_serves<N, S>(io: Rewind<S>, ctx: Ctx<N>) -> Result<(), ConnError>
where
    N: Network,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ctx {
        proxy,
        front,
        info,
        gate,
        mut drain,
    } = ctx;
    let service = service_fn(move |req| {
        let (proxy, front, info, gate) = (proxy.clone(), front.clone(), info.clone(), gate.clone());
        async move {
            gate.touch(&info);
            let resp = handle(proxy, &front, &info, req).await;
            gate.touch(&info);
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        biased;
        ended = conn.as_mut() => return Ok(ended?),
        () = drain.started() => conn.as_mut().graceful_shutdown(),
    }
    Ok(conn.await?)
}
