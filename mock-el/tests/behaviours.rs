//! Behaviours, JWT checks and the call log, over real HTTP on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use eb_transport::jwt::{sign, Claims};
use eb_transport::JwtSecret;
use mock_el::{Behaviour, BehaviourKind, Outcome, Status, B256};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chain_id_body() -> String {
    json!({"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}).to_string()
}

#[tokio::test]
async fn rules_mark_blocks_invalid_by_hash_and_by_number() {
    let bad = B256::parse(&hash(1002)).expect("hash");
    let el = spawn(
        builder()
            .behaviour(Behaviour::InvalidHash(bad))
            .behaviour(Behaviour::InvalidEvery(3)),
    )
    .await;
    let rpc = Rpc::new(&el);
    let mut statuses = Vec::new();
    for n in 1..=7 {
        let s = rpc
            .call("engine_newPayloadV3", new_payload_params(n, &hash(999 + n)))
            .await;
        statuses.push(s["status"].as_str().map(str::to_owned).expect("status"));
        if n == 2 {
            assert_eq!(s["validationError"], "mock-el: block hash marked invalid");
            assert_eq!(s["latestValidHash"], hash(1001));
        }
    }
    assert_eq!(
        statuses,
        ["VALID", "INVALID", "INVALID", "VALID", "VALID", "INVALID", "VALID"]
    );
    // Same block again: same answer.
    let again = rpc
        .call("engine_newPayloadV3", new_payload_params(3, &hash(1002)))
        .await;
    assert_eq!(again["status"], "INVALID");
    assert_eq!(
        again["validationError"],
        "mock-el: every Nth block is invalid"
    );
    let fcu = rpc
        .call(
            "engine_forkchoiceUpdatedV3",
            json!([fcu_state(&hash(1006)), null]),
        )
        .await;
    assert_eq!(fcu["payloadStatus"]["status"], "INVALID");
    el.clear(BehaviourKind::InvalidHash);
    el.clear(BehaviourKind::InvalidEvery);
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(9, &hash(1008)))
        .await;
    assert_eq!(s["status"], "VALID");
    el.shutdown().await;
}

#[tokio::test]
async fn status_changes_at_run_time() {
    let el = spawn(builder().status(Status::Syncing)).await;
    let rpc = Rpc::new(&el);
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    assert_eq!(s["status"], "SYNCING");
    assert!(rpc.call("eth_syncing", json!([])).await.is_object());
    el.set_status(Status::Valid);
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    assert_eq!(s["status"], "VALID");
    assert_eq!(rpc.call("eth_syncing", json!([])).await, false);
    el.shutdown().await;
}

#[tokio::test]
async fn latency_fixed_range_and_scoped() {
    let el = spawn(builder().seed(11)).await;
    let rpc = Rpc::new(&el);
    rpc.raw(chain_id_body()).await; // warm the connection

    el.set(Behaviour::latency(Duration::from_millis(120)));
    let t = Instant::now();
    rpc.raw(chain_id_body()).await;
    assert!(
        t.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t.elapsed()
    );

    el.set(Behaviour::latency_range(
        Duration::from_millis(30),
        Duration::from_millis(60),
    ));
    for _ in 0..3 {
        let t = Instant::now();
        rpc.raw(chain_id_body()).await;
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(took < Duration::from_millis(400), "{took:?}");
    }

    el.set(Behaviour::latency(Duration::from_millis(300)).scoped("engine_getPayload"));
    let t = Instant::now();
    rpc.raw(chain_id_body()).await;
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "out of scope: no delay"
    );
    let t = Instant::now();
    rpc.error_code("engine_getPayloadV3", json!(["0x0000000000000000"]))
        .await;
    assert!(t.elapsed() >= Duration::from_millis(300));

    el.clear(BehaviourKind::Latency);
    assert!(el.settings().latency.is_empty());
    el.shutdown().await;
}

