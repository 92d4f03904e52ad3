//! Block production: serving `engine_getPayload*` from the ELs that are building.
//!
//! The CL's payloadId maps to each building EL's own id ([`crate::payload`]). Every building EL
//! is asked at once. Each answer is checked against the build request
//! ([`crate::build_check`]); which good answer is returned, and when, is [`choose`]'s pure
//! decision: the primary's payload (or with `best-value` the highest `blockValue`) if it
//! arrives within `--get-payload-grace` of the first good one, else the first good one, and
//! never later than the CL's deadline. Only when no builder could be reached, or every builder
//! answered -38001 (it lost the build), and no newer forkchoiceUpdated has been sent since, is
//! the forkchoiceUpdated that started the build replayed to a node and the payload fetched from
//! it. Any other error (-38005…) is the answer.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use crate::build_check;
use crate::node::{Node, VotedCall};
use crate::payload::Entry;
use crate::proxy::{Out, Proxy};
use crate::reply::Parsed;
use crate::rpc::{self, Call, Reply, RpcError};
use crate::vote::{Kind, Status};

/// How the payload is chosen when several ELs built one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PayloadSelection {
    /// The best-ranked node (the primary first) that answers.
    #[default]
    Primary,
    /// The highest blockValue among the nodes that answered.
    BestValue,
}

/// One building node's answer so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Waiting,
    /// A payload that matches the build, with its blockValue.
    Good {
        value: String,
        at: Instant,
    },
    /// Not reachable, or no answer in time.
    Unreachable,
    /// A JSON-RPC error, by code.
    Error(i64),
    /// A payload that does not match the build request.
    Mismatch,
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Return the payload of this rank.
    Take(usize),
    /// Look again at this time (or when an answer arrives).
    WaitUntil(Instant),
    /// Every builder answered and none was good.
    NoneGood,
}

/// The pure choice among the building nodes' answers, rank 0 first (the primary).
/// `final_call` is true at the CL's deadline: take the best there is.
pub fn choose(
    now: Instant,
    got: &[Got],
    selection: PayloadSelection,
    grace: Duration,
    final_call: bool,
) -> Choice {
    let good: Vec<(usize, &String, Instant)> = got
        .iter()
        .enumerate()
        .filter_map(|(rank, g)| match g {
            Got::Good { value, at } => Some((rank, value, *at)),
            _ => None,
        })
        .collect();
    let waiting = got.contains(&Got::Waiting);
    let Some(first_at) = good.iter().map(|(_, _, at)| *at).min() else {
        return if waiting && !final_call {
            Choice::WaitUntil(now + Duration::from_secs(3600))
        } else {
            Choice::NoneGood
        };
    };
    let settle = first_at + grace;
    let done = !waiting || final_call || now >= settle;
    match selection {
        PayloadSelection::Primary => {
            let (best, _, _) = good[0];
            // Every better-ranked node has failed: nothing better can come.
            let nothing_better = got[..best].iter().all(|g| *g != Got::Waiting);
            if nothing_better || done {
                Choice::Take(best)
            } else {
                Choice::WaitUntil(settle)
            }
        }
        PayloadSelection::BestValue => {
            if done {
                let best = good
                    .iter()
                    .max_by(|(ra, a, _), (rb, b, _)| compare_quantity(a, b).then(rb.cmp(ra)))
                    .map_or(0, |(rank, _, _)| *rank);
                Choice::Take(best)
            } else {
                Choice::WaitUntil(settle)
            }
        }
    }
}

