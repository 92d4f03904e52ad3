//! Active health checks, one per path.
//!
//! Every node is probed with authenticated calls at once: `eth_syncing` (the read path: reads
//! go to it again once it answers; progress marks it catching up), `engine_exchangeCapabilities`
//! (the engine path: a down node that answers comes back as lagging and catching up; a wrong
//! per-node secret shows as a failure) and `eth_chainId` (a node on another chain than the
//! first node that answered is refused: nothing is sent to it, with an error in the log). A
//! probe never makes a node awaited in full on voted calls: only a voted call answered in time
//! does. Nodes are probed every `--health-interval`; a node failing probes is re-probed with
//! back-off (1 s, 2 s, 4 s … up to 30 s).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::future::join_all;
use tokio::time::Instant;

use crate::health::EngineEvent;
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
const CLIENT_VERSION: &[u8] = concat!(
    r#"{"jsonrpc":"2.0","id":4,"method":"engine_getClientVersionV1","params":[{"code":"EB","name":"executionbackup","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#"","commit":"0x00000000"}]}"#
)
.as_bytes();

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `eth_syncing`: `Ok(syncing)` or why it failed.
    pub reads: Result<bool, String>,
    /// `engine_exchangeCapabilities`: `Ok` or why it failed.
    pub engine: Result<(), String>,
    /// The node's `eth_chainId` answer, when it gave one.
    pub chain_id: Option<String>,
    /// What the node reports itself as (`engine_getClientVersionV1`), when it did.
    pub client: Option<crate::client_id::ClientId>,
}

impl Probe {
    pub fn ok(&self) -> bool {
        self.reads.is_ok() && self.engine.is_ok()
    }
}

/// Probes one node (recording nothing: [`apply`] does).
pub async fn probe<N: Network>(node: &Node<N>) -> Probe {
    let timeout = node.timeout.min(PROBE_TIMEOUT);
    let started = Instant::now();
    let call = |body: &'static [u8]| async move {
        match tokio::time::timeout(timeout, node.upstream.call(Bytes::from_static(body))).await {
            Ok(r) => r,
            Err(_) => Err(crate::upstream::UpstreamError::Timeout),
        }
    };
    let (syncing, caps, chain, version) = tokio::join!(
        call(ETH_SYNCING),
        call(CAPABILITIES),
        call(CHAIN_ID),
        call(CLIENT_VERSION)
    );
    if let Err(e) = &caps {
        node.note_tls_failure(e);
    }
    let engine = caps
        .map(|_| ())
        .map_err(|e| format!("engine_exchangeCapabilities: {e}"));
    let reads = match syncing {
        Ok(body) => match rpc::parse_reply(&body, b"1") {
            Ok((Reply::Result(raw), _)) => Ok(raw.get() != "false"),
            Ok((Reply::Error(e), _)) => Err(format!("eth_syncing error {e}")),
            Err(e) => Err(format!("eth_syncing: {e}")),
        },
        Err(e) => Err(format!("eth_syncing: {e}")),
    };
    if reads.is_ok() && engine.is_ok() {
        node.health.record_latency(started.elapsed());
    }
    let chain_id = chain
        .ok()
        .and_then(|body| match rpc::parse_reply(&body, b"3") {
            Ok((Reply::Result(raw), _)) => serde_json::from_str::<String>(raw.get()).ok(),
            _ => None,
        });
    let client = version
        .ok()
        .and_then(|body| match rpc::parse_reply(&body, b"4") {
            Ok((Reply::Result(raw), _)) => crate::client_id::parse(raw),
            _ => None,
        });
    Probe {
        reads,
        engine,
        chain_id,
        client,
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
    proxy.nodes.update_primary();
    (started.elapsed(), wrong_chain)
}

/// Applies a probe's result to the node's health, path by path. A node whose chain id differs
/// from the one the proxy settled on (the first answer it got) is refused; the returned line
/// says so.
pub fn apply<N: Network>(proxy: &Proxy<N>, node: &Arc<Node<N>>, probe: Probe) -> Option<String> {
    let h = &node.health;
    let was_down = h.engine().down;
    if let Some(client) = probe.client.clone() {
        node.set_client(client);
    }
    let mut wrong_chain = None;
    if let Err(expected) = proxy.check_chain(probe.chain_id.as_deref()) {
        if !h.wrong_chain() {
            tracing::error!(
                node = node.label(),
                chain_id = probe.chain_id.as_deref().unwrap_or_default(),
                expected = %expected,
                "node is on another chain: refusing to use it"
            );
        }
        h.set_wrong_chain(true);
        wrong_chain = Some(format!(
            "{} is on chain {}, expected {expected}",
            node.label(),
            probe.chain_id.clone().unwrap_or_default()
        ));
    } else if probe.chain_id.is_some() && h.wrong_chain() {
        tracing::info!(node = node.label(), "node is on the right chain again");
        h.set_wrong_chain(false);
    }
    match &probe.reads {
        Ok(syncing) => {
            h.set_reads(node.label(), true, "eth_syncing answered");
            if *syncing {
                h.engine_event(
                    node.label(),
                    EngineEvent::ReportsSyncing,
                    "eth_syncing reports progress",
                );
            }
        }
        Err(why) => {
            node.upstream.clear_pool();
            h.set_reads(node.label(), false, why);
        }
    }
    match &probe.engine {
        Ok(()) if proxy.settings.health_model == crate::config::HealthModel::Legacy => {
            // The old model: a probe that answers makes the node a full voter again.
            for kind in [
                crate::vote::Kind::NewPayload,
                crate::vote::Kind::ForkchoiceUpdated,
            ] {
                let answered = EngineEvent::Answered {
                    kind,
                    status: Some(crate::vote::Status::Valid),
                    current: true,
                };
                h.engine_event(node.label(), answered, "legacy: engine probe answered");
            }
        }
        Ok(()) => {
            h.engine_event(node.label(), EngineEvent::ProbeOk, "engine probe answered");
        }
        Err(why) => {
            h.engine_event(node.label(), EngineEvent::ProbeFailed, why);
        }
    }
    if was_down && !h.engine().down && wrong_chain.is_none() {
        proxy.warm_up(node, "back from down");
    }
    if probe.ok() && wrong_chain.is_none() {
        h.clear_failed_probes();
    } else {
        h.note_failed_probe();
    }
    wrong_chain
}

fn dead_backoff(failed_probes: u64) -> Duration {
    let exp = failed_probes.saturating_sub(1).min(5) as u32;
    Duration::from_secs(1u64 << exp).min(DEAD_BACKOFF_MAX)
}

/// Runs the health checks until the task is dropped.
pub async fn run<N: Network>(proxy: Arc<Proxy<N>>) {
    let mut next: HashMap<u64, Instant> = HashMap::new();
    let mut alive = crate::readiness::AliveWatch::default();
    loop {
        tokio::time::sleep(TICK).await;
        alive.observe(&proxy);
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
            let wait = match node.health.failed_probes() {
                0 => proxy.settings.health_interval,
                n => dead_backoff(n),
            };
            next.insert(node.id, now + wait);
        }
        proxy.nodes.update_primary();
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
