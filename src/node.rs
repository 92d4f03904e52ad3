//! One execution client: its settings, HTTP client, health and ordered lane.
//!
//! State-changing calls (newPayload, forkchoiceUpdated) go through the node's *lane*: a queue
//! served by one task, so the EL receives them one at a time in the order the CL sent them (the
//! Engine API requires fcU order to be kept). Reads bypass the lane and use pooled connections
//! concurrently.
//!
//! The node records its own health where its calls are made: the lane after every voted call
//! (engine path), [`Node::call`] after every read (read path), [`Node::check`] for the
//! on-the-spot engine check. Timing rules:
//!
//! - a voted call's node timeout runs from when its request is written to the EL; time queued
//!   behind earlier calls (in the lane, or for a connection slot) is the proxy's, never the
//!   node's, and never marks it down;
//! - a job still queued when the CL's deadline passes is dropped unsent (the node is then
//!   catching up: it missed a block);
//! - a job that was sent is awaited up to the node's own timeout even after the CL got its
//!   answer, so late answers are read, recorded and passed to whoever still listens.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::{Network, SharedClock, TokenCache};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::deadline::Deadline;

use crate::client_id::ClientId;
use crate::config::{NodeConfig, NodeSpec};
use crate::health::{EngineEvent, Health};
use crate::metrics::{Metrics, NodeMetrics};
use crate::reply::{self, Parsed};
use crate::upstream::{Upstream, UpstreamError};
use crate::vote::{Kind, Status};

/// Jobs queued per node before new ones are refused (as "no answer" from that node).
const LANE_DEPTH: usize = 64;
/// The on-the-spot check's own timeout.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(750);

const CHECK_BODY: &[u8] =
    br#"{"jsonrpc":"2.0","id":"eb-check","method":"engine_exchangeCapabilities","params":[[]]}"#;

pub type CallResult = Result<Bytes, UpstreamError>;

/// What a voted call is about, shared by the jobs of every node.
#[derive(Debug)]
pub struct VotedCall {
    pub kind: Kind,
    /// The CL's id, raw JSON (the ELs echo it).
    pub id: Bytes,
    /// The block the call is about, lower-cased (newPayload's hash, fcU's head).
    pub block_hash: Option<String>,
    /// Sequence number among voted calls.
    pub seq: u64,
    /// The sequence number of the newest voted call sent (shared by the proxy).
    pub newest: Arc<AtomicU64>,
}

/// A lane's answer to one job.
#[derive(Debug)]
pub struct LaneReply {
    pub parsed: Parsed,
    /// Written, and answered (or failed) within the node's own timeout.
    pub in_time: bool,
    /// From the write to the answer; zero when never written.
    pub latency: Duration,
}

struct Job {
    body: Bytes,
    /// The CL's deadline: not sent after it.
    deadline: Deadline,
    call: Arc<VotedCall>,
    reply: oneshot::Sender<LaneReply>,
}

pub struct Node<N: Network> {
    /// Unique for the life of the process (node sets change at run time).
    pub id: u64,
    pub spec: NodeSpec,
    pub timeout: Duration,
    pub upstream: Arc<Upstream<N>>,
    pub health: Arc<Health>,
    metrics: Arc<Metrics>,
    /// This node's own counters and histogram, resolved once.
    stats: NodeMetrics,
    /// Test-only: the old model, where a failed read also marks the node down for votes.
    legacy: bool,
    /// The kind of voted call the lane is waiting on the EL for (0: none, 1: newPayload,
    /// 2: forkchoiceUpdated).
    busy: Arc<AtomicU8>,
    lane: mpsc::Sender<Job>,
    /// Bounds the calls in flight to this node.
    in_flight: Arc<Semaphore>,
    /// What the EL reports itself as (`engine_getClientVersionV1`, asked by the probe).
    client: std::sync::RwLock<Option<Arc<ClientId>>>,
    /// A warm-up ([`crate::warm`]) is running.
    pub warming: std::sync::atomic::AtomicBool,
}

/// What every node of one proxy shares: the network, the clock, metrics and limits.
#[derive(Clone)]
pub struct NodeEnv<N: Network> {
    pub net: N,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub max_response: usize,
    pub max_in_flight: usize,
    /// Test-only: the old health model ([`crate::config::HealthModel::Legacy`]).
    pub legacy: bool,
}

