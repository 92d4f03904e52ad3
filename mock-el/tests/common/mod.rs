//! Helpers shared by the mock-el integration tests: a fixed clock, token minting and a small
//! JSON-RPC client over real HTTP on 127.0.0.1.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use eb_transport::clock::ManualClock;
use eb_transport::jwt::{sign, Claims};
use eb_transport::{JwtSecret, TokioNet};
use mock_el::{MockEl, MockElBuilder, MockElHandle};
use serde_json::{json, Value};

/// The wall-clock time every mock in the tests believes it is.
pub const NOW: u64 = 1_700_000_000;

pub fn secret() -> JwtSecret {
    JwtSecret::from_bytes([0x42; 32])
}

pub fn hash(n: u64) -> String {
    format!("0x{n:064x}")
}

/// A builder with the test secret and a clock frozen at [`NOW`].
pub fn builder() -> MockElBuilder {
    MockEl::builder()
        .secret(secret())
        .clock(Arc::new(ManualClock::new(NOW)))
}

pub async fn spawn(builder: MockElBuilder) -> MockElHandle {
    builder
        .spawn(TokioNet, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("mock spawns")
}

pub fn token_at(iat: u64) -> String {
    sign(
        &secret(),
        &Claims {
            iat,
            ..Claims::default()
        },
    )
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// A JSON-RPC client for one mock.
pub struct Rpc {
    pub url: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl Rpc {
    pub fn new(el: &MockElHandle) -> Self {
        Self {
            url: el.url(),
            http: http(),
            token: token_at(NOW),
        }
    }

    /// Posts a raw body with a valid token; returns the HTTP status and body text.
    pub async fn raw(&self, body: impl Into<String>) -> (u16, String) {
        let res = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .bearer_auth(&self.token)
            .body(body.into())
            .send()
            .await
            .expect("request sent");
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    }

    /// Sends one call and returns the whole response object.
    pub async fn response(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string();
        let (status, text) = self.raw(body).await;
        assert_eq!(status, 200, "{method}: {text}");
        serde_json::from_str(&text).expect("JSON response")
    }

    /// Sends one call and returns its result (panics on a JSON-RPC error).
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let res = self.response(method, params).await;
        assert!(res.get("error").is_none(), "{method} failed: {res}");
        res["result"].clone()
    }

    /// Sends one call that must fail; returns the error code.
    pub async fn error_code(&self, method: &str, params: Value) -> i64 {
        let res = self.response(method, params).await;
        res["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{method}: expected an error, got {res}"))
    }
}

/// An ExecutionPayloadV3-shaped object for block `number` (hash = `hash(1000 + number)`,
/// parent = `hash(1000 + number - 1)`, genesis parent for block 1 when `genesis` is given).
pub fn payload(number: u64, parent: &str) -> Value {
    json!({
        "parentHash": parent,
        "feeRecipient": "0x0000000000000000000000000000000000000000",
        "stateRoot": hash(7),
        "receiptsRoot": hash(8),
        "logsBloom": format!("0x{}", "00".repeat(256)),
        "prevRandao": hash(9),
        "blockNumber": format!("{number:#x}"),
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "timestamp": format!("{:#x}", number * 12),
        "extraData": "0x",
        "baseFeePerGas": "0x7",
        "blockHash": hash(1000 + number),
        "transactions": ["0x02f8"],
        "withdrawals": [],
        "blobGasUsed": "0x0",
        "excessBlobGas": "0x0"
    })
}

pub fn new_payload_params(number: u64, parent: &str) -> Value {
    json!([payload(number, parent), [], hash(5), []])
}

pub fn fcu_state(head: &str) -> Value {
    json!({"headBlockHash": head, "safeBlockHash": head, "finalizedBlockHash": head})
}

pub fn attributes(timestamp: u64) -> Value {
    json!({
        "timestamp": format!("{timestamp:#x}"),
        "prevRandao": hash(0xabc),
        "suggestedFeeRecipient": "0x00000000000000000000000000000000000000fe",
        "withdrawals": [{"index":"0x1","validatorIndex":"0x2","address":"0x00000000000000000000000000000000000000aa","amount":"0x3"}],
        "parentBeaconBlockRoot": hash(0xbeac)
    })
}
