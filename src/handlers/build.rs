//! Block production: serving `engine_getPayload*` from the ELs that are building.
//!
//! The CL's payloadId maps to each building EL's own id ([`crate::payload`]). Every building EL
//! is asked at once. Each answer is checked against the build request
//! ([`crate::build_check`]); which good answer is returned, and when, is
//! [`crate::selection::choose`]'s pure decision. Only when no builder could be reached, or every builder
//! answered -38001 (it lost the build), and no newer forkchoiceUpdated has been sent since, is
//! the forkchoiceUpdated that started the build replayed to a node and the payload fetched from
//! it. Any other error (-38005…) is the answer.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use crate::build_check;
use crate::deadline::Deadline;
use crate::handlers::read::read_from;
use crate::handlers::Out;
use crate::node::{Node, VotedCall};
use crate::payload::Entry;
use crate::proxy::Proxy;
use crate::reply::Parsed;
use crate::rpc::{self, Call, RpcError};
use crate::selection::{choose, Choice, Got};
use crate::vote::{Kind, Status};

pub async fn get_payload<N: Network>(core: &Proxy<N>, call: &Call) -> Out {
    let deadline = Deadline::for_call(&call.method, Instant::now(), core.settings.payload_timeout);
    let Some(id) = first_string_param(call) else {
        return Out::Error(RpcError::new(
            rpc::INVALID_PARAMS,
            "Invalid params: expected [payloadId]",
        ));
    };
    let Some(entry) = core.payloads.get(&id) else {
        return Out::Error(RpcError::new(rpc::UNKNOWN_PAYLOAD, "Unknown payload"));
    };
    let order = core.nodes.failover_order();
    let all = core.nodes.voters();
    // Builders in read order (the primary first), then builders that get no reads now.
    let mut building: Vec<(Arc<Node<N>>, String)> = Vec::new();
    for n in order.iter().chain(all.iter()) {
        if building.iter().any(|(b, _)| b.id == n.id) {
            continue;
        }
        if let Some(b) = entry.builds.iter().find(|b| b.node_id == n.id) {
            building.push((n.clone(), b.payload_id.clone()));
        }
    }
    let expected = build_check::expected(&entry.request);

    let (out, got) = fetch_from(core, call, &building, expected.as_ref(), deadline).await;
    if let Some(out) = out {
        return out;
    }
    let lost = got
        .iter()
        .all(|g| matches!(g, Got::Unreachable | Got::Error(rpc::UNKNOWN_PAYLOAD)));
    let newest = entry.fcu_seq == core.fcu_seq.load(std::sync::atomic::Ordering::Acquire);
    if lost && newest {
        if let Some(out) = replay(core, call, &entry, &order, deadline).await {
            return out;
        }
    } else if lost {
        tracing::warn!("no builder can serve the build, and a newer forkchoiceUpdated was sent since: not replaying the old one");
    }
    let first_error = got.iter().find_map(|g| match g {
        Got::Error(code) => Some(*code),
        _ => None,
    });
    Out::Error(match first_error {
        Some(rpc::UNKNOWN_PAYLOAD) => RpcError::new(rpc::UNKNOWN_PAYLOAD, "Unknown payload"),
        Some(code) => RpcError::new(code, "execution clients refused getPayload"),
        None => RpcError::internal("no execution client could return the payload"),
    })
}

/// Asks every building node at once and chooses ([`choose`]). Returns the answer when one
/// was chosen, and what each builder gave.
async fn fetch_from<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    building: &[(Arc<Node<N>>, String)],
    expected: Option<&build_check::Expected>,
    deadline: Deadline,
) -> (Option<Out>, Vec<Got>) {
    let mut pending: FuturesUnordered<_> = building
        .iter()
        .enumerate()
        .map(|(rank, (node, their_id))| {
            let body = call.with_params(&format!("[{}]", json_string(their_id)));
            async move {
                let left = deadline.left(Instant::now());
                (rank, read_from(node, call, body, left).await)
            }
        })
        .collect();
    let mut got = vec![Got::Waiting; building.len()];
    let mut payloads: Vec<Option<Bytes>> = vec![None; building.len()];
    let mut first_error: Option<RpcError> = None;
    let selection = core.settings.payload_selection;
    let grace = core.settings.payload_grace;
    loop {
        let final_call = deadline.passed(Instant::now());
        match choose(Instant::now(), &got, selection, grace, final_call) {
            Choice::Take(rank) => {
                if rank != 0 && got[0] != Got::Waiting && !matches!(got[0], Got::Good { .. }) {
                    core.metrics.failover();
                }
                let out = payloads[rank].take().map(Out::Result);
                return (out, got);
            }
            Choice::NoneGood => {
                for g in got.iter_mut().filter(|g| **g == Got::Waiting) {
                    *g = Got::Unreachable;
                }
                let out = first_error.and_then(|e| {
                    // An error every builder agrees on is the answer (e.g. -38005).
                    let same = got.iter().all(|g| *g == Got::Error(e.code));
                    (same && e.code != rpc::UNKNOWN_PAYLOAD).then_some(Out::Error(e))
                });
                return (out, got);
            }
            Choice::WaitUntil(at) => {
                // Biased: an answer and the grace ending at the same instant always resolve
                // the same way (an unbiased select picks at random, and a seed must replay).
                tokio::select! {
                    biased;
                    Some((rank, out)) = pending.next() => {
                        let (g, payload, error) = judge(&building[rank].0, out, expected);
                        first_error = first_error.or(error);
                        got[rank] = g;
                        payloads[rank] = payload;
                    }
                    () = tokio::time::sleep_until(at.min(deadline.instant())) => {}
                }
            }
        }
    }
}

