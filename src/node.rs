//! One execution client: its settings, HTTP client, health and ordered lane.
//!
//! State-changing calls (newPayload, forkchoiceUpdated) go through the node's *lane*: a queue
//! served by one task, so the EL receives them one at a time in the order the CL sent them (the
//! Engine API requires fcU order to be kept). Every job carries the deadline of the CL request it
//! belongs to; time spent queued counts against it, and a job whose deadline passed is never sent.
//! Reads bypass the lane and use pooled connections concurrently.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::{Network, SharedClock, TokenCache};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::config::{NodeConfig, NodeSpec};
use crate::health::Health;
use crate::upstream::{Upstream, UpstreamError};

/// Jobs queued per node before new ones are refused (as "no answer" from that node).
const LANE_DEPTH: usize = 64;

pub type CallResult = Result<Bytes, UpstreamError>;

struct Job {
    body: Bytes,
    deadline: Instant,
    reply: oneshot::Sender<CallResult>,
}

pub struct Node<N: Network> {
    /// Unique for the life of the process (node sets change at run time).
    pub id: u64,
    pub spec: NodeSpec,
    pub timeout: Duration,
    pub upstream: Arc<Upstream<N>>,
    pub health: Health,
    lane: mpsc::Sender<Job>,
    /// Bounds the calls in flight to this node.
    in_flight: Arc<Semaphore>,
}

impl<N: Network> Node<N> {
    /// Creates the node and starts its lane task (which ends when the node is dropped).
    pub fn new(
        id: u64,
        config: NodeConfig,
        net: N,
        clock: SharedClock,
        max_response: usize,
        max_in_flight: usize,
    ) -> Arc<Self> {
        let upstream = Arc::new(Upstream::new(
            net,
            &config.spec,
            TokenCache::new(config.secret),
            clock,
            max_response,
            max_in_flight,
        ));
        let (lane, rx) = mpsc::channel(LANE_DEPTH);
        let in_flight = Arc::new(Semaphore::new(max_in_flight));
        tokio::spawn(serve_lane(upstream.clone(), rx, in_flight.clone()));
        Arc::new(Self {
            id,
            timeout: config.timeout,
            health: Health::new(),
            spec: config.spec,
            upstream,
            lane,
            in_flight,
        })
    }

    pub fn url(&self) -> &str {
        &self.spec.url
    }

    pub fn do_not_use(&self) -> bool {
        self.spec.do_not_use
    }

    /// Queues an ordered call. Must be called for all nodes of one CL request without awaiting in
    /// between (see [`crate::proxy`]), so every lane sees the same order.
    pub fn enqueue(&self, body: Bytes, deadline: Instant) -> oneshot::Receiver<CallResult> {
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.lane.try_send(Job {
            body,
            deadline,
            reply,
        }) {
            let job = match e {
                mpsc::error::TrySendError::Full(job) => (job, UpstreamError::Overloaded),
                mpsc::error::TrySendError::Closed(job) => (job, UpstreamError::Gone),
            };
            let _ = job.0.reply.send(Err(job.1));
        }
        rx
    }

    /// An unordered call (reads), bounded by `timeout`.
    pub async fn call(&self, body: Bytes, timeout: Duration) -> CallResult {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(UpstreamError::Overloaded);
        };
        match tokio::time::timeout(timeout, self.upstream.call(body)).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout),
        }
    }
}

async fn serve_lane<N: Network>(
    upstream: Arc<Upstream<N>>,
    mut rx: mpsc::Receiver<Job>,
    in_flight: Arc<Semaphore>,
) {
    while let Some(job) = rx.recv().await {
        if job.reply.is_closed() {
            continue;
        }
        // Ordered calls wait for a slot rather than fail: they are few, and must not be lost.
        let permit = tokio::time::timeout_at(job.deadline, in_flight.acquire()).await;
        let result = if !matches!(permit, Ok(Ok(_))) || Instant::now() >= job.deadline {
            Err(UpstreamError::Timeout)
        } else {
            match tokio::time::timeout_at(job.deadline, upstream.call(job.body)).await {
                Ok(result) => result,
                Err(_) => Err(UpstreamError::Timeout),
            }
        };
        let _ = job.reply.send(result);
    }
}
