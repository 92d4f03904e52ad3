//! The counters mean what they say: a failover is counted only when a node failed and another
//! answered instead (never for reads the primary answered), and a JSON-RPC error an execution
//! client gives is an `error` outcome, counted by its code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::mock_els::*;
use executionbackup::config::Settings;
use mock_el::Behaviour;
use serde_json::json;

fn with_prometheus() -> Settings {
    Settings {
        // One probe round at start and one at the first tick, then none during the test: which
        // node a read goes to first then depends only on the reads themselves.
        health_interval: Duration::from_secs(3600),
        ..settings_with_metrics()
    }
}

async fn scrape(addr: Option<SocketAddr>) -> String {
    reqwest::get(format!("http://{}/metrics", addr.expect("on")))
        .await
        .expect("answers")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_clients_error_is_an_error_outcome_by_code() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), with_prometheus()).await;
    let cl = Cl::new(running.url());
    for el in &els {
        el.set(Behaviour::rpc_error(-32602, "invalid block tag").scoped("eth_getBlockByNumber"));
    }
    let reply = cl.rpc("eth_getBlockByNumber", json!(["0xzz", false])).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    for el in &els {
        el.set(Behaviour::rpc_error(-39123, "made up").scoped("eth_getCode"));
    }
    let reply = cl.rpc("eth_getCode", json!(["0x00", "latest"])).await;
    assert_eq!(reply["error"]["code"], -39123, "{reply}");
    assert!(cl.rpc("eth_chainId", json!([])).await["result"].is_string());

    let text = scrape(running.metrics_addr).await;
    for line in [
        "eb_requests_total{method=\"eth_getBlockByNumber\",outcome=\"error\"} 1",
        "eb_request_errors_total{method=\"eth_getBlockByNumber\",code=\"-32602\"} 1",
        "eb_requests_total{method=\"eth_getCode\",outcome=\"error\"} 1",
        "eb_request_errors_total{method=\"eth_getCode\",code=\"other\"} 1",
        "eb_requests_total{method=\"eth_chainId\",outcome=\"ok\"} 1",
        // An error answer is an answer: nobody failed over.
        "eb_failovers_total 0",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(
        !text.contains("eb_requests_total{method=\"eth_getBlockByNumber\",outcome=\"ok\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_counted_only_when_a_node_failed() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), with_prometheus()).await;
    let cl = Cl::new(running.url());
    // Wait for the probe loop's first round (the start-up round is the first eth_syncing).
    let probed = eventually(Duration::from_secs(10), async || {
        els.iter().all(|el| el.calls_to("eth_syncing").len() >= 2)
    })
    .await;
    assert!(probed);

    // Both healthy: reads answered by the primary are not failovers, nor is block production.
    for _ in 0..20 {
        assert!(cl.rpc("eth_chainId", json!([])).await["result"].is_string());
    }
    let id = cl.start_build(1).await;
    let payload = cl.rpc("engine_getPayloadV3", json!([id])).await;
    assert!(payload["result"].is_object(), "{payload}");
    assert_eq!(running.proxy.metrics.failovers(), 0);

    // The primary refuses connections: a read is answered by the other node instead (a pooled
    // connection may still carry one more read to the primary before it closes).
    els[0].set_dead(true);
    wait_refusing(&els[0]).await;
    let failed_over = eventually(Duration::from_secs(10), async || {
        assert!(cl.rpc("eth_chainId", json!([])).await["result"].is_string());
        running.proxy.metrics.failovers() > 0
    })
    .await;
    assert!(failed_over);
    assert_eq!(running.proxy.metrics.failovers(), 1);
    // From then on the other node is asked first: no more failovers.
    for _ in 0..5 {
        assert!(cl.rpc("eth_chainId", json!([])).await["result"].is_string());
    }
    assert_eq!(running.proxy.metrics.failovers(), 1);
    let text = scrape(running.metrics_addr).await;
    assert!(text.contains("eb_failovers_total 1"), "{text}");
}
