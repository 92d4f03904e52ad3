//! The HTTP front: the CL's Engine API port, which also serves the REST API.
//!
//! Accepts over the [`Network`] seam, checks the CL's JWT, reads the body within limits and
//! hands it to the [`Proxy`]. Shutdown is graceful: stop accepting, let in-flight requests
//! finish within a deadline.
//!
//! Connections are budgeted so the consensus client always gets in: see [`Gate`]. A request
//! body must arrive within `body_timeout` (408 and the connection closed otherwise). The REST
//! API's changing calls need the admin token ([`crate::trust`]); a request carrying this
//! process's own loop marker is refused.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eb_transport::jwt;
use eb_transport::{Listener, Network, Verifier};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::admin;
use crate::proxy::{self, Proxy};
use crate::readiness;
use crate::refusals::Reason;
use crate::rpc::{self, RpcError};
use crate::trust;

/// A client has this long to send a request's headers, counted from the end of the previous
/// response on a kept-alive connection: it is both the slowloris guard and the idle timeout of
/// an authenticated connection (one that never authenticated goes after `auth_grace`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// In-flight requests get this long to finish after shutdown starts.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

pub type HttpResponse = Response<Full<Bytes>>;

/// What the front knows beyond the proxy: the admin token check and its own addresses.
struct Front {
    /// Checks REST API tokens; `None`: the changing calls are off (403).
    admin: Option<Verifier>,
    /// Where this process listens: a node there would be the proxy itself.
    own: Vec<SocketAddr>,
}

/// One accepted connection, as the budget sees it.
struct ConnInfo {
    /// Sent at least one request that passed a JWT check (engine or admin).
    authenticated: AtomicBool,
    /// Milliseconds since the gate's epoch at the last request start or end.
    last_active: AtomicU64,
    /// Notified to close the connection (it was chosen to make room).
    close: Notify,
    /// Who connected (named in the log when a request is refused).
    peer: SocketAddr,
}

/// The connection budget of one listener: at most `cap` connections; a new one that finds it
/// full displaces the longest-idle connection that never authenticated, and is itself closed
/// only when every connection has authenticated. Connections that have not authenticated
/// within `grace` are closed, so unauthenticated clients can hold no slot for long.
struct Gate {
    name: &'static str,
    cap: usize,
    grace: Duration,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnInfo>>>,
    /// The last admission found the gate full (logged once per such episode).
    full: AtomicBool,
}

