//! The simulated consensus client: drives slots against the proxy over HTTP and records every
//! exchange in the event log.
//!
//! Slot `k` starts at `k × 12 s` of simulated time (see [`crate::setup::slot_time`]):
//!
//! * at the start: pending node-set changes (REST API), then `engine_forkchoiceUpdatedV3` with
//!   payload attributes on the current head;
//! * at +4 s: `engine_getPayloadV3` with the payloadId the proxy gave (when it gave one), then
//!   `engine_newPayloadV3` with that payload (or, when there is none, with a block "from another
//!   proposer"), then `engine_forkchoiceUpdatedV3` on the new head unless it was INVALID, then
//!   `eth_blockNumber`, `eth_getBlockByNumber` and `eth_chainId`.
//!
//! From the schedule's Amsterdam fork on, the same slot uses Amsterdam's versions and shapes:
//! `engine_forkchoiceUpdatedV4` (PayloadAttributesV4, third parameter `custodyColumns`),
//! `engine_getPayloadV6` and `engine_newPayloadV5` (ExecutionPayloadV4 with `blockAccessList`
//! and `slotNumber`, then the execution requests).
//!
//! Requests go one at a time, each on a fresh connection, each under a generous client timeout
//! (a request that hits it breaks invariant 3 anyway).

use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::jwt::{self, Claims};
use eb_transport::{Network, WallClock};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::setup::{
    admin_secret, secret, slot_time, Admin, Shared, EL_PORT, EPOCH, PROXY, PROXY_PORT,
};
use crate::tap;
use crate::trace::{Counted, Exchange, Reply};
use crate::{SimClock, TurmoilNet};

/// Longest the client waits for any answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// When in the slot the block is fetched and imported.
pub const BLOCK_AT: Duration = Duration::from_secs(4);

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("connect: {0}")]
    Connect(io::Error),
    #[error("http: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(#[from] http::Error),
    #[error("no answer within {}s", CLIENT_TIMEOUT.as_secs())]
    TimedOut,
}

/// The head the client builds on.
#[derive(Clone, Debug)]
struct Head {
    hash: String,
    number: u64,
}

struct Client {
    shared: Rc<Shared>,
    clock: SimClock,
    seed: u64,
    next_id: u64,
    slot: u32,
    head: Head,
    /// Copies of the next newPayload to send at once (a queued pile-up).
    pile_up: u32,
    /// The chain is past the Amsterdam fork: Amsterdam's method versions and shapes.
    amsterdam: bool,
}

/// The client's whole life: start-up calls, then `slots` slots.
pub async fn drive(shared: Rc<Shared>, slots: u32, seed: u64) -> turmoil::Result {
    let mut cl = Client {
        shared,
        clock: SimClock::new(EPOCH),
        seed,
        next_id: 0,
        slot: 0,
        pile_up: 0,
        amsterdam: false,
        head: Head {
            hash: mock_el::genesis_hash(mock_el::behaviour::DEFAULT_CHAIN_ID).to_string(),
            number: 0,
        },
    };
    cl.sleep_until(Duration::from_secs(2)).await;
    cl.call("engine_exchangeCapabilities", json!([[]]), "")
        .await;
    cl.call("eth_chainId", json!([]), "").await;
    for slot in 1..=slots {
        cl.slot = slot;
        cl.run_slot(slot).await;
    }
    Ok(())
}

