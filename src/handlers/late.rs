//! The voted route's answers that arrive after the CL got its answer: read, compared with what
//! the CL was told, remembered (a late INVALID stands against its block), journalled.

use std::sync::Arc;

use eb_transport::Network;
use futures_util::stream::StreamExt;

use super::voted::Pending;
use crate::health::EngineEvent;
use crate::invalid_blocks::InvalidBlocks;
use crate::journal::{self, NodeAnswer, Record};
use crate::metrics::Metrics;
use crate::vote::{Kind, Seen, SeenFn, Status};

pub(super) struct Late<N: Network> {
    pub metrics: Arc<Metrics>,
    pub journal: Arc<crate::journal::Journal>,
    pub clock: eb_transport::SharedClock,
    /// The vote rule behind what the CL was told.
    pub reason: &'static str,
    pub invalid_blocks: Arc<InvalidBlocks>,
    pub seen: Option<SeenFn>,
    pub kind: Kind,
    pub method: Box<str>,
    pub block_hash: Option<String>,
    /// What the CL was told (`None`: an error).
    pub decided: Option<Status>,
    pub pending: Pending<N>,
    /// `#do-not-use` nodes: logged only.
    pub observed: Pending<N>,
}

pub(super) async fn collect<N: Network>(late: Late<N>) {
    let Late {
        metrics,
        journal,
        clock,
        reason,
        invalid_blocks,
        seen,
        kind,
        method,
        block_hash,
        decided,
        mut pending,
        mut observed,
    } = late;
    let observe = async {
        while let Some((_, node, reply)) = observed.next().await {
            if let Some(r) = reply {
                tracing::debug!(
                    node = node.label(),
                    method = &*method,
                    answer = %r.parsed,
                    latency_us = r.latency.as_micros() as u64,
                    "do-not-use node answered (not a vote)"
                );
            }
        }
    };
    let late_answers = async {
        while let Some((_, node, reply)) = pending.next().await {
            let Some(reply) = reply else { continue };
            let Some(status) = reply.parsed.status() else {
                continue;
            };
            if let Some(seen) = seen {
                seen(&Seen {
                    node: node.url(),
                    block: block_hash.as_deref(),
                    status,
                    late: true,
                });
            }
            let category = kind.category(status);
            let agrees = decided.map(|d| kind.category(d)) == Some(category);
            node.metrics().late_answer(agrees);
            if !agrees {
                tracing::warn!(
                    node = node.label(),
                    method = &*method,
                    block = block_hash.as_deref().unwrap_or("?"),
                    answer = %reply.parsed,
                    told = decided.map_or("an error", Status::as_str),
                    latency_ms = reply.latency.as_millis() as u64,
                    "late answer disagrees with what the consensus client was told"
                );
                let told = decided.map_or("error", Status::as_str);
                if let Some(why) = journal::reason(&reply.parsed, told, true) {
                    metrics.journal_disagreement(node.label(), why);
                }
                let client = node.client();
                journal.record(Record {
                    at: clock.unix_seconds(),
                    kind: "late",
                    method: method.to_string(),
                    block: block_hash.clone(),
                    decided: told.to_owned(),
                    reason: reason.to_owned(),
                    answers: vec![NodeAnswer::of(
                        node.label(),
                        node.url(),
                        client.as_deref(),
                        Some(&reply.parsed),
                        Some(reply.latency),
                        true,
                        false,
                    )],
                });
            }
            match (category, block_hash.as_deref()) {
                (Status::Invalid, Some(hash)) if invalid_blocks.insert(hash, node.id) => {
                    tracing::warn!(
                        node = node.label(),
                        block = hash,
                        "late INVALID remembered: this block is not answered VALID while it stands"
                    );
                }
                (Status::Valid, Some(hash)) => invalid_blocks.withdraw(hash, node.id),
                (Status::Syncing | Status::Accepted, _) if decided == Some(Status::Valid) => {
                    node.health.engine_event(
                        node.label(),
                        EngineEvent::FellBehind,
                        "late SYNCING or ACCEPTED where the vote was VALID",
                    );
                }
                _ => {}
            }
        }
    };
    tokio::join!(observe, late_answers);
}
