//! Ordering: state-changing calls reach every execution client in one and the same order, even
//! when the consensus client sends them concurrently and the ELs answer at different speeds.

// Scripted ELs (wiremock) rather than mock-el: each EL answers newPayload and forkchoiceUpdated
// after its own fixed delay, to shuffle the order the answers come back in.

use std::time::Duration;

use crate::support::scripted_el::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

async fn order_seen(el: &El) -> Vec<Value> {
    el.calls("engine_newPayloadV3")
        .await
        .into_iter()
        .map(|c| c["params"][0]["blockHash"].clone())
        .collect()
}

/// Every state-changing call an EL received, in arrival order, as (method, block hash).
async fn voted_calls_seen(el: &El) -> Vec<(String, Value)> {
    el.requests()
        .await
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter_map(|v| {
            let method = v["method"].as_str()?.to_owned();
            let key = match method.as_str() {
                "engine_newPayloadV3" => v["params"][0]["blockHash"].clone(),
                "engine_forkchoiceUpdatedV3" => v["params"][0]["headBlockHash"].clone(),
                _ => return None,
            };
            Some((method, key))
        })
        .collect()
}

async fn three_els_with_different_speeds(s: &eb_transport::JwtSecret) -> Vec<El> {
    let els = els(3, s).await;
    for (el, ms) in els.iter().zip([120u64, 5, 60]) {
        el.on(
            "engine_newPayloadV3",
            Reply::status("VALID", None, None).delayed(Duration::from_millis(ms)),
        )
        .await;
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(payload_status("VALID", None, None), None))
                .delayed(Duration::from_millis(ms / 2)),
        )
        .await;
    }
    els
}

#[tokio::test]
async fn back_to_back_new_payloads_arrive_everywhere_in_the_same_order() {
    let s = secret(0xa1);
    let els = three_els_with_different_speeds(&s).await;
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let first = proxy.call(json!(1), "engine_newPayloadV3", new_payload_params(1));
    let second = async {
        // Sent right after the first, while the first is still being served.
        tokio::time::sleep(Duration::from_millis(10)).await;
        proxy
            .call(json!(2), "engine_newPayloadV3", new_payload_params(2))
            .await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a["result"]["status"], "VALID", "{a}");
    assert_eq!(b["result"]["status"], "VALID", "{b}");
    assert_eq!((a["id"].clone(), b["id"].clone()), (json!(1), json!(2)));

    let reference = order_seen(&els[0]).await;
    assert_eq!(reference.len(), 2, "{reference:?}");
    for (i, el) in els.iter().enumerate() {
        assert_eq!(order_seen(el).await, reference, "node {i}");
    }
}

#[tokio::test]
async fn interleaved_new_payloads_and_forkchoice_updates_keep_one_order() {
    let s = secret(0xa3);
    let els = three_els_with_different_speeds(&s).await;
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let answers = join_all((1..=6u8).map(|n| {
        let proxy = &proxy;
        async move {
            if n % 2 == 1 {
                proxy
                    .call(json!(n), "engine_newPayloadV3", new_payload_params(n))
                    .await
            } else {
                proxy
                    .call(json!(n), "engine_forkchoiceUpdatedV3", fcu_params(n, false))
                    .await
            }
        }
    }))
    .await;
    for (n, answer) in (1..=6).zip(&answers) {
        assert_eq!(answer["id"], n, "{answer}");
        assert!(answer.get("result").is_some(), "{answer}");
    }
    let reference = voted_calls_seen(&els[0]).await;
    assert_eq!(reference.len(), 6, "{reference:?}");
    for (i, el) in els.iter().enumerate() {
        assert_eq!(voted_calls_seen(el).await, reference, "node {i}");
    }
}

#[tokio::test]
async fn a_concurrent_burst_arrives_everywhere_in_the_same_order() {
    let s = secret(0xa2);
    let els = three_els_with_different_speeds(&s).await;
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let answers = join_all((1..=8u8).map(|n| {
        let proxy = &proxy;
        async move {
            proxy
                .call(json!(n), "engine_newPayloadV3", new_payload_params(n))
                .await
        }
    }))
    .await;
    for (n, answer) in (1..=8).zip(&answers) {
        assert_eq!(answer["id"], n);
        assert_eq!(answer["result"]["status"], "VALID", "{answer}");
    }

    let reference = order_seen(&els[0]).await;
    let mut sorted = reference.clone();
    sorted.sort_by_key(|v| v.to_string());
    let mut expected: Vec<Value> = (1..=8u8).map(|n| json!(byte_hash(n))).collect();
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(sorted, expected, "every call arrived exactly once");
    for (i, el) in els.iter().enumerate() {
        assert_eq!(order_seen(el).await, reference, "node {i}");
    }
}