impl<N: Network> Proxy<N> {
    pub(crate) async fn get_payload(&self, call: &Call) -> Out {
        let answer_by =
            crate::deadline::answer_by(&call.method, Instant::now(), self.settings.payload_timeout);
        let Some(id) = first_string_param(call) else {
            return Out::Error(RpcError::new(
                rpc::INVALID_PARAMS,
                "Invalid params: expected [payloadId]",
            ));
        };
        let Some(entry) = self.payloads.get(&id) else {
            return Out::Error(RpcError::new(rpc::UNKNOWN_PAYLOAD, "Unknown payload"));
        };
        let order = self.nodes.failover_order();
        let all = self.nodes.voters();
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

        let (out, got) = self
            .fetch_from(call, &building, expected.as_ref(), answer_by)
            .await;
        if let Some(out) = out {
            return out;
        }
        let lost = got
            .iter()
            .all(|g| matches!(g, Got::Unreachable | Got::Error(rpc::UNKNOWN_PAYLOAD)));
        let newest = entry.fcu_seq == self.fcu_seq.load(std::sync::atomic::Ordering::Acquire);
        if lost && newest {
            if let Some(out) = self.replay(call, &entry, &order, answer_by).await {
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
    async fn fetch_from(
        &self,
        call: &Call,
        building: &[(Arc<Node<N>>, String)],
        expected: Option<&build_check::Expected>,
        answer_by: Instant,
    ) -> (Option<Out>, Vec<Got>) {
        let mut pending: FuturesUnordered<_> = building
            .iter()
            .enumerate()
            .map(|(rank, (node, their_id))| {
                let body = call.with_params(&format!("[{}]", json_string(their_id)));
                async move {
                    let left = answer_by.saturating_duration_since(Instant::now());
                    (rank, self.read_from(node, call, body, left).await)
                }
            })
            .collect();
        let mut got = vec![Got::Waiting; building.len()];
        let mut payloads: Vec<Option<Bytes>> = vec![None; building.len()];
        let mut first_error: Option<RpcError> = None;
        let selection = self.settings.payload_selection;
        let grace = self.settings.payload_grace;
        loop {
            let final_call = Instant::now() >= answer_by;
            match choose(Instant::now(), &got, selection, grace, final_call) {
                Choice::Take(rank) => {
                    if rank != 0 && got[0] != Got::Waiting && !matches!(got[0], Got::Good { .. }) {
                        self.metrics.failover();
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
                            let (g, payload, error) = judge(call, &building[rank].0, out, expected);
                            first_error = first_error.or(error);
                            got[rank] = g;
                            payloads[rank] = payload;
                        }
                        () = tokio::time::sleep_until(at.min(answer_by)) => {}
                    }
                }
            }
        }
    }

    /// Replays the forkchoiceUpdated that started the build to nodes in order (a node that lost
    /// its build, by restarting, starts it again), through its lane, then fetches the payload
    /// from the first that builds. Only called while that forkchoiceUpdated is the newest sent.
    async fn replay(
        &self,
        call: &Call,
        entry: &Entry,
        order: &[Arc<Node<N>>],
        answer_by: Instant,
    ) -> Option<Out> {
        let request_id = request_id(&entry.request);
        let context = Arc::new(VotedCall {
            kind: Kind::ForkchoiceUpdated,
            id: Bytes::from(request_id.clone().into_bytes()),
            block_hash: None,
            seq: entry.fcu_seq,
            newest: self.voted_seq.clone(),
        });
        for node in order {
            if Instant::now() >= answer_by {
                return None;
            }
            tracing::warn!(
                node = node.label(),
                "no node could serve the build: replaying forkchoiceUpdated"
            );
            let rx = {
                let _order = self.enqueue.lock().unwrap_or_else(|p| p.into_inner());
                node.enqueue(entry.request.clone(), answer_by, context.clone())
            };
            let Ok(Ok(reply)) = tokio::time::timeout_at(answer_by, rx).await else {
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
            let left = answer_by.saturating_duration_since(Instant::now());
            if let Ok(out) = self.read_from(node, call, body, left).await {
                if let Ok(result) = result_bytes(call, out) {
                    return Some(Out::Result(result));
                }
            }
        }
        None
    }
}

/// What one builder's answer is worth: good (with its payload), an error (with the object to
/// pass on), a mismatch or nothing.
fn judge<N: Network>(
    call: &Call,
    node: &Node<N>,
    out: Result<Out, String>,
    expected: Option<&build_check::Expected>,
) -> (Got, Option<Bytes>, Option<RpcError>) {
    let Ok(out) = out else {
        return (Got::Unreachable, None, None);
    };
    match result_bytes(call, out) {
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
        Err(Some(e)) => (Got::Error(e.code), None, Some(e)),
        Err(None) => (Got::Unreachable, None, None),
    }
}

/// The `result` of a successful answer; `Err(Some(e))` for a JSON-RPC error.
fn result_bytes(call: &Call, out: Out) -> Result<Bytes, Option<RpcError>> {
    match out {
        Out::Result(result) => Ok(result),
        Out::Error(e) => Err(Some(e)),
        Out::Verbatim(body) | Out::VerbatimError(body, _) => {
            match rpc::parse_reply(&body, call.response_id()) {
                Ok((Reply::Result(raw), _)) => Ok(body.slice_ref(raw.get().as_bytes())),
                Ok((Reply::Error(e), _)) => Err(Some(e)),
                Err(_) => Err(None),
            }
        }
    }
}

/// Compares two hex QUANTITYs of any size; anything unparseable is the smallest.
fn compare_quantity(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| -> Option<String> {
        let d = s.strip_prefix("0x")?;
        if d.is_empty() || !d.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(d.trim_start_matches('0').to_ascii_lowercase())
    };
    match (digits(a), digits(b)) {
        (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(&y)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
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
    fn quantities_compare_by_value() {
        assert_eq!(compare_quantity("0x10", "0xf"), Ordering::Greater);
        assert_eq!(compare_quantity("0x0010", "0x10"), Ordering::Equal);
        assert_eq!(
            compare_quantity(
                "0x1000000000000000000000000000000000",
                "0xffffffffffffffffffffffffffffffff"
            ),
            Ordering::Greater
        );
        assert_eq!(compare_quantity("0xA", "0xa"), Ordering::Equal);
        assert_eq!(compare_quantity("0x1", "junk"), Ordering::Greater);
        assert_eq!(compare_quantity("", ""), Ordering::Equal);
    }

    #[test]
    fn request_ids_are_read_raw() {
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":"x","method":"m"}"#),
            "\"x\""
        );
    }
}
