//! The multiplexer core: one CL request in, the right EL calls out, one answer back.
//!
//! Generic over [`Network`], so the same code runs over tokio sockets and in simulation.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eb_transport::{JwtSecret, Network, SharedClock};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::config::{NodeConfig, Settings};
use crate::health::NodeState;
use crate::merge;
use crate::metrics::Metrics;
use crate::node::{CallResult, Node};
use crate::nodes::{NodeSet, SetError};
use crate::payload::PayloadMap;
use crate::routing::{metric_label, Route};
use crate::rpc::{self, Call, Incoming, Item, Reply, RpcError};
use crate::upstream::UpstreamError;
use crate::vote::{Answer, Kind, Outcome, Status};

/// How many elements of one batch are in flight at once.
const BATCH_CONCURRENCY: usize = 16;

const SYNCING_STATUS: &str =
    r#"{"status":"SYNCING","latestValidHash":null,"validationError":null}"#;
const SYNCING_FCU: &str = r#"{"payloadStatus":{"status":"SYNCING","latestValidHash":null,"validationError":null},"payloadId":null}"#;

/// What one call produced, before the CL's id is put on it.
pub enum Out {
    /// Raw JSON of the `result`.
    Result(Bytes),
    Error(RpcError),
    /// An EL's whole response whose id is already the CL's, byte for byte: passed on untouched.
    Verbatim(Bytes),
}

pub struct Proxy<N: Network> {
    pub settings: Settings,
    pub net: N,
    pub clock: SharedClock,
    pub cl_secret: JwtSecret,
    pub nodes: NodeSet<N>,
    pub payloads: PayloadMap,
    pub metrics: Metrics,
    /// Held while one voted call is queued on every node, so all lanes see one order.
    enqueue: Mutex<()>,
    /// Capabilities already warned about (some node lacks them).
    warned_capabilities: Mutex<HashSet<String>>,
    /// The chain every node must be on: the first `eth_chainId` answer seen.
    chain_id: Mutex<Option<String>>,
}

/// One node's answer to a voted call, parsed.
struct Voted<N: Network> {
    node: Arc<Node<N>>,
    latency: Duration,
    answer: Parsed,
}

enum Parsed {
    Status {
        status: Status,
        latest_valid_hash: Option<String>,
        validation_error: Option<String>,
        /// The PayloadStatus object as the EL sent it.
        raw: Bytes,
        payload_id: Option<String>,
    },
    Error(RpcError),
    Nothing(String),
}

impl Parsed {
    fn as_answer(&self) -> Answer<'_> {
        match self {
            Parsed::Status {
                status,
                latest_valid_hash,
                validation_error,
                ..
            } => Answer::Status {
                status: *status,
                latest_valid_hash: latest_valid_hash.as_deref(),
                validation_error: validation_error.as_deref(),
            },
            Parsed::Error(e) => Answer::Error { code: e.code },
            Parsed::Nothing(_) => Answer::NoAnswer,
        }
    }

    fn describe(&self) -> String {
        match self {
            Parsed::Status {
                status,
                latest_valid_hash,
                validation_error,
                ..
            } => {
                let mut s = status.as_str().to_owned();
                if let Some(h) = latest_valid_hash {
                    s.push_str(&format!(" lvh={h}"));
                }
                if let Some(e) = validation_error {
                    s.push_str(&format!(" error={:?}", rpc::truncate(e, 120)));
                }
                s
            }
            Parsed::Error(e) => format!("rpc error {e}"),
            Parsed::Nothing(why) => format!("no answer ({why})"),
        }
    }
}

#[derive(Deserialize)]
struct StatusView<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(rename = "latestValidHash", default, borrow)]
    latest_valid_hash: Option<Cow<'a, str>>,
    #[serde(rename = "validationError", default, borrow)]
    validation_error: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ForkchoiceView<'a> {
    #[serde(rename = "payloadStatus", borrow)]
    payload_status: &'a RawValue,
    #[serde(rename = "payloadId", default, borrow)]
    payload_id: Option<Cow<'a, str>>,
}