/// Replays the forkchoiceUpdated that started the build to nodes in order (a node that lost
/// its build, by restarting, starts it again), through its lane, then fetches the payload
/// from the first that builds. Only called while that forkchoiceUpdated is the newest sent.
async fn replay<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    entry: &Entry,
    order: &[Arc<Node<N>>],
    deadline: Deadline,
) -> Option<Out> {
    let request_id = request_id(&entry.request);
    let context = Arc::new(VotedCall {
        kind: Kind::ForkchoiceUpdated,
        id: Bytes::from(request_id.clone().into_bytes()),
        block_hash: None,
        seq: entry.fcu_seq,
        newest: core.voted_seq.clone(),
    });
    for node in order {
        if deadline.passed(Instant::now()) {
            return None;
        }
        tracing::warn!(
            node = node.label(),
            "no node could serve the build: replaying forkchoiceUpdated"
        );
        let rx = {
            let _order = core.enqueue.lock().unwrap_or_else(|p| p.into_inner());
            node.enqueue(entry.request.clone(), deadline, context.clone())
        };
        let Ok(Ok(reply)) = tokio::time::timeout_at(deadline.instant(), rx).await else {
            continue;
        };
        let their_id = match &reply.parsed {
            Parsed::Status {
                status: Status::Valid,
                payload_id: Some(id),
                ..
            } => id.clone(),
            _ => continue,
        };
        let body = call.with_params(&format!("[{}]", json_string(&their_id)));
        let left = deadline.left(Instant::now());
        if let Ok(out) = read_from(node, call, body, left).await {
            if let Ok(result) = out.into_result() {
                return Some(Out::Result(result));
            }
        }
    }
    None
}

/// What one builder's answer is worth: good (with its payload), an error (with the object to
/// pass on), a mismatch or nothing.
fn judge<N: Network>(
    node: &Node<N>,
    out: Result<Out, String>,
    expected: Option<&build_check::Expected>,
) -> (Got, Option<Bytes>, Option<RpcError>) {
    let Ok(out) = out else {
        return (Got::Unreachable, None, None);
    };
    match out.into_result() {
        Ok(result) => {
            let value = match build_check::inspect(expected, &result) {
                Ok(value) => value,
                Err(why) => {
                    tracing::warn!(
                        node = node.label(),
                        reason = %why,
                        "built payload does not match the build request: never chosen"
                    );
                    return (Got::Mismatch, None, None);
                }
            };
            (
                Got::Good {
                    value,
                    at: Instant::now(),
                },
                Some(result),
                None,
            )
        }
        Err(e) => (Got::Error(e.code), None, Some(e)),
    }
}

fn first_string_param(call: &Call) -> Option<String> {
    let params = call.params.as_ref()?;
    let list: Vec<Cow<'_, str>> = serde_json::from_slice(params).ok()?;
    list.into_iter().next().map(Cow::into_owned)
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The raw id of a stored request (the CL's forkchoiceUpdated).
fn request_id(request: &[u8]) -> String {
    #[derive(Deserialize)]
    struct IdView<'a> {
        #[serde(borrow)]
        id: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<IdView<'_>>(request)
        .ok()
        .and_then(|v| v.id.map(|id| id.get().to_owned()))
        .unwrap_or_else(|| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_read_raw() {
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":"x","method":"m"}"#),
            "\"x\""
        );
    }
}