#[tokio::test]
async fn hang_never_answers_until_cleared() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    el.set(Behaviour::hang().scoped("engine_newPayload"));
    // Out of scope: answered.
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x539");
    let res = rpc
        .http
        .post(&rpc.url)
        .bearer_auth(&rpc.token)
        .body(json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":new_payload_params(1, &hash(1000))}).to_string())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(res.is_err_and(|e| e.is_timeout()));
    let calls = el.calls_to("engine_newPayloadV3");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outcome, Outcome::Hung);
    assert_eq!(calls[0].status, None);

    // A request waiting when the hang is cleared gets its connection closed.
    let waiting = {
        let http = rpc.http.clone();
        let url = rpc.url.clone();
        let token = rpc.token.clone();
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .body(json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV1","params":[payload(1, &hash(1000))]}).to_string())
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    el.clear(BehaviourKind::Hang);
    let res = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("closed promptly")
        .expect("task");
    assert!(res.is_err(), "no answer, just a closed connection");
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    assert_eq!(s["status"], "VALID");
    el.shutdown().await;
}

#[tokio::test]
async fn dead_refuses_connections_and_comes_back_on_the_same_port() {
    let el = spawn(builder()).await;
    let addr = el.addr();
    let rpc = Rpc::new(&el);
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x539");
    // An idle keep-alive connection, to see it closed.
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");

    el.set_dead(true);
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf))
        .await
        .expect("closed promptly");
    assert!(matches!(n, Ok(0) | Err(_)), "open connections are closed");
    let mut refused = false;
    for _ in 0..50 {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(refused, "new connections are refused");
    assert!(http()
        .post(el.url())
        .body(chain_id_body())
        .send()
        .await
        .is_err());

    el.set_dead(false);
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(res) = http()
            .post(el.url())
            .bearer_auth(token_at(NOW))
            .body(chain_id_body())
            .send()
            .await
        {
            answered = Some(res.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answered, Some(200));
    assert_eq!(el.addr(), addr);

    // Dead from the start, revived later.
    let born_dead = spawn(builder().behaviour(Behaviour::Dead(true))).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(http()
        .post(born_dead.url())
        .body(chain_id_body())
        .send()
        .await
        .is_err());
    born_dead.clear(BehaviourKind::Dead);
    let mut ok = false;
    for _ in 0..100 {
        if Rpc::new(&born_dead)
            .http
            .post(born_dead.url())
            .bearer_auth(token_at(NOW))
            .body(chain_id_body())
            .send()
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok);
    born_dead.shutdown().await;
    el.shutdown().await;
}

#[tokio::test]
async fn close_mid_response_sends_headers_and_part_of_the_body() {
    let el = spawn(builder()).await;
    el.set(Behaviour::close_mid_response());
    let body =
        json!({"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest", false]})
            .to_string();

    // Raw socket: see exactly what arrives.
    let mut s = tokio::net::TcpStream::connect(el.addr())
        .await
        .expect("connect");
    let req = format!(
        "POST / HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        token_at(NOW),
        body.len(),
        body
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut got))
        .await
        .expect("closed promptly")
        .ok();
    let text = String::from_utf8_lossy(&got);
    let (head, partial) = text.split_once("\r\n\r\n").expect("headers arrived");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    assert!(
        !partial.is_empty() && partial.len() < len,
        "{} of {len}",
        partial.len()
    );
    assert!(partial.starts_with("{\"jsonrpc\":\"2.0\""));

    // reqwest sees the headers, then fails reading the body.
    let rpc = Rpc::new(&el);
    let res = rpc
        .http
        .post(&rpc.url)
        .bearer_auth(&rpc.token)
        .body(body)
        .send()
        .await;
    if let Ok(r) = res {
        assert!(r.bytes().await.is_err(), "the body must be cut short");
    }
    let calls = el.calls();
    assert!(calls
        .iter()
        .all(|c| c.outcome == Outcome::ClosedMidResponse));
    el.clear(BehaviourKind::CloseMidResponse);
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x539");
    el.shutdown().await;
}

#[tokio::test]
async fn http_500_and_rpc_errors() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    el.set(Behaviour::http_500().scoped("engine_"));
    let (status, text) = rpc
        .raw(json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":new_payload_params(1, &hash(1000))}).to_string())
        .await;
    assert_eq!(
        (status, text.as_str()),
        (500, "mock-el: internal server error\n")
    );
    assert_eq!(el.calls()[0].outcome, Outcome::Http500);
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x539");
    el.clear(BehaviourKind::Http500);

    el.set(Behaviour::rpc_error(-32000, "database closed"));
    let res = rpc.response("eth_chainId", json!([])).await;
    assert_eq!(
        res,
        json!({"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"database closed"}})
    );
    el.set(Behaviour::rpc_error(-38005, "Unsupported fork").scoped("engine_getPayloadV4"));
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x539");
    assert_eq!(
        rpc.error_code("engine_getPayloadV4", json!(["0x0000000000000000"]))
            .await,
        -38005
    );
    let last = el.calls().pop().expect("call");
    assert_eq!(
        (last.error_code, last.outcome),
        (Some(-38005), Outcome::Answered)
    );
    el.reset();
    assert_eq!(
        rpc.error_code("engine_getPayloadV4", json!(["0x0000000000000000"]))
            .await,
        -38001
    );
    el.shutdown().await;
}

#[tokio::test]
async fn syncing_for_a_while_then_back_to_normal() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    el.set(Behaviour::syncing_for(Duration::from_millis(600)));
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    assert_eq!(s["status"], "SYNCING");
    assert_eq!(s["latestValidHash"], Value::Null);
    let f = rpc
        .call(
            "engine_forkchoiceUpdatedV3",
            json!([fcu_state(&hash(1001)), attributes(12)]),
        )
        .await;
    assert_eq!(f["payloadStatus"]["status"], "SYNCING");
    assert_eq!(f["payloadId"], Value::Null);
    let syncing = rpc.call("eth_syncing", json!([])).await;
    assert_eq!(
        syncing,
        json!({"startingBlock":"0x0","currentBlock":"0x0","highestBlock":"0x1"})
    );
    assert!(el.settings().syncing_until.is_some());
    tokio::time::sleep(Duration::from_millis(650)).await;
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    assert_eq!(s["status"], "VALID");
    assert_eq!(rpc.call("eth_syncing", json!([])).await, false);
    el.shutdown().await;
}

/// Sends `n` sequential requests; true where answered.
async fn pattern(el: &mock_el::MockElHandle, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        let res = http()
            .post(el.url())
            .bearer_auth(token_at(NOW))
            .body(chain_id_body())
            .send()
            .await;
        out.push(res.is_ok());
    }
    out
}

