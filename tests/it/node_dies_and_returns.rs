//! A node that stops answering still gets every voted call (awaited only the lag grace), is
//! reported dead or lagging, and is alive again once it answers a voted call in time.

use std::time::Duration;

use crate::support::mock_els::*;
use mock_el::{Behaviour, BehaviourKind};

fn listed(metrics: &serde_json::Value, key: &str, url: &str) -> bool {
    metrics[key]
        .as_array()
        .is_some_and(|a| a.iter().any(|u| u == url))
}

fn down(metrics: &serde_json::Value, url: &str) -> bool {
    listed(metrics, "dead_nodes", url) || listed(metrics, "lagging_nodes", url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_node_keeps_getting_every_call_and_comes_back() {
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
    for n in 2..10 {
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID");
    }
    // How long each call waited is the simulation's to show (sim/tests/black_holed_el.rs);
    // here: the node is known to be behind, and still got every block, in order.
    assert!(down(&cl.metrics().await, &els[2].url()));
    let all_sent = eventually(Duration::from_secs(10), async || {
        els[2].calls_to("engine_newPayload").len() == 9
    })
    .await;
    assert!(all_sent, "a node believed down still gets every voted call");

    els[2].clear(BehaviourKind::Hang);
    let reachable = eventually(Duration::from_secs(8), async || {
        !listed(&cl.metrics().await, "dead_nodes", &els[2].url())
    })
    .await;
    assert!(reachable, "the probe finds the node again");
    assert_eq!(status_of(&cl.new_payload(42).await), "VALID");
    let got_42 = els[2]
        .calls_to("engine_newPayload")
        .iter()
        .any(|c| c.block_hash.is_some_and(|h| format!("{h}") == hash(42)));
    assert!(got_42, "the node that came back is used again");
    // Its answer in time (VALID for the newest block) makes it alive again.
    // Answers in time to both kinds of voted call (VALID for the newest block) make it alive.
    let alive = eventually(Duration::from_secs(8), async || {
        if listed(&cl.metrics().await, "alive_nodes", &els[2].url()) {
            return true;
        }
        let _ = cl.new_payload(43).await;
        let _ = cl.fcu(43, false).await;
        false
    })
    .await;
    assert!(alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_is_dead_after_one_failed_request_and_revives() {
    let els = mocks(3).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");

    els[1].set_dead(true);
    wait_refusing(&els[1]).await;
    // A pooled connection may still carry one more call before the mock closes it: wait for
    // the event (the refusal seen by a voted call), not for a fixed number of calls.
    let dead = eventually(Duration::from_secs(5), async || {
        assert_eq!(status_of(&cl.new_payload(2).await), "VALID");
        listed(&cl.metrics().await, "dead_nodes", &els[1].url())
    })
    .await;
    assert!(dead);

    els[1].set_dead(false);
    let reachable = eventually(Duration::from_secs(8), async || {
        !listed(&cl.metrics().await, "dead_nodes", &els[1].url())
    })
    .await;
    assert!(reachable, "the probe finds the node again");
    els[1].clear_calls();
    assert_eq!(status_of(&cl.new_payload(3).await), "VALID");
    assert_eq!(els[1].calls_to("engine_newPayload").len(), 1);
    assert_eq!(status_of(&cl.fcu(3, false).await), "VALID");
    // It answered both kinds of voted call in time, VALID for the newest block: alive again.
    assert!(listed(&cl.metrics().await, "alive_nodes", &els[1].url()));
}
