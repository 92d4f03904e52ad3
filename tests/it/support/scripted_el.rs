//! Shared pieces of the integration tests: fake execution clients (wiremock servers that check
//! the JWT with their own secret and echo the request id), the proxy started in-process on an
//! ephemeral port, and a consensus-client side HTTP helper.
//!
//! Every test file uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eb_transport::jwt::{self, Claims};
use eb_transport::{JwtSecret, SystemClock, TokioNet, WallClock};
use executionbackup::app::{self, Running};
use executionbackup::config::{self, NodeSpec, Settings};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wiremock::matchers::body_partial_json;
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

/// Methods every fake EL advertises unless a test says otherwise.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "engine_newPayloadV3",
    "engine_forkchoiceUpdatedV3",
    "engine_getPayloadV3",
    "engine_getClientVersionV1",
];

/// The chain every fake EL is on unless a test says otherwise (the proxy checks at start-up
/// that all nodes agree).
pub const CHAIN_ID: &str = "0x1";

/// Priority of the mocks a test mounts with [`El::on`]: above the defaults.
const TEST_PRIORITY: u8 = 1;
/// Priority of the health-probe answers every EL gets.
const DEFAULT_PRIORITY: u8 = 5;
/// Authenticated request for a method nobody mocked: -32601.
const UNKNOWN_METHOD_PRIORITY: u8 = 9;
/// Anything else (no token, a token signed with another secret): HTTP 401.
const UNAUTHORIZED_PRIORITY: u8 = 10;

// ---- secrets and tokens -------------------------------------------------------------------

/// A secret made of one repeated byte: easy to tell apart in failures.
pub fn secret(byte: u8) -> JwtSecret {
    JwtSecret::from_bytes([byte; 32])
}

pub fn now() -> u64 {
    SystemClock.unix_seconds()
}

/// A CL token with `iat` = now and the optional `id` / `clv` claims.
pub fn cl_token(secret: &JwtSecret, id: Option<&str>, clv: Option<&str>) -> String {
    jwt::sign(
        secret,
        &Claims {
            iat: now(),
            id: id.map(str::to_owned),
            clv: clv.map(str::to_owned),
        },
    )
}

/// base64url without padding (enough to hand-craft tokens the signing API refuses to make).
pub fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(ALPHABET[idx as usize] as char);
        }
    }
    out
}

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A secret written to a file in the usual `jwt.hex` form; the file is removed on drop.
pub struct SecretFile {
    pub path: PathBuf,
}

impl SecretFile {
    pub fn new(secret: &JwtSecret) -> Self {
        let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("executionbackup-it-{}-{n}.hex", std::process::id()));
        std::fs::write(&path, format!("0x{}\n", secret.to_hex())).expect("write secret file");
        Self { path }
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---- JSON-RPC values ----------------------------------------------------------------------

/// `0x` + 32 bytes of `n`.
pub fn hash(n: u8) -> String {
    format!("0x{}", format!("{n:02x}").repeat(32))
}

pub fn request(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

use crate::support::shapes;

/// `hash` over the numbers the shared shapes use (every one fits a byte here).
fn byte_hash(n: u64) -> String {
    hash(n as u8)
}

/// engine_newPayloadV3 params for a block whose hash is `hash(n)`.
pub fn new_payload_params(n: u8) -> Value {
    shapes::new_payload_params(&byte_hash, n.into(), n.wrapping_sub(1).into())
}

/// engine_forkchoiceUpdatedV3 params with head `hash(n)`, with or without payload attributes.
pub fn fcu_params(n: u8, attributes: bool) -> Value {
    let ancestors = [n.wrapping_sub(1).into(), n.wrapping_sub(2).into()];
    shapes::fcu_params(&byte_hash, n.into(), ancestors, attributes)
}

/// A PayloadStatusV1.
pub fn payload_status(status: &str, lvh: Option<&str>, error: Option<&str>) -> Value {
    json!({"status": status, "latestValidHash": lvh, "validationError": error})
}

/// A forkchoiceUpdated result.
pub fn fcu_result(status: Value, payload_id: Option<&str>) -> Value {
    json!({"payloadStatus": status, "payloadId": payload_id})
}

/// The raw `id` of a JSON-RPC body, as sent (`null` when absent or unreadable).
pub fn raw_id(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    serde_json::from_slice::<IdOnly<'_>>(body)
        .ok()
        .and_then(|v| v.id.map(|id| id.get().to_owned()))
        .unwrap_or_else(|| "null".to_owned())
}

// ---- the fake execution client ------------------------------------------------------------

/// Matches requests whose `Authorization: Bearer` token verifies with this secret, now.
pub struct SignedWith(pub JwtSecret);

impl Match for SignedWith {
    fn matches(&self, request: &Request) -> bool {
        let header = request.headers.get("authorization").map(|v| v.as_bytes());
        jwt::bearer_token(header)
            .and_then(|token| jwt::verify(&self.0, token, now()))
            .is_ok()
    }
}

#[derive(Clone, Debug)]
enum ReplyKind {
    /// Raw JSON of the result.
    Result(String),
    Error {
        code: i64,
        message: String,
    },
    Http {
        status: u16,
        body: String,
    },
}

/// What a fake EL answers: a JSON-RPC response that echoes the request's id.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: ReplyKind,
    delay: Duration,
    /// Echo the id as a re-serialized JSON value instead of byte for byte.
    normalize_id: bool,
}

impl Reply {
    pub fn result(result: Value) -> Self {
        Self {
            kind: ReplyKind::Result(result.to_string()),
            delay: Duration::ZERO,
            normalize_id: false,
        }
    }

