//! A node on another chain is refused: at start-up and through /add_nodes.

use std::sync::Arc;

use crate::support::mock_els::*;
use eb_transport::{SystemClock, TokioNet};
use executionbackup::app::{self, StartError};
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
        shared_secret(),
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

/// `--chain-id`/`--network`: the pinned chain, not the first answer, is the one every node must
/// be on; nodes that agree with each other on another chain are refused all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_chain_refuses_nodes_that_agree_on_another_chain() {
    let a = mock("el1", 1, |b| b.chain_id(1337)).await;
    let b = mock("el2", 2, |b| b.chain_id(1337)).await;
    let settings = executionbackup::config::Settings {
        chain_id: Some(17_000),
        ..settings()
    };
    let nodes = nodes(&[(a.url(), ""), (b.url(), "")], &settings);
    let started = app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings,
        shared_secret(),
        nodes,
        1,
    )
    .await;
    match started {
        Err(e @ StartError::WrongChain(_)) => {
            assert_eq!(e.exit_code(), 2);
            let text = e.to_string();
            assert!(
                text.contains(&a.url())
                    && text.contains("0x539")
                    && text.contains("17000 (holesky), pinned"),
                "{text}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started with nodes on another chain than the pinned one"),
    }
}

/// The pin holds on every probe: a node that was down at start and comes up on another chain
/// is refused (dead, never alive) while the one on the pinned chain serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_chain_is_checked_on_every_probe() {
    let good = mock("el1", 1, |b| b.chain_id(1)).await;
    let late = mock("el2", 2, |b| b.chain_id(1)).await;
    let settings = executionbackup::config::Settings {
        chain_id: Some(1),
        ..settings()
    };
    let running = proxy(&[(good.url(), ""), (late.url(), "")], settings).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let listed = |report: &serde_json::Value, key: &str, url: &str| {
        report[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|u| u == url))
    };
    assert!(listed(&cl.metrics().await, "alive_nodes", &late.url()));

    late.set(mock_el::Behaviour::ChainId(5));
    let refused = eventually(std::time::Duration::from_secs(10), async || {
        listed(&cl.metrics().await, "dead_nodes", &late.url())
    })
    .await;
    assert!(refused, "the probe finds it on chain 5");
    assert_eq!(status_of(&cl.new_payload(2).await), "VALID");
    assert!(listed(&cl.metrics().await, "alive_nodes", &good.url()));

    late.set(mock_el::Behaviour::ChainId(1));
    let back = eventually(std::time::Duration::from_secs(10), async || {
        !listed(&cl.metrics().await, "dead_nodes", &late.url())
    })
    .await;
    assert!(back, "back on the pinned chain");
}
