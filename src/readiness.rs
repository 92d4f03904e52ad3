//! What a supervisor asks: `GET /healthz` (the process answers) and `GET /readyz` (enough
//! execution clients are alive and synced to follow the chain), plus the ERROR lines when the
//! last alive execution client goes and when one returns.
//!
//! A node counts toward readiness when it is [`NodeState::Alive`] (healthy on the engine path,
//! synced, reads answering, on the right chain) and votes (not `#do-not-use`).

use bytes::Bytes;
use eb_transport::Network;
use http::StatusCode;
use serde::Serialize;
use tokio::time::Instant;

use crate::health::NodeState;
use crate::http::{json, HttpResponse};
use crate::node::Node;
use crate::proxy::Proxy;

/// The `/readyz` body.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Ready {
    pub ready: bool,
    /// Voting nodes alive and synced.
    pub alive: usize,
    /// `--ready-min-nodes`.
    pub needed: usize,
    /// Every configured node.
    pub nodes: usize,
    /// Why it is not ready (only when it is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn counts<N: Network>(node: &Node<N>) -> bool {
    !node.do_not_use() && node.health.state() == NodeState::Alive
}

/// Whether at least `needed` voting nodes are alive and synced.
pub fn check<N: Network>(proxy: &Proxy<N>) -> Ready {
    let nodes = proxy.nodes.snapshot();
    let alive = nodes.iter().filter(|n| counts(n)).count();
    let needed = proxy.settings.ready_min_nodes;
    let ready = alive >= needed;
    let reason = (!ready).then(|| {
        let states: Vec<String> = nodes
            .iter()
            .map(|n| {
                let state = if n.do_not_use() {
                    "do-not-use"
                } else {
                    n.health.state().as_str()
                };
                format!("{} {state}", n.label())
            })
            .collect();
        format!(
            "{alive} of {} nodes alive and synced, --ready-min-nodes is {needed} ({})",
            nodes.len(),
            states.join(", ")
        )
    });
    Ready {
        ready,
        alive,
        needed,
        nodes: nodes.len(),
        reason,
    }
}

/// `GET /readyz`: 200 when ready, 503 with the reason otherwise.
pub fn readyz<N: Network>(proxy: &Proxy<N>) -> HttpResponse {
    let ready = check(proxy);
    let status = if ready.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        Bytes::from(serde_json::to_vec(&ready).unwrap_or_default()),
    )
}

/// `GET /healthz`: the process is up and serving HTTP.
pub fn healthz() -> HttpResponse {
    json(
        StatusCode::OK,
        Bytes::from(format!(
            "{{\"status\":\"ok\",\"version\":\"{}\",\"commit\":\"{}\"}}",
            env!("CARGO_PKG_VERSION"),
            crate::COMMIT
        )),
    )
}

/// Watches how many voting nodes are alive: one ERROR line when none is (at the first look,
/// or when the last one goes), and one when one returns, with how long there was none.
#[derive(Default)]
pub struct AliveWatch {
    /// `None` before the first look; else since when none has been alive (`Some(None)`: some
    /// node is alive).
    none_since: Option<Option<Instant>>,
}

impl AliveWatch {
    pub fn observe<N: Network>(&mut self, proxy: &Proxy<N>) {
        let nodes = proxy.nodes.snapshot();
        let alive = nodes.iter().filter(|n| counts(n)).count();
        let now = Instant::now();
        match (self.none_since, alive) {
            (None | Some(None), 0) => {
                let states: Vec<String> = nodes
                    .iter()
                    .map(|n| format!("{}={}", n.label(), n.health.state().as_str()))
                    .collect();
                tracing::error!(
                    nodes = %states.join(" "),
                    "no execution client is alive and synced: voted calls are answered SYNCING and the validator cannot attest or propose"
                );
                self.none_since = Some(Some(now));
            }
            (Some(Some(since)), n) if n > 0 => {
                let alive: Vec<&str> = nodes
                    .iter()
                    .filter(|n| counts(n))
                    .map(|n| n.label())
                    .collect();
                tracing::error!(
                    alive = %alive.join(" "),
                    outage_ms = u64::try_from(now.saturating_duration_since(since).as_millis())
                        .unwrap_or(u64::MAX),
                    "an execution client is alive and synced again: the outage is over"
                );
                self.none_since = Some(None);
            }
            (None, _) => self.none_since = Some(None),
            _ => {}
        }
    }
}
