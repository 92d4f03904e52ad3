//! Fan-out and vote: newPayload and forkchoiceUpdated go to every node through its ordered lane
//! (also to nodes believed down: no EL misses a block while the proxy doubts it). Who is awaited
//! and how long is [`crate::wait`]'s pure plan; the answers, parsed once by each lane, go to the
//! pure vote ([`crate::vote::decide_ballots`]); answers that arrive after the CL got its answer
//! are still read ([`super::late`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::block_hash;
use crate::client_id::ClientId;
use crate::client_vote;
use crate::config::{HealthModel, VoteBy};
use crate::deadline::Deadline;
use crate::handlers::Out;
use crate::health::{EngineEvent, Sync};
use crate::journal::{self, NodeAnswer, Record};
use crate::node::{LaneReply, Node, VotedCall};
use crate::payload::Build;
use crate::proxy::Proxy;
use crate::reply::Parsed;
use crate::rpc::{Call, RpcError};
use crate::vote::{Ballot, Decision, Kind, Outcome, Rules, Seen, Status};
use crate::wait::{self, Check, Waiting};

use super::late;

const SYNCING_STATUS: &str =
    r#"{"status":"SYNCING","latestValidHash":null,"validationError":null}"#;
const SYNCING_FCU: &str = r#"{"payloadStatus":{"status":"SYNCING","latestValidHash":null,"validationError":null},"payloadId":null}"#;
/// PayloadStatusV2 (Bogota: newPayloadV6, forkchoiceUpdatedV5) carries `inclusionListSatisfied`,
/// `null` unless VALID.
const SYNCING_STATUS_V2: &str = r#"{"status":"SYNCING","latestValidHash":null,"validationError":null,"inclusionListSatisfied":null}"#;
const SYNCING_FCU_V2: &str = r#"{"payloadStatus":{"status":"SYNCING","latestValidHash":null,"validationError":null,"inclusionListSatisfied":null},"payloadId":null}"#;

/// One voter's answer, as the vote saw it.
struct Voted<N: Network> {
    node: Arc<Node<N>>,
    catching_up: bool,
    /// `None`: not in by the decision.
    reply: Option<LaneReply>,
}

impl<N: Network> Voted<N> {
    fn parsed(&self) -> Option<&Parsed> {
        self.reply.as_ref().map(|r| &r.parsed)
    }
}

pub(super) type Pending<N> = FuturesUnordered<
    std::pin::Pin<
        Box<dyn std::future::Future<Output = (usize, Arc<Node<N>>, Option<LaneReply>)> + Send>,
    >,
>;

