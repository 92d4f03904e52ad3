//! The HTTP front: the CL's Engine API port, which also serves the REST API.
//!
//! Accepts over the [`Network`] seam, checks the CL's JWT, reads the body within limits and
//! hands it to the [`Proxy`]. Shutdown is graceful: stop accepting, let in-flight requests
//! finish within a deadline.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eb_transport::jwt;
use eb_transport::{Listener, Network};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use crate::admin;
use crate::proxy::{self, Proxy};
use crate::rpc::{self, RpcError};

/// A client has this long to send a request's headers, counted from the end of the previous
/// response on a kept-alive connection: it is both the slowloris guard and the idle timeout.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// In-flight requests get this long to finish after shutdown starts.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

pub type HttpResponse = Response<Full<Bytes>>;

/// Serves until `shutdown` resolves, then drains.
pub async fn serve<N: Network>(
    proxy: Arc<Proxy<N>>,
    listener: N::Listener,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(proxy.settings.max_connections));
    let mut refusing = false;
    tokio::pin!(shutdown);
    loop {
        // Biased: polling order is fixed, so simulations replay exactly.
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        if !refusing {
                            tracing::warn!(%peer, limit = proxy.settings.max_connections, "connection limit reached: closing new connections");
                        }
                        refusing = true;
                        drop(stream);
                        continue;
                    };
                    refusing = false;
                    let proxy = proxy.clone();
                    let service = service_fn(move |req| {
                        let proxy = proxy.clone();
                        async move { Ok::<_, Infallible>(handle(proxy, req).await) }
                    });
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "client connection ended with an error");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tokio::select! {
        biased;
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(DRAIN_DEADLINE) => tracing::warn!("drain deadline passed, closing remaining connections"),
    }
}

/// Serves the Prometheus text exposition (`GET /metrics`) until `shutdown` resolves.
pub async fn serve_prometheus<N: Network>(
    proxy: Arc<Proxy<N>>,
    listener: N::Listener,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let proxy = proxy.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let proxy = proxy.clone();
                    async move {
                        let resp = if req.method() == Method::GET && req.uri().path() == "/metrics" {
                            Response::builder()
                                .header(CONTENT_TYPE, "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(admin::prometheus(&proxy))))
                                .unwrap_or_default()
                        } else {
                            admin::json_error(StatusCode::NOT_FOUND, "only GET /metrics here")
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    }
}

async fn handle<N: Network>(proxy: Arc<Proxy<N>>, req: Request<Incoming>) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => admin::metrics_report(&proxy),
        (&Method::GET, "/recheck") => match check_jwt(&proxy, &req) {
            Ok(()) => admin::recheck(&proxy).await,
            Err(e) => refuse(e),
        },
        (&Method::POST, "/add_nodes") | (&Method::POST, "/remove_nodes") => {
            if let Err(e) = check_jwt(&proxy, &req) {
                return refuse(e);
            }
            let body = match read_body(&proxy, req).await {
                Ok(body) => body,
                Err(resp) => return resp,
            };
            if path == "/add_nodes" {
                admin::add_nodes(&proxy, &body).await
            } else {
                admin::remove_nodes(&proxy, &body).await
            }
        }
        (&Method::POST, _) => engine(proxy, req).await,
        (_, "/metrics" | "/recheck" | "/add_nodes" | "/remove_nodes") => {
            admin::json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => admin::json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "the Engine API takes JSON-RPC over POST",
        ),
    }
}

async fn engine<N: Network>(proxy: Arc<Proxy<N>>, req: Request<Incoming>) -> HttpResponse {
    if let Err(e) = check_jwt(&proxy, &req) {
        let body = rpc::error_response(
            b"null",
            &RpcError::new(rpc::SERVER_ERROR, format!("unauthorized: {e}")),
        );
        return json(StatusCode::UNAUTHORIZED, body);
    }
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let is_json = ct.to_str().is_ok_and(|ct| {
            ct.get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/json"))
        });
        if !is_json {
            let body = rpc::error_response(
                b"null",
                &RpcError::invalid_request("Content-Type must be application/json"),
            );
            return json(StatusCode::UNSUPPORTED_MEDIA_TYPE, body);
        }
    }
    let body = match read_body(&proxy, req).await {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    match proxy::answer(&proxy, &body).await {
        Some(reply) => json(StatusCode::OK, reply),
        None => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default(),
    }
}

fn check_jwt<N: Network>(proxy: &Proxy<N>, req: &Request<Incoming>) -> Result<(), jwt::JwtError> {
    let token = jwt::bearer_token(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))?;
    proxy
        .cl_tokens
        .verify(token, proxy.clock.unix_seconds())
        .map(|_| ())
}

fn refuse(e: jwt::JwtError) -> HttpResponse {
    admin::json_error(
        StatusCode::UNAUTHORIZED,
        &format!("unauthorized: {e} (this endpoint needs the engine JWT)"),
    )
}

async fn read_body<N: Network>(
    proxy: &Proxy<N>,
    req: Request<Incoming>,
) -> Result<Bytes, HttpResponse> {
    let limit = proxy.settings.max_request_bytes;
    let too_large = || {
        tracing::warn!(limit, "request body over the limit refused");
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
    // A body that arrives in one chunk is used as it is; a longer one is gathered into one
    // buffer sized from Content-Length up front, so it is copied once and never reallocated.
    let mut body = req.into_body();
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            admin::json_error(
                StatusCode::BAD_REQUEST,
                &format!("could not read the body: {e}"),
            )
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let so_far =
            gathered.as_ref().map_or(0, BytesMut::len) + first.as_ref().map_or(0, Bytes::len);
        if so_far + chunk.len() > limit {
            return Err(too_large());
        }
        match (&mut gathered, first.take()) {
            (Some(buf), _) => buf.extend_from_slice(&chunk),
            (None, None) => first = Some(chunk),
            (None, Some(head)) => {
                let capacity = declared.unwrap_or(0).clamp(head.len() + chunk.len(), limit);
                let mut buf = BytesMut::with_capacity(capacity);
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&chunk);
                gathered = Some(buf);
            }
        }
    }
    Ok(match gathered {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

pub fn json(status: StatusCode, body: Bytes) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .unwrap_or_default()
}
