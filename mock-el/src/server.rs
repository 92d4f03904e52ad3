//! The engine port: HTTP/1.1 over any [`Network`], JWT on every request, faults injected at the
//! HTTP level (latency, hang, close mid-response, 500, flaky drop, dead).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eb_transport::jwt::{self, Claims};
use eb_transport::net::{Connection, Listener, Network};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::behaviour::HttpFault;
use crate::engine::{self, Ctx, Effect};
use crate::mock::{lock, Life, Shared, State};
use crate::record::{intern, Call, Outcome};
use crate::rpc::{self, Item};

/// Largest request body accepted (HTTP 413 above).
const MAX_BODY: usize = 128 * 1024 * 1024;
/// How long a closed-mid-response connection waits after the partial body before closing, so
/// the partial bytes leave before the close.
const CLOSE_DELAY: Duration = Duration::from_millis(10);
/// Pause before retrying a failed bind or accept.
const RETRY: Duration = Duration::from_millis(50);

/// Runs the accept loop until shutdown. While dead the listener is dropped; on revival the same
/// address is bound again.
pub(crate) async fn serve<N: Network>(
    net: N,
    listener: N::Listener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<eb_transport::tls::TlsAcceptor>,
) {
    let mut life = shared.life.subscribe();
    let mut listener = Some(listener);
    loop {
        let now = *life.borrow_and_update();
        if now.shutdown {
            break;
        }
        if now.dead {
            if listener.take().is_some() {
                tracing::info!(el = %shared.name, %addr, "dead: stopped listening");
            }
            if life.changed().await.is_err() {
                break;
            }
            continue;
        }
        let current = match &listener {
            Some(l) => l,
            None => match net.bind(addr).await {
                Ok(l) => {
                    tracing::info!(el = %shared.name, %addr, "alive: listening again");
                    listener.insert(l)
                }
                Err(e) => {
                    tracing::warn!(el = %shared.name, %addr, error = %e, "cannot bind again; retrying");
                    tokio::select! {
                        biased;
                        _ = tokio::time::sleep(RETRY) => {}
                        r = life.changed() => if r.is_err() { break },
                    }
                    continue;
                }
            },
        };
        tokio::select! {
            biased;
            accepted = current.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let conn_life = shared.life.subscribe();
                    match &tls {
                        None => {
                            tokio::spawn(connection(stream, shared.clone(), conn_life));
                        }
                        Some(acceptor) => {
                            let (accept, shared) = (acceptor.accept(stream), shared.clone());
                            tokio::spawn(async move {
                                match accept.await {
                                    Ok(stream) => connection(stream, shared, conn_life).await,
                                    Err(e) => {
                                        shared.tls_failures.fetch_add(1, Ordering::Relaxed);
                                        tracing::debug!(el = %shared.name, error = %e, "TLS handshake failed");
                                    }
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(el = %shared.name, error = %e, "accept failed");
                    tokio::time::sleep(RETRY).await;
                }
            },
            r = life.changed() => if r.is_err() { break },
        }
    }
    tracing::debug!(el = %shared.name, "engine port closed");
}

/// Serves one connection until the peer leaves, or the mock dies or shuts down.
///
/// Death is looked at first: once the mock is dead or shut down, a request that arrives on a
/// connection opened before is never served (a restarted EL has lost what the old one knew, and
/// tests rely on that), however late this task runs after the signal.
async fn connection<S: Connection>(
    stream: S,
    shared: Arc<Shared>,
    mut life: watch::Receiver<Life>,
) {
    let svc = service_fn(move |req| handle(shared.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        biased;
        _ = async { let _ = life.wait_for(|l| l.dead || l.shutdown).await; } => {}
        r = conn => if let Err(e) = r {
            tracing::trace!(error = %e, "connection ended");
        },
    }
}

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug)]
pub(crate) struct Abort(&'static str);

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

fn text(status: StatusCode, body: String) -> Response<ResBody> {
    let mut res = Response::new(ResBody::full(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<ResBody>, Abort> {
    let at = shared.start.elapsed();
    let arrival = shared.arrivals.fetch_add(1, Ordering::Relaxed);
    let stamp = Stamp {
        at,
        arrival,
        params: shared.record_params,
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let verified = jwt::bearer_token(auth)
        .and_then(|token| jwt::verify(&shared.secret, token, shared.clock.unix_seconds()));
    let claims = match verified {
        Ok(claims) => claims,
        Err(e) => {
            shared.auth_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(el = %shared.name, error = %e, "refused request: bad JWT");
            return Ok(text(
                StatusCode::UNAUTHORIZED,
                format!("invalid token: {e}\n"),
            ));
        }
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read request body: {e}\n"),
            ))
        }
    };
    let parsed = rpc::parse(&body);
    let items: &[Item<'_>] = match &parsed {
        rpc::Body::Single(item) => std::slice::from_ref(item),
        rpc::Body::Batch(items) => items,
        rpc::Body::Broken(_) => &[],
    };
    let methods = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|r| r.method.as_ref());
    let plan = {
        let mut st = shared.state();
        let State {
            settings,
            rng,
            flaky_rng,
            ..
        } = &mut *st;
        settings.plan(methods, rng, flaky_rng)
    };
    if let Some(delay) = plan.delay {
        // Should the client give up during the wait, this future is dropped: the guard still
        // logs the calls it carried.
        let calls = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(|r| {
                new_call(
                    r,
                    &stamp,
                    &claims,
                    Outcome::Abandoned,
                    Effect::default(),
                    None,
                )
            })
            .collect();
        let guard = Abandoned {
            shared: &shared,
            calls: Some(calls),
        };
        tokio::time::sleep(delay).await;
        guard.disarm();
    }
    let unanswered = |outcome| {
        let calls = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(|r| new_call(r, &stamp, &claims, outcome, Effect::default(), None));
        let mut log = lock(&shared.calls);
        for c in calls {
            log.push(c);
        }
    };
    match plan.fault {
        Some(HttpFault::Flaky) => {
            unanswered(Outcome::Dropped);
            Err(Abort("mock-el: flaky, dropping the connection"))
        }
        Some(HttpFault::Hang) => {
            unanswered(Outcome::Hung);
            hang(&shared).await;
            Err(Abort("mock-el: hang cleared, dropping the connection"))
        }
        Some(HttpFault::Http500) => {
            unanswered(Outcome::Http500);
            Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock-el: internal server error\n".to_string(),
            ))
        }
        Some(HttpFault::CloseMidResponse) => {
            let out = answer(
                &shared,
                &parsed,
                &stamp,
                &claims,
                Outcome::ClosedMidResponse,
            );
            Ok(json(ResBody::truncated(out.into())))
        }
        None => {
            let out = answer(&shared, &parsed, &stamp, &claims, Outcome::Answered);
            Ok(json(ResBody::full(out.into())))
        }
    }
}

/// Logs its calls as [`Outcome::Abandoned`] when dropped before [`Abandoned::disarm`].
struct Abandoned<'s> {
    shared: &'s Shared,
    calls: Option<Vec<Call>>,
}

