//! The Engine API and eth_ methods over real HTTP: answers, state, JSON-RPC framing, snapshots.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mock_el::{Behaviour, LatestValid, Status, B256};
use serde_json::{json, Value};

#[tokio::test]
async fn valid_payload_becomes_the_head_and_is_served_by_eth_methods() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    let genesis = rpc
        .call("eth_getBlockByNumber", json!(["earliest", false]))
        .await;
    let genesis_hash = genesis["hash"].as_str().expect("hash").to_string();
    assert_eq!(genesis["number"], "0x0");
    assert_eq!(genesis_hash, mock_el::genesis_hash(1337).to_string());
    assert_eq!(rpc.call("eth_blockNumber", json!([])).await, "0x0");

    let status = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &genesis_hash))
        .await;
    assert_eq!(status["status"], "VALID");
    assert_eq!(status["latestValidHash"], hash(1001));
    assert_eq!(status["validationError"], Value::Null);
    let status = rpc
        .call("engine_newPayloadV3", new_payload_params(2, &hash(1001)))
        .await;
    assert_eq!(status["status"], "VALID");

    assert_eq!(rpc.call("eth_blockNumber", json!([])).await, "0x2");
    let latest = rpc
        .call("eth_getBlockByNumber", json!(["latest", true]))
        .await;
    assert_eq!(latest["hash"], hash(1002));
    assert_eq!(latest["parentHash"], hash(1001));
    assert_eq!(latest["timestamp"], "0x18");
    let one = rpc
        .call("eth_getBlockByNumber", json!(["0x1", false]))
        .await;
    assert_eq!(one["hash"], hash(1001));
    assert_eq!(one["parentHash"], genesis_hash.as_str());
    let by_hash = rpc
        .call("eth_getBlockByHash", json!([hash(1001), false]))
        .await;
    assert_eq!(by_hash, one);
    assert_eq!(
        rpc.call("eth_getBlockByNumber", json!(["0x3", false]))
            .await,
        Value::Null
    );
    assert_eq!(
        rpc.call("eth_getBlockByHash", json!([hash(99), false]))
            .await,
        Value::Null
    );
    assert_eq!(
        rpc.error_code("eth_getBlockByNumber", json!(["soon", false]))
            .await,
        -32602
    );
    assert_eq!(el.head().number, 2);
    assert_eq!(
        el.block_at(1).map(|b| b.hash),
        Some(B256::parse(&hash(1001)).expect("hash"))
    );

    // A forkchoice update back to block 1 reorgs the canonical index.
    let fcu = rpc
        .call(
            "engine_forkchoiceUpdatedV3",
            json!([fcu_state(&hash(1001)), null]),
        )
        .await;
    assert_eq!(fcu["payloadStatus"]["status"], "VALID");
    assert_eq!(fcu["payloadStatus"]["latestValidHash"], hash(1001));
    assert_eq!(fcu["payloadId"], Value::Null);
    assert_eq!(rpc.call("eth_blockNumber", json!([])).await, "0x1");
    assert_eq!(
        rpc.call("eth_getBlockByNumber", json!(["0x2", false]))
            .await,
        Value::Null
    );
    assert_eq!(
        rpc.call("eth_getBlockByNumber", json!(["finalized", false]))
            .await["hash"],
        hash(1001)
    );
    el.shutdown().await;
}