#[tokio::test]
async fn flaky_is_reproducible_from_its_seed() {
    let a = spawn(builder().behaviour(Behaviour::flaky(0.4, 99))).await;
    let b = spawn(builder().behaviour(Behaviour::flaky(0.4, 99))).await;
    let c = spawn(builder().behaviour(Behaviour::flaky(0.4, 100))).await;
    let (pa, pb, pc) = (
        pattern(&a, 40).await,
        pattern(&b, 40).await,
        pattern(&c, 40).await,
    );
    assert_eq!(pa, pb, "same seed, same failures");
    assert_ne!(pa, pc, "another seed, other failures");
    let failures = pa.iter().filter(|ok| !**ok).count();
    assert!((5..=30).contains(&failures), "{failures} of 40 failed");
    let dropped = a
        .calls()
        .iter()
        .filter(|c| c.outcome == Outcome::Dropped)
        .count();
    assert_eq!(dropped, failures);
    // Setting it again restarts the sequence.
    a.set(Behaviour::flaky(0.4, 99));
    assert_eq!(pattern(&a, 40).await, pb);
    a.clear(BehaviourKind::Flaky);
    assert!(pattern(&a, 5).await.iter().all(|ok| *ok));
    for el in [a, b, c] {
        el.shutdown().await;
    }
}

#[tokio::test]
async fn jwt_is_checked_on_every_request() {
    let el = spawn(builder()).await;
    let post = |auth: Option<String>| {
        let mut req = http().post(el.url()).body(chain_id_body());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let res = req.send().await.expect("sent");
            (res.status().as_u16(), res.text().await.expect("text"))
        }
    };
    let (status, text) = post(None).await;
    assert_eq!(status, 401);
    assert!(
        text.starts_with("invalid token: missing Authorization header"),
        "{text}"
    );
    let wrong = sign(
        &JwtSecret::from_bytes([0x43; 32]),
        &Claims {
            iat: NOW,
            ..Claims::default()
        },
    );
    let (status, text) = post(Some(format!("Bearer {wrong}"))).await;
    assert_eq!(
        (status, text.as_str()),
        (401, "invalid token: bad token signature\n")
    );
    for (iat, expected) in [
        (NOW - 61, 401),
        (NOW + 61, 401),
        (NOW - 59, 200),
        (NOW + 59, 200),
    ] {
        let (status, _) = post(Some(format!("Bearer {}", token_at(iat)))).await;
        assert_eq!(status, expected, "iat offset {}", iat as i64 - NOW as i64);
    }
    let (status, _) = post(Some("Basic abc".into())).await;
    assert_eq!(status, 401);
    assert_eq!(el.auth_failures(), 5);
    assert_eq!(el.call_count(), 2, "refused requests are not calls");
    el.shutdown().await;
}