impl Client {
    async fn run_slot(&mut self, slot: u32) {
        self.sleep_until(slot_time(slot, Duration::ZERO)).await;
        self.node_set_changes().await;

        let state = self.forkchoice_state();
        let fcu_method = self.fcu_method();
        let fcu_params = self.fcu_params(state, self.attributes(slot));
        let (fcu, _) = self
            .call(fcu_method, fcu_params, &short(&self.head.hash))
            .await;

        self.sleep_until(slot_time(slot, BLOCK_AT)).await;
        let built = match fcu {
            Reply::Status {
                payload_id: Some(id),
                ..
            } => self.get_payload(&id).await,
            _ => None,
        };
        let mut payload = built.unwrap_or_else(|| self.other_proposers_block(slot));
        let hash = payload["blockHash"].as_str().unwrap_or_default().to_owned();
        let (np_method, params) = if self.amsterdam {
            // ExecutionPayloadV4: V3 plus the block access list and the slot number; the
            // execution requests follow the beacon root.
            payload["blockAccessList"] = json!("0xc0");
            payload["slotNumber"] = json!(quantity(u64::from(slot)));
            (
                "engine_newPayloadV5",
                json!([payload, [], beacon_root(slot), []]),
            )
        } else {
            (
                "engine_newPayloadV3",
                json!([payload, [], beacon_root(slot)]),
            )
        };
        let copies = std::mem::take(&mut self.pile_up);
        let (status, _) = if copies == 0 {
            self.call(np_method, params, &short(&hash)).await
        } else {
            self.pile_up_then_call(np_method, copies, params, &short(&hash))
                .await
        };
        if matches!(status.status(), Some("VALID" | "SYNCING" | "ACCEPTED")) {
            self.head = Head {
                hash,
                number: self.head.number + 1,
            };
        }
        let state = self.forkchoice_state();
        let (fcu_method, fcu_params) = (self.fcu_method(), self.fcu_params(state, json!(null)));
        self.call(fcu_method, fcu_params, &short(&self.head.hash))
            .await;

        self.call("eth_blockNumber", json!([]), "").await;
        self.call("eth_getBlockByNumber", json!(["latest", false]), "latest")
            .await;
        self.call("eth_chainId", json!([]), "").await;
    }

    /// Sends `copies` copies of a newPayload all at once, then (once they are answered) the real
    /// one. The copies are traced as `pileup` (no vote is attributed to them).
    async fn pile_up_then_call(
        &mut self,
        method: &str,
        copies: u32,
        params: Value,
        subject: &str,
    ) -> (Reply, Option<Value>) {
        let bodies: Vec<(u64, String)> = (0..copies)
            .map(|_| {
                self.next_id += 1;
                let id = self.next_id;
                let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
                (id, body.to_string())
            })
            .collect();
        let sent = now();
        let results = futures_util::future::join_all(
            bodies.into_iter().map(|(_, body)| self.post("/", body)),
        )
        .await;
        for result in results {
            let reply = match result {
                Ok((StatusCode::OK, body)) => interpret(method, &body).0,
                Ok((status, _)) => Reply::Failed(format!("HTTP {}", status.as_u16())),
                Err(e) => Reply::Failed(e.to_string()),
            };
            self.record("pileup", subject.to_owned(), sent, reply, None);
        }
        self.call(method, params, subject).await
    }

    async fn get_payload(&mut self, id: &str) -> Option<Value> {
        let method = if self.amsterdam {
            "engine_getPayloadV6"
        } else {
            "engine_getPayloadV3"
        };
        let (_, result) = self.call(method, json!([id]), id).await;
        let payload = result?.get("executionPayload")?.clone();
        payload["blockHash"].is_string().then_some(payload)
    }

