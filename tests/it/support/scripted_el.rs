//! Execution clients that answer exactly what a test scripts, method by method (wiremock
//! servers that check the JWT with their own secret and echo the request id byte for byte), for
//! the answers mock-el does not give: each scenario that uses them says which. Also the proxy
//! started in-process in front of them.

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use eb_transport::jwt;
use eb_transport::{JwtSecret, TokioNet};
use executionbackup::app::Running;
use executionbackup::config::Settings;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wiremock::matchers::body_partial_json;
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

pub use super::auth::{b64url, cl_token, now, secret};
pub use super::free_port;
pub use super::proxy::{raw_exchange, settings, Cl, HttpReply};
pub use super::shapes::{byte_hash, fcu_result, payload_status, request};
use super::shapes::{fcu_params_with, new_payload_params_with};

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

/// [`byte_hash`] over the numbers the shared shapes use (every one fits a byte here).
fn byte_hash_of(n: u64) -> String {
    byte_hash(n as u8)
}

/// engine_newPayloadV3 params for a block whose hash is `byte_hash(n)`.
pub fn new_payload_params(n: u8) -> Value {
    new_payload_params_with(&byte_hash_of, n.into(), n.wrapping_sub(1).into())
}

/// engine_forkchoiceUpdatedV3 params with head `byte_hash(n)`, with or without payload attributes.
pub fn fcu_params(n: u8, attributes: bool) -> Value {
    let ancestors = [n.wrapping_sub(1).into(), n.wrapping_sub(2).into()];
    fcu_params_with(&byte_hash_of, n.into(), ancestors, attributes)
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
}

/// Starts `n` fake ELs sharing one secret.
pub async fn els(n: usize, secret: &JwtSecret) -> Vec<El> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(El::start(secret.clone()).await);
    }
    out
}

// ---- the proxy ----------------------------------------------------------------------------

/// The proxy, running in-process, and a consensus client holding its secret (the methods of
/// [`Cl`] are the proxy's).
pub struct Proxy {
    pub running: Running<TokioNet>,
    pub cl: Cl,
}

impl Deref for Proxy {
    type Target = Cl;
    fn deref(&self) -> &Cl {
        &self.cl
    }
}

impl Proxy {
    pub fn addr(&self) -> SocketAddr {
        self.running.local_addr
    }
}

/// Starts the proxy with `secret` (the CL's, and the ELs' unless a spec has `#jwt-secret=`)
/// and the node specs (`URL#option...`), in order.
pub async fn start_proxy(secret: &JwtSecret, specs: &[String]) -> Proxy {
    start_proxy_with(settings(), secret, specs).await
}

pub async fn start_proxy_with(settings: Settings, secret: &JwtSecret, specs: &[String]) -> Proxy {
    let nodes = super::proxy::nodes(specs, secret, &settings);
    let running = super::proxy::start(settings, secret, nodes, 0x5eed).await;
    let cl = Cl::with_secret(running.url(), secret.clone());
    Proxy { running, cl }
}

/// A getPayloadV3 result built for `fcu_params(8, true)`: on `parent`, with that build's
/// attributes (a payload the proxy accepts when `parent` is block 8).
pub fn built_payload(parent: &str, value: &str, tag: &str) -> Value {
    let attributes = &fcu_params(8, true)[1];
    json!({
        "executionPayload": {
            "parentHash": parent,
            "blockHash": byte_hash(9),
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
