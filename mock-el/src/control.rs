//! The control API: plain HTTP + JSON on a separate port, no authentication. It stays up while
//! the engine port is dead, so a mock can be revived through it.
//!
//! | Request | Effect / answer |
//! |---|---|
//! | `GET /health` | `{"name":…,"engine_url":…}` |
//! | `GET /behaviour` | the current [`Settings`](crate::Settings) |
//! | `POST /behaviour` | body: one [`Behaviour`] or an array of them, e.g. `{"status":"INVALID"}`, `[{"hang":"engine_getPayload"},{"latency":{"min_ms":5,"max_ms":50}}]`; answers the new settings |
//! | `DELETE /behaviour/<kind>` | clears one slot (`status`, `latency`, `hang`, `dead`, `http_500`, …); answers the new settings |
//! | `POST /reset` | clears every slot; answers the new settings |
//! | `GET /calls` | the call log; `?method=PREFIX` filters it |
//! | `DELETE /calls` | empties the call log |
//! | `GET /chain` | `{"head":{number,hash,parent_hash,timestamp},"calls_received":N,"auth_failures":N}` |

use std::net::SocketAddr;

use bytes::Bytes;
use eb_transport::net::{Connection, Listener, Network};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::behaviour::{Behaviour, BehaviourKind};
use crate::error::MockElError;
use crate::mock::MockEl;

const MAX_BODY: usize = 1024 * 1024;

/// A running control API. Dropping it stops the server.
pub struct ControlHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ControlHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ControlHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ControlHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves the control API for `el` on `addr`. `engine_url` is reported by `GET /health`.
pub async fn spawn_control<N: Network>(
    net: N,
    addr: SocketAddr,
    el: MockEl,
    engine_url: Option<String>,
) -> Result<ControlHandle, MockElError> {
    let listener = net
        .bind(addr)
        .await
        .map_err(|source| MockElError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| MockElError::Bind { addr, source })?;
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop::<N>(listener, el, engine_url, stop_rx));
    Ok(ControlHandle {
        addr,
        stop,
        task: Some(task),
    })
}

async fn accept_loop<N: Network>(
    listener: N::Listener,
    el: MockEl,
    engine_url: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            biased;
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, el.clone(), engine_url.clone(), conn_stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = stopped(&mut stop) => break,
        }
    }
}

async fn connection<S: Connection>(
    stream: S,
    el: MockEl,
    engine_url: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let svc = service_fn(move |req| {
        let el = el.clone();
        let engine_url = engine_url.clone();
        async move { Ok::<_, std::convert::Infallible>(route(&el, engine_url.as_deref(), req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        biased;
        _ = conn => {}
        _ = stopped(&mut stop) => {}
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn reply(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

fn ok_json<T: Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => reply(StatusCode::OK, body, "application/json"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        format!("{message}\n").into_bytes(),
        "text/plain; charset=utf-8",
    )
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Behaviour),
    Many(Vec<Behaviour>),
}

async fn route(
    el: &MockEl,
    engine_url: Option<&str>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()),
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["health"]) => ok_json(&serde_json::json!({
            "name": el.name(),
            "engine_url": engine_url,
        })),
        (&Method::GET, ["behaviour"]) => ok_json(&el.settings()),
        (&Method::POST, ["behaviour"]) => match serde_json::from_slice::<OneOrMany>(&body) {
            Ok(OneOrMany::One(b)) => {
                el.set(b);
                ok_json(&el.settings())
            }
            Ok(OneOrMany::Many(bs)) => {
                el.set_all(bs);
                ok_json(&el.settings())
            }
            Err(e) => error(
                StatusCode::BAD_REQUEST,
                &format!("not a behaviour (see --help for the JSON forms): {e}"),
            ),
        },
        (&Method::DELETE, ["behaviour", kind]) => match kind.parse::<BehaviourKind>() {
            Ok(k) => {
                el.clear(k);
                ok_json(&el.settings())
            }
            Err(_) => error(
                StatusCode::NOT_FOUND,
                &format!("unknown behaviour kind {kind:?}"),
            ),
        },
        (&Method::POST, ["reset"]) => {
            el.reset();
            ok_json(&el.settings())
        }
        (&Method::GET, ["calls"]) => {
            let prefix = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("method="))
                .unwrap_or("");
            ok_json(&el.calls_to(prefix))
        }
        (&Method::DELETE, ["calls"]) => {
            el.clear_calls();
            ok_json(&serde_json::json!({ "cleared": true }))
        }
        (&Method::GET, ["chain"]) => ok_json(&serde_json::json!({
            "head": el.head(),
            "calls_received": el.call_count(),
            "auth_failures": el.auth_failures(),
        })),
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no route for {method} {path}"),
        ),
    }
}