    pub fn status(status: &str, lvh: Option<&str>, error: Option<&str>) -> Self {
        Self::result(payload_status(status, lvh, error))
    }

    pub fn error(code: i64, message: &str) -> Self {
        Self {
            kind: ReplyKind::Error {
                code,
                message: message.to_owned(),
            },
            delay: Duration::ZERO,
            normalize_id: false,
        }
    }

    pub fn http(status: u16, body: &str) -> Self {
        Self {
            kind: ReplyKind::Http {
                status,
                body: body.to_owned(),
            },
            delay: Duration::ZERO,
            normalize_id: false,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn normalized_id(mut self) -> Self {
        self.normalize_id = true;
        self
    }
}

impl Respond for Reply {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut id = raw_id(&request.body);
        if self.normalize_id {
            if let Ok(v) = serde_json::from_str::<Value>(&id) {
                id = v.to_string();
            }
        }
        let template = match &self.kind {
            ReplyKind::Result(result) => ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#),
                "application/json",
            ),
            ReplyKind::Error { code, message } => {
                let error = json!({"code": code, "message": message});
                ResponseTemplate::new(200).set_body_raw(
                    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#),
                    "application/json",
                )
            }
            ReplyKind::Http { status, body } => {
                ResponseTemplate::new(*status).set_body_raw(body.clone(), "text/plain")
            }
        };
        template.set_delay(self.delay)
    }
}

/// A fake execution client: answers the health probes, checks its own JWT on every request.
pub struct El {
    pub server: MockServer,
    pub secret: JwtSecret,
}

impl El {
    /// A synced EL with [`DEFAULT_CAPABILITIES`].
    pub async fn start(secret: JwtSecret) -> Self {
        let server = MockServer::builder().start().await;
        let el = Self { server, secret };
        el.mount("eth_syncing", Reply::result(json!(false)), DEFAULT_PRIORITY)
            .await;
        el.mount(
            "eth_chainId",
            Reply::result(json!(CHAIN_ID)),
            DEFAULT_PRIORITY,
        )
        .await;
        el.mount(
            "engine_exchangeCapabilities",
            Reply::result(json!(DEFAULT_CAPABILITIES)),
            DEFAULT_PRIORITY,
        )
        .await;
        Mock::given(SignedWith(el.secret.clone()))
            .respond_with(Reply::error(-32601, "the method does not exist"))
            .with_priority(UNKNOWN_METHOD_PRIORITY)
            .mount(&el.server)
            .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_raw(r#"{"error":"bad jwt"}"#, "application/json"),
            )
            .with_priority(UNAUTHORIZED_PRIORITY)
            .mount(&el.server)
            .await;
        el
    }

    async fn mount(&self, method: &str, reply: Reply, priority: u8) {
        Mock::given(SignedWith(self.secret.clone()))
            .and(body_partial_json(json!({ "method": method })))
            .respond_with(reply)
            .with_priority(priority)
            .mount(&self.server)
            .await;
    }

    /// Answers `method` with `reply` (properly signed requests only). Takes precedence over
    /// the defaults; of two `on` for one method, the first wins.
    pub async fn on(&self, method: &str, reply: Reply) {
        self.mount(method, reply, TEST_PRIORITY).await;
    }

    /// The URL to give the proxy (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn port(&self) -> u16 {
        self.server.address().port()
    }

