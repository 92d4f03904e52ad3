//! The proxy started in-process on an ephemeral port, and the consensus client's side of it: the
//! one HTTP client every harness talks to the proxy with.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use eb_transport::{JwtSecret, SystemClock, TokioNet};
use executionbackup::app::{self, Running};
use executionbackup::config::{self, NodeConfig, NodeSpec, Settings};
use serde_json::{json, Value};

use super::auth::{admin_token, shared_secret, token_for};
use super::shapes::{fcu_params, new_payload_params, payload_id, request, status_of};

/// Settings for tests: an ephemeral port on 127.0.0.1, the REST API on with
/// [`super::auth::ADMIN_SECRET`], defaults otherwise.
pub fn settings() -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_secret: Some(super::auth::admin_secret()),
        ..Settings::default()
    }
}

/// Node configs for `specs` (`URL#option...`); `secret` is every node's unless a spec has its own
/// `#jwt-secret=`.
pub fn nodes(specs: &[String], secret: &JwtSecret, settings: &Settings) -> Vec<NodeConfig> {
    specs
        .iter()
        .map(|s| {
            let spec = NodeSpec::parse(s).unwrap_or_else(|e| panic!("node spec {s}: {e}"));
            config::resolve_node(spec, Some(secret), settings.default_timeout)
                .expect("node resolves")
        })
        .collect()
}

/// Starts the proxy in-process: the consensus client signs with `cl_secret`; `seed` seeds its
/// random choices.
pub async fn start(
    settings: Settings,
    cl_secret: &JwtSecret,
    nodes: Vec<NodeConfig>,
    seed: u64,
) -> Running<TokioNet> {
    app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings,
        cl_secret.clone(),
        nodes,
        seed,
    )
    .await
    .expect("proxy starts")
}

/// An HTTP client for 127.0.0.1 (no proxy from the environment); a call that hangs fails the test
/// after 30 s instead of hanging it.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One HTTP answer from the proxy.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
    }
}

/// The consensus client: signs with its secret, talks to the proxy at `url`.
pub struct Cl {
    pub url: String,
    secret: JwtSecret,
    http: reqwest::Client,
}

impl Cl {
    /// A CL holding [`super::auth::SECRET`].
    pub fn new(url: String) -> Self {
        Self::with_secret(url, shared_secret())
    }

    pub fn with_secret(url: String, secret: JwtSecret) -> Self {
        Self {
            url,
            secret,
            http: http_client(),
        }
    }

    /// A fresh `Bearer` header value for the CL's secret.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", token_for(&self.secret))
    }

    /// A fresh `Bearer` header value for the REST API's changing calls.
    pub fn admin_bearer(&self) -> String {
        format!("Bearer {}", admin_token())
    }

    /// Sends `body` to `path` with the given headers (no Authorization unless given).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, String)],
        body: impl Into<reqwest::Body>,
    ) -> HttpReply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let resp = req.send().await.expect("proxy answers over HTTP");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body").to_vec();
        HttpReply {
            status,
            headers,
            body,
        }
    }

    /// POSTs raw bytes as an authenticated JSON request to `/`.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> HttpReply {
        self.send(
            reqwest::Method::POST,
            "/",
            &[
                ("authorization", self.bearer()),
                ("content-type", "application/json".to_owned()),
            ],
            body,
        )
        .await
    }

    /// POSTs a JSON value as an authenticated request; expects HTTP 200 and a JSON answer.
    pub async fn rpc_body(&self, body: &Value) -> Value {
        let reply = self.post_raw(body.to_string()).await;
        assert_eq!(reply.status, 200, "HTTP status; body {}", reply.text());
        reply.json()
    }

    /// One call; returns the whole response object.
    pub async fn call(&self, id: Value, method: &str, params: Value) -> Value {
        self.rpc_body(&request(id, method, params)).await
    }

    /// One call with id 1; returns the whole response object.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        self.call(json!(1), method, params).await
    }

    /// POSTs JSON to `path`, with the CL's token if `auth`; the status and the JSON answer
    /// (`null` if it is not JSON).
    pub async fn post(&self, path: &str, body: Value, auth: bool) -> (u16, Value) {
        self.post_with(path, body, auth.then(|| token_for(&self.secret)))
            .await
    }

    /// A REST API call signed with the admin secret.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_with(path, body, Some(admin_token())).await
    }

    /// POSTs with `token` as the bearer token, if any.
    pub async fn post_with(&self, path: &str, body: Value, token: Option<String>) -> (u16, Value) {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(token) = token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let reply = self
            .send(reqwest::Method::POST, path, &headers, body.to_string())
            .await;
        (
            reply.status,
            serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str, auth: bool) -> (u16, String) {
        self.get_with(path, auth.then(|| token_for(&self.secret)))
            .await
    }

    /// GETs with `token` as the bearer token, if any.
    pub async fn get_with(&self, path: &str, token: Option<String>) -> (u16, String) {
        let headers: Vec<(&str, String)> = token
            .map(|token| ("authorization", format!("Bearer {token}")))
            .into_iter()
            .collect();
        let reply = self
            .send(reqwest::Method::GET, path, &headers, Vec::new())
            .await;
        (reply.status, reply.text())
    }

    /// `GET /metrics` as JSON.
    pub async fn metrics(&self) -> Value {
        let (status, text) = self.get("/metrics", false).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("metrics JSON")
    }

    /// engine_newPayloadV3 for block `n` (hashes by [`super::shapes::hash`]).
    pub async fn new_payload(&self, n: u64) -> Value {
        self.rpc("engine_newPayloadV3", new_payload_params(n)).await
    }

    /// engine_forkchoiceUpdatedV3 with head `n`, with or without payload attributes.
    pub async fn fcu(&self, n: u64, attributes: bool) -> Value {
        self.rpc("engine_forkchoiceUpdatedV3", fcu_params(n, attributes))
            .await
    }

    /// forkchoiceUpdated on block `n` with payload attributes; the payloadId of the VALID answer.
    pub async fn start_build(&self, n: u64) -> String {
        let fcu = self.fcu(n, true).await;
        assert_eq!(status_of(&fcu), "VALID", "{fcu}");
        payload_id(&fcu)
    }
}

/// The Prometheus exposition of a proxy started with `metrics: Some(127.0.0.1:0)`.
pub async fn prometheus(running: &Running<TokioNet>) -> String {
    let addr = running
        .metrics_addr
        .expect("the proxy was started with a metrics address");
    http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("the metrics listener answers")
        .text()
        .await
        .expect("text")
}

/// The value of the sample `series` (name and labels, as exposed) in `exposition`; 0 when the
/// series is not there yet.
pub fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Sends raw bytes over a fresh TCP connection and reads until the server closes it (or
/// `timeout` passes). Returns what was read and whether the server closed the connection.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}
