//! Fan-out and vote: newPayload and forkchoiceUpdated go to every live node through its
//! ordered lane, each under its own timeout; the answers are parsed just enough to vote
//! ([`crate::vote`]) and the CL gets the decision.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eb_transport::Network;
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::node::{CallResult, Node};
use crate::payload::Build;
use crate::proxy::{record_failure, record_success, Out, Proxy};
use crate::rpc::{self, Call, Reply, RpcError};
use crate::upstream::UpstreamError;
use crate::vote::{Answer, Kind, Outcome, Status};

const SYNCING_STATUS: &str =
    r#"{"status":"SYNCING","latestValidHash":null,"validationError":null}"#;
const SYNCING_FCU: &str = r#"{"payloadStatus":{"status":"SYNCING","latestValidHash":null,"validationError":null},"payloadId":null}"#;

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
    pub(crate) async fn voted(&self, call: &Call, kind: Kind) -> Out {
        let started = Instant::now();
        let targets: Vec<Arc<Node<N>>> = self.nodes.live();
        let receivers: Vec<_> = {
            let _order = self.enqueue.lock().unwrap_or_else(|p| p.into_inner());
            targets
                .iter()
                .map(|n| n.enqueue(call.bytes.clone(), started + n.timeout))
                .collect()
        };
        // `#do-not-use` nodes get the call but cannot change the vote: their answers are
        // collected in the background, never waited for.
        let mut waited = Vec::with_capacity(targets.len());
        for (node, rx) in targets.into_iter().zip(receivers) {
            if node.do_not_use() {
                tokio::spawn(observe(
                    self.metrics.clone(),
                    node,
                    rx,
                    started,
                    kind,
                    call.method.as_ref().into(),
                    Bytes::copy_from_slice(call.response_id()),
                ));
            } else {
                waited.push((node, rx));
            }
        }
        let replies = join_all(waited.into_iter().map(|(node, rx)| async move {
            let result = reply_within(&node, rx, started).await;
            (node, result, started.elapsed())
        }))
        .await;

        let voted: Vec<Voted<N>> = replies
            .into_iter()
            .map(|(node, result, latency)| {
                let answer = match result {
                    Ok(body) => {
                        record_success(&self.metrics, &node, latency);
                        parse_voted(kind, &body, call.response_id())
                    }
                    Err(e) => {
                        record_failure(&self.metrics, &node, &e);
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

    /// Votes on the answers of the vote-eligible nodes (`voted`, in node order).
    fn decide(&self, call: &Call, kind: Kind, voted: &[Voted<N>]) -> Out {
        let answers: Vec<Answer<'_>> = voted.iter().map(|v| v.answer.as_answer()).collect();
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
                    "{}={} in {}us",
                    v.node.url(),
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
            for v in dissenters(kind, voted) {
                self.metrics.disagreement(v.node.url());
            }
        }

        match decision.outcome {
            Outcome::Syncing => Out::Result(Bytes::from_static(match kind {
                Kind::NewPayload => SYNCING_STATUS.as_bytes(),
                Kind::ForkchoiceUpdated => SYNCING_FCU.as_bytes(),
            })),
            Outcome::Error { index } => match &voted[index].answer {
                Parsed::Error(e) => Out::Error(e.clone()),
                _ => Out::Error(RpcError::internal("vote pointed at a non-error")),
            },
            Outcome::Follow { status, index } => {
                let Parsed::Status { raw, .. } = &voted[index].answer else {
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
        let builds: Vec<Build> = voted
            .iter()
            .filter_map(|v| match &v.answer {
                Parsed::Status {
                    status: Status::Valid,
                    payload_id: Some(id),
                    ..
                } => Some(Build {
                    node_id: v.node.id,
                    payload_id: id.clone(),
                }),
                _ => None,
            })
            .collect();
        (!builds.is_empty()).then(|| self.payloads.insert(builds, call.bytes.clone()))
    }
}

/// A lane's reply, or a timeout at the node's deadline.
async fn reply_within<N: Network>(
    node: &Node<N>,
    rx: tokio::sync::oneshot::Receiver<CallResult>,
    started: Instant,
) -> CallResult {
    match tokio::time::timeout_at(started + node.timeout, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(UpstreamError::Gone),
        Err(_) => Err(UpstreamError::Timeout),
    }
}

/// Waits for a `#do-not-use` node's answer in the background: health, metrics and a log line.
async fn observe<N: Network>(
    metrics: Arc<crate::metrics::Metrics>,
    node: Arc<Node<N>>,
    rx: tokio::sync::oneshot::Receiver<CallResult>,
    started: Instant,
    kind: Kind,
    method: Box<str>,
    id: Bytes,
) {
    let result = reply_within(&node, rx, started).await;
    let latency = started.elapsed();
    let answer = match result {
        Ok(body) => {
            record_success(&metrics, &node, latency);
            parse_voted(kind, &body, &id)
        }
        Err(e) => {
            record_failure(&metrics, &node, &e);
            Parsed::Nothing(e.to_string())
        }
    };
    tracing::debug!(
        node = node.url(),
        method = &*method,
        answer = %answer.describe(),
        latency_us = latency.as_micros() as u64,
        "do-not-use node answered (not a vote)"
    );
}

/// The nodes whose answer differs from the most common one: a status in another category, or an
/// error while others gave statuses (errors only: a different error code).
fn dissenters<N: Network>(kind: Kind, voted: &[Voted<N>]) -> Vec<&Voted<N>> {
    let statuses: Vec<Status> = voted
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
    let first_error = voted.iter().find_map(|v| match &v.answer {
        Parsed::Error(e) => Some(e.code),
        _ => None,
    });
    voted
        .iter()
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
