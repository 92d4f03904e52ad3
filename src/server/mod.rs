//! The HTTP front: the CL's Engine API port, which also serves the REST API.
//!
//! Accepts over the [`Network`] seam, checks the CL's JWT, reads the body within limits and
//! hands it to the [`Proxy`]. Each engine-port connection is served by `conn`: HTTP/1.1 read
//! and written by hand, so a body goes from the socket straight into its one buffer, with
//! hyper's server for the requests that side does not take (`head`). Shutdown is graceful
//! (`drain`): stop accepting, close idle connections, let in-flight requests finish within a
//! deadline.
//!
//! Connections are budgeted so the consensus client always gets in: see [`Gate`]. A request
//! body must arrive within `body_timeout` (408 and the connection closed otherwise). The REST
//! API's changing calls need the admin token ([`crate::trust`]); a request carrying this
//! process's own loop marker is refused.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::jwt;
use eb_transport::tls::TlsAcceptor;
use eb_transport::{JwtSecret, Listener, Network, Verifier};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::admin;
use crate::config::Settings;
use crate::handlers;
use crate::http::{json, json_error, HttpResponse};
use crate::proxy::Proxy;
use crate::readiness;
use crate::refusals::Reason;
use crate::rpc::{self, RpcError};
use crate::trust;

mod body;
mod body_pool;
mod conn;
mod drain;
mod fd_limit;
mod gate;
pub mod head;
mod response;
mod rewind;

use body::RequestBody;
pub use fd_limit::{check_fd_limit, fd_budget};
use gate::{ConnInfo, Gate};

/// A client has this long to send a request's headers, counted from the end of the previous
/// response on a kept-alive connection: it is both the slowloris guard and the idle timeout of
/// an authenticated connection (one that never authenticated goes after `auth_grace`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// In-flight requests get this long to finish after shutdown starts.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// The front end's limits: what a connection and a request may take before the core sees it.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub metrics_max_connections: usize,
    /// How long a connection may stay without an authenticated request.
    pub auth_grace: Duration,
    pub max_request_bytes: usize,
    pub body_timeout: Duration,
    pub max_batch: usize,
}

impl Limits {
    pub fn of(settings: &Settings) -> Self {
        Self {
            max_connections: settings.max_connections,
            metrics_max_connections: settings.metrics_max_connections,
            auth_grace: settings.auth_grace,
            max_request_bytes: settings.max_request_bytes,
            body_timeout: settings.body_timeout,
            max_batch: settings.max_batch,
        }
    }
}

/// The front end's own state, the way a listener owns its connections: its limits, the checks
/// of the CL's and the admin's tokens, TLS, and its own addresses. The core behind it is handed
/// only the requests that passed.
pub struct Front {
    limits: Limits,
    /// Checks the CL's tokens (remembering the last good one).
    engine: Verifier,
    /// Checks REST API tokens; `None`: the changing calls are off (403).
    admin: Option<Verifier>,
    /// `--tls-cert`/`--tls-key`: every connection is TLS first.
    tls: Option<TlsAcceptor>,
    /// Where this process listens: a node there would be the proxy itself.
    own: Vec<SocketAddr>,
    /// Buffers of large request bodies, reused from one call to the next.
    bodies: body_pool::BodyPool,
}

impl Front {
    /// The front for `settings`, checking the CL's tokens against `cl_secret`.
    pub fn new(settings: &Settings, cl_secret: JwtSecret) -> Self {
        Self {
            limits: Limits::of(settings),
            engine: Verifier::new(cl_secret),
            admin: settings.admin_secret.clone().map(Verifier::new),
            tls: settings.tls.clone().map(TlsAcceptor::from),
            own: Vec::new(),
            bodies: body_pool::BodyPool::default(),
        }
    }

    /// Also counts `addrs` as this process's own (no node may point there).
    pub fn with_own(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.own.extend(addrs);
        self
    }
}

