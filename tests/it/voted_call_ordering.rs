//! Ordering: state-changing calls reach every execution client in one and the same order, even
//! when the consensus client sends them concurrently and the ELs answer at different speeds.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::shapes::fcu_params;
use futures_util::future::join_all;
use mock_el::{Behaviour, MockElHandle, B256};
use serde_json::json;

/// The blocks of the newPayloads an EL received, in the order the requests arrived.
fn order_seen(el: &MockElHandle) -> Vec<Option<B256>> {
    el.arrivals_to("engine_newPayloadV3")
        .iter()
        .map(|c| c.block_hash)
        .collect()
}

/// Every state-changing call an EL received, in arrival order, as (method, block hash: the
/// payload's for newPayload, the head for forkchoiceUpdated).
fn voted_calls_seen(el: &MockElHandle) -> Vec<(String, Option<B256>)> {
    el.arrivals_to("engine_")
        .iter()
        .filter(|c| c.method == "engine_newPayloadV3" || c.method == "engine_forkchoiceUpdatedV3")
        .map(|c| (c.method.to_string(), c.block_hash))
        .collect()
}

/// Three VALID ELs, each answering newPayload and forkchoiceUpdated after its own delay (the
/// first slowest), so their answers come back in shuffled order.
async fn three_els_with_different_speeds() -> Vec<MockElHandle> {
    let els = mocks(3).await;
    for (el, ms) in els.iter().zip([120u64, 5, 60]) {
        el.set(Behaviour::latency(Duration::from_millis(ms)).scoped("engine_newPayload"));
        el.set(
            Behaviour::latency(Duration::from_millis(ms / 2)).scoped("engine_forkchoiceUpdated"),
        );
    }
    els
}

/// Waits until every EL has answered `n` calls whose method starts with `prefix` (the proxy
/// may answer the CL before the slowest EL has answered, and a call is logged once answered).
async fn all_answered(els: &[MockElHandle], prefix: &str, n: usize) {
    let done = eventually(Duration::from_secs(10), async || {
        els.iter().all(|el| el.calls_to(prefix).len() >= n)
    })
    .await;
    assert!(done, "not every EL answered {n} {prefix} calls");
}

async fn start(
    els: &[MockElHandle],
) -> (executionbackup::app::Running<eb_transport::TokioNet>, Cl) {
    let running = proxy(&plain(els), settings()).await;
    let cl = Cl::new(running.url());
    (running, cl)
}

#[tokio::test]
async fn back_to_back_new_payloads_arrive_everywhere_in_the_same_order() {
    let els = three_els_with_different_speeds().await;
    let (_running, cl) = start(&els).await;

    let first = cl.call(json!(1), "engine_newPayloadV3", new_payload_params(1));
    let second = async {
        // Sent right after the first, while the first is still being served.
        tokio::time::sleep(Duration::from_millis(10)).await;
        cl.call(json!(2), "engine_newPayloadV3", new_payload_params(2))
            .await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a["result"]["status"], "VALID", "{a}");
    assert_eq!(b["result"]["status"], "VALID", "{b}");
    assert_eq!((a["id"].clone(), b["id"].clone()), (json!(1), json!(2)));

    all_answered(&els, "engine_newPayloadV3", 2).await;
    let reference = order_seen(&els[0]);
    assert_eq!(reference.len(), 2, "{reference:?}");
    for (i, el) in els.iter().enumerate() {
        assert_eq!(order_seen(el), reference, "node {i}");
    }
}

#[tokio::test]
async fn interleaved_new_payloads_and_forkchoice_updates_keep_one_order() {
    let els = three_els_with_different_speeds().await;
    let (_running, cl) = start(&els).await;

    let answers = join_all((1..=6u64).map(|n| {
        let cl = &cl;
        async move {
            if n % 2 == 1 {
                cl.call(json!(n), "engine_newPayloadV3", new_payload_params(n))
                    .await
            } else {
                cl.call(json!(n), "engine_forkchoiceUpdatedV3", fcu_params(n, false))
                    .await
            }
        }
    }))
    .await;
    for (n, answer) in (1..=6).zip(&answers) {
        assert_eq!(answer["id"], n, "{answer}");
        assert!(answer.get("result").is_some(), "{answer}");
    }
    all_answered(&els, "engine_newPayloadV3", 3).await;
    all_answered(&els, "engine_forkchoiceUpdatedV3", 3).await;
    let reference = voted_calls_seen(&els[0]);
    assert_eq!(reference.len(), 6, "{reference:?}");
    for (i, el) in els.iter().enumerate() {
        assert_eq!(voted_calls_seen(el), reference, "node {i}");
    }
}

#[tokio::test]
async fn a_concurrent_burst_arrives_everywhere_in_the_same_order() {
    let els = three_els_with_different_speeds().await;
    let (_running, cl) = start(&els).await;

    let answers = join_all((1..=8u64).map(|n| {
        let cl = &cl;
        async move {
            cl.call(json!(n), "engine_newPayloadV3", new_payload_params(n))
                .await
        }
    }))
    .await;
    for (n, answer) in (1..=8).zip(&answers) {
        assert_eq!(answer["id"], n);
        assert_eq!(answer["result"]["status"], "VALID", "{answer}");
    }

    all_answered(&els, "engine_newPayloadV3", 8).await;
    let reference = order_seen(&els[0]);
    let mut sorted = reference.clone();
    sorted.sort();
    let mut expected: Vec<Option<B256>> = (1..=8)
        .map(|n| Some(B256::parse(&hash(n)).expect("hash")))
        .collect();
    expected.sort();
    assert_eq!(sorted, expected, "every call arrived exactly once");
    for (i, el) in els.iter().enumerate() {
        assert_eq!(order_seen(el), reference, "node {i}");
    }
}
