//! Where a real EthereumJS answers differently from what the proxy's own mocks do, and what the
//! consensus client gets through the proxy in each case. (Ignored by default: it needs EthereumJS,
//! see `crate::support::ethereumjs::NEEDS_CLIENT`.)
//!
//! * JWT failures (no header, another secret, a stale `iat`) are HTTP 401 with a plain-text
//!   body, not JSON. The proxy never passes that on: a node whose secret is wrong fails its
//!   probe and is dead; the CL gets JSON-RPC answers (SYNCING for voted calls, -32603 for reads).
//! * EthereumJS lacks `engine_getClientVersionV1` and `engine_exchangeTransitionConfigurationV1`
//!   (-32601), and lists unversioned names (`engine_newPayload`) in its capabilities: the CL
//!   gets the -32601 and the capabilities every node has.
//! * It echoes numeric ids through a double (`1.0` → `1`, 2^53 + 1 → 2^53): the proxy still
//!   answers with the CL's id, byte for byte.
//! * It answers `"id": null` requests and notifications alike with HTTP 204 and no body: the
//!   proxy answers a request with id null with a JSON-RPC error carrying `"id": null` (not a
//!   204), and a notification with 204.
//! * It closes the connection after every answer (`Connection: close`); the proxy's pool must
//!   not trip over the closed connections: a burst of reads all succeed.

use crate::support::{ethereumjs, proxy};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::clock::ManualClock;
use eb_transport::{JwtSecret, SystemClock, TokioNet, WallClock};
use executionbackup::app::Running;
use executionbackup::config::{NodeConfig, NodeSpec, Settings};
use executionbackup::health::NodeState;
use mock_cl::RpcClient;
use serde_json::{json, Value};

use crate::support::ethereumjs::Ejs;

const CHAIN_ID: &str = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;

async fn proxy_for(url: &str, secret: &JwtSecret, cl_secret: &JwtSecret) -> Running<TokioNet> {
    proxy::start(
        Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            metrics: None,
            ..Settings::default()
        },
        cl_secret,
        vec![NodeConfig {
            spec: NodeSpec::parse(url).expect("url"),
            secret: secret.clone(),
            timeout: Duration::from_secs(5),
            tls: None,
        }],
        3,
    )
    .await
}

async fn post(client: &RpcClient<TokioNet>, body: &str) -> (u16, String) {
    let (status, reply) = client
        .post(Bytes::from(body.to_owned()))
        .await
        .expect("an answer");
    (status, String::from_utf8_lossy(&reply).into_owned())
}