/// Serves the engine port (and the REST API) until `shutdown` resolves, then drains.
pub async fn serve<N: Network>(
    proxy: Arc<Proxy<N>>,
    front: Front,
    listener: N::Listener,
    shutdown: impl Future<Output = ()> + Send,
) {
    let drain = drain::Drain::new();
    let gate = Gate::new(
        "engine",
        front.limits.max_connections,
        front.limits.auth_grace,
    );
    let front = Arc::new(front.with_own(listener.local_addr().ok()));
    tokio::pin!(shutdown);
    loop {
        // Biased: polling order is fixed, so simulations replay exactly.
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some((id, info)) = gate.admit(peer) else {
                        drop(stream);
                        continue;
                    };
                    let ctx = conn::Ctx {
                        proxy: proxy.clone(),
                        front: front.clone(),
                        info: info.clone(),
                        gate: gate.clone(),
                        drain: drain.signal(),
                    };
                    match &front.tls {
                        None => gate.spawn(id, info, conn::serve(stream, ctx)),
                        // The handshake counts against the connection's grace for
                        // authenticating, like a slow first request.
                        Some(acceptor) => {
                            let accept = acceptor.accept(stream);
                            gate.spawn(id, info, async move {
                                let stream = accept
                                    .await
                                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                                conn::serve(stream, ctx).await.map_err(|e| e.to_string())
                            });
                        }
                    }
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
    if drain.drain(DRAIN_DEADLINE).await {
        tracing::info!("all connections drained");
    } else {
        tracing::warn!("drain deadline passed, closing remaining connections");
    }
}

/// Serves the Prometheus exposition (`GET /metrics`) until `shutdown` resolves, under
/// its own small connection budget (no connection there ever authenticates, so each is closed
/// after the grace period, and the longest-idle makes room for a new one).
pub async fn serve_prometheus<N: Network>(
    proxy: Arc<Proxy<N>>,
    limits: Limits,
    listener: N::Listener,
    shutdown: impl Future<Output = ()> + Send,
) {
    let gate = Gate::new(
        "prometheus",
        limits.metrics_max_connections,
        limits.auth_grace,
    );
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed (Prometheus listener)");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some((id, info)) = gate.admit(peer) else {
                    drop(stream);
                    continue;
                };
                let proxy = proxy.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let proxy = proxy.clone();
                    async move {
                        let resp = match (req.method(), req.uri().path()) {
                            (&Method::GET, "/metrics") => admin::prometheus_response(
                                &proxy,
                                req.headers().get(http::header::ACCEPT).and_then(|a| a.to_str().ok()),
                            ),
                            (&Method::GET, "/healthz") => readiness::healthz(),
                            (&Method::GET, "/readyz") => readiness::readyz(&proxy),
                            _ => json_error(
                                StatusCode::NOT_FOUND,
                                "only GET /metrics (Prometheus), /healthz and /readyz here",
                            ),
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                gate.spawn(id, info, conn);
            }
        }
    }
}

async fn handle<N: Network, B: RequestBody>(
    proxy: Arc<Proxy<N>>,
    front: &Front,
    conn: &ConnInfo,
    req: Request<B>,
) -> HttpResponse {
    if trust::is_own(req.headers().get(trust::LOOP_HEADER).map(|v| v.as_bytes())) {
        trust::log_loop(req.uri().path());
        proxy.metrics.refusals.count_only(Reason::Loop);
        return loop_refused();
    }
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => admin::metrics_report(&proxy),
        (&Method::GET, "/disagreements") => admin::disagreements(&proxy, req.uri().query()),
        (&Method::GET, "/healthz") => readiness::healthz(),
        (&Method::GET, "/readyz") => readiness::readyz(&proxy),
        (&Method::GET, "/recheck") => match admin_refusal(&proxy, front, conn, &req) {
            None => admin::recheck(&proxy).await,
            Some(resp) => resp,
        },
        (&Method::POST, "/add_nodes") | (&Method::POST, "/remove_nodes") => {
            if let Some(resp) = admin_refusal(&proxy, front, conn, &req) {
                return resp;
            }
            let body = match front
                .read_body(&proxy.metrics.refusals, conn.peer, req)
                .await
            {
                Ok(body) => body,
                Err(resp) => return resp,
            };
            if path == "/add_nodes" {
                admin::add_nodes(&proxy, &body, &front.own).await
            } else {
                admin::remove_nodes(&proxy, &body).await
            }
        }
        (&Method::POST, _) => engine(proxy, front, conn, req).await,
        // EIP-8161's SSZ/REST engine transport: a consensus client probes for it with
        // `GET /engine/v1/capabilities` and falls back to JSON-RPC on a clean "not here".
        (&Method::GET, p) if p.starts_with("/engine/") => json_error(
            StatusCode::NOT_FOUND,
            "the SSZ/REST engine transport is not served here: use JSON-RPC over POST",
        ),
        (
            _,
            "/metrics" | "/recheck" | "/add_nodes" | "/remove_nodes" | "/healthz" | "/readyz"
            | "/disagreements",
        ) => {
            proxy
                .metrics
                .refusals
                .refused(Reason::Method, conn.peer, &path);
            json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => {
            proxy
                .metrics
                .refusals
                .refused(Reason::Method, conn.peer, &path);
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "the Engine API takes JSON-RPC over POST",
            )
        }
    }
}