    /// Every request received so far, in arrival order.
    pub async fn requests(&self) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .expect("request recording is on")
    }

    /// Bodies (parsed) of the requests for `method`, in arrival order.
    pub async fn calls(&self, method: &str) -> Vec<Value> {
        self.requests()
            .await
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter(|v| v["method"] == method)
            .collect()
    }

    /// Bodies of the requests for `method` with this `id` (tells a CL's call from a probe).
    pub async fn calls_with_id(&self, method: &str, id: &Value) -> Vec<Value> {
        self.calls(method)
            .await
            .into_iter()
            .filter(|v| &v["id"] == id)
            .collect()
    }

    /// The raw requests for `method`, in arrival order.
    pub async fn requests_for(&self, method: &str) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| {
                serde_json::from_slice::<Value>(&r.body).is_ok_and(|v| v["method"] == method)
            })
            .collect()
    }
}

/// Starts `n` fake ELs sharing one secret.
pub async fn els(n: usize, secret: &JwtSecret) -> Vec<El> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(El::start(secret.clone()).await);
    }
    out
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

// ---- the proxy ----------------------------------------------------------------------------

/// The proxy, running in-process, plus a consensus-client side HTTP client.
pub struct Proxy {
    pub running: Running<TokioNet>,
    pub secret: JwtSecret,
    pub http: reqwest::Client,
}

/// The REST API's secret in these tests (`--admin-jwt-secret`): no EL holds it.
pub fn admin_secret() -> JwtSecret {
    JwtSecret::from_bytes([0xad; 32])
}

/// Settings for tests: ephemeral port, the admin API on, defaults otherwise.
pub fn test_settings() -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_secret: Some(admin_secret()),
        ..Settings::default()
    }
}

/// Starts the proxy with `secret` (the CL's, and the ELs' unless a spec has `#jwt-secret=`)
/// and the node specs (`URL#option...`), in order.
pub async fn start_proxy(secret: &JwtSecret, specs: &[String]) -> Proxy {
    start_proxy_with(test_settings(), secret, specs).await
}

pub async fn start_proxy_with(settings: Settings, secret: &JwtSecret, specs: &[String]) -> Proxy {
    let nodes = specs
        .iter()
        .map(|s| {
            let spec = NodeSpec::parse(s).expect("valid node spec");
            config::resolve_node(spec, Some(secret), settings.default_timeout)
                .expect("node resolves")
        })
        .collect();
    let running = app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings,
        secret.clone(),
        nodes,
        0x5eed,
    )
    .await
    .expect("proxy starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    Proxy {
        running,
        secret: secret.clone(),
        http,
    }
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

impl Proxy {
    pub fn url(&self) -> String {
        self.running.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    /// A fresh `Bearer` header value for the CL's secret.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", cl_token(&self.secret, None, None))
    }

    /// A fresh `Bearer` header value for the REST API's changing calls.
    pub fn admin_bearer(&self) -> String {
        format!("Bearer {}", cl_token(&admin_secret(), None, None))
    }

    /// POSTs `body` to `path` with the given headers (no Authorization unless given).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, String)],
        body: impl Into<reqwest::Body>,
    ) -> HttpReply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url()))
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
    pub async fn rpc(&self, body: &Value) -> Value {
        let reply = self.post_raw(body.to_string()).await;
        assert_eq!(reply.status, 200, "HTTP status; body {}", reply.text());
        reply.json()
    }

    /// One call; returns the whole response object.
    pub async fn call(&self, id: Value, method: &str, params: Value) -> Value {
        self.rpc(&request(id, method, params)).await
    }

    /// `GET /metrics` as JSON.
    pub async fn metrics(&self) -> Value {
        let reply = self
            .send(reqwest::Method::GET, "/metrics", &[], Vec::new())
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }
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

/// A getPayloadV3 result built for `fcu_params(8, true)`: on `parent`, with that build's
/// attributes (a payload the proxy accepts when `parent` is block 8).
pub fn built_payload(parent: &str, value: &str, tag: &str) -> Value {
    let attributes = &fcu_params(8, true)[1];
    json!({
        "executionPayload": {
            "parentHash": parent,
            "blockHash": hash(9),
            "timestamp": attributes["timestamp"],
            "prevRandao": attributes["prevRandao"],
            "feeRecipient": attributes["suggestedFeeRecipient"],
            "withdrawals": attributes["withdrawals"],
            "extraData": tag
        },
        "blockValue": value,
        "blobsBundle": {"commitments": [], "proofs": [], "blobs": []},
        "shouldOverrideBuilder": false
    })
}
