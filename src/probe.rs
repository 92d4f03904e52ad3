//! Active health checks.
//!
//! Every node is probed with authenticated calls at once: `eth_syncing` (alive or syncing),
//! `engine_exchangeCapabilities` (an engine call, so a wrong per-node secret shows up as a
//! failure rather than as alive) and `eth_chainId` (a node on another chain than the first node
//! that answered is refused: kept dead, with an error in the log). Live nodes are probed every `--health-interval`; dead nodes
//! are re-probed with back-off (1 s, 2 s, 4 s … up to 30 s) and come back on the first success.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::future::join_all;
use tokio::time::Instant;

use crate::health::NodeState;
use crate::node::Node;
use crate::proxy::Proxy;
use crate::rpc::{self, Reply};

/// Longest a probe waits for a node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const DEAD_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the loop looks at whose turn it is.
const TICK: Duration = Duration::from_millis(250);

const ETH_SYNCING: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"eth_syncing","params":[]}"#;
const CAPABILITIES: &[u8] =
    br#"{"jsonrpc":"2.0","id":2,"method":"engine_exchangeCapabilities","params":[[]]}"#;
const CHAIN_ID: &[u8] = br#"{"jsonrpc":"2.0","id":3,"method":"eth_chainId","params":[]}"#;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub state: NodeState,
    pub why: String,
    /// The node's `eth_chainId` answer, when it gave one.
    pub chain_id: Option<String>,
}

/// Probes one node.
pub async fn probe<N: Network>(node: &Node<N>) -> Probe {
    let timeout = node.timeout.min(PROBE_TIMEOUT);
    let started = Instant::now();
    let (syncing, caps, chain) = tokio::join!(
        node.call(Bytes::from_static(ETH_SYNCING), timeout),
        node.call(Bytes::from_static(CAPABILITIES), timeout),
        node.call(Bytes::from_static(CHAIN_ID), timeout)
    );
    let dead = |why: String| Probe {
        state: NodeState::Dead,
        why,
        chain_id: None,
    };
    let syncing = match syncing {
        Ok(body) => body,
        Err(e) => return dead(format!("eth_syncing: {e}")),
    };
    if let Err(e) = caps {
        return dead(format!("engine_exchangeCapabilities: {e}"));
    }
    node.health.record_latency(started.elapsed());
    let chain_id = chain
        .ok()
        .and_then(|body| match rpc::parse_reply(&body, b"3") {
            Ok((Reply::Result(raw), _)) => serde_json::from_str::<String>(raw.get()).ok(),
            _ => None,
        });
    let (state, why) = match rpc::parse_reply(&syncing, b"1") {
        Ok((Reply::Result(raw), _)) if raw.get() == "false" => (NodeState::Alive, "synced".into()),
        Ok((Reply::Result(_), _)) => (NodeState::Syncing, "eth_syncing reports progress".into()),
        Ok((Reply::Error(e), _)) => (NodeState::Dead, format!("eth_syncing error {e}")),
        Err(e) => (NodeState::Dead, format!("eth_syncing: {e}")),
    };
    Probe {
        state,
        why,
        chain_id,
    }
}

/// Probes every node now and applies the results; returns how long it took and one line per
/// node found on another chain.
pub async fn probe_all<N: Network>(proxy: &Proxy<N>) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let nodes = proxy.nodes.snapshot();
    let results = join_all(nodes.iter().map(|n| probe(n))).await;
    let wrong_chain = nodes
        .iter()
        .zip(results)
        .filter_map(|(node, result)| apply(proxy, node, result))
        .collect();
    proxy.nodes.primary();
    (started.elapsed(), wrong_chain)
}

/// Applies a probe's result to the node's health. A node whose chain id differs from the one the
/// proxy settled on (the first answer it got) is kept dead; the returned line says so.
pub fn apply<N: Network>(proxy: &Proxy<N>, node: &Node<N>, probe: Probe) -> Option<String> {
    let Probe {
        mut state,
        mut why,
        chain_id,
    } = probe;
    let mut wrong_chain = None;
    if let Err(expected) = proxy.check_chain(chain_id.as_deref()) {
        if node.health.state() != NodeState::Dead {
            tracing::error!(
                node = node.url(),
                chain_id = chain_id.as_deref().unwrap_or_default(),
                expected = %expected,
                "node is on another chain: refusing to use it"
            );
        }
        state = NodeState::Dead;
        why = format!(
            "{} is on chain {}, the other nodes on {expected}",
            node.url(),
            chain_id.unwrap_or_default()
        );
        wrong_chain = Some(why.clone());
    }
    if state == NodeState::Dead {
        if node.health.state() == NodeState::Dead {
            node.health.note_dead_probe();
        } else {
            node.upstream.clear_pool();
        }
    }
    node.health.set_state(node.url(), state, &why);
    wrong_chain
}

fn dead_backoff(failed_probes: u64) -> Duration {
    let exp = failed_probes.saturating_sub(1).min(5) as u32;
    Duration::from_secs(1u64 << exp).min(DEAD_BACKOFF_MAX)
}

/// Runs the health checks until the task is dropped.
pub async fn run<N: Network>(proxy: Arc<Proxy<N>>) {
    let mut next: HashMap<u64, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        let nodes = proxy.nodes.snapshot();
        next.retain(|id, _| nodes.iter().any(|n| n.id == *id));
        let due: Vec<&Arc<Node<N>>> = nodes
            .iter()
            .filter(|n| next.get(&n.id).is_none_or(|t| now >= *t))
            .collect();
        if due.is_empty() {
            continue;
        }
        let results = join_all(due.iter().map(|n| probe(n))).await;
        let now = Instant::now();
        for (node, result) in due.into_iter().zip(results) {
            let _ = apply(&proxy, node, result);
            let wait = match node.health.state() {
                NodeState::Dead => dead_backoff(node.health.dead_probes().max(1)),
                _ => proxy.settings.health_interval,
            };
            next.insert(node.id, now + wait);
        }
        proxy.nodes.primary();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        let secs: Vec<u64> = (1..=8).map(|n| dead_backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
