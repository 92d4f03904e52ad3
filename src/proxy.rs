//! The multiplexer core: one CL request in, the right EL calls out, one answer back.
//!
//! Generic over [`Network`], so the same code runs over tokio sockets and in simulation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eb_transport::{JwtSecret, Network, SharedClock, Verifier};
use futures_util::future::join_all;
use futures_util::stream::{self, FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::config::{NodeConfig, Settings};
use crate::invalid_blocks::InvalidBlocks;
use crate::merge;
use crate::metrics::Metrics;
use crate::node::{Node, NodeEnv};
use crate::nodes::{NodeSet, SetError};
use crate::payload::PayloadMap;
use crate::routing::{MethodLabel, Route};
use crate::rpc::{self, Call, Incoming, Item, Reply, RpcError};
use crate::vote::Kind;

/// How many elements of one batch are in flight at once.
const BATCH_CONCURRENCY: usize = 16;

/// What one call produced, before the CL's id is put on it.
pub enum Out {
    /// Raw JSON of the `result`.
    Result(Bytes),
    Error(RpcError),
    /// An EL's whole response whose id is already the CL's, byte for byte: passed on untouched.
    Verbatim(Bytes),
    /// The same for a JSON-RPC error response, with its code (counted as an error).
    VerbatimError(Bytes, i64),
}

impl Out {
    /// The JSON-RPC error code the CL gets, if it gets an error.
    pub fn error_code(&self) -> Option<i64> {
        match self {
            Self::Error(e) => Some(e.code),
            Self::VerbatimError(_, code) => Some(*code),
            Self::Result(_) | Self::Verbatim(_) => None,
        }
    }
}

pub struct Proxy<N: Network> {
    pub settings: Settings,
    pub net: N,
    pub clock: SharedClock,
    pub cl_secret: JwtSecret,
    /// Checks the CL's tokens (remembering the last good one).
    pub cl_tokens: Verifier,
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
        cl_secret: JwtSecret,
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
            cl_tokens: Verifier::new(cl_secret.clone()),
            cl_secret,
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
            Some(k) if same_chain(k, chain_id) => Ok(()),
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

    /// Answers a whole request body. `None` when nothing is to be sent back (notifications).
    pub async fn handle(&self, incoming: Incoming) -> Option<Bytes> {
        match incoming {
            Incoming::Single(item) => self.item(item).await,
            Incoming::Batch(items) => {
                let parts: Vec<Bytes> = stream::iter(items)
                    .map(|item| self.item(item))
                    .buffered(BATCH_CONCURRENCY)
                    .filter_map(|part| async move { part })
                    .collect()
                    .await;
                (!parts.is_empty()).then(|| rpc::batch_response(&parts))
            }
        }
    }

    async fn item(&self, item: Item) -> Option<Bytes> {
        match item {
            Item::Invalid { id, error } => {
                self.metrics.request(MethodLabel::INVALID, Some(error.code));
                Some(rpc::error_response(
                    id.as_deref().unwrap_or(b"null"),
                    &error,
                ))
            }
            Item::Call(call) => {
                let out = self.call(&call).await;
                self.metrics
                    .request(MethodLabel::of(&call.method), out.error_code());
                self.metrics.answered_at(self.clock.unix_seconds());
                call.id.as_ref()?;
                Some(match out {
                    Out::Result(result) => rpc::result_response(call.response_id(), &result),
                    Out::Error(e) => rpc::error_response(call.response_id(), &e),
                    Out::Verbatim(body) | Out::VerbatimError(body, _) => body,
                })
            }
        }
    }

    /// Serves one call. Voted calls are queued on every node before this future first yields,
    /// which keeps batch elements in order.
    pub async fn call(&self, call: &Call) -> Out {
        match Route::of(&call.method) {
            Route::NewPayload => self.voted(call, Kind::NewPayload).await,
            Route::ForkchoiceUpdated => self.voted(call, Kind::ForkchoiceUpdated).await,
            Route::GetPayload => self.get_payload(call).await,
            Route::ClientVersion => self.merged(call, merge::concat_arrays).await,
            Route::Capabilities => self.capabilities(call).await,
            Route::BlobsPerIndex => self.merged(call, merge::merge_per_index).await,
            Route::BlobsAllOrNothing => self.merged(call, merge::first_complete).await,
            Route::AnyHas => self.merged(call, merge::any_true).await,
            // Boxed: its future holds a whole failover read and more, and would otherwise grow
            // every call's future (and the bytes moved with it) on the hot path.
            Route::Bodies => Box::pin(self.bodies(call)).await,
            Route::Primary => self.forward(call).await,
            Route::Refused => Out::Error(RpcError::method_not_found(&call.method)),
        }
    }

    // ---- reads -----------------------------------------------------------------------------

    /// The primary, and on a transport failure, timeout or unusable answer the next node.
    ///
    /// The whole call has one deadline, the longest node timeout, so several nodes going silent
    /// at once cost one timeout, not one each. To still reach a live node inside it, a node
    /// that has not answered within half its timeout is *hedged*: the next node is asked too,
    /// and the first usable answer wins (reads are safe to ask twice).
    async fn forward(&self, call: &Call) -> Out {
        let order = self.nodes.failover_order();
        let Some(longest) = order.iter().map(|n| n.timeout).max() else {
            return Out::Error(RpcError::internal("no execution client is answering"));
        };
        let deadline = crate::deadline::answer_by(&call.method, Instant::now(), longest);
        let mut asking = FuturesUnordered::new();
        // Per attempt: 0 running, 1 hedged past (the node counts as stalled), 2 finished.
        let mut phases: Vec<Arc<AtomicU8>> = Vec::new();
        let mut next = 0;
        let mut hedge_at = deadline;
        let mut last_error = format!("deadline of {} ms passed", longest.as_millis());
        // Which attempts (by position in `order`) failed outright.
        let mut failed: Vec<usize> = Vec::new();
        loop {
            if next < order.len() && (asking.is_empty() || Instant::now() >= hedge_at) {
                if let (Some(phase), Some(prev)) = (phases.last(), next.checked_sub(1)) {
                    if phase
                        .compare_exchange(0, 1, AtomicOrdering::AcqRel, AtomicOrdering::Acquire)
                        .is_ok()
                    {
                        order[prev].health.stall();
                    }
                }
                let node = &order[next];
                if next > 0 {
                    tracing::debug!(
                        method = &*call.method,
                        node = node.label(),
                        "asking the next node"
                    );
                }
                let now = Instant::now();
                let timeout = node.timeout.min(deadline.saturating_duration_since(now));
                hedge_at = now + timeout / 2;
                // Its own task: when another node wins, this attempt still runs to its end, so a
                // silent node is found dead by its timeout and drops out of live traffic.
                let phase = Arc::new(AtomicU8::new(0));
                phases.push(phase.clone());
                let attempt = tokio::spawn({
                    let (node, body) = (node.clone(), call.bytes.clone());
                    async move {
                        let result = node.call(body, timeout).await;
                        if phase.swap(2, AtomicOrdering::AcqRel) == 1 {
                            node.health.unstall();
                        }
                        result
                    }
                });
                let index = next;
                asking.push(async move {
                    let out = match attempt.await {
                        Ok(Ok(reply)) => interpret(node, call, reply),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    (index, node.label(), out)
                });
                next += 1;
            }
            if asking.is_empty() {
                break;
            }
            let wake = if next < order.len() {
                hedge_at
            } else {
                deadline
            };
            tokio::select! {
                biased;
                Some((index, label, out)) = asking.next() => match out {
                    Ok(out) => {
                        // A failover: a node failed and another answered instead. A node asked
                        // only because the first was slow (hedged) and answering first is not.
                        if failed.iter().any(|f| *f < index) {
                            self.metrics.failover();
                            tracing::debug!(method = &*call.method, node = label, "failed over");
                        }
                        return out;
                    }
                    Err(e) => {
                        failed.push(index);
                        last_error = format!("{label}: {e}");
                        // Failed outright: ask the next node now rather than at the hedge time.
                        hedge_at = Instant::now();
                    }
                },
                () = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                }
            }
        }
        Out::Error(RpcError::internal(format!(
            "no execution client could answer (last: {last_error})"
        )))
    }

    /// One call to one node; `Err` means "try another node".
    pub(crate) async fn read_from(
        &self,
        node: &Arc<Node<N>>,
        call: &Call,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Out, String> {
        let reply = node.call(body, timeout).await.map_err(|e| e.to_string())?;
        interpret(node, call, reply)
    }

    /// Asks every answering node at once (1-second class calls); successes only.
    async fn ask_all(&self, call: &Call) -> (Vec<(Arc<Node<N>>, Bytes)>, Option<RpcError>) {
        let nodes: Vec<Arc<Node<N>>> = self.nodes.readable();
        let started = Instant::now();
        let longest = nodes.iter().map(|n| n.timeout).max().unwrap_or_default();
        let answer_by = crate::deadline::answer_by(&call.method, started, longest);
        let results = join_all(nodes.into_iter().map(|node| async move {
            let timeout = node
                .timeout
                .min(answer_by.saturating_duration_since(started));
            let out = self
                .read_from(&node, call, call.bytes.clone(), timeout)
                .await;
            (node, out)
        }))
        .await;
        let mut ok = Vec::new();
        let mut error = None;
        for (node, out) in results {
            match out {
                Ok(Out::Result(raw)) => ok.push((node, raw)),
                Ok(Out::Verbatim(body) | Out::VerbatimError(body, _)) => {
                    match rpc::parse_reply(&body, call.response_id()) {
                        Ok((Reply::Result(raw), _)) => {
                            let raw = body.slice_ref(raw.get().as_bytes());
                            ok.push((node, raw))
                        }
                        Ok((Reply::Error(e), _)) => error = error.or(Some(e)),
                        Err(_) => {}
                    }
                }
                Ok(Out::Error(e)) => error = error.or(Some(e)),
                Err(_) => {}
            }
        }
        (ok, error)
    }

    /// Asks every answering node and merges the successful results with `merge`.
    async fn merged(&self, call: &Call, merge: fn(&[&[u8]]) -> Vec<u8>) -> Out {
        let (answers, error) = self.ask_all(call).await;
        if answers.is_empty() {
            return Out::Error(
                error.unwrap_or_else(|| RpcError::internal("no execution client is answering")),
            );
        }
        let results: Vec<&[u8]> = answers.iter().map(|(_, raw)| &raw[..]).collect();
        Out::Result(Bytes::from(merge(&results)))
    }

    /// engine_getPayloadBodies*: the primary's answer (with failover); entries it answered `null`
    /// (history it pruned or never had) are asked of the other nodes, in failover order, until
    /// none is left or the CL's deadline nears.
    async fn bodies(&self, call: &Call) -> Out {
        let received = Instant::now();
        let first = self.forward(call).await;
        let raw = match &first {
            Out::Result(raw) => raw.clone(),
            Out::Verbatim(body) => match rpc::parse_reply(body, call.response_id()) {
                Ok((Reply::Result(raw), _)) => body.slice_ref(raw.get().as_bytes()),
                _ => return first,
            },
            Out::Error(_) | Out::VerbatimError(..) => return first,
        };
        if !merge::has_null_entry(&raw) {
            return first;
        }
        let order = self.nodes.failover_order();
        let longest = order.iter().map(|n| n.timeout).max().unwrap_or_default();
        let answer_by = crate::deadline::answer_by(&call.method, received, longest);
        let mut merged = raw.to_vec();
        // The first node in failover order gave the answer in hand (or failed): the rest fill.
        for node in order.iter().skip(1) {
            let left = answer_by.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Ok(out) = self
                .read_from(node, call, call.bytes.clone(), node.timeout.min(left))
                .await
            else {
                continue;
            };
            let other = match out {
                Out::Result(raw) => raw,
                Out::Verbatim(body) => match rpc::parse_reply(&body, call.response_id()) {
                    Ok((Reply::Result(raw), _)) => body.slice_ref(raw.get().as_bytes()),
                    _ => continue,
                },
                Out::Error(_) | Out::VerbatimError(..) => continue,
            };
            merged = merge::merge_per_index(&[&merged, &other]);
            tracing::debug!(
                method = &*call.method,
                node = node.label(),
                "payload bodies filled from another node"
            );
            if !merge::has_null_entry(&merged) {
                break;
            }
        }
        Out::Result(Bytes::from(merged))
    }

    /// engine_exchangeCapabilities: only what every answering node supports.
    async fn capabilities(&self, call: &Call) -> Out {
        let (answers, error) = self.ask_all(call).await;
        let results: Vec<&[u8]> = answers.iter().map(|(_, raw)| &raw[..]).collect();
        let Some((common, dropped)) = merge::intersect_lists(&results) else {
            return Out::Error(
                error.unwrap_or_else(|| RpcError::internal("no execution client is answering")),
            );
        };
        for method in dropped {
            let first_time = self
                .warned_capabilities
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(method.clone());
            if first_time {
                tracing::warn!(%method, "not every node supports this method; not offered to the CL");
            }
        }
        Out::Result(Bytes::from(
            serde_json::to_vec(&common).unwrap_or_else(|_| b"[]".to_vec()),
        ))
    }
}

/// Whether two `eth_chainId` answers name the same chain (as numbers when both are hex
/// quantities: `0x01` is `0x1`).
fn same_chain(a: &str, b: &str) -> bool {
    match (crate::chain::answer_value(a), crate::chain::answer_value(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Turns an EL's answer into what the CL gets; `Err` means "try another node".
fn interpret<N: Network>(node: &Node<N>, call: &Call, reply: Bytes) -> Result<Out, String> {
    match rpc::parse_reply(&reply, call.response_id()) {
        Ok((Reply::Result(_), true)) => Ok(Out::Verbatim(reply)),
        Ok((Reply::Error(e), true)) => Ok(Out::VerbatimError(reply, e.code)),
        Ok((Reply::Result(raw), false)) => Ok(Out::Result(reply.slice_ref(raw.get().as_bytes()))),
        Ok((Reply::Error(e), false)) => Ok(Out::Error(e)),
        Err(e) => {
            tracing::warn!(node = node.label(), method = &*call.method, error = %e, "unusable answer");
            Err(e.to_string())
        }
    }
}

/// Parses a request body and answers it (used by the HTTP server and by tests).
pub async fn answer<N: Network>(proxy: &Proxy<N>, body: &Bytes) -> Option<Bytes> {
    match rpc::parse(body, proxy.settings.max_batch) {
        Ok(incoming) => proxy.handle(incoming).await,
        Err(error) => {
            proxy
                .metrics
                .request(MethodLabel::INVALID, Some(error.code));
            Some(rpc::error_response(b"null", &error))
        }
    }
}
