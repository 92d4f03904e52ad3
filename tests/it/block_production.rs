//! getPayload across nodes: failover when the primary dies after forkchoiceUpdated, best-value
//! selection, replay when every build was lost, expiry, and a bounded id map.
use crate::support::mock_els;

use crate::support::mock_els::*;
use executionbackup::config::PayloadSelection;
use executionbackup::payload;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_after_forkchoice_updated_still_gives_a_payload() {
    let els = mocks(3).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let fcu = cl.fcu(10, true).await;
    assert_eq!(fcu["result"]["payloadStatus"]["status"], "VALID");
    let id = payload_id(&fcu);
    let mock_ids: Vec<String> = els
        .iter()
        .filter_map(|e| {
            e.calls_to("engine_forkchoiceUpdated")
                .last()?
                .payload_id
                .clone()
        })
        .collect();
    assert_eq!(mock_ids.len(), 3);
    assert!(!mock_ids.contains(&id), "the CL gets the proxy's own id");

    els[0].set_dead(true);
    let reply = cl.rpc("engine_getPayloadV3", json!([id])).await;
    let payload = &reply["result"]["executionPayload"];
    assert_eq!(payload["parentHash"], hash(10), "{reply}");
    // The payload came from the second node, asked with its own id.
    let asked = els[1].calls_to("engine_getPayload");
    assert_eq!(asked.len(), 1);
    assert!(els[2].calls_to("engine_getPayload").len() <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_value_picks_the_largest_block_value() {
    let mut els = Vec::new();
    for (i, value) in [1_000_000_000u128, 3_000_000_000, 2_000_000_000]
        .into_iter()
        .enumerate()
    {
        els.push(
            mock(&format!("el{}", i + 1), i as u64 + 1, |b| {
                b.block_value(value)
            })
            .await,
        );
    }
    let settings = executionbackup::config::Settings {
        payload_selection: PayloadSelection::BestValue,
        ..settings()
    };
    let running = proxy(&plain(&els), settings).await;
    let cl = Cl::new(running.url());
    let id = payload_id(&cl.fcu(5, true).await);
    let reply = cl.rpc("engine_getPayloadV3", json!([id])).await;
    assert_eq!(
        reply["result"]["blockValue"],
        format!("0x{:x}", 3_000_000_000u64),
        "{reply}"
    );

    // The default selection takes the primary's.
    let running = proxy(&plain(&els), mock_els::settings()).await;
    let cl = Cl::new(running.url());
    let id = payload_id(&cl.fcu(6, true).await);
    let reply = cl.rpc("engine_getPayloadV3", json!([id])).await;
    assert_eq!(
        reply["result"]["blockValue"],
        format!("0x{:x}", 1_000_000_000u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_builds_are_replayed() {
    let els = mocks(2).await;
    let addrs: Vec<_> = els.iter().map(|e| e.addr()).collect();
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let id = payload_id(&cl.fcu(7, true).await);

    // Both nodes restart (same ports, empty memory): every build is gone.
    for el in els {
        el.shutdown().await;
    }
    let mut restarted = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        restarted.push(
            mock_el::MockEl::builder()
                .secret(shared_secret())
                .name(format!("el{}-restarted", i + 1))
                .seed(100 + i as u64)
                .spawn(eb_transport::TokioNet, *addr)
                .await
                .expect("restart on the same port"),
        );
    }
    let reply = cl.rpc("engine_getPayloadV3", json!([id])).await;
    assert_eq!(
        reply["result"]["executionPayload"]["parentHash"],
        hash(7),
        "{reply}"
    );
    // Replayed to the first node, in read order, that builds again: which one that is depends
    // on whether a probe caught the restart, so only the count is fixed.
    let replayed: Vec<_> = restarted
        .iter()
        .flat_map(|el| el.calls_to("engine_forkchoiceUpdated"))
        .collect();
    assert_eq!(
        replayed.len(),
        1,
        "the original forkchoiceUpdated was replayed, once"
    );
    assert!(replayed[0].payload_id.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_expired_ids_are_unknown_payloads() {
    let els = mocks(1).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let reply = cl
        .rpc("engine_getPayloadV3", json!(["0x0123456789abcdef"]))
        .await;
    assert_eq!(reply["error"]["code"], -38001);
    let reply = cl.rpc("engine_getPayloadV3", json!([])).await;
    assert_eq!(reply["error"]["code"], -32602);
    // A build without attributes gives no id.
    assert_eq!(cl.fcu(3, false).await["result"]["payloadId"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_map_stays_bounded_over_many_slots() {
    let els = mocks(1).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let mut last = String::new();
    for slot in 0..2_000u64 {
        last = payload_id(&cl.fcu(slot, true).await);
        assert!(running.proxy.payloads.len() <= payload::CAPACITY);
    }
    assert_eq!(running.proxy.payloads.len(), payload::CAPACITY);
    let reply = cl.rpc("engine_getPayloadV3", json!([last])).await;
    assert!(reply["result"]["executionPayload"].is_object(), "{reply}");
}