    /// Carries out the node-set changes the schedule queued.
    async fn node_set_changes(&mut self) {
        loop {
            let next = self.shared.admin.borrow_mut().pop_front();
            let Some(change) = next else { break };
            let (method, path, subject, body) = match change {
                Admin::Add(spec) => (
                    "admin_add_nodes",
                    "/add_nodes",
                    spec.name.clone(),
                    json!({ "nodes": [spec.entry()] }),
                ),
                Admin::Remove(name) => (
                    "admin_remove_nodes",
                    "/remove_nodes",
                    name.clone(),
                    json!({ "nodes": [format!("http://{name}:{EL_PORT}")] }),
                ),
                Admin::PileUp(n) => {
                    self.pile_up += n;
                    continue;
                }
                Admin::Amsterdam => {
                    self.amsterdam = true;
                    continue;
                }
            };
            let sent = now();
            let reply = match self.post(path, body.to_string()).await {
                Ok((StatusCode::OK, _)) => Reply::Result("ok".into()),
                Ok((status, body)) => Reply::Failed(format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&body[..body.len().min(160)])
                )),
                Err(e) => Reply::Failed(e.to_string()),
            };
            self.record(method, subject, sent, reply, None);
        }
    }

    /// One JSON-RPC call; the reply and, on success, the raw result.
    async fn call(&mut self, method: &str, params: Value, subject: &str) -> (Reply, Option<Value>) {
        self.next_id += 1;
        let id = self.next_id;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let votes_before = tap::len();
        let sent = now();
        let (reply, result) = match self.post("/", body.to_string()).await {
            Ok((StatusCode::OK, body)) => interpret(method, &body),
            Ok((status, body)) => (
                Reply::Failed(format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&body[..body.len().min(160)])
                )),
                None,
            ),
            Err(e) => (Reply::Failed(e.to_string()), None),
        };
        let counted = if method.starts_with("engine_newPayload")
            || method.starts_with("engine_forkchoiceUpdated")
        {
            tap::since(votes_before).pop()
        } else {
            None
        };
        self.record(method, subject.to_owned(), sent, reply.clone(), counted);
        (reply, result)
    }

    fn record(
        &mut self,
        method: &str,
        subject: String,
        sent: Duration,
        reply: Reply,
        counted: Option<Counted>,
    ) {
        let exchange = Exchange {
            id: self.next_id,
            slot: self.slot,
            method: method.to_owned(),
            subject,
            sent,
            done: now(),
            reply,
            counted,
        };
        self.shared.trace.borrow_mut().exchange(exchange);
    }

    /// POSTs `body` to the proxy with a fresh engine JWT.
    async fn post(&self, path: &str, body: String) -> Result<(StatusCode, Bytes), HttpError> {
        // The REST API takes the admin secret's tokens only; everything else the engine's.
        let key = if path == "/" {
            secret()
        } else {
            admin_secret()
        };
        let token = jwt::sign(
            &key,
            &Claims {
                iat: self.clock.unix_seconds(),
                ..Claims::default()
            },
        );
        let exchange = async {
            let stream = TurmoilNet
                .connect(PROXY, PROXY_PORT)
                .await
                .map_err(HttpError::Connect)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "client connection ended");
                }
            });
            let request = Request::post(path)
                .header(HOST, format!("{PROXY}:{PROXY_PORT}"))
                .header(CONTENT_TYPE, "application/json")
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(Full::new(Bytes::from(body)))?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(CLIENT_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(HttpError::TimedOut))
    }

    async fn sleep_until(&self, at: Duration) {
        let left = at.saturating_sub(now());
        if !left.is_zero() {
            tokio::time::sleep(left).await;
        }
    }

    fn forkchoice_state(&self) -> Value {
        json!({
            "headBlockHash": self.head.hash,
            "safeBlockHash": self.head.hash,
            "finalizedBlockHash": self.head.hash,
        })
    }

    fn attributes(&self, slot: u32) -> Value {
        let mut attributes = json!({
            "timestamp": quantity(timestamp(slot)),
            "prevRandao": hash_of(&[b"randao", &slot.to_be_bytes()]),
            "suggestedFeeRecipient": "0x00000000000000000000000000000000000000fe",
            "withdrawals": [],
            "parentBeaconBlockRoot": beacon_root(slot),
        });
        if self.amsterdam {
            // PayloadAttributesV4.
            attributes["slotNumber"] = json!(quantity(u64::from(slot)));
            attributes["targetGasLimit"] = json!("0x2255100");
        }
        attributes
    }

    fn fcu_method(&self) -> &'static str {
        if self.amsterdam {
            "engine_forkchoiceUpdatedV4"
        } else {
            "engine_forkchoiceUpdatedV3"
        }
    }

    /// forkchoiceUpdated's params; from Amsterdam with the third one, `custodyColumns`.
    fn fcu_params(&self, state: Value, attributes: Value) -> Value {
        if self.amsterdam {
            json!([state, attributes, format!("0x{}", "ff".repeat(16))])
        } else {
            json!([state, attributes])
        }
    }

    /// A block built elsewhere, for slots where this client's proposal failed.
    fn other_proposers_block(&self, slot: u32) -> Value {
        let seed = self.seed.to_be_bytes();
        let hash = hash_of(&[b"block", &seed, &slot.to_be_bytes()]);
        json!({
            "parentHash": self.head.hash,
            "feeRecipient": "0x0000000000000000000000000000000000000000",
            "stateRoot": hash_of(&[b"state", hash.as_bytes()]),
            "receiptsRoot": hash_of(&[b"receipts"]),
            "logsBloom": format!("0x{}", "00".repeat(256)),
            "prevRandao": hash_of(&[b"randao", &slot.to_be_bytes()]),
            "blockNumber": quantity(self.head.number + 1),
            "gasLimit": "0x1c9c380",
            "gasUsed": "0x0",
            "timestamp": quantity(timestamp(slot)),
            "extraData": "0x",
            "baseFeePerGas": "0x7",
            "blockHash": hash,
            "transactions": [],
            "withdrawals": [],
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
        })
    }
}

