//! A node on another chain is refused: at start-up and through /add_nodes.
mod mocknet;

use std::sync::Arc;

use eb_transport::{SystemClock, TokioNet};
use executionbackup::app::{self, StartError};
use mocknet::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refuses_a_node_on_another_chain() {
    let good = mock("el1", 1, |b| b.chain_id(1337)).await;
    let other = mock("el2", 2, |b| b.chain_id(5)).await;
    let settings = settings();
    let nodes = nodes(&[(good.url(), ""), (other.url(), "")], &settings);
    let started = app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings,
        secret(),
        nodes,
        1,
    )
    .await;
    match started {
        Err(e @ StartError::WrongChain(_)) => {
            assert!(e.is_config());
            let text = e.to_string();
            assert!(
                text.contains(&other.url()) && text.contains("0x5") && text.contains("0x539"),
                "{text}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started with a node on another chain"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_nodes_refuses_a_node_on_another_chain() {
    let good = mocks(1).await;
    let other = mock("el9", 9, |b| b.chain_id(5)).await;
    let running = proxy(&plain(&good), settings()).await;
    let cl = Cl::new(running.url());
    let (status, body) = cl
        .admin_post("/add_nodes", json!({"nodes": [other.url()]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("chain")),
        "{body}"
    );
    assert_eq!(running.proxy.nodes.snapshot().len(), 1, "nothing added");
}