#[tokio::test]
async fn every_status_kind_has_the_spec_shape() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    let parent = hash(1000);

    el.set_status(Status::Invalid);
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &parent))
        .await;
    assert_eq!(s["status"], "INVALID");
    assert_eq!(s["latestValidHash"], parent.as_str());
    assert_eq!(s["validationError"], "mock-el: invalid by configuration");
    // The INVALID block is not served and a forkchoice update to it stays INVALID.
    assert_eq!(
        rpc.call("eth_getBlockByHash", json!([hash(1001), false]))
            .await,
        Value::Null
    );

    el.set(Behaviour::LatestValidHash(LatestValid::Null));
    el.set(Behaviour::ValidationError("bad state root".into()));
    let s = rpc
        .call("engine_newPayloadV2", json!([payload(2, &parent)]))
        .await;
    assert_eq!(
        (
            s["status"].clone(),
            s["latestValidHash"].clone(),
            s["validationError"].clone()
        ),
        (json!("INVALID"), Value::Null, json!("bad state root"))
    );
    el.set(Behaviour::LatestValidHash(LatestValid::Zero));
    let s = rpc
        .call("engine_newPayloadV2", json!([payload(2, &parent)]))
        .await;
    assert_eq!(s["latestValidHash"], B256::ZERO.to_string());
    let custom = B256::parse(&hash(77)).expect("hash");
    el.set(Behaviour::LatestValidHash(LatestValid::Hash(custom)));
    let s = rpc
        .call("engine_newPayloadV2", json!([payload(2, &parent)]))
        .await;
    assert_eq!(s["latestValidHash"], hash(77));

    for (status, name) in [(Status::Syncing, "SYNCING"), (Status::Accepted, "ACCEPTED")] {
        el.set_status(status);
        let s = rpc
            .call("engine_newPayloadV4", new_payload_params(3, &parent))
            .await;
        assert_eq!(
            s,
            json!({"status": name, "latestValidHash": null, "validationError": null})
        );
        // A forkchoice update never says ACCEPTED.
        let f = rpc
            .call(
                "engine_forkchoiceUpdatedV3",
                json!([fcu_state(&hash(1003)), attributes(48)]),
            )
            .await;
        assert_eq!(f["payloadStatus"]["status"], "SYNCING");
        assert_eq!(f["payloadStatus"]["latestValidHash"], Value::Null);
        assert_eq!(f["payloadId"], Value::Null);
    }
    // ACCEPTED stored the block without making it the head.
    assert!(el.block(&B256::parse(&hash(1003)).expect("hash")).is_some());
    assert_eq!(el.head().number, 0);

    el.set_status(Status::InvalidBlockHash);
    let v1 = rpc
        .call("engine_newPayloadV1", json!([payload(4, &parent)]))
        .await;
    assert_eq!(v1["status"], "INVALID_BLOCK_HASH");
    assert_eq!(v1["latestValidHash"], Value::Null);
    let v2 = rpc
        .call("engine_newPayloadV2", json!([payload(4, &parent)]))
        .await;
    assert_eq!(v2["status"], "INVALID");
    assert_eq!(v2["latestValidHash"], Value::Null);

    let statuses: Vec<_> = el
        .calls_to("engine_newPayload")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses,
        [
            Some(Status::Invalid),
            Some(Status::Invalid),
            Some(Status::Invalid),
            Some(Status::Invalid),
            Some(Status::Syncing),
            Some(Status::Accepted),
            Some(Status::InvalidBlockHash),
            Some(Status::Invalid),
        ]
    );
    el.shutdown().await;
}

#[tokio::test]
async fn forkchoice_to_a_block_answered_invalid_is_invalid() {
    let el = spawn(builder().behaviour(Behaviour::InvalidEvery(2))).await;
    let rpc = Rpc::new(&el);
    rpc.call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(2, &hash(1001)))
        .await;
    assert_eq!(s["status"], "INVALID");
    el.clear(mock_el::BehaviourKind::InvalidEvery);
    let f = rpc
        .call(
            "engine_forkchoiceUpdatedV3",
            json!([fcu_state(&hash(1002)), attributes(24)]),
        )
        .await;
    assert_eq!(f["payloadStatus"]["status"], "INVALID");
    assert_eq!(f["payloadStatus"]["latestValidHash"], Value::Null);
    assert_eq!(f["payloadId"], Value::Null);
    el.shutdown().await;
}

#[tokio::test]
async fn megabyte_payload_is_answered_without_decoding_transactions() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    let mut p = payload(1, &hash(1000));
    // 1 MiB of transactions that are not even valid hex: the mock must not look at them.
    let tx = format!("0x{}", "zz".repeat(1024));
    p["transactions"] = json!(vec![tx; 512]);
    let body = json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":[p, [], hash(5), []]})
        .to_string();
    assert!(body.len() > 1_000_000);
    // Warm the connection, then time the big call.
    rpc.call("eth_chainId", json!([])).await;
    let start = Instant::now();
    let (status, text) = rpc.raw(body.clone()).await;
    let took = start.elapsed();
    assert_eq!(status, 200);
    let res: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(res["result"]["status"], "VALID");
    println!("1 MB newPayload answered in {took:?}");
    assert!(took < Duration::from_millis(500), "took {took:?}");
    let call = el.calls_to("engine_newPayloadV3").pop().expect("recorded");
    assert!(call.params_bytes > 1_000_000 && call.params_bytes < body.len());
    el.shutdown().await;
}

