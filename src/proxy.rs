//! The core's state: what every route works with (the node set, the payload-id map, the
//! ordering of voted calls, the blocks called INVALID, the journal, metrics, settings, clock),
//! and the changes to the node set. The routes themselves are [`crate::handlers`]; the front
//! end (connections, limits, the CL's token) is [`crate::server`].
//!
//! Generic over [`Network`], so the same code runs over tokio sockets and in simulation.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use eb_transport::{JwtSecret, Network, SharedClock};

use crate::config::{NodeConfig, Settings};
use crate::invalid_blocks::InvalidBlocks;
use crate::metrics::Metrics;
use crate::node::{Node, NodeEnv};
use crate::nodes::{NodeSet, SetError};
use crate::payload::PayloadMap;

pub struct Proxy<N: Network> {
    pub settings: Settings,
    pub net: N,
    pub clock: SharedClock,
    /// The secret of a node added without one of its own (the CL's, as in the original project).
    pub node_secret: JwtSecret,
    pub nodes: NodeSet<N>,
    pub payloads: PayloadMap,
    pub metrics: Arc<Metrics>,
    /// Held while one voted call is queued on every node, so all lanes see one order.
    pub(crate) enqueue: Mutex<()>,
    /// The sequence number of the newest voted call sent.
    pub(crate) voted_seq: Arc<AtomicU64>,
    /// The sequence number of the newest forkchoiceUpdated sent (a build is only ever restarted
    /// by replaying the newest one).
    pub(crate) fcu_seq: AtomicU64,
    /// Blocks some node called INVALID.
    pub invalid_blocks: Arc<InvalidBlocks>,
    /// Every disagreement between ELs, newest first (and in `--journal`'s file).
    pub journal: Arc<crate::journal::Journal>,
    /// The latest voted calls, replayed to nodes that missed them ([`crate::warm`]).
    pub recent: Arc<crate::warm::Recent>,
    /// Capabilities already warned about (some node lacks them).
    warned_capabilities: Mutex<HashSet<String>>,
    /// The chain every node must be on: the first `eth_chainId` answer seen.
    chain_id: Mutex<Option<String>>,
}

impl<N: Network> Proxy<N> {
    pub fn new(
        settings: Settings,
        node_secret: JwtSecret,
        net: N,
        clock: SharedClock,
        salt: u64,
    ) -> Arc<Self> {
        let keep_warm = (settings.keep_warm, settings.keep_warm_bytes);
        let journal = settings
            .journal
            .clone()
            .unwrap_or_else(|| Arc::new(crate::journal::Journal::in_memory()));
        let settings_chain = settings.chain_id.map(|id| format!("0x{id:x}"));
        Arc::new(Self {
            settings,
            net,
            clock,
            node_secret,
            nodes: NodeSet::new(),
            payloads: PayloadMap::new(salt),
            metrics: Arc::new(Metrics::default()),
            enqueue: Mutex::new(()),
            voted_seq: Arc::new(AtomicU64::new(0)),
            fcu_seq: AtomicU64::new(0),
            invalid_blocks: Arc::new(InvalidBlocks::new()),
            journal,
            recent: Arc::new(crate::warm::Recent::new(keep_warm.0, keep_warm.1)),
            warned_capabilities: Mutex::new(HashSet::new()),
            chain_id: Mutex::new(settings_chain),
        })
    }

    /// Sends `node` the voted calls it missed, in a task of its own ([`crate::warm`]).
    pub fn warm_up(&self, node: &Arc<Node<N>>, why: &'static str) {
        if self.settings.keep_warm == 0 || node.do_not_use() {
            return;
        }
        tokio::spawn(crate::warm::catch_up(
            node.clone(),
            self.recent.clone(),
            why,
        ));
    }

    /// Creates nodes (starting their lanes) without adding them to the set.
    pub fn make_nodes(&self, configs: Vec<NodeConfig>) -> Vec<Arc<Node<N>>> {
        let env = NodeEnv {
            net: self.net.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
            max_response: self.settings.max_response_bytes,
            max_in_flight: self.settings.max_in_flight_per_node,
            legacy: self.settings.health_model == crate::config::HealthModel::Legacy,
        };
        configs
            .into_iter()
            .map(|c| Node::new(self.nodes.next_id(), c, &env))
            .collect()
    }

    /// Creates nodes for `configs` and adds them to the set (all or none).
    pub fn add_nodes(&self, configs: Vec<NodeConfig>) -> Result<Vec<Arc<Node<N>>>, SetError> {
        let nodes = self.make_nodes(configs);
        self.nodes.add(nodes.clone())?;
        for n in &nodes {
            tracing::info!(
                node = n.label(),
                url = n.url(),
                timeout_ms = n.timeout.as_millis() as u64,
                do_not_use = n.do_not_use(),
                "node added"
            );
        }
        Ok(nodes)
    }

    /// Checks a node's `eth_chainId` answer against the proxy's chain: the one pinned by
    /// `--chain-id`/`--network`, else the first answer, which settles it. `Err` says which chain
    /// was expected.
    pub fn check_chain(&self, chain_id: Option<&str>) -> Result<(), String> {
        let Some(chain_id) = chain_id else {
            return Ok(());
        };
        let mut known = self.chain_id.lock().unwrap_or_else(|p| p.into_inner());
        match known.as_deref() {
            None => {
                tracing::info!(chain_id, "chain settled");
                *known = Some(chain_id.to_owned());
                Ok(())
            }
            Some(k) if crate::chain::same_chain(k, chain_id) => Ok(()),
            Some(k) => Err(match self.settings.chain_id {
                Some(pinned) => format!(
                    "{k} = {}, pinned by --chain-id/--network",
                    crate::chain::describe(pinned)
                ),
                None => k.to_owned(),
            }),
        }
    }

    /// The chain id every node must report, once known.
    pub fn chain_id(&self) -> Option<String> {
        self.chain_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether `method` is newly found missing on some node (warned about once).
    pub fn warn_capability_once(&self, method: &str) -> bool {
        self.warned_capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(method.to_owned())
    }
}