#[tokio::test]
async fn calls_are_recorded_with_claims_sizes_times_and_statuses() {
    let el = spawn(builder()).await;
    let mut rpc = Rpc::new(&el);
    rpc.token = sign(
        &secret(),
        &Claims {
            iat: NOW - 3,
            id: Some("beacon-1".into()),
            clv: Some("Lighthouse/v8.0.0".into()),
        },
    );
    let params = new_payload_params(1, &hash(1000));
    let params_len = params.to_string().len();
    rpc.call("engine_newPayloadV3", params).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    rpc.call(
        "engine_forkchoiceUpdatedV3",
        json!([fcu_state(&hash(1001)), null]),
    )
    .await;
    rpc.raw(
        json!([
            {"jsonrpc":"2.0","id":1,"method":"eth_chainId"},
            {"jsonrpc":"2.0","id":2,"method":"eth_blockNumber","params":[]}
        ])
        .to_string(),
    )
    .await;
    let calls = el.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_ref()).collect();
    assert_eq!(
        methods,
        [
            "engine_newPayloadV3",
            "engine_forkchoiceUpdatedV3",
            "eth_chainId",
            "eth_blockNumber"
        ]
    );
    let np = &calls[0];
    assert_eq!(np.params_bytes, params_len);
    assert_eq!(np.status, Some(Status::Valid));
    assert_eq!(np.block_hash.map(|h| h.to_string()), Some(hash(1001)));
    assert_eq!(np.claims.iat, NOW - 3);
    assert_eq!(np.claims.id.as_deref(), Some("beacon-1"));
    assert_eq!(np.claims.clv.as_deref(), Some("Lighthouse/v8.0.0"));
    assert_eq!(calls[1].status, Some(Status::Valid));
    assert!(calls[1].at >= np.at + Duration::from_millis(20));
    assert_eq!(calls[2].params_bytes, 0);
    assert_eq!(calls[2].status, None);
    assert_eq!(calls[3].params_bytes, 2);
    assert_eq!(el.call_count(), 4);
    el.clear_calls();
    assert!(el.calls().is_empty());
    assert_eq!(el.call_count(), 4);
    el.shutdown().await;
}

#[tokio::test]
async fn calls_carry_their_arrival_order_and_optionally_their_params() {
    let entries = vec![
        mock_el::ClientVersion {
            code: "NM".into(),
            name: "Nethermind".into(),
            version: "1.0.0".into(),
            commit: "0xabcdef01".into(),
        },
        mock_el::ClientVersion {
            code: "XX".into(),
            name: "Wrapped".into(),
            version: "2.0.0".into(),
            commit: "0x01020304".into(),
        },
    ];
    let el = spawn(
        builder()
            .record_params(true)
            .behaviour(Behaviour::ClientVersions(entries))
            .behaviour(Behaviour::latency(Duration::from_secs(1)).scoped("engine_newPayload")),
    )
    .await;
    let rpc = Rpc::new(&el);
    let params = new_payload_params(1, &hash(1000));
    // The slow call arrives first; the fast one is sent once the mock has it.
    let slow = {
        let rpc = Rpc::new(&el);
        let params = params.clone();
        tokio::spawn(async move { rpc.call("engine_newPayloadV3", params).await })
    };
    let mut waited = 0;
    while el.requests_received() < 1 {
        assert!(waited < 500, "the slow call never arrived");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let versions = rpc
        .call("engine_getClientVersionV1", json!([{"code": "LH"}]))
        .await;
    assert_eq!(versions[0]["code"], "NM");
    assert_eq!(versions[1]["name"], "Wrapped");
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(slow.await.expect("task")["status"], "VALID");

    let by_arrival: Vec<(u64, String)> = el
        .arrivals_to("")
        .iter()
        .map(|c| (c.arrival, c.method.to_string()))
        .collect();
    assert_eq!(
        by_arrival,
        [
            (0, "engine_newPayloadV3".to_owned()),
            (1, "engine_getClientVersionV1".to_owned())
        ]
    );
    let recorded = el.arrivals_to("");
    assert_eq!(
        recorded[0].params.as_deref(),
        Some(params.to_string().as_str())
    );
    assert_eq!(recorded[1].params.as_deref(), Some(r#"[{"code":"LH"}]"#));
    assert_eq!(el.requests_received(), 2);

    // Off by default: only the size is kept.
    let plain = spawn(builder()).await;
    Rpc::new(&plain).call("eth_chainId", json!([])).await;
    assert_eq!(plain.calls()[0].params, None);
    el.shutdown().await;
    plain.shutdown().await;
}

#[tokio::test]
async fn a_call_whose_client_gives_up_during_a_latency_is_logged_as_abandoned() {
    let el = spawn(builder().behaviour(Behaviour::latency(Duration::from_secs(30)))).await;
    let mut rpc = Rpc::new(&el);
    rpc.http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let sent = rpc
        .http
        .post(&rpc.url)
        .bearer_auth(&rpc.token)
        .header("content-type", "application/json")
        .body(chain_id_body())
        .send()
        .await;
    assert!(sent.is_err(), "answered despite a 30 s latency");
    let mut waited = 0;
    while el.calls().is_empty() {
        assert!(waited < 500, "the abandoned call was never logged");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = el.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "eth_chainId");
    assert_eq!(calls[0].outcome, Outcome::Abandoned);
    el.shutdown().await;
}