#[tokio::test]
async fn get_payload_after_forkchoice_with_attributes() {
    let a = spawn(builder().name("el-a").block_value(123_456)).await;
    let b = spawn(builder().name("el-b")).await;
    let (ra, rb) = (Rpc::new(&a), Rpc::new(&b));
    for rpc in [&ra, &rb] {
        rpc.call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
            .await;
    }
    let params = json!([fcu_state(&hash(1001)), attributes(1_700_000_012)]);
    let fa = ra.call("engine_forkchoiceUpdatedV3", params.clone()).await;
    let fa2 = ra.call("engine_forkchoiceUpdatedV3", params.clone()).await;
    let fb = rb.call("engine_forkchoiceUpdatedV3", params).await;
    let id_a = fa["payloadId"].as_str().expect("payload id").to_string();
    let id_b = fb["payloadId"].as_str().expect("payload id").to_string();
    for id in [&id_a, &id_b] {
        assert!(id.len() == 18 && id.starts_with("0x"), "{id}");
        assert!(id[2..].chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(id_a, id_b, "payload ids differ between mocks");
    assert_ne!(fa2["payloadId"], fa["payloadId"], "a fresh id per call");
    assert_eq!(
        a.calls_to("engine_forkchoiceUpdated")[0]
            .payload_id
            .as_deref(),
        Some(id_a.as_str())
    );

    let pa = ra.call("engine_getPayloadV3", json!([id_a])).await;
    let pb = rb.call("engine_getPayloadV3", json!([id_b])).await;
    let ea = &pa["executionPayload"];
    assert_eq!(ea["parentHash"], hash(1001));
    assert_eq!(ea["blockNumber"], "0x2");
    assert_eq!(ea["timestamp"], format!("{:#x}", 1_700_000_012u64));
    assert_eq!(ea["prevRandao"], hash(0xabc));
    assert_eq!(
        ea["feeRecipient"],
        "0x00000000000000000000000000000000000000fe"
    );
    assert_eq!(ea["withdrawals"], attributes(0)["withdrawals"]);
    assert_eq!(ea["transactions"], json!([]));
    assert_eq!(pa["blockValue"], format!("{:#x}", 123_456));
    assert_eq!(pb["blockValue"], "0x3b9aca00");
    assert_eq!(
        pa["blobsBundle"],
        json!({"commitments": [], "proofs": [], "blobs": []})
    );
    assert_eq!(pa["shouldOverrideBuilder"], false);
    assert!(pa.get("executionRequests").is_none());
    assert_ne!(
        ea["blockHash"], pb["executionPayload"]["blockHash"],
        "block hashes differ between mocks"
    );

    let v1 = ra.call("engine_getPayloadV1", json!([id_a])).await;
    assert_eq!(v1["blockHash"], ea["blockHash"]);
    assert!(v1.get("withdrawals").is_none() && v1.get("blobGasUsed").is_none());
    let v2 = ra.call("engine_getPayloadV2", json!([id_a])).await;
    assert_eq!(v2["executionPayload"]["withdrawals"], ea["withdrawals"]);
    assert!(v2.get("blobsBundle").is_none());
    for v in [4, 5] {
        let p = ra
            .call(&format!("engine_getPayloadV{v}"), json!([id_a]))
            .await;
        assert_eq!(p["executionRequests"], json!([]));
        assert_eq!(p["executionPayload"]["blobGasUsed"], "0x0");
    }
    // b's id is unknown to a.
    assert_eq!(
        ra.error_code("engine_getPayloadV3", json!([id_b])).await,
        -38001
    );
    let res = ra
        .response("engine_getPayloadV3", json!(["0x0000000000000000"]))
        .await;
    assert_eq!(
        res["error"],
        json!({"code": -38001, "message": "Unknown payload"})
    );
    assert_eq!(
        ra.error_code("engine_getPayloadV3", json!(["0x12"])).await,
        -32602
    );
    assert_eq!(
        ra.error_code("engine_getPayloadV3", json!([])).await,
        -32602
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn blobs_bodies_capabilities_and_identity() {
    let have = B256::parse(&hash(0x01)).expect("hash");
    let el = spawn(builder().name("el-x").chain_id(17_000).blobs([have])).await;
    let rpc = Rpc::new(&el);

    let v1 = rpc
        .call("engine_getBlobsV1", json!([[hash(0x01), hash(0x02)]]))
        .await;
    assert_eq!(v1[1], Value::Null);
    let blob = v1[0]["blob"].as_str().expect("blob");
    assert_eq!(blob.len(), 2 + 131_072 * 2);
    assert!(blob.starts_with(&hash(0x01)));
    assert_eq!(v1[0]["proof"].as_str().map(str::len), Some(2 + 96));
    assert_eq!(
        rpc.call("engine_getBlobsV2", json!([[hash(0x01), hash(0x02)]]))
            .await,
        Value::Null
    );
    let v2 = rpc.call("engine_getBlobsV2", json!([[hash(0x01)]])).await;
    assert_eq!(v2[0]["proofs"].as_array().map(Vec::len), Some(128));
    el.set(Behaviour::Blobs(vec![
        B256::parse(&hash(0x02)).expect("hash")
    ]));
    let v2 = rpc
        .call("engine_getBlobsV2", json!([[hash(0x01), hash(0x02)]]))
        .await;
    assert_eq!(v2.as_array().map(Vec::len), Some(2));
    let too_many: Vec<String> = (0..129).map(hash).collect();
    assert_eq!(
        rpc.error_code("engine_getBlobsV1", json!([too_many])).await,
        -38004
    );

    let genesis = mock_el::genesis_hash(17_000).to_string();
    rpc.call("engine_newPayloadV3", new_payload_params(1, &genesis))
        .await;
    rpc.call("engine_newPayloadV3", new_payload_params(2, &hash(1001)))
        .await;
    let bodies = rpc
        .call(
            "engine_getPayloadBodiesByHashV1",
            json!([[hash(1002), hash(55), hash(1001)]]),
        )
        .await;
    assert_eq!(
        bodies,
        json!([{"transactions": [], "withdrawals": []}, null, {"transactions": [], "withdrawals": []}])
    );
    let range = rpc
        .call("engine_getPayloadBodiesByRangeV1", json!(["0x1", "0x5"]))
        .await;
    assert_eq!(
        range.as_array().map(Vec::len),
        Some(2),
        "trailing nulls trimmed"
    );
    assert_eq!(
        rpc.error_code("engine_getPayloadBodiesByRangeV1", json!(["0x0", "0x1"]))
            .await,
        -32602
    );
    assert_eq!(
        rpc.error_code("engine_getPayloadBodiesByRangeV1", json!(["0x1", "0x401"]))
            .await,
        -38004
    );

    let caps = rpc
        .call(
            "engine_exchangeCapabilities",
            json!([["engine_newPayloadV3"]]),
        )
        .await;
    let caps: Vec<String> = serde_json::from_value(caps).expect("strings");
    assert_eq!(caps, mock_el::ENGINE_METHODS);
    assert!(!caps.iter().any(|c| c == "engine_exchangeCapabilities"));
    el.set(Behaviour::Capabilities(vec!["engine_newPayloadV3".into()]));
    assert_eq!(
        rpc.call("engine_exchangeCapabilities", json!([[]])).await,
        json!(["engine_newPayloadV3"])
    );

    let version = rpc
        .call(
            "engine_getClientVersionV1",
            json!([{"code":"LH","name":"Lighthouse","version":"v1","commit":"0x01020304"}]),
        )
        .await;
    assert_eq!(version[0]["code"], "MK");
    assert_eq!(version[0]["name"], "el-x");
    assert_eq!(version[0]["commit"].as_str().map(str::len), Some(10));

    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x4268");
    assert_eq!(rpc.call("eth_syncing", json!([])).await, false);
    el.set(Behaviour::ChainId(1));
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x1");
    el.shutdown().await;
}

#[tokio::test]
async fn json_rpc_framing_batches_ids_and_errors() {
    let el = spawn(builder()).await;
    let rpc = Rpc::new(&el);
    let parse = |text: &str| serde_json::from_str::<Value>(text).expect("json");

    // Ids come back exactly as sent.
    for id in [json!(7), json!("abc"), Value::Null, json!(-1.5e3)] {
        let (_, text) = rpc
            .raw(json!({"jsonrpc":"2.0","id":id,"method":"eth_chainId"}).to_string())
            .await;
        assert_eq!(parse(&text)["id"], id);
    }
    let (_, text) = rpc
        .raw(r#"{"jsonrpc":"2.0","id":"x\u0041","method":"eth_chainId"}"#)
        .await;
    assert!(text.contains(r#""id":"x\u0041""#), "{text}");

    let (status, text) = rpc
        .raw(
            json!([
                {"jsonrpc":"2.0","id":1,"method":"eth_chainId"},
                {"jsonrpc":"2.0","id":"two","method":"eth_getBlockByHash","params":[hash(1), false]},
                {"jsonrpc":"2.0","id":3,"method":"no_such_method"},
                {"id":4,"method":"eth_chainId"},
                17
            ])
            .to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let batch = parse(&text);
    assert_eq!(batch[0], json!({"jsonrpc":"2.0","id":1,"result":"0x539"}));
    assert_eq!(batch[1], json!({"jsonrpc":"2.0","id":"two","result":null}));
    assert_eq!(batch[2]["error"]["code"], -32601);
    assert_eq!(batch[2]["id"], 3);
    assert_eq!(batch[3]["error"]["code"], -32600);
    assert_eq!(batch[3]["id"], 4);
    assert_eq!(batch[4]["error"]["code"], -32600);
    assert_eq!(batch[4]["id"], Value::Null);

    for (body, code) in [
        ("{not json", -32700),
        ("[{\"jsonrpc\":\"2.0\",", -32700),
        ("", -32700),
        ("[]", -32600),
        ("\"hello\"", -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":3}"#,
            -32600,
        ),
    ] {
        let (status, text) = rpc.raw(body).await;
        assert_eq!(status, 200, "{body}");
        let res = parse(&text);
        assert_eq!(res["error"]["code"], code, "{body}: {text}");
    }
    assert_eq!(
        rpc.error_code("engine_newPayloadV9", json!([])).await,
        -32601
    );
    assert_eq!(
        rpc.error_code("engine_newPayloadV3", json!([{}])).await,
        -32602
    );
    assert_eq!(
        rpc.error_code(
            "engine_forkchoiceUpdatedV3",
            json!([{"headBlockHash": "0x1"}])
        )
        .await,
        -32602
    );
    el.shutdown().await;
}

#[tokio::test]
async fn response_snapshots() {
    let el = spawn(builder().name("snap").seed(3)).await;
    let rpc = Rpc::new(&el);
    let genesis = mock_el::genesis_hash(1337).to_string();

    insta::assert_json_snapshot!(
        "new_payload_valid",
        rpc.response("engine_newPayloadV3", new_payload_params(1, &genesis))
            .await
    );
    insta::assert_json_snapshot!(
        "forkchoice_with_attributes",
        rpc.response(
            "engine_forkchoiceUpdatedV3",
            json!([fcu_state(&hash(1001)), attributes(24)])
        )
        .await,
        { ".result.payloadId" => "[payload id]" }
    );
    let id = el
        .calls()
        .last()
        .and_then(|c| c.payload_id.clone())
        .expect("id");
    insta::assert_json_snapshot!(
        "get_payload_v3",
        rpc.response("engine_getPayloadV3", json!([id])).await,
        {
            ".result.executionPayload.blockHash" => "[block hash]",
            ".result.executionPayload.stateRoot" => "[state root]",
        }
    );
    insta::assert_json_snapshot!(
        "get_payload_v1",
        rpc.response("engine_getPayloadV1", json!([id])).await,
        {
            ".result.blockHash" => "[block hash]",
            ".result.stateRoot" => "[state root]",
        }
    );
    el.set_status(Status::Invalid);
    insta::assert_json_snapshot!(
        "new_payload_invalid",
        rpc.response("engine_newPayloadV3", new_payload_params(2, &hash(1001)))
            .await
    );
    insta::assert_json_snapshot!(
        "block_by_number_latest",
        rpc.response("eth_getBlockByNumber", json!(["latest", false]))
            .await
    );
    insta::assert_json_snapshot!(
        "client_version",
        rpc.response("engine_getClientVersionV1", json!([])).await,
        { ".result[].commit" => "[commit]" }
    );
    el.set(Behaviour::syncing_for(Duration::from_secs(60)));
    insta::assert_json_snapshot!(
        "eth_syncing_while_syncing",
        rpc.response("eth_syncing", json!([])).await
    );
    insta::assert_json_snapshot!(
        "unknown_payload_error",
        rpc.response("engine_getPayloadV2", json!(["0x0102030405060708"]))
            .await
    );
    el.shutdown().await;
}
