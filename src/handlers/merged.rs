//! Merged reads: calls every answering EL is asked at once and whose answers are combined
//! ([`crate::merge`]): client versions, capabilities, blobs; and payload bodies, the primary's
//! answer with the entries it lacks filled from the others.

use std::sync::Arc;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::read::{forward, read_from};
use super::Out;
use crate::deadline::Deadline;
use crate::merge;
use crate::node::Node;
use crate::proxy::Proxy;
use crate::rpc::{Call, RpcError};

/// Asks every answering node at once (1-second class calls); the results of those that
/// succeeded, and the first error.
async fn ask_all<N: Network>(
    core: &Proxy<N>,
    call: &Call,
) -> (Vec<(Arc<Node<N>>, Bytes)>, Option<RpcError>) {
    let nodes: Vec<Arc<Node<N>>> = core.nodes.readable();
    let started = Instant::now();
    let longest = nodes.iter().map(|n| n.timeout).max().unwrap_or_default();
    let deadline = Deadline::for_call(&call.method, started, longest);
    let results = join_all(nodes.into_iter().map(|node| async move {
        let timeout = deadline.cap(node.timeout, started);
        let out = read_from(&node, call, call.bytes.clone(), timeout).await;
        (node, out)
    }))
    .await;
    let mut ok = Vec::new();
    let mut error = None;
    for (node, out) in results {
        match out.map(Out::into_result) {
            Ok(Ok(raw)) => ok.push((node, raw)),
            Ok(Err(e)) => error = error.or(Some(e)),
            Err(_) => {}
        }
    }
    (ok, error)
}

/// Asks every answering node and merges the successful results with `merge`.
pub async fn merged<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    merge: fn(&[&[u8]]) -> Vec<u8>,
) -> Out {
    let (answers, error) = ask_all(core, call).await;
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
pub async fn bodies<N: Network>(core: &Proxy<N>, call: &Call) -> Out {
    let received = Instant::now();
    let first = forward(core, call).await;
    let raw = match &first {
        Out::Result(raw) | Out::Verbatim { result: raw, .. } => raw.clone(),
        Out::Error(_) | Out::VerbatimError { .. } => return first,
    };
    if !merge::has_null_entry(&raw) {
        return first;
    }
    let order = core.nodes.failover_order();
    let longest = order.iter().map(|n| n.timeout).max().unwrap_or_default();
    let deadline = Deadline::for_call(&call.method, received, longest);
    let mut merged = raw.to_vec();
    // The first node in failover order gave the answer in hand (or failed): the rest fill.
    for node in order.iter().skip(1) {
        let now = Instant::now();
        if deadline.passed(now) {
            break;
        }
        let timeout = deadline.cap(node.timeout, now);
        let Ok(Ok(other)) = read_from(node, call, call.bytes.clone(), timeout)
            .await
            .map(Out::into_result)
        else {
            continue;
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
pub async fn capabilities<N: Network>(core: &Proxy<N>, call: &Call) -> Out {
    let (answers, error) = ask_all(core, call).await;
    let results: Vec<&[u8]> = answers.iter().map(|(_, raw)| &raw[..]).collect();
    let Some((common, dropped)) = merge::intersect_lists(&results) else {
        return Out::Error(
            error.unwrap_or_else(|| RpcError::internal("no execution client is answering")),
        );
    };
    for method in dropped {
        if core.warn_capability_once(&method) {
            tracing::warn!(%method, "not every node supports this method; not offered to the CL");
        }
    }
    Out::Result(Bytes::from(
        serde_json::to_vec(&common).unwrap_or_else(|_| b"[]".to_vec()),
    ))
}