pub async fn voted<N: Network>(core: &Proxy<N>, call: &Call, kind: Kind) -> Out {
    let received = Instant::now();
    let legacy = core.settings.health_model == HealthModel::Legacy;
    let mut targets: Vec<Arc<Node<N>>> = core.nodes.voters();
    if legacy {
        targets.retain(|n| !n.health.engine().down && n.health.reads_up());
    }
    let longest = targets
        .iter()
        .map(|n| n.timeout)
        .max()
        .unwrap_or(core.settings.default_timeout);
    let deadline = Deadline::for_call(&call.method, received, longest);
    let block_hash = block_hash::of(call);
    if kind == Kind::ForkchoiceUpdated && call.has_second_param() {
        if let Some(head) = block_hash.as_deref() {
            crate::build_ready::note(head, &targets);
        }
    }
    let seq = core.voted_seq.fetch_add(1, Ordering::AcqRel) + 1;
    let context = Arc::new(VotedCall {
        kind,
        id: Bytes::copy_from_slice(call.response_id()),
        block_hash: block_hash.clone(),
        seq,
        newest: core.voted_seq.clone(),
    });
    core.recent.remember(&context, &call.bytes);
    // Queue on every lane under one lock, so every lane sees one order.
    let queued: Vec<(Arc<Node<N>>, oneshot::Receiver<LaneReply>)> = {
        let _order = core.enqueue.lock().unwrap_or_else(|p| p.into_inner());
        if kind == Kind::ForkchoiceUpdated {
            core.fcu_seq.store(seq, Ordering::Release);
        }
        targets
            .into_iter()
            .map(|n| {
                let rx = n.enqueue(call.bytes.clone(), deadline, context.clone());
                (n, rx)
            })
            .collect()
    };

    // `#do-not-use` nodes get the call but never vote and are never waited for.
    let mut voters: Vec<Voted<N>> = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    let pending: Pending<N> = FuturesUnordered::new();
    let observed: Pending<N> = FuturesUnordered::new();
    for (node, rx) in queued {
        let engine = node.health.engine();
        let fut = {
            let node = node.clone();
            let i = voters.len();
            Box::pin(async move { (i, node, rx.await.ok()) })
        };
        if node.do_not_use() {
            observed.push(fut);
            continue;
        }
        pending.push(fut);
        if legacy {
            waiting.push(Waiting::new(crate::health::Voter::Healthy));
        } else {
            waiting.push(Waiting {
                grace_cap: node.timeout / 4,
                ..Waiting::new(node.voter_for(kind))
            });
        }
        voters.push(Voted {
            node,
            catching_up: !legacy && engine.sync == Sync::CatchingUp,
            reply: None,
        });
    }

    let mut pending = pending;
    let mut checks = FuturesUnordered::new();
    let policy = if legacy {
        wait::Policy {
            grace: std::time::Duration::ZERO,
            check_after: std::time::Duration::from_secs(3600),
        }
    } else {
        wait::Policy {
            grace: core.settings.lag_grace,
            check_after: core.settings.lag_grace,
        }
    };
    loop {
        let now = Instant::now();
        let plan = wait::plan(now, received, deadline, &waiting, &policy);
        for i in plan.check {
            waiting[i].check = Check::Running;
            let node = voters[i].node.clone();
            checks.push(async move { (i, node.check().await) });
        }
        if plan.decide {
            break;
        }
        tokio::select! {
            biased;
            Some((i, _, reply)) = pending.next() => {
                waiting[i].answered_at = Some(Instant::now());
                voters[i].reply = Some(reply.unwrap_or_else(gone));
            }
            Some((i, ok)) = checks.next(), if !checks.is_empty() => {
                if ok {
                    waiting[i].check = Check::Passed;
                } else {
                    waiting[i].check = Check::Failed;
                    let node = &voters[i].node;
                    node.health.engine_event(
                        node.label(),
                        EngineEvent::FailedCheck,
                        "silent on a voted call and failed the on-the-spot check",
                    );
                }
            }
            () = tokio::time::sleep_until(plan.wake) => {}
        }
    }

    for (v, w) in voters.iter().zip(&waiting) {
        let how = match (&v.reply, w.check) {
            (Some(r), _) if r.in_time => "answered",
            (Some(_), _) => "timeout",
            (None, Check::Failed) => "check_failed",
            (None, _) if w.voter != crate::health::Voter::Healthy => "grace",
            (None, _) => "cl_deadline",
        };
        v.node.metrics().wait_ended(how);
    }
    let decision = decide(core, call, kind, block_hash.as_deref(), &voters);
    let out = answer(core, call, kind, &decision, &voters);
    if legacy {
        // The old model dropped late answers; a node still outstanding was dead.
        for (v, w) in voters.iter().zip(&waiting) {
            if w.answered_at.is_none() {
                v.node
                    .health
                    .engine_event(v.node.label(), EngineEvent::Unreachable, "legacy");
            }
        }
        return out;
    }
    if !pending.is_empty() || !observed.is_empty() {
        let decided = match decision.outcome {
            Outcome::Follow { status, .. } => Some(status),
            Outcome::Syncing => Some(Status::Syncing),
            Outcome::Error { .. } => None,
        };
        tokio::spawn(late::collect(late::Late {
            metrics: core.metrics.clone(),
            journal: core.journal.clone(),
            clock: core.clock.clone(),
            reason: decision.reason.as_str(),
            invalid_blocks: core.invalid_blocks.clone(),
            seen: core.settings.seen,
            kind,
            method: call.method.as_ref().into(),
            block_hash,
            decided,
            pending,
            observed,
        }));
    }
    out
}

