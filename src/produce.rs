//! Block production: serving `engine_getPayload*` from the ELs that are building.
//!
//! The CL's payloadId maps to each building EL's own id ([`crate::payload`]). All building ELs
//! are asked at once under one deadline (`--get-payload-timeout`). With the default selection
//! the best-ranked EL that answers wins (the primary first); with `best-value` the highest
//! `blockValue` among the ELs whose forkchoiceUpdated answer was VALID. If no EL can serve the
//! build (all restarted, say), the forkchoiceUpdated that started it is replayed to a live EL and
//! the payload fetched from that one.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use crate::node::Node;
use crate::payload::Entry;
use crate::proxy::{Out, Proxy};
use crate::rpc::{self, Call, Reply, RpcError};

/// How the payload is chosen when several ELs built one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PayloadSelection {
    /// The best-ranked node (the primary first) that answers.
    #[default]
    Primary,
    /// The highest blockValue among the nodes that answered.
    BestValue,
}

#[derive(Deserialize)]
struct BlockValue<'a> {
    #[serde(rename = "blockValue", borrow)]
    block_value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PayloadIdView<'a> {
    #[serde(rename = "payloadId", borrow)]
    payload_id: Option<Cow<'a, str>>,
}

impl<N: Network> Proxy<N> {
    pub(crate) async fn get_payload(&self, call: &Call) -> Out {
        let deadline = Instant::now() + self.settings.payload_timeout;
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
        let building: Vec<(Arc<Node<N>>, String)> = order
            .iter()
            .filter_map(|n| {
                entry
                    .builds
                    .iter()
                    .find(|b| b.node_id == n.id)
                    .map(|b| (n.clone(), b.payload_id.clone()))
            })
            .collect();

        let mut first_error = None;
        if !building.is_empty() {
            match self.fetch_from(call, &building, deadline).await {
                Ok(out) => return out,
                Err(e) => first_error = e,
            }
        }
        match self.replay(call, &entry, &order, deadline).await {
            Some(out) => out,
            None => Out::Error(first_error.unwrap_or_else(|| {
                RpcError::internal("no execution client could return the payload")
            })),
        }
    }

    /// Asks every building node at once. `Err` carries the first JSON-RPC error seen, if any.
    async fn fetch_from(
        &self,
        call: &Call,
        building: &[(Arc<Node<N>>, String)],
        deadline: Instant,
    ) -> Result<Out, Option<RpcError>> {
        let mut pending: FuturesUnordered<_> = building
            .iter()
            .enumerate()
            .map(|(rank, (node, their_id))| {
                let body = call.with_params(&format!("[{}]", json_string(their_id)));
                async move {
                    let left = deadline.saturating_duration_since(Instant::now());
                    (rank, self.read_from(node, call, body, left).await)
                }
            })
            .collect();
        // Per rank: None = still waiting, Some(None) = failed, Some(Some(result)) = payload.
        let mut results: Vec<Option<Option<Bytes>>> = vec![None; building.len()];
        let mut first_error = None;
        while let Some((rank, out)) = pending.next().await {
            results[rank] = Some(match out {
                Ok(out) => match result_bytes(call, out) {
                    Ok(result) => Some(result),
                    Err(e) => {
                        first_error = first_error.or(e);
                        None
                    }
                },
                Err(_) => None,
            });
            if rank > 0 {
                self.metrics.failover();
            }
            if self.settings.payload_selection == PayloadSelection::Primary {
                // The best-ranked node that has not failed decides, as soon as it answers.
                match results.iter().find(|r| !matches!(r, Some(None))) {
                    Some(Some(Some(result))) => return Ok(Out::Result(result.clone())),
                    Some(_) => continue,
                    None => break,
                }
            }
        }
        let best = results
            .into_iter()
            .flatten()
            .flatten()
            .enumerate()
            .max_by(|(ra, a), (rb, b)| {
                compare_quantity(&block_value(a), &block_value(b)).then(rb.cmp(ra))
            })
            .map(|(_, r)| r);
        match best {
            Some(result) => Ok(Out::Result(result)),
            None => Err(first_error),
        }
    }

    /// Replays the forkchoiceUpdated that started the build to live nodes in order (a node that
    /// lost its build, by restarting, starts it again), then fetches the payload from the first
    /// that builds.
    async fn replay(
        &self,
        call: &Call,
        entry: &Entry,
        order: &[Arc<Node<N>>],
        deadline: Instant,
    ) -> Option<Out> {
        for node in order {
            if Instant::now() >= deadline {
                return None;
            }
            tracing::warn!(
                node = node.url(),
                "no node could serve the build: replaying forkchoiceUpdated"
            );
            let reply = match tokio::time::timeout_at(
                deadline,
                node.enqueue(entry.request.clone(), deadline),
            )
            .await
            {
                Ok(Ok(Ok(body))) => body,
                _ => continue,
            };
            let Ok((Reply::Result(raw), _)) =
                rpc::parse_reply(&reply, request_id(&entry.request).as_bytes())
            else {
                continue;
            };
            let Some(their_id) = serde_json::from_str::<PayloadIdView<'_>>(raw.get())
                .ok()
                .and_then(|v| v.payload_id.map(Cow::into_owned))
            else {
                continue;
            };
            let body = call.with_params(&format!("[{}]", json_string(&their_id)));
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ok(out) = self.read_from(node, call, body, left).await {
                if let Ok(result) = result_bytes(call, out) {
                    return Some(Out::Result(result));
                }
            }
        }
        None
    }
}

/// The `result` of a successful answer; `Err(Some(e))` for a JSON-RPC error.
fn result_bytes(call: &Call, out: Out) -> Result<Bytes, Option<RpcError>> {
    match out {
        Out::Result(result) => Ok(result),
        Out::Error(e) => Err(Some(e)),
        Out::Verbatim(body) => match rpc::parse_reply(&body, call.response_id()) {
            Ok((Reply::Result(raw), _)) => Ok(body.slice_ref(raw.get().as_bytes())),
            Ok((Reply::Error(e), _)) => Err(Some(e)),
            Err(_) => Err(None),
        },
    }
}

fn block_value(result: &[u8]) -> String {
    serde_json::from_slice::<BlockValue<'_>>(result)
        .ok()
        .and_then(|v| v.block_value.map(Cow::into_owned))
        .unwrap_or_default()
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
    fn block_values_are_read_from_results() {
        assert_eq!(
            block_value(br#"{"executionPayload":{},"blockValue":"0x2a"}"#),
            "0x2a"
        );
        assert_eq!(block_value(br#"{"blockHash":"0x1"}"#), "");
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":"x","method":"m"}"#),
            "\"x\""
        );
    }
}