/// Reads a 200 answer: the reply for the log and the raw result.
fn interpret(method: &str, body: &[u8]) -> (Reply, Option<Value>) {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return (Reply::Failed(format!("unreadable answer: {e}")), None),
    };
    if let Some(error) = value.get("error") {
        let reply = Reply::RpcError {
            code: error["code"].as_i64().unwrap_or_default(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
        };
        return (reply, None);
    }
    let Some(result) = value.get("result").cloned() else {
        return (
            Reply::Failed(format!("neither result nor error: {value}")),
            None,
        );
    };
    let reply = if method.starts_with("engine_newPayload") {
        status_reply(&result, None)
    } else if method.starts_with("engine_forkchoiceUpdated") {
        let id = result["payloadId"].as_str().map(str::to_owned);
        status_reply(&result["payloadStatus"], id)
    } else if method.starts_with("engine_getPayload") {
        let hash = result["executionPayload"]["blockHash"]
            .as_str()
            .unwrap_or("none");
        Reply::Result(short(hash))
    } else {
        Reply::Result(summary(&result))
    };
    (reply, Some(result))
}

fn status_reply(status: &Value, payload_id: Option<String>) -> Reply {
    match status["status"].as_str() {
        Some(s) => Reply::Status {
            status: s.to_owned(),
            payload_id,
        },
        None => Reply::Failed(format!("no PayloadStatus in {status}")),
    }
}

/// A short, stable summary of a read's result.
fn summary(result: &Value) -> String {
    match result {
        Value::String(s) => short(s),
        Value::Object(o) if o.contains_key("hash") => {
            format!(
                "block {} {}",
                o["number"].as_str().unwrap_or("?"),
                short(o["hash"].as_str().unwrap_or("?"))
            )
        }
        Value::Array(a) => format!("{} items", a.len()),
        other => short(&other.to_string()),
    }
}

/// The first 10 characters (`0x` + 8 hex digits) of a hash; other strings whole up to 24.
fn short(s: &str) -> String {
    let n = if s.starts_with("0x") && s.len() == 66 {
        10
    } else {
        24
    };
    s.chars().take(n).collect()
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

fn timestamp(slot: u32) -> u64 {
    EPOCH + u64::from(slot) * 12
}

fn quantity(n: u64) -> String {
    format!("{n:#x}")
}

fn beacon_root(slot: u32) -> String {
    hash_of(&[b"beacon", &slot.to_be_bytes()])
}

fn hash_of(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    format!("0x{}", hex::encode(h.finalize()))
}
