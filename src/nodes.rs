//! The set of nodes and the choice of primary.
//!
//! Readers take a snapshot (an `Arc` of the whole list), so a node set change is atomic: a
//! request sees the old set or the new one, never half of each.
//!
//! Primary rule (reads): keep the current primary while it is alive (hysteresis: equal nodes
//! never flap); otherwise the first node in configured order that answers reads, preferring
//! nodes that are healthy and synced on the engine path; `#do-not-use` nodes only when nothing
//! else answers. Voted calls go to every node ([`NodeSet::voters`]), whatever its health.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use eb_transport::Network;

use crate::health::{NodeState, Sync, Voter};
use crate::node::Node;

const NO_PRIMARY: u64 = u64::MAX;

pub type Snapshot<N> = Arc<[Arc<Node<N>>]>;

pub struct NodeSet<N: Network> {
    nodes: RwLock<Snapshot<N>>,
    primary: AtomicU64,
    next_id: AtomicU64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SetError {
    #[error("node {0} is already configured")]
    Duplicate(String),
    #[error("node {0} is not configured")]
    Unknown(String),
    #[error("removing these nodes would leave none")]
    WouldBeEmpty,
}

impl<N: Network> Default for NodeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: Network> NodeSet<N> {
    pub fn new() -> Self {
        Self {
            nodes: RwLock::new(Arc::from(Vec::new())),
            primary: AtomicU64::new(NO_PRIMARY),
            next_id: AtomicU64::new(0),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot<N> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every node that gets voted calls: all of them, in configured order, except a node on
    /// another chain.
    pub fn voters(&self) -> Vec<Arc<Node<N>>> {
        self.snapshot()
            .iter()
            .filter(|n| !n.health.wrong_chain())
            .cloned()
            .collect()
    }

    /// The nodes that answer reads, in configured order (who gets merged reads).
    pub fn readable(&self) -> Vec<Arc<Node<N>>> {
        self.snapshot()
            .iter()
            .filter(|n| rank(n).is_some())
            .cloned()
            .collect()
    }

    /// Adds nodes at the end of the order; all or nothing.
    pub fn add(&self, new: Vec<Arc<Node<N>>>) -> Result<(), SetError> {
        let mut guard = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<Arc<Node<N>>> = guard.iter().cloned().collect();
        for node in new {
            if list.iter().any(|n| n.spec.same_el(&node.spec)) {
                return Err(SetError::Duplicate(node.url().to_owned()));
            }
            list.push(node);
        }
        *guard = Arc::from(list);
        Ok(())
    }

    /// Removes nodes by URL; all or nothing, and never the last one.
    pub fn remove(&self, urls: &[String]) -> Result<Vec<Arc<Node<N>>>, SetError> {
        let mut guard = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        for url in urls {
            if !guard.iter().any(|n| n.url() == url.trim_end_matches('/')) {
                return Err(SetError::Unknown(url.clone()));
            }
        }
        let (gone, kept): (Vec<_>, Vec<_>) = guard
            .iter()
            .cloned()
            .partition(|n| urls.iter().any(|u| u.trim_end_matches('/') == n.url()));
        if kept.is_empty() {
            return Err(SetError::WouldBeEmpty);
        }
        *guard = Arc::from(kept);
        Ok(gone)
    }

    /// Selects the primary again (health or the node set may have changed) and returns it: the
    /// current one stays while it is alive (hysteresis), else the best-ranked answering node
    /// takes over. A change is logged.
    pub fn update_primary(&self) -> Option<Arc<Node<N>>> {
        let nodes = self.snapshot();
        let current = self.primary.load(Ordering::Acquire);
        if let Some(node) = nodes.iter().find(|n| n.id == current) {
            if node.health.state() == NodeState::Alive && !node.do_not_use() {
                return Some(node.clone());
            }
        }
        let best = nodes
            .iter()
            .filter_map(|n| rank(n).map(|r| (r, n)))
            .min_by_key(|(r, _)| *r)
            .map(|(_, n)| n.clone());
        let new = best.as_ref().map_or(NO_PRIMARY, |n| n.id);
        if self.primary.swap(new, Ordering::AcqRel) != new {
            match &best {
                Some(n) => tracing::info!(node = n.label(), "primary node selected"),
                None => tracing::warn!("no node is answering: no primary"),
            }
        }
        best
    }

    /// Nodes to try for a non-voted call, best first: the primary, then the other answering
    /// nodes in the same ranking. Dead nodes are left out.
    pub fn failover_order(&self) -> Vec<Arc<Node<N>>> {
        let primary = self.update_primary();
        let nodes = self.snapshot();
        let mut rest: Vec<Arc<Node<N>>> = nodes
            .iter()
            .filter(|n| rank(n).is_some())
            .filter(|n| primary.as_ref().is_none_or(|p| p.id != n.id))
            .cloned()
            .collect();
        rest.sort_by_key(|n| rank(n));
        let mut order: Vec<Arc<Node<N>>> = primary.into_iter().chain(rest).collect();
        // A node with a read outstanding past half its timeout goes last until that read ends
        // (stable: the ranking above holds among the others).
        order.sort_by_key(|n| n.health.stalled());
        order
    }
}

/// A node's rank for reads, best first; `None` when it gets no reads (reads failing, or on
/// another chain).
fn rank<N: Network>(n: &Node<N>) -> Option<(bool, Voter, Sync)> {
    let h = &n.health;
    if h.wrong_chain() || !h.reads_up() {
        return None;
    }
    let engine = h.engine();
    Some((n.do_not_use(), engine.worst(), engine.sync))
}