/// Votes on the voters' answers (in node order) and learns from them.
fn decide<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    kind: Kind,
    block_hash: Option<&str>,
    voters: &[Voted<N>],
) -> Decision {
    let ballots: Vec<Ballot<'_>> = voters
        .iter()
        .map(|v| Ballot {
            answer: v
                .parsed()
                .map_or(crate::vote::Answer::NoAnswer, Parsed::as_answer),
            catching_up: v.catching_up,
        })
        .collect();
    if let Some(seen) = core.settings.seen {
        for v in voters {
            if let Some(status) = v.parsed().and_then(Parsed::status) {
                seen(&Seen {
                    node: v.node.url(),
                    block: block_hash,
                    status,
                    late: false,
                });
            }
        }
    }
    // A node that now says VALID for a block it called INVALID before withdraws that INVALID
    // (before the vote); this call's INVALIDs are remembered after it.
    if let Some(hash) = block_hash {
        for v in voters {
            if v.parsed().and_then(Parsed::status) == Some(Status::Valid) {
                core.invalid_blocks.withdraw(hash, v.node.id);
            }
        }
    }
    let rules = Rules {
        majority: core.settings.fcu_majority,
        min_valid: core.settings.min_valid,
        known_invalid: core.settings.health_model == HealthModel::Current
            && block_hash.is_some_and(|h| core.invalid_blocks.contains(h)),
    };
    let decision = match core.settings.vote_by {
        VoteBy::Node => (core.settings.vote)(kind, &ballots, &rules),
        VoteBy::Client => {
            let clients: Vec<Option<Arc<ClientId>>> =
                voters.iter().map(|v| v.node.client()).collect();
            let codes: Vec<Option<&str>> = clients
                .iter()
                .map(|c| c.as_deref().map(|c| c.code.as_str()))
                .collect();
            client_vote::decide(core.settings.vote, kind, &ballots, &codes, &rules)
        }
    };
    let status_label = match decision.outcome {
        Outcome::Follow { status, .. } => status.as_str(),
        Outcome::Syncing => "SYNCING",
        Outcome::Error { .. } => "error",
    };
    core.metrics.vote(kind, status_label, decision.reason);
    if status_label == "VALID" {
        core.metrics.valid_at(core.clock.unix_seconds());
    }

    let answers = Answers(voters);
    tracing::debug!(
        method = &*call.method,
        decided = status_label,
        reason = decision.reason.as_str(),
        answers = %answers,
        "voted"
    );
    if decision.disagreement {
        tracing::warn!(
            method = &*call.method,
            decided = status_label,
            reason = decision.reason.as_str(),
            answers = %answers,
            "execution clients disagree"
        );
        journal_vote(core, call, block_hash, &decision, status_label, voters);
    }

    // Learn: who dissented (the vote says), who is behind, which INVALIDs to remember.
    let counted_valid = decision.tally.valid > 0;
    for (v, b) in voters.iter().zip(&ballots) {
        if decision.dissents(kind, &b.answer) {
            v.node.metrics().disagreement();
        }
    }
    for v in voters {
        let Some(status) = v.parsed().and_then(Parsed::status) else {
            continue;
        };
        let category = kind.category(status);
        match category {
            Status::Invalid => {
                if let Some(hash) = block_hash {
                    core.invalid_blocks.insert(hash, v.node.id);
                }
            }
            Status::Syncing | Status::Accepted if counted_valid => {
                v.node.health.engine_event(
                    v.node.label(),
                    EngineEvent::FellBehind,
                    "SYNCING or ACCEPTED where counted nodes said VALID",
                );
            }
            _ => {}
        }
    }
    decision
}

/// Records a vote whose answers differed in the journal, and counts each node that
/// differed from the decision by reason.
fn journal_vote<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    block_hash: Option<&str>,
    decision: &Decision,
    decided: &str,
    voters: &[Voted<N>],
) {
    let answers = voters
        .iter()
        .map(|v| {
            if let Some(why) = v.parsed().and_then(|p| journal::reason(p, decided, false)) {
                core.metrics.journal_disagreement(v.node.label(), why);
            }
            let client = v.node.client();
            NodeAnswer::of(
                v.node.label(),
                v.node.url(),
                client.as_deref(),
                v.parsed(),
                v.reply.as_ref().map(|r| r.latency),
                false,
                v.catching_up,
            )
        })
        .collect();
    core.journal.record(Record {
        at: core.clock.unix_seconds(),
        kind: "vote",
        method: call.method.to_string(),
        block: block_hash.map(str::to_owned),
        decided: decided.to_owned(),
        reason: decision.reason.as_str().to_owned(),
        answers,
    });
}