impl<N: Network> Proxy<N> {
    pub fn new(
        settings: Settings,
        cl_secret: JwtSecret,
        net: N,
        clock: SharedClock,
        salt: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            net,
            clock,
            cl_secret,
            nodes: NodeSet::new(),
            payloads: PayloadMap::new(salt),
            metrics: Metrics::default(),
            enqueue: Mutex::new(()),
            warned_capabilities: Mutex::new(HashSet::new()),
            chain_id: Mutex::new(None),
        })
    }

    /// Creates nodes (starting their lanes) without adding them to the set.
    pub fn make_nodes(&self, configs: Vec<NodeConfig>) -> Vec<Arc<Node<N>>> {
        configs
            .into_iter()
            .map(|c| {
                Node::new(
                    self.nodes.next_id(),
                    c,
                    self.net.clone(),
                    self.clock.clone(),
                    self.settings.max_response_bytes,
                    self.settings.max_in_flight_per_node,
                )
            })
            .collect()
    }

    /// Creates nodes for `configs` and adds them to the set (all or none).
    pub fn add_nodes(&self, configs: Vec<NodeConfig>) -> Result<Vec<Arc<Node<N>>>, SetError> {
        let nodes = self.make_nodes(configs);
        self.nodes.add(nodes.clone())?;
        for n in &nodes {
            tracing::info!(
                node = n.url(),
                timeout_ms = n.timeout.as_millis() as u64,
                do_not_use = n.do_not_use(),
                "node added"
            );
        }
        Ok(nodes)
    }

    /// Checks a node's `eth_chainId` answer against the proxy's chain, settling the chain on the
    /// first answer. `Err` carries the expected chain id.
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
            Some(k) if k.eq_ignore_ascii_case(chain_id) => Ok(()),
            Some(k) => Err(k.to_owned()),
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
                self.metrics.request("invalid", false);
                Some(rpc::error_response(
                    id.as_deref().unwrap_or(b"null"),
                    &error,
                ))
            }
            Item::Call(call) => {
                let out = self.call(&call).await;
                self.metrics
                    .request(metric_label(&call.method), !matches!(out, Out::Error(_)));
                call.id.as_ref()?;
                Some(match out {
                    Out::Result(result) => rpc::result_response(call.response_id(), &result),
                    Out::Error(e) => rpc::error_response(call.response_id(), &e),
                    Out::Verbatim(body) => body,
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
            Route::Primary => self.forward(call).await,
            Route::Refused => Out::Error(RpcError::method_not_found(&call.method)),
        }
    }

    // ---- voted calls ---------------------------------------------------------------------

    async fn voted(&self, call: &Call, kind: Kind) -> Out {
        let started = Instant::now();
        let targets: Vec<Arc<Node<N>>> = self
            .nodes
            .snapshot()
            .iter()
            .filter(|n| n.health.state() != NodeState::Dead)
            .cloned()
            .collect();
        let receivers: Vec<_> = {
            let _order = self.enqueue.lock().unwrap_or_else(|p| p.into_inner());
            targets
                .iter()
                .map(|n| n.enqueue(call.bytes.clone(), started + n.timeout))
                .collect()
        };
        let replies = join_all(
            targets
                .into_iter()
                .zip(receivers)
                .map(|(node, rx)| async move {
                    let result: CallResult =
                        match tokio::time::timeout_at(started + node.timeout, rx).await {
                            Ok(Ok(result)) => result,
                            Ok(Err(_)) => Err(UpstreamError::Gone),
                            Err(_) => Err(UpstreamError::Timeout),
                        };
                    (node, result, started.elapsed())
                }),
        )
        .await;

        let voted: Vec<Voted<N>> = replies
            .into_iter()
            .map(|(node, result, latency)| {
                let answer = match result {
                    Ok(body) => {
                        self.note_success(&node, latency);
                        parse_voted(kind, &body, call.response_id())
                    }
                    Err(e) => {
                        self.note_failure(&node, &e);
                        Parsed::Nothing(e.to_string())
                    }
                };
                Voted {
                    node,
                    latency,
                    answer,
                }
            })
            .collect();
        self.decide(call, kind, &voted)
    }

    fn decide(&self, call: &Call, kind: Kind, voted: &[Voted<N>]) -> Out {
        let eligible: Vec<&Voted<N>> = voted.iter().filter(|v| !v.node.do_not_use()).collect();
        let answers: Vec<Answer<'_>> = eligible.iter().map(|v| v.answer.as_answer()).collect();
        let decision = (self.settings.vote)(kind, &answers, self.settings.fcu_majority);
        let kind_label = match kind {
            Kind::NewPayload => "newPayload",
            Kind::ForkchoiceUpdated => "forkchoiceUpdated",
        };
        let status_label = match decision.outcome {
            Outcome::Follow { status, .. } => status.as_str(),
            Outcome::Syncing => "SYNCING",
            Outcome::Error { .. } => "error",
        };
        self.metrics
            .vote(kind_label, status_label, decision.reason.as_str());

        let each: Vec<String> = voted
            .iter()
            .map(|v| {
                format!(
                    "{}{}={} in {}us",
                    v.node.url(),
                    if v.node.do_not_use() {
                        "(do-not-use)"
                    } else {
                        ""
                    },
                    v.answer.describe(),
                    v.latency.as_micros()
                )
            })
            .collect();
        tracing::debug!(
            method = &*call.method,
            decided = status_label,
            reason = decision.reason.as_str(),
            answers = %each.join("; "),
            "voted"
        );
        if decision.disagreement {
            tracing::warn!(
                method = &*call.method,
                decided = status_label,
                reason = decision.reason.as_str(),
                answers = %each.join("; "),
                "execution clients disagree"
            );
            for v in dissenters(kind, &eligible) {
                self.metrics.disagreement(v.node.url());
            }
        }

        match decision.outcome {
            Outcome::Syncing => Out::Result(Bytes::from_static(match kind {
                Kind::NewPayload => SYNCING_STATUS.as_bytes(),
                Kind::ForkchoiceUpdated => SYNCING_FCU.as_bytes(),
            })),
            Outcome::Error { index } => match &eligible[index].answer {
                Parsed::Error(e) => Out::Error(e.clone()),
                _ => Out::Error(RpcError::internal("vote pointed at a non-error")),
            },
            Outcome::Follow { status, index } => {
                let Parsed::Status { raw, .. } = &eligible[index].answer else {
                    return Out::Error(RpcError::internal("vote pointed at a non-status"));
                };
                match kind {
                    Kind::NewPayload => Out::Result(raw.clone()),
                    Kind::ForkchoiceUpdated => {
                        let payload_id = if status == Status::Valid {
                            self.register_builds(call, voted)
                        } else {
                            None
                        };
                        Out::Result(fcu_result(raw, payload_id.as_deref()))
                    }
                }
            }
        }
    }

    /// Records which nodes started a build (VALID with a payloadId) and returns the CL's id.
    fn register_builds(&self, call: &Call, voted: &[Voted<N>]) -> Option<String> {
        let builds: Vec<crate::payload::Build> = voted
            .iter()
            .filter_map(|v| match &v.answer {
                Parsed::Status {
                    status: Status::Valid,
                    payload_id: Some(id),
                    ..
                } => Some(crate::payload::Build {
                    node_id: v.node.id,
                    payload_id: id.clone(),
                }),
                _ => None,
            })
            .collect();
        (!builds.is_empty()).then(|| self.payloads.insert(builds, call.bytes.clone()))
    }

    // ---- reads -----------------------------------------------------------------------------

    /// The primary, and on a transport failure, timeout or unusable answer the next node.
    async fn forward(&self, call: &Call) -> Out {
        let order = self.nodes.failover_order();
        if order.is_empty() {
            return Out::Error(RpcError::internal("no execution client is answering"));
        }
        let mut last_error = String::new();
        for (i, node) in order.iter().enumerate() {
            if i > 0 {
                self.metrics.failover();
                tracing::debug!(method = &*call.method, node = node.url(), "failing over");
            }
            match self
                .read_from(node, call, call.bytes.clone(), node.timeout)
                .await
            {
                Ok(out) => return out,
                Err(e) => last_error = format!("{}: {e}", node.url()),
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
        let started = Instant::now();
        let reply = match node.call(body, timeout).await {
            Ok(reply) => reply,
            Err(e) => {
                self.note_failure(node, &e);
                return Err(e.to_string());
            }
        };
        self.note_success(node, started.elapsed());
        match rpc::parse_reply(&reply, call.response_id()) {
            Ok((Reply::Result(_), true)) | Ok((Reply::Error(_), true)) => Ok(Out::Verbatim(reply)),
            Ok((Reply::Result(raw), false)) => {
                Ok(Out::Result(reply.slice_ref(raw.get().as_bytes())))
            }
            Ok((Reply::Error(e), false)) => Ok(Out::Error(e)),
            Err(e) => {
                tracing::warn!(node = node.url(), method = &*call.method, error = %e, "unusable answer");
                Err(e.to_string())
            }
        }
    }

    /// Asks every answering node at once (1-second class calls); successes only.
    async fn ask_all(&self, call: &Call) -> (Vec<(Arc<Node<N>>, Bytes)>, Option<RpcError>) {
        let nodes: Vec<Arc<Node<N>>> = self
            .nodes
            .snapshot()
            .iter()
            .filter(|n| n.health.state() != NodeState::Dead)
            .cloned()
            .collect();
        let results = join_all(nodes.into_iter().map(|node| async move {
            let timeout = node
                .timeout
                .min(self.settings.payload_timeout.max(Duration::from_secs(1)));
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
                Ok(Out::Verbatim(body)) => match rpc::parse_reply(&body, call.response_id()) {
                    Ok((Reply::Result(raw), _)) => {
                        let raw = body.slice_ref(raw.get().as_bytes());
                        ok.push((node, raw))
                    }
                    Ok((Reply::Error(e), _)) => error = error.or(Some(e)),
                    Err(_) => {}
                },
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

    // ---- health bookkeeping from live traffic ----------------------------------------------

    fn note_success(&self, node: &Node<N>, latency: Duration) {
        node.health.record_latency(latency);
        self.metrics.latency(node.url(), latency);
    }

    fn note_failure(&self, node: &Node<N>, error: &UpstreamError) {
        if matches!(error, UpstreamError::Timeout) {
            self.metrics.timeout(node.url());
        }
        if error.is_unreachable() {
            node.upstream.clear_pool();
            node.health
                .set_state(node.url(), NodeState::Dead, &error.to_string());
        } else {
            tracing::warn!(node = node.url(), %error, "call failed");
        }
    }
}

/// The nodes whose answer differs from the most common one: a status in another category, or an
/// error while others gave statuses (errors only: a different error code).
fn dissenters<'a, N: Network>(kind: Kind, eligible: &[&'a Voted<N>]) -> Vec<&'a Voted<N>> {
    let statuses: Vec<Status> = eligible
        .iter()
        .filter_map(|v| match &v.answer {
            Parsed::Status { status, .. } => Some(normalize(kind, *status)),
            _ => None,
        })
        .collect();
    let most_common = [
        Status::Valid,
        Status::Invalid,
        Status::Syncing,
        Status::Accepted,
    ]
    .into_iter()
    .max_by_key(|c| {
        (
            statuses.iter().filter(|s| *s == c).count(),
            std::cmp::Reverse(*c),
        )
    });
    let first_error = eligible.iter().find_map(|v| match &v.answer {
        Parsed::Error(e) => Some(e.code),
        _ => None,
    });
    eligible
        .iter()
        .copied()
        .filter(|v| match &v.answer {
            Parsed::Status { status, .. } => Some(normalize(kind, *status)) != most_common,
            Parsed::Error(e) => !statuses.is_empty() || Some(e.code) != first_error,
            Parsed::Nothing(_) => false,
        })
        .collect()
}

fn normalize(kind: Kind, s: Status) -> Status {
    match (kind, s) {
        (_, Status::InvalidBlockHash) => Status::Invalid,
        (Kind::ForkchoiceUpdated, Status::Accepted) => Status::Syncing,
        (_, s) => s,
    }
}

/// Parses a voted call's answer (newPayload: a PayloadStatus; fcU: {payloadStatus, payloadId}).
fn parse_voted(kind: Kind, body: &Bytes, sent_id: &[u8]) -> Parsed {
    let result = match rpc::parse_reply(body, sent_id) {
        Ok((Reply::Result(raw), _)) => raw,
        Ok((Reply::Error(e), _)) => return Parsed::Error(e),
        Err(e) => return Parsed::Nothing(e.to_string()),
    };
    let (status_raw, payload_id) = match kind {
        Kind::NewPayload => (result, None),
        Kind::ForkchoiceUpdated => match serde_json::from_str::<ForkchoiceView<'_>>(result.get()) {
            Ok(v) => (v.payload_status, v.payload_id.map(Cow::into_owned)),
            Err(_) => return Parsed::Nothing("result is not {payloadStatus, payloadId}".into()),
        },
    };
    let view: StatusView<'_> = match serde_json::from_str(status_raw.get()) {
        Ok(v) => v,
        Err(_) => return Parsed::Nothing("result is not a PayloadStatus".into()),
    };
    let Some(status) = Status::parse(&view.status) else {
        return Parsed::Nothing(format!(
            "unknown status {:?}",
            rpc::truncate(&view.status, 40)
        ));
    };
    Parsed::Status {
        status,
        latest_valid_hash: view.latest_valid_hash.map(Cow::into_owned),
        validation_error: view.validation_error.map(Cow::into_owned),
        raw: body.slice_ref(status_raw.get().as_bytes()),
        payload_id,
    }
}

fn fcu_result(status: &[u8], payload_id: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(status.len() + 48);
    out.extend_from_slice(b"{\"payloadStatus\":");
    out.extend_from_slice(status);
    out.extend_from_slice(b",\"payloadId\":");
    match payload_id {
        Some(id) => {
            out.push(b'"');
            out.extend_from_slice(id.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Bytes::from(out)
}

/// Parses a request body and answers it (used by the HTTP server and by tests).
pub async fn answer<N: Network>(proxy: &Proxy<N>, body: &Bytes) -> Option<Bytes> {
    match rpc::parse(body, proxy.settings.max_batch) {
        Ok(incoming) => proxy.handle(incoming).await,
        Err(error) => {
            proxy.metrics.request("invalid", false);
            Some(rpc::error_response(b"null", &error))
        }
    }
}