impl Gate {
    fn new(name: &'static str, cap: usize, grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            name,
            cap: cap.max(1),
            grace,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            full: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a new connection, closing another if need be; `None`: refuse it.
    fn admit(&self, peer: SocketAddr) -> Option<(u64, Arc<ConnInfo>)> {
        let info = Arc::new(ConnInfo {
            authenticated: AtomicBool::new(false),
            last_active: AtomicU64::new(self.now_ms()),
            close: Notify::new(),
            peer,
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.cap {
            let first = !self.full.swap(true, Ordering::Relaxed);
            // Ties go to the oldest id, so the choice does not depend on the map's order.
            let victim = open
                .iter()
                .filter(|(_, c)| !c.authenticated.load(Ordering::Relaxed))
                .min_by_key(|(id, c)| (c.last_active.load(Ordering::Relaxed), **id))
                .map(|(id, _)| *id);
            match victim.and_then(|id| open.remove(&id)) {
                Some(victim) => {
                    if first {
                        tracing::warn!(listener = self.name, %peer, limit = self.cap, "connection limit reached: closing the longest-idle connections that never authenticated to admit new ones");
                    }
                    victim.close.notify_one();
                }
                None => {
                    if first {
                        tracing::warn!(listener = self.name, %peer, limit = self.cap, "connection limit reached and every connection is authenticated: closing new connections");
                    }
                    return None;
                }
            }
        } else {
            self.full.store(false, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, info.clone());
        Some((id, info))
    }

    fn release(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn touch(&self, info: &ConnInfo) {
        info.last_active.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Runs a connection under the budget: it ends when it ends, when it is chosen to make
    /// room, or at the end of the grace period if it has not authenticated by then.
    fn spawn<F, E>(self: &Arc<Self>, id: u64, info: Arc<ConnInfo>, conn: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let gate = self.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let grace = tokio::time::sleep(gate.grace);
            tokio::pin!(grace);
            let mut grace_over = false;
            loop {
                tokio::select! {
                    biased;
                    () = info.close.notified() => {
                        tracing::debug!(listener = gate.name, "connection closed to admit a new one");
                        break;
                    }
                    ended = conn.as_mut() => {
                        if let Err(e) = ended {
                            tracing::debug!(listener = gate.name, error = %e, "client connection ended with an error");
                        }
                        break;
                    }
                    () = &mut grace, if !grace_over => {
                        grace_over = true;
                        if !info.authenticated.load(Ordering::Relaxed) {
                            tracing::debug!(listener = gate.name, "no authenticated request in time: connection closed");
                            break;
                        }
                    }
                }
            }
            gate.release(id);
        });
    }
}

/// Serves until `shutdown` resolves, then drains.
pub async fn serve<N: Network>(
    proxy: Arc<Proxy<N>>,
    listener: N::Listener,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve_on(proxy, listener, Vec::new(), shutdown).await
}

/// Like [`serve`]; `also_own` lists this process's other listening addresses (the Prometheus
/// one), which no node added through the REST API may point at.
pub async fn serve_on<N: Network>(
    proxy: Arc<Proxy<N>>,
    listener: N::Listener,
    also_own: Vec<SocketAddr>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let gate = Gate::new(
        "engine",
        proxy.settings.max_connections,
        proxy.settings.auth_grace,
    );
    let mut own = also_own;
    own.extend(listener.local_addr().ok());
    let front = Arc::new(Front {
        admin: proxy.settings.admin_secret.clone().map(Verifier::new),
        own,
    });
    // `--tls-cert`/`--tls-key`: every connection is TLS first; without them nothing changes.
    let tls = proxy
        .settings
        .tls
        .clone()
        .map(eb_transport::tls::TlsAcceptor::from);
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
                    let (proxy, front, conn_info, touch) =
                        (proxy.clone(), front.clone(), info.clone(), gate.clone());
                    let service = service_fn(move |req| {
                        let (proxy, front, info, gate) =
                            (proxy.clone(), front.clone(), conn_info.clone(), touch.clone());
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
                    match &tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            gate.spawn(id, info, graceful.watch(conn));
                        }
                        // The handshake counts against the connection's grace for
                        // authenticating, like a slow first request.
                        Some(acceptor) => {
                            let (accept, watcher) = (acceptor.accept(stream), graceful.watcher());
                            gate.spawn(id, info, async move {
                                let stream = accept
                                    .await
                                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                                let conn = builder.serve_connection(TokioIo::new(stream), service);
                                watcher.watch(conn).await.map_err(|e| e.to_string())
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
    tokio::select! {
        biased;
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(DRAIN_DEADLINE) => tracing::warn!("drain deadline passed, closing remaining connections"),
    }
}

/// Serves the Prometheus exposition (`GET /metrics`) until `shutdown` resolves, under
/// its own small connection budget (no connection there ever authenticates, so each is closed
/// after the grace period, and the longest-idle makes room for a new one).
pub async fn serve_prometheus<N: Network>(
    proxy: Arc<Proxy<N>>,
    listener: N::Listener,
    shutdown: impl Future<Output = ()> + Send,
) {
    let gate = Gate::new(
        "prometheus",
        proxy.settings.metrics_max_connections,
        proxy.settings.auth_grace,
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
                            _ => admin::json_error(
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

async fn handle<N: Network>(
    proxy: Arc<Proxy<N>>,
    front: &Front,
    conn: &ConnInfo,
    req: Request<Incoming>,
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
            let body = match read_body(&proxy, conn.peer, req).await {
                Ok(body) => body,
                Err(resp) => return resp,
            };
            if path == "/add_nodes" {
                admin::add_nodes(&proxy, &body, &front.own).await
            } else {
                admin::remove_nodes(&proxy, &body).await
            }
        }
        (&Method::POST, _) => engine(proxy, conn, req).await,
        // EIP-8161's SSZ/REST engine transport: a consensus client probes for it with
        // `GET /engine/v1/capabilities` and falls back to JSON-RPC on a clean "not here".
        (&Method::GET, p) if p.starts_with("/engine/") => admin::json_error(
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
            admin::json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => {
            proxy
                .metrics
                .refusals
                .refused(Reason::Method, conn.peer, &path);
            admin::json_error(
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
fn admin_refusal<N: Network>(
    proxy: &Proxy<N>,
    front: &Front,
    conn: &ConnInfo,
    req: &Request<Incoming>,
) -> Option<HttpResponse> {
    let Some(verifier) = &front.admin else {
        proxy
            .metrics
            .refusals
            .refused(Reason::AdminOff, conn.peer, req.uri().path());
        return Some(admin::json_error(
            StatusCode::FORBIDDEN,
            trust::ADMIN_OFF_HINT,
        ));
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
            Some(admin::json_error(
                StatusCode::UNAUTHORIZED,
                &format!(
                    "unauthorized: {e} (this endpoint needs a token signed with --admin-jwt-secret; the engine secret is not accepted)"
                ),
            ))
        }
    }
}

async fn engine<N: Network>(
    proxy: Arc<Proxy<N>>,
    conn: &ConnInfo,
    req: Request<Incoming>,
) -> HttpResponse {
    if let Err(e) = check_jwt(&proxy, &req) {
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
    let body = match read_body(&proxy, conn.peer, req).await {
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

async fn read_body<N: Network>(
    proxy: &Proxy<N>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Bytes, HttpResponse> {
    let limit = proxy.settings.max_request_bytes;
    let too_large = || {
        proxy
            .metrics
            .refusals
            .refused(Reason::TooLarge, peer, &format!("limit {limit} bytes"));
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
    let timeout = proxy.settings.body_timeout;
    match tokio::time::timeout(timeout, gather(req.into_body(), declared, limit)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(Gathered::TooLarge)) => Err(too_large()),
        Ok(Err(Gathered::Broken(e))) => Err(admin::json_error(
            StatusCode::BAD_REQUEST,
            &format!("could not read the body: {e}"),
        )),
        Err(_) => {
            proxy.metrics.refusals.refused(
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

enum Gathered {
    TooLarge,
    Broken(hyper::Error),
}

/// Reads a whole body of at most `limit` bytes.
async fn gather(
    mut body: Incoming,
    declared: Option<usize>,
    limit: usize,
) -> Result<Bytes, Gathered> {
    // A body that arrives in one chunk is used as it is; a longer one is gathered into one
    // buffer sized from Content-Length up front, so it is copied once and never reallocated.
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Gathered::Broken)?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let so_far =
            gathered.as_ref().map_or(0, BytesMut::len) + first.as_ref().map_or(0, Bytes::len);
        if so_far + chunk.len() > limit {
            return Err(Gathered::TooLarge);
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

/// Descriptors the process may need at once: both listeners' connection caps, every node's
/// pool (its in-flight bound, plus its lane and its probe), and a reserve for the listeners,
/// the runtime and standard streams.
pub fn fd_budget(settings: &crate::config::Settings, nodes: usize) -> u64 {
    const RESERVE: u64 = 32;
    let metrics = if settings.metrics.is_some() {
        settings.metrics_max_connections
    } else {
        0
    };
    let per_node = settings.max_in_flight_per_node as u64 + 2;
    settings.max_connections as u64 + metrics as u64 + nodes as u64 * per_node + RESERVE
}

/// At start-up: raises the soft descriptor limit to the hard one, and says so (one WARN line)
/// when even that is below [`fd_budget`]: then a flood of connections could leave the process
/// unable to accept the consensus client or reach a node.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
pub fn check_fd_limit(settings: &crate::config::Settings, nodes: usize) {
    let need = fd_budget(settings, nodes);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct passed, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur as u64,
                to = limit.rlim_max as u64,
                "raised the open-file limit to the hard limit"
            );
            limit = raised;
        }
    }
    let have = limit.rlim_cur as u64;
    if have < need {
        tracing::warn!(
            limit = have,
            needed = need,
            "the open-file limit (RLIMIT_NOFILE) is below what the connection caps and node pools can use: lower --max-connections or --max-in-flight-per-node, or raise the limit (LimitNOFILE= in systemd, ulimit -n)"
        );
    }
}

#[cfg(not(unix))]
pub fn check_fd_limit(_settings: &crate::config::Settings, _nodes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_unauthenticated_connection_makes_room() {
        let gate = Gate::new("test", 3, Duration::from_secs(5));
        let (a, a_info) = gate.admit(peer()).expect("room");
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_b, b_info) = gate.admit(peer()).expect("room");
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_c, c_info) = gate.admit(peer()).expect("room");
        // `a` is the oldest but authenticated; `b` was idle longest among the others once `c`
        // is touched again.
        a_info.authenticated.store(true, Ordering::Relaxed);
        tokio::time::advance(Duration::from_millis(10)).await;
        gate.touch(&c_info);
        let (_d, _) = gate.admit(peer()).expect("room made");
        assert!(
            b_info.close.notified().now_or_never().is_some(),
            "b was closed"
        );
        assert!(c_info.close.notified().now_or_never().is_none());
        assert!(a_info.close.notified().now_or_never().is_none());
        // Everyone authenticated: a new connection is refused, nobody is closed.
        for info in gate.open.lock().expect("lock").values() {
            info.authenticated.store(true, Ordering::Relaxed);
        }
        assert!(gate.admit(peer()).is_none());
        assert_eq!(gate.open.lock().expect("lock").len(), 3);
        gate.release(a);
        assert!(
            gate.admit(peer()).is_some(),
            "a slot freed by a closed connection"
        );
    }
}