/// The answer to a request that carries this process's own loop marker. Never forwarded.
fn loop_refused() -> HttpResponse {
    let body = rpc::error_response(
        b"null",
        &RpcError::new(
            rpc::SERVER_ERROR,
            "request loop: this request was sent by this executionbackup process to one of its nodes and came back; refused",
        ),
    );
    let mut resp = json(StatusCode::LOOP_DETECTED, body);
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// The REST API's changing calls: only with `--admin-jwt-secret`, and only with a token
/// signed by it. The engine secret never passes here. `None`: go ahead.
fn admin_refusal<N: Network, B>(
    proxy: &Proxy<N>,
    front: &Front,
    conn: &ConnInfo,
    req: &Request<B>,
) -> Option<HttpResponse> {
    let Some(verifier) = &front.admin else {
        proxy
            .metrics
            .refusals
            .refused(Reason::AdminOff, conn.peer, req.uri().path());
        return Some(json_error(StatusCode::FORBIDDEN, trust::ADMIN_OFF_HINT));
    };
    let checked = jwt::bearer_token(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))
        .and_then(|token| verifier.verify(token, proxy.clock.unix_seconds()));
    match checked {
        Ok(_) => {
            conn.authenticated.store(true, Ordering::Relaxed);
            None
        }
        Err(e) => {
            proxy
                .metrics
                .refusals
                .refused(Reason::AdminToken, conn.peer, &e.to_string());
            Some(json_error(
                StatusCode::UNAUTHORIZED,
                &format!(
                    "unauthorized: {e} (this endpoint needs a token signed with --admin-jwt-secret; the engine secret is not accepted)"
                ),
            ))
        }
    }
}

async fn engine<N: Network, B: RequestBody>(
    proxy: Arc<Proxy<N>>,
    front: &Front,
    conn: &ConnInfo,
    req: Request<B>,
) -> HttpResponse {
    if let Err(e) = check_jwt(&proxy, front, &req) {
        proxy
            .metrics
            .refusals
            .refused(Reason::of_jwt(&e), conn.peer, &e.to_string());
        let body = rpc::error_response(
            b"null",
            &RpcError::new(rpc::SERVER_ERROR, format!("unauthorized: {e}")),
        );
        return json(StatusCode::UNAUTHORIZED, body);
    }
    conn.authenticated.store(true, Ordering::Relaxed);
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let is_json = ct.to_str().is_ok_and(|ct| {
            ct.get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/json"))
        });
        if !is_json {
            proxy.metrics.refusals.refused(
                Reason::ContentType,
                conn.peer,
                &String::from_utf8_lossy(ct.as_bytes()),
            );
            let body = rpc::error_response(
                b"null",
                &RpcError::invalid_request("Content-Type must be application/json"),
            );
            return json(StatusCode::UNSUPPORTED_MEDIA_TYPE, body);
        }
    }
    let body = match front
        .read_body(&proxy.metrics.refusals, conn.peer, req)
        .await
    {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    match handlers::answer(&proxy, &body, front.limits.max_batch).await {
        Some(reply) => json(StatusCode::OK, reply),
        None => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default(),
    }
}

fn check_jwt<N: Network, B>(
    proxy: &Proxy<N>,
    front: &Front,
    req: &Request<B>,
) -> Result<(), jwt::JwtError> {
    let token = jwt::bearer_token(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))?;
    front
        .engine
        .verify(token, proxy.clock.unix_seconds())
        .map(|_| ())
}