impl Abandoned<'_> {
    fn disarm(mut self) {
        self.calls = None;
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(calls) = self.calls.take() {
            let mut log = lock(&self.shared.calls);
            for c in calls {
                log.push(c);
            }
        }
    }
}

fn json(body: ResBody) -> Response<ResBody> {
    let len = body.full_len();
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}

/// Waits until no hang is configured (or the mock goes away).
async fn hang(shared: &Shared) {
    let mut changes = shared.changes.subscribe();
    loop {
        if shared.state().settings.hang.is_none() {
            return;
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// What every call of one HTTP request records about its arrival.
struct Stamp {
    at: Duration,
    arrival: u64,
    /// Keep the raw params.
    params: bool,
}

fn new_call(
    req: &rpc::Request<'_>,
    stamp: &Stamp,
    claims: &Claims,
    outcome: Outcome,
    effect: Effect,
    error_code: Option<i64>,
) -> Call {
    Call {
        method: intern(&req.method),
        params_bytes: req.params.map_or(0, |p| p.get().len()),
        arrival: stamp.arrival,
        params: stamp
            .params
            .then(|| req.params.map_or_else(String::new, |p| p.get().to_owned())),
        at: stamp.at,
        claims: claims.clone(),
        status: effect.status,
        error_code,
        block_hash: effect.block_hash,
        payload_id: effect.payload_id,
        outcome,
    }
}

/// Runs every request of the body and writes the response (a single object or an array).
fn answer(
    shared: &Shared,
    parsed: &rpc::Body<'_>,
    stamp: &Stamp,
    claims: &Claims,
    outcome: Outcome,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut calls = Vec::new();
    {
        let mut st = shared.state();
        let State {
            settings, chain, ..
        } = &mut *st;
        let mut ctx = Ctx {
            settings,
            chain,
            now: Instant::now(),
            name: &shared.name,
            code: &shared.code,
            instance: &shared.instance,
        };
        let mut one = |item: &Item<'_>, out: &mut Vec<u8>| match item {
            Err((id, e)) => rpc::write_error(out, *id, e),
            Ok(req) => {
                let mark = out.len();
                rpc::write_head(out, req.id);
                out.extend_from_slice(b"\"result\":");
                match engine::call(&mut ctx, &req.method, req.params, out) {
                    Ok(effect) => {
                        out.push(b'}');
                        calls.push(new_call(req, stamp, claims, outcome, effect, None));
                    }
                    Err(e) => {
                        out.truncate(mark);
                        rpc::write_error(out, req.id, &e);
                        let code = Some(e.code);
                        calls.push(new_call(
                            req,
                            stamp,
                            claims,
                            outcome,
                            Effect::default(),
                            code,
                        ));
                    }
                }
            }
        };
        match parsed {
            rpc::Body::Broken(e) => rpc::write_error(&mut out, None, e),
            rpc::Body::Single(item) => one(item, &mut out),
            rpc::Body::Batch(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    one(item, &mut out);
                }
                out.push(b']');
            }
        }
    }
    let mut log = lock(&shared.calls);
    for c in calls {
        log.push(c);
    }
    out
}

/// A response body: whole, or cut in the middle (headers promise the full length, half of it
/// is sent, then the body fails and hyper closes the connection).
pub(crate) enum ResBody {
    Full(Option<Bytes>),
    Truncated {
        len: usize,
        first: Option<Bytes>,
        pause: Option<Pin<Box<Sleep>>>,
    },
}

impl ResBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        ResBody::Full(Some(bytes))
    }

    fn truncated(bytes: Bytes) -> Self {
        let len = bytes.len();
        ResBody::Truncated {
            len,
            first: Some(bytes.slice(..len / 2)),
            pause: None,
        }
    }

    fn full_len(&self) -> usize {
        match self {
            ResBody::Full(b) => b.as_ref().map_or(0, Bytes::len),
            ResBody::Truncated { len, .. } => *len,
        }
    }
}

impl Body for ResBody {
    type Data = Bytes;
    type Error = Abort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Abort>>> {
        match self.get_mut() {
            ResBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResBody::Truncated { first, pause, .. } => {
                if let Some(part) = first.take() {
                    *pause = Some(Box::pin(tokio::time::sleep(CLOSE_DELAY)));
                    return Poll::Ready(Some(Ok(Frame::data(part))));
                }
                if let Some(p) = pause {
                    if p.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Poll::Ready(Some(Err(Abort("mock-el: closing mid-response"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ResBody::Truncated { .. } => SizeHint::default(),
        }
    }
}
