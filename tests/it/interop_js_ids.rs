//! Regression test for an interop finding: execution clients written in JavaScript (EthereumJS)
//! parse the JSON-RPC id into a double and print it again, so an id of `1.0` comes back as `1`
//! and `9007199254740993` (above 2^53) as `9007199254740992`. executionbackup used to take such
//! an answer for someone else's and drop it: reads failed over, and votes lost the EL's answer.
//!
//! Two fake ELs that echo ids the way EthereumJS does, next to a mock-el, behind the proxy.

// The fake ELs are wiremock doubles: mock-el echoes ids byte for byte, as a Rust or Go client
// does, never through a double.

use crate::support::{ethereumjs, proxy};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::{SystemClock, TokioNet};
use executionbackup::config::{NodeConfig, NodeSpec, Settings};
use mock_cl::RpcClient;
use mock_el::{MockEl, Status};
use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers like EthereumJS: numeric ids go through a double and back.
struct JavaScriptEl;

fn js_id(id: &Value) -> String {
    match id {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            // JavaScript prints integral doubles without a fraction.
            format!("{f}")
        }
        other => other.to_string(),
    }
}

impl Respond for JavaScriptEl {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let result = match body["method"].as_str().unwrap_or_default() {
            "eth_syncing" => json!(false),
            "eth_chainId" => json!("0x539"),
            "eth_blockNumber" => json!("0x1234"),
            "engine_exchangeCapabilities" => json!(["engine_newPayloadV3"]),
            "engine_newPayloadV3" => {
                let hash = body["params"][0]["blockHash"].clone();
                json!({"status": "VALID", "latestValidHash": hash, "validationError": null})
            }
            _ => Value::Null,
        };
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
            js_id(&body["id"])
        );
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=utf-8")
            .insert_header("connection", "close")
            .set_body_string(text)
    }
}

async fn javascript_el() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(JavaScriptEl)
        .mount(&server)
        .await;
    server
}

fn node(url: &str) -> NodeConfig {
    NodeConfig {
        spec: NodeSpec::parse(url).expect("url"),
        secret: eb_transport::JwtSecret::from_bytes([9; 32]),
        timeout: Duration::from_secs(2),
        tls: None,
    }
}

#[tokio::test]
async fn ids_echoed_through_a_double_are_still_the_callers() {
    let (js1, js2) = (javascript_el().await, javascript_el().await);
    // The mock alone would say SYNCING: the vote is VALID only if both JavaScript ELs count.
    let mock = MockEl::builder()
        .secret(eb_transport::JwtSecret::from_bytes([9; 32]))
        .status(Status::Syncing)
        .spawn(TokioNet, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("mock");
    let cl_secret = ethereumjs::random_secret();
    let proxy = proxy::start(
        Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            metrics: None,
            ..Settings::default()
        },
        &cl_secret,
        vec![node(&js1.uri()), node(&js2.uri()), node(&mock.url())],
        1,
    )
    .await;
    let cl = RpcClient::new(
        TokioNet,
        &proxy.url(),
        Some(cl_secret),
        Arc::new(SystemClock),
    )
    .expect("url");
    let post = |body: String| {
        let cl = &cl;
        async move {
            let (status, reply) = cl.post(Bytes::from(body)).await.expect("answer");
            assert_eq!(status, 200);
            String::from_utf8(reply.to_vec()).expect("utf-8")
        }
    };

    // A read served by the primary (a JavaScript EL), not failed over to the mock (head 0x0).
    for id in ["9007199254740993", "1.0", "1e2", "7"] {
        let reply = post(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_blockNumber","params":[]}}"#
        ))
        .await;
        assert_eq!(
            reply,
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x1234"}}"#),
            "id {id}"
        );
    }

    // A vote: both JavaScript ELs' VALID count (2 of 3 against the mock's SYNCING).
    let hash = format!("0x{}", "ab".repeat(32));
    let payload = json!({"blockHash": hash, "parentHash": hash, "blockNumber": "0x1",
        "timestamp": "0x1", "transactions": []});
    let reply = post(format!(
        r#"{{"jsonrpc":"2.0","id":9007199254740993,"method":"engine_newPayloadV3","params":[{payload},[],"{hash}"]}}"#
    ))
    .await;
    let v: Value = serde_json::from_str(&reply).expect("json");
    assert_eq!(v["result"]["status"], "VALID", "{reply}");
    assert!(
        reply.starts_with(r#"{"jsonrpc":"2.0","id":9007199254740993,"#),
        "the CL's id, byte for byte: {reply}"
    );
    proxy.shutdown().await;
    mock.shutdown().await;
}
