//! A node that stops answering costs at most one timeout, gets no live traffic while dead, and is
//! used again as soon as it answers a probe.
mod mocknet;

use std::time::Duration;

use mock_el::{Behaviour, BehaviourKind};
use mocknet::*;
use tokio::time::Instant;

fn listed(metrics: &serde_json::Value, key: &str, url: &str) -> bool {
    metrics[key]
        .as_array()
        .is_some_and(|a| a.iter().any(|u| u == url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_node_delays_one_call_then_is_left_alone_until_it_answers() {
    let els = mocks(3).await;
    let urls = vec![
        (els[0].url(), ""),
        (els[1].url(), ""),
        (els[2].url(), "#timeout=300"),
    ];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");

    els[2].set(Behaviour::hang());
    let mut delayed = 0;
    for n in 2..10 {
        let started = Instant::now();
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "call {n} took {took:?}");
        if took >= Duration::from_millis(250) {
            delayed += 1;
        }
    }
    assert_eq!(
        delayed, 1,
        "only the first call waits for the black-holed node"
    );
    assert!(listed(&cl.metrics().await, "dead_nodes", &els[2].url()));
    // Block 1 (answered) and the one call that hung: nothing after the node was found dead.
    let reached = els[2].calls_to("engine_newPayload");
    assert_eq!(reached.len(), 2, "a dead node gets no live traffic");
    assert_eq!(reached[1].outcome, mock_el::Outcome::Hung);

    els[2].clear(BehaviourKind::Hang);
    let back = eventually(Duration::from_secs(8), async || {
        listed(&cl.metrics().await, "alive_nodes", &els[2].url())
    })
    .await;
    assert!(back, "the node is probed back to alive");
    assert_eq!(status_of(&cl.new_payload(42).await), "VALID");
    let got_42 = els[2]
        .calls_to("engine_newPayload")
        .iter()
        .any(|c| c.block_hash.is_some_and(|h| format!("{h}") == hash(42)));
    assert!(got_42, "the node that came back is used again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_is_dead_after_one_failed_request_and_revives() {
    let els = mocks(3).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");

    els[1].set_dead(true);
    let started = Instant::now();
    assert_eq!(status_of(&cl.new_payload(2).await), "VALID");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a refused connection costs nothing"
    );
    assert!(listed(&cl.metrics().await, "dead_nodes", &els[1].url()));

    els[1].set_dead(false);
    let back = eventually(Duration::from_secs(8), async || {
        listed(&cl.metrics().await, "alive_nodes", &els[1].url())
    })
    .await;
    assert!(back);
    els[1].clear_calls();
    assert_eq!(status_of(&cl.new_payload(3).await), "VALID");
    assert_eq!(els[1].calls_to("engine_newPayload").len(), 1);
}
