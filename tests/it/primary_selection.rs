//! The primary is the first healthy node, survives failures by failing over, and does not flap
//! back when an equal node returns.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::proxy::{prometheus, sample};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_fails_over_and_does_not_flap_back() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(cl.metrics().await["primary_node"], els[0].url());

    els[0].set_dead(true);
    // Reads are answered throughout, transparently; once el1's refusal is seen (the mock closes
    // its connections a moment after being told), el2 is the primary. Waiting for that event
    // rather than assuming the first read saw it keeps the test free of races.
    let failed_over = eventually(Duration::from_secs(5), async || {
        let reply = cl.rpc("eth_chainId", json!([])).await;
        assert_eq!(reply["result"], "0x539", "{reply}");
        cl.metrics().await["primary_node"] == els[1].url()
    })
    .await;
    assert!(failed_over);

    els[0].set_dead(false);
    let back = eventually(Duration::from_secs(8), async || {
        cl.metrics().await["alive_nodes"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    assert!(back);
    for _ in 0..5 {
        cl.rpc("eth_blockNumber", json!([])).await;
    }
    assert_eq!(
        cl.metrics().await["primary_node"],
        els[1].url(),
        "an equal node coming back does not take the primary role back"
    );
    assert!(els[1].calls_to("eth_blockNumber").len() >= 5);
    assert!(els[0].calls_to("eth_blockNumber").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_nodes_dead_then_back() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    for el in &els {
        el.set_dead(true);
    }
    for el in &els {
        wait_refusing(el).await;
    }
    // Refused connections: the answer is SYNCING, and reads fail.
    cl.new_payload(1).await;
    let reply = cl.new_payload(2).await;
    assert_eq!(reply["result"]["status"], "SYNCING");
    assert_eq!(reply["result"]["latestValidHash"], serde_json::Value::Null);
    let read = cl.rpc("eth_chainId", json!([])).await;
    assert_eq!(read["error"]["code"], -32603);
    assert!(read["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("no execution client")));

    for el in &els {
        el.set_dead(false);
    }
    let back = eventually(Duration::from_secs(8), async || {
        cl.metrics().await["dead_nodes"].as_array().map(Vec::len) == Some(0)
    })
    .await;
    assert!(back, "the proxy recovers by itself");
    assert_eq!(status_of(&cl.new_payload(3).await), "VALID");
    assert_eq!(status_of(&cl.fcu(3, false).await), "VALID");
    assert_eq!(
        cl.metrics().await["alive_nodes"].as_array().map(Vec::len),
        Some(2),
        "answers in time, VALID for the newest block, make both alive again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_primary_is_hedged_and_then_skipped() {
    let els = mocks(2).await;
    let urls: Vec<(String, &str)> = els.iter().map(|e| (e.url(), "#timeout=2000")).collect();
    let settings = settings_with_metrics();
    let running = proxy(&urls, settings).await;
    let cl = Cl::new(running.url());
    assert_eq!(cl.metrics().await["primary_node"], els[0].url());
    els[0].set(mock_el::Behaviour::hang());

    // The primary says nothing: at half its timeout the next node is asked too and answers.
    // Not a failover (the primary never failed: it was still being awaited), which is what
    // tells the hedge from a retry after the primary's timeout. How long the hedge waits is
    // the benchmark's to measure (a stopped EL costs the first read half a node timeout).
    assert_eq!(cl.rpc("eth_chainId", json!([])).await["result"], "0x539");
    let failovers = sample(&prometheus(&running).await, "eb_failovers_total");
    assert_eq!(failovers, 0.0, "answered by the hedge, not after a failure");

    // While that read is still outstanding, the primary is asked last: the next read goes to
    // the other node first, which answers, so the primary is not asked at all.
    assert_eq!(cl.rpc("eth_blockNumber", json!([])).await["result"], "0x0");
    assert!(
        els[0].el().calls_to("eth_blockNumber").is_empty(),
        "the stalled primary was asked first"
    );
    assert!(!els[1].el().calls_to("eth_blockNumber").is_empty());
}