impl<N: Network> Node<N> {
    /// Creates the node and starts its lane task (which ends when the node is dropped).
    pub fn new(id: u64, config: NodeConfig, env: &NodeEnv<N>) -> Arc<Self> {
        let NodeEnv {
            net,
            clock,
            metrics,
            max_response,
            max_in_flight,
            legacy,
        } = env.clone();
        let upstream = Arc::new(Upstream::new(
            net,
            &config.spec,
            TokenCache::new(config.secret),
            clock,
            max_response,
            max_in_flight,
            config.tls,
        ));
        let (lane, rx) = mpsc::channel(LANE_DEPTH);
        let in_flight = Arc::new(Semaphore::new(max_in_flight));
        let health = Arc::new(Health::new());
        let busy = Arc::new(AtomicU8::new(0));
        let stats = metrics.node(config.spec.label());
        tokio::spawn(serve_lane(
            LaneCtx {
                label: config.spec.label().to_owned(),
                timeout: config.timeout,
                upstream: upstream.clone(),
                health: health.clone(),
                metrics: metrics.clone(),
                stats: stats.clone(),
                in_flight: in_flight.clone(),
                busy: busy.clone(),
            },
            rx,
        ));
        Arc::new(Self {
            id,
            timeout: config.timeout,
            health,
            metrics,
            stats,
            legacy,
            busy,
            spec: config.spec,
            upstream,
            lane,
            in_flight,
            client: std::sync::RwLock::new(None),
            warming: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// What the EL last reported itself as, if it did.
    pub fn client(&self) -> Option<Arc<ClientId>> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records what the EL reports itself as (logged when it changes).
    pub fn set_client(&self, id: ClientId) {
        let mut slot = self.client.write().unwrap_or_else(|p| p.into_inner());
        if slot.as_deref() != Some(&id) {
            tracing::info!(node = self.label(), client = %id, "execution client identified");
            *slot = Some(Arc::new(id));
        }
    }

    pub fn url(&self) -> &str {
        &self.spec.url
    }

    /// How logs and metrics call this node: its `#name=`, else its URL.
    pub fn label(&self) -> &str {
        self.spec.label()
    }

    /// This node's counters and histogram (`eb_node_*`, `eb_vote_waits_total`, ...).
    pub fn metrics(&self) -> &NodeMetrics {
        &self.stats
    }

    pub fn do_not_use(&self) -> bool {
        self.spec.do_not_use
    }

    /// Queues an ordered call. Must be called for all nodes of one CL request without awaiting in
    /// between (see [`crate::handlers::voted`]), so every lane sees the same order.
    pub fn enqueue(
        &self,
        body: Bytes,
        deadline: Deadline,
        call: Arc<VotedCall>,
    ) -> oneshot::Receiver<LaneReply> {
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.lane.try_send(Job {
            body,
            deadline,
            call,
            reply,
        }) {
            let (job, why) = match e {
                mpsc::error::TrySendError::Full(job) => (job, UpstreamError::Overloaded),
                mpsc::error::TrySendError::Closed(job) => (job, UpstreamError::Gone),
            };
            self.health
                .engine_event(self.label(), EngineEvent::Skipped, &why);
            let _ = job.reply.send(LaneReply {
                parsed: Parsed::Nothing(why.to_string()),
                in_time: false,
                latency: Duration::ZERO,
            });
        }
        rx
    }

    /// The kind of voted call the lane is waiting on the EL for, if any.
    pub fn busy_with(&self) -> Option<Kind> {
        match self.busy.load(Ordering::Acquire) {
            1 => Some(Kind::NewPayload),
            2 => Some(Kind::ForkchoiceUpdated),
            _ => None,
        }
    }

    /// How a new voted call of `kind` is to be awaited: as the node's state says, except that a
    /// call queued behind one the node is lagging on is awaited like a lagging node (a node
    /// stuck on newPayload must not hold the following forkchoiceUpdated for its timeout).
    pub fn voter_for(&self, kind: Kind) -> crate::health::Voter {
        let engine = self.health.engine();
        let own = engine.voter(kind);
        match self.busy_with() {
            Some(k) if engine.voter(k) != crate::health::Voter::Healthy => {
                own.max(crate::health::Voter::Lagging)
            }
            _ => own,
        }
    }

    /// A read (unordered, bounded by `timeout`); records the read path's health.
    pub async fn call(&self, body: Bytes, timeout: Duration) -> CallResult {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(UpstreamError::Overloaded);
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, self.upstream.call(body)).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout),
        };
        match &result {
            Ok(_) => {
                let latency = started.elapsed();
                self.health.record_latency(latency);
                self.stats.latency(latency);
                self.health.set_reads(self.label(), true, "answered a read");
            }
            Err(e) if e.is_unreachable() => {
                if matches!(e, UpstreamError::Timeout) {
                    self.stats.timeout();
                } else {
                    self.upstream.clear_pool();
                }
                self.note_tls_failure(e);
                self.health.set_reads(self.label(), false, &e.to_string());
                if self.legacy {
                    self.health.engine_event(
                        self.label(),
                        EngineEvent::Unreachable,
                        "legacy: a read failed",
                    );
                }
            }
            Err(e) => tracing::warn!(node = self.label(), error = %e, "read failed"),
        }
        result
    }

    /// Counts and logs a failed TLS handshake (any other error is ignored here).
    pub fn note_tls_failure(&self, e: &UpstreamError) {
        if let UpstreamError::Tls { label, reason } = e {
            self.metrics.tls_failure(self.url(), label);
            tracing::warn!(node = self.url(), reason = %reason, "TLS handshake failed: nothing sent to this node");
        }
    }