/// What the CL gets for `decision`.
fn answer<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    kind: Kind,
    decision: &Decision,
    voters: &[Voted<N>],
) -> Out {
    match decision.outcome {
        Outcome::Syncing => {
            let v2 = crate::methods::lookup(&call.method).is_some_and(|m| m.status_v2);
            Out::Result(Bytes::from_static(match (kind, v2) {
                (Kind::NewPayload, false) => SYNCING_STATUS.as_bytes(),
                (Kind::ForkchoiceUpdated, false) => SYNCING_FCU.as_bytes(),
                (Kind::NewPayload, true) => SYNCING_STATUS_V2.as_bytes(),
                (Kind::ForkchoiceUpdated, true) => SYNCING_FCU_V2.as_bytes(),
            }))
        }
        Outcome::Error { index } => match voters[index].parsed() {
            Some(Parsed::Error(e)) => Out::Error(e.clone()),
            _ => Out::Error(RpcError::internal("vote pointed at a non-error")),
        },
        Outcome::Follow { status, index } => {
            let Some(Parsed::Status { raw, inclusion, .. }) = voters[index].parsed() else {
                return Out::Error(RpcError::internal("vote pointed at a non-status"));
            };
            let raw = &inclusion_checked(status, raw, *inclusion, voters);
            match kind {
                Kind::NewPayload => Out::Result(raw.clone()),
                Kind::ForkchoiceUpdated => {
                    let payload_id = if status == Status::Valid {
                        register_builds(core, call, voters)
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
fn register_builds<N: Network>(
    core: &Proxy<N>,
    call: &Call,
    voters: &[Voted<N>],
) -> Option<String> {
    let builds: Vec<Build> = voters
        .iter()
        .filter_map(|v| match v.parsed() {
            Some(Parsed::Status {
                status: Status::Valid,
                payload_id: Some(id),
                ..
            }) => Some(Build {
                node_id: v.node.id,
                payload_id: id.clone(),
            }),
            _ => None,
        })
        .collect();
    let fcu_seq = core.fcu_seq.load(Ordering::Acquire);
    (!builds.is_empty()).then(|| core.payloads.insert(builds, call.bytes.clone(), fcu_seq))
}

/// The status to pass on with its `inclusionListSatisfied` as [`crate::inclusion::satisfied`]
/// decides: `raw` itself, unless a VALID voter's `false` has to replace the flag.
fn inclusion_checked<N: Network>(
    status: Status,
    raw: &Bytes,
    followed: Option<Option<bool>>,
    voters: &[Voted<N>],
) -> Bytes {
    let flags = voters.iter().filter_map(|v| match v.parsed() {
        Some(Parsed::Status {
            status: Status::Valid,
            inclusion,
            ..
        }) => Some(*inclusion),
        _ => None,
    });
    let told = crate::inclusion::satisfied(status == Status::Valid, followed, flags);
    if told == followed {
        return raw.clone();
    }
    tracing::warn!(
        "execution clients disagree on the inclusion list: one says it is not satisfied, so the consensus client is told so"
    );
    match told.and_then(|flag| crate::reply::with_inclusion(raw, flag)) {
        Some(rewritten) => rewritten,
        None => raw.clone(),
    }
}

/// Every voter's answer, for a log line (formatted only when the line is written).
struct Answers<'a, N: Network>(&'a [Voted<N>]);

impl<N: Network> std::fmt::Display for Answers<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match &v.reply {
                Some(r) => write!(
                    f,
                    "{}={}{} in {}us",
                    v.node.label(),
                    r.parsed,
                    if v.catching_up { " (catching up)" } else { "" },
                    r.latency.as_micros()
                )?,
                None => write!(f, "{}=not in by the decision", v.node.label())?,
            }
        }
        Ok(())
    }
}

fn gone() -> LaneReply {
    LaneReply {
        parsed: Parsed::Nothing("node removed".into()),
        in_time: false,
        latency: std::time::Duration::ZERO,
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
