//! Reads: the primary, and on a transport failure, timeout or unusable answer the next node,
//! under one deadline with hedging ([`crate::hedge`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::Out;
use crate::deadline::Deadline;
use crate::hedge::{Attempt, Hedge};
use crate::node::Node;
use crate::proxy::Proxy;
use crate::rpc::{self, Call, Reply, RpcError};

/// The primary's answer, failing over in [`crate::nodes::NodeSet::failover_order`].
///
/// The whole call has one deadline, the longest node timeout (or the CL's, if shorter), so
/// several nodes going silent at once cost one timeout, not one each.
pub async fn forward<N: Network>(core: &Proxy<N>, call: &Call) -> Out {
    let order = core.nodes.failover_order();
    let Some(longest) = order.iter().map(|n| n.timeout).max() else {
        return Out::Error(RpcError::internal("no execution client is answering"));
    };
    let mut hedge = Hedge::new(
        Deadline::for_call(&call.method, Instant::now(), longest),
        order.len(),
    );
    let mut asking = FuturesUnordered::new();
    let mut last: Option<Attempt> = None;
    let mut last_error = format!("deadline of {} ms passed", longest.as_millis());
    // Which attempts (by position in `order`) failed outright.
    let mut failed: Vec<usize> = Vec::new();
    loop {
        let now = Instant::now();
        if let Some(index) = hedge.due(now, asking.is_empty()) {
            if let (Some(prev), Some(before)) = (&last, index.checked_sub(1)) {
                if prev.hedged_past() {
                    order[before].health.stall();
                }
            }
            let node = &order[index];
            if index > 0 {
                tracing::debug!(
                    method = &*call.method,
                    node = node.label(),
                    "asking the next node"
                );
            }
            let timeout = hedge.asked(now, node.timeout);
            // Its own task: when another node wins, this attempt still runs to its end, so a
            // silent node is found dead by its timeout and drops out of live traffic.
            let attempt = Attempt::default();
            last = Some(attempt.clone());
            let task = tokio::spawn({
                let (node, body) = (node.clone(), call.bytes.clone());
                async move {
                    let result = node.call(body, timeout).await;
                    if attempt.finished() {
                        node.health.unstall();
                    }
                    result
                }
            });
            asking.push(async move {
                let out = match task.await {
                    Ok(Ok(reply)) => interpret(node, call, reply),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                (index, node.label(), out)
            });
        }
        if asking.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some((index, label, out)) = asking.next() => match out {
                Ok(out) => {
                    // A failover: a node failed and another answered instead. A node asked
                    // only because the first was slow (hedged) and answering first is not.
                    if failed.iter().any(|f| *f < index) {
                        core.metrics.failover();
                        tracing::debug!(method = &*call.method, node = label, "failed over");
                    }
                    return out;
                }
                Err(e) => {
                    failed.push(index);
                    last_error = format!("{label}: {e}");
                    // Failed outright: ask the next node now rather than at the hedge time.
                    hedge.failed(Instant::now());
                }
            },
            () = tokio::time::sleep_until(hedge.wake()) => {
                if hedge.deadline().passed(Instant::now()) {
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
pub async fn read_from<N: Network>(
    node: &Arc<Node<N>>,
    call: &Call,
    body: Bytes,
    timeout: Duration,
) -> Result<Out, String> {
    let reply = node.call(body, timeout).await.map_err(|e| e.to_string())?;
    interpret(node, call, reply)
}

/// Parses an EL's answer, once, into what the CL gets; `Err` means "try another node".
pub fn interpret<N: Network>(node: &Node<N>, call: &Call, reply: Bytes) -> Result<Out, String> {
    match rpc::parse_reply(&reply, call.response_id()) {
        Ok((Reply::Result(raw), true)) => {
            let result = reply.slice_ref(raw.get().as_bytes());
            Ok(Out::Verbatim {
                body: reply,
                result,
            })
        }
        Ok((Reply::Error(error), true)) => Ok(Out::VerbatimError { body: reply, error }),
        Ok((Reply::Result(raw), false)) => Ok(Out::Result(reply.slice_ref(raw.get().as_bytes()))),
        Ok((Reply::Error(e), false)) => Ok(Out::Error(e)),
        Err(e) => {
            tracing::warn!(node = node.label(), method = &*call.method, error = %e, "unusable answer");
            Err(e.to_string())
        }
    }
}