    /// The on-the-spot check: a cheap authenticated engine call on a fresh connection with a
    /// short timeout. True when the node answered it (an EL busy executing a block still does).
    pub async fn check(&self) -> bool {
        let call = self.upstream.call_fresh(Bytes::from_static(CHECK_BODY));
        let ok = matches!(tokio::time::timeout(CHECK_TIMEOUT, call).await, Ok(Ok(_)));
        tracing::debug!(node = self.label(), ok, "on-the-spot engine check");
        ok
    }
}

/// What the lane task needs of its node (not the node itself: the node owns the lane).
struct LaneCtx<N: Network> {
    label: String,
    timeout: Duration,
    upstream: Arc<Upstream<N>>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    stats: NodeMetrics,
    in_flight: Arc<Semaphore>,
    busy: Arc<AtomicU8>,
}

async fn serve_lane<N: Network>(ctx: LaneCtx<N>, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.recv().await {
        if job.reply.is_closed() {
            // Nobody listens any more (the CL's request was dropped): not sent.
            continue;
        }
        let reply = serve_job(&ctx, &job).await;
        let _ = job.reply.send(reply);
    }
}

async fn serve_job<N: Network>(ctx: &LaneCtx<N>, job: &Job) -> LaneReply {
    let skipped = |why: &str| {
        ctx.health
            .engine_event(&ctx.label, EngineEvent::Skipped, why);
        LaneReply {
            parsed: Parsed::Nothing(why.to_owned()),
            in_time: false,
            latency: Duration::ZERO,
        }
    };
    // Ordered calls wait for a connection slot rather than fail: they are few, and must not be
    // lost. The wait is the proxy's, not the node's.
    let Ok(Ok(_permit)) =
        tokio::time::timeout_at(job.deadline.instant(), ctx.in_flight.acquire()).await
    else {
        return skipped("the CL's deadline passed while queued in the proxy");
    };
    if job.deadline.passed(Instant::now()) {
        return skipped("the CL's deadline passed while queued in the proxy");
    }
    let written = Instant::now();
    let kind_code = match job.call.kind {
        Kind::NewPayload => 1,
        Kind::ForkchoiceUpdated => 2,
    };
    ctx.busy.store(kind_code, Ordering::Release);
    let result = match tokio::time::timeout(ctx.timeout, ctx.upstream.call(job.body.clone())).await
    {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Timeout),
    };
    ctx.busy.store(0, Ordering::Release);
    let latency = written.elapsed();
    let call = &job.call;
    let (event, parsed) = match result {
        Ok(body) => {
            ctx.health.record_latency(latency);
            ctx.stats.latency(latency);
            let parsed = reply::parse_voted(call.kind, &body, &call.id, call.block_hash.as_deref());
            if let (Some(Status::Valid), Some(block)) = (parsed.status(), &call.block_hash) {
                ctx.health.answered_valid(block);
            }
            if call.kind == Kind::NewPayload
                && matches!(
                    parsed.status(),
                    Some(
                        Status::Valid
                            | Status::Invalid
                            | Status::InvalidBlockHash
                            | Status::Accepted
                    )
                )
            {
                ctx.health.knows_new_payload(call.seq);
            }
            let event = EngineEvent::Answered {
                kind: call.kind,
                status: parsed.status(),
                current: call.seq == call.newest.load(Ordering::Acquire),
            };
            (Some(event), parsed)
        }
        Err(e) => {
            let event = match &e {
                UpstreamError::Timeout => {
                    ctx.stats.timeout();
                    Some(EngineEvent::MissedDeadline(call.kind))
                }
                UpstreamError::Connect(_) => {
                    ctx.upstream.clear_pool();
                    Some(EngineEvent::Unreachable)
                }
                // A certificate that fails verification: nothing is sent to it, ever.
                UpstreamError::Tls { label, reason } => {
                    ctx.metrics.tls_failure(&ctx.label, label);
                    tracing::warn!(node = %ctx.label, reason = %reason, "TLS handshake failed: nothing sent to this node");
                    Some(EngineEvent::Unreachable)
                }
                // Refused our credentials: it cannot serve this proxy at all.
                UpstreamError::Http {
                    status: 401 | 403, ..
                } => Some(EngineEvent::Unreachable),
                // It answered promptly, with nothing usable: not a waiting problem.
                UpstreamError::Http { .. }
                | UpstreamError::TooLarge(_)
                | UpstreamError::Encoded(_) => Some(EngineEvent::Answered {
                    kind: call.kind,
                    status: None,
                    current: false,
                }),
                // A connection that broke without an answer teaches nothing about waiting.
                UpstreamError::Transport(_) | UpstreamError::Overloaded | UpstreamError::Gone => {
                    None
                }
            };
            (event, Parsed::Nothing(e.to_string()))
        }
    };
    let in_time = !matches!(event, Some(EngineEvent::MissedDeadline(_)));
    if let Some(event) = event {
        ctx.health.engine_event(&ctx.label, event, &parsed);
    }
    LaneReply {
        parsed,
        in_time,
        latency,
    }
}
