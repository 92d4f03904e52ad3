//! Five slow newPayloads sent at once queue in each EL's lane. Time spent queued in the proxy is
//! not the EL's fault: the calls whose CL deadline passed in the queue are dropped unsent, no EL
//! is marked down, and the next call is VALID.

use std::time::Duration;

use crate::support::mock_els::*;
use mock_el::{Behaviour, BehaviourKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_queued_slow_new_payloads_leave_every_el_alive() {
    let els = mocks(3).await;
    for el in &els {
        el.set(Behaviour::latency(Duration::from_millis(1_000)).scoped("engine_newPayload"));
    }
    let urls: Vec<(String, &str)> = els.iter().map(|e| (e.url(), "#timeout=2500")).collect();
    let running = proxy(&urls, settings()).await;
    let cl = std::sync::Arc::new(Cl::new(running.url()));
    let calls: Vec<_> = (1..=5u64)
        .map(|n| {
            let cl = cl.clone();
            tokio::spawn(async move { cl.new_payload(n).await })
        })
        .collect();
    for c in calls {
        let answer = c.await.expect("answered");
        assert!(
            matches!(status_of(&answer), "VALID" | "SYNCING"),
            "{answer}"
        );
    }
    for el in &els {
        el.clear(BehaviourKind::Latency);
    }
    let m = &running.proxy.metrics;
    for el in &els {
        assert_eq!(
            m.waits(&el.url(), "timeout"),
            0,
            "no EL missed its own timeout"
        );
    }
    assert_eq!(status_of(&cl.new_payload(6).await), "VALID");
    assert_eq!(status_of(&cl.fcu(6, false).await), "VALID");
    let metrics = cl.metrics().await;
    assert_eq!(metrics["dead_nodes"], serde_json::json!([]), "{metrics}");
    assert_eq!(metrics["lagging_nodes"], serde_json::json!([]), "{metrics}");
}