fn client(url: &str, secret: Option<JwtSecret>, clock: Arc<dyn WallClock>) -> RpcClient<TokioNet> {
    RpcClient::new(TokioNet, url, secret, clock).expect("url")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs EthereumJS from npm (interop/node_modules): run bash .ci/interop-install.sh, then cargo test --test it -- --ignored interop_"]
async fn ethereumjs_edges_through_the_proxy() {
    let entry = ethereumjs::client();
    let el = Ejs::start(&entry, "ejs-edges").await;
    let url = el.engine_url();
    let system: Arc<dyn WallClock> = Arc::new(SystemClock);

    // ---- JWT failures: HTTP 401, plain text ----------------------------------------------------
    let stale: Arc<dyn WallClock> = Arc::new(ManualClock::new(system.unix_seconds() - 120));
    for (what, c) in [
        ("no token", client(&url, None, system.clone())),
        (
            "another secret",
            client(&url, Some(ethereumjs::random_secret()), system.clone()),
        ),
        (
            "iat 120 s old",
            client(&url, Some(el.secret.clone()), stale),
        ),
    ] {
        let (status, body) = post(&c, CHAIN_ID).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body.starts_with("Unauthorized"), "{what}: {body:?}");
        assert!(serde_json::from_str::<Value>(&body).is_err(), "not JSON");
    }

    // ---- a proxy holding the wrong secret for it -------------------------------------------
    let cl_secret = ethereumjs::random_secret();
    let wrong = proxy_for(&url, &ethereumjs::random_secret(), &cl_secret).await;
    let node = wrong.proxy.nodes.snapshot()[0].clone();
    assert_eq!(node.health.state(), NodeState::Dead, "its probe got a 401");
    let cl = client(&wrong.url(), Some(cl_secret.clone()), system.clone());
    let (status, body) = post(&cl, CHAIN_ID).await;
    let v: Value = serde_json::from_str(&body).expect("JSON for the CL");
    assert_eq!((status, v["id"].clone()), (200, json!(1)));
    assert_eq!(v["error"]["code"], -32603, "{body}");
    let fcu = json!({"jsonrpc": "2.0", "id": 2, "method": "engine_forkchoiceUpdatedV3",
        "params": [{"headBlockHash": format!("0x{}", "00".repeat(32)),
            "safeBlockHash": format!("0x{}", "00".repeat(32)),
            "finalizedBlockHash": format!("0x{}", "00".repeat(32))}, null]});
    let (status, body) = post(&cl, &fcu.to_string()).await;
    let v: Value = serde_json::from_str(&body).expect("JSON for the CL");
    assert_eq!(status, 200);
    assert_eq!(v["result"]["payloadStatus"]["status"], "SYNCING", "{body}");
    wrong.shutdown().await;

    // ---- the right secret ----------------------------------------------------------------------
    let proxy = proxy_for(&url, &el.secret, &cl_secret).await;
    let cl = client(&proxy.url(), Some(cl_secret.clone()), system.clone());
    let direct = el.engine();

    let caps = cl
        .call(
            "engine_exchangeCapabilities",
            json!([["engine_newPayloadV3", "engine_getClientVersionV1"]]),
        )
        .await
        .expect("capabilities");
    let ejs_caps = direct
        .call("engine_exchangeCapabilities", json!([[]]))
        .await
        .expect("capabilities");
    assert!(ejs_caps
        .as_array()
        .expect("list")
        .contains(&json!("engine_newPayload")));
    assert!(caps
        .as_array()
        .expect("list")
        .contains(&json!("engine_newPayloadV3")));
    for missing in [
        "engine_getClientVersionV1",
        "engine_exchangeTransitionConfigurationV1",
    ] {
        let params = if missing == "engine_getClientVersionV1" {
            json!([{"code": "LH", "name": "Lighthouse", "version": "v7", "commit": "0x01020304"}])
        } else {
            json!([{"terminalTotalDifficulty": "0x0", "terminalBlockHash":
                format!("0x{}", "00".repeat(32)), "terminalBlockNumber": "0x0"}])
        };
        let through = cl.call(missing, params.clone()).await;
        assert_eq!(
            through.as_ref().err().and_then(|e| e.rpc_code()),
            Some(-32601),
            "{missing}: {through:?}"
        );
        assert_eq!(
            direct
                .call(missing, params)
                .await
                .err()
                .and_then(|e| e.rpc_code()),
            Some(-32601)
        );
    }

    // Ids: EthereumJS echoes them through a double; the CL gets its own back.
    for id in ["9007199254740993", "1.0", "\"\\u0041\"", "0"] {
        let (status, body) = post(
            &cl,
            &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_chainId","params":[]}}"#),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x539"}}"#).as_str()
            )
        );
    }
    let (status, body) = post(
        &direct,
        r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"eth_chainId","params":[]}"#,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"jsonrpc":"2.0","id":9007199254740992,"result":"0x539"}"#
        )
    );

    // id null and notifications: EthereumJS answers neither (204).
    for body in [
        r#"{"jsonrpc":"2.0","id":null,"method":"eth_chainId","params":[]}"#,
        r#"{"jsonrpc":"2.0","method":"eth_chainId","params":[]}"#,
    ] {
        assert_eq!(post(&direct, body).await, (204, String::new()));
    }
    let (status, body) = post(
        &cl,
        r#"{"jsonrpc":"2.0","id":null,"method":"eth_chainId","params":[]}"#,
    )
    .await;
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((status, v["id"].clone()), (200, Value::Null), "{body}");
    assert!(
        v.get("error").is_some() || v.get("result").is_some(),
        "{body}"
    );
    assert_eq!(
        post(
            &cl,
            r#"{"jsonrpc":"2.0","method":"eth_chainId","params":[]}"#
        )
        .await,
        (204, String::new())
    );

    // A batch of block reads, as Prysm and Lodestar send them.
    let (status, body) = post(
        &cl,
        r#"[{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]},
            {"jsonrpc":"2.0","id":2,"method":"eth_getBlockByNumber","params":["0x0",false]}]"#,
    )
    .await;
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status, 200);
    assert_eq!(v[0]["result"]["number"], "0x0", "{body}");
    assert_eq!(v[1]["result"]["hash"], v[0]["result"]["hash"]);

    // Connection: close on every answer: the pool copes with a burst of concurrent reads.
    let reads = (0..64).map(|_| cl.call("eth_blockNumber", json!([])));
    let answers = futures_util::future::join_all(reads).await;
    assert!(
        answers.iter().all(|a| a.as_ref().is_ok_and(|v| v == "0x0")),
        "{:?}",
        answers.iter().filter(|a| a.is_err()).collect::<Vec<_>>()
    );
    assert_eq!(proxy.proxy.metrics.failovers(), 0);
    proxy.shutdown().await;
}
