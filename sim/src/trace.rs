//! The event log of one run: every fault applied and every consensus-client exchange, in
//! simulated-time order, and a hash over it.
//!
//! The hash is what "the same seed gives the same run" is checked against: it covers the time
//! (to the microsecond) and content of every event, so any change in scheduling, timing or
//! answers changes it.

use std::fmt;
use std::time::Duration;

use executionbackup::vote::Status;
use sha2::{Digest, Sha256};

/// What the proxy counted for one voted call, read from the vote tap ([`crate::tap`]): the
/// answers of the vote-eligible nodes it asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    /// PayloadStatus answers, in node order.
    pub statuses: Vec<Status>,
    /// JSON-RPC error answers.
    pub errors: usize,
    /// Timeouts, refused connections, unusable answers.
    pub no_answer: usize,
    /// SYNCING/ACCEPTED of catching-up nodes, set aside by the vote.
    pub set_aside: usize,
    /// The block was remembered INVALID when the vote was taken.
    pub known_invalid: bool,
    /// How many statuses the proxy had received (its `seen` hook) when the vote was taken.
    pub seen_before: usize,
}

impl Counted {
    pub fn count(&self, wanted: impl Fn(Status) -> bool) -> usize {
        self.statuses.iter().filter(|s| wanted(**s)).count()
    }
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
        write!(
            f,
            "[{}] errors={} none={}",
            names.join(","),
            self.errors,
            self.no_answer
        )
    }
}

/// How a consensus-client request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A voted call's PayloadStatus (`payload_id` for forkchoiceUpdated only).
    Status {
        status: String,
        payload_id: Option<String>,
    },
    /// Any other successful answer, summarized (a block number, a hash, "ok").
    Result(String),
    /// A JSON-RPC error.
    RpcError { code: i64, message: String },
    /// No JSON-RPC answer: connection failure, HTTP error, client timeout, unreadable body.
    Failed(String),
}

impl Reply {
    pub fn is_success(&self) -> bool {
        matches!(self, Reply::Status { .. } | Reply::Result(_))
    }

    /// The PayloadStatus of a voted answer.
    pub fn status(&self) -> Option<&str> {
        match self {
            Reply::Status { status, .. } => Some(status),
            _ => None,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Status { status, payload_id } => {
                write!(f, "{status}")?;
                if let Some(id) = payload_id {
                    write!(f, " payloadId={id}")?;
                }
                Ok(())
            }
            Reply::Result(r) => write!(f, "ok {r}"),
            Reply::RpcError { code, message } => write!(f, "rpc error {code} {message:?}"),
            Reply::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// One request of the simulated consensus client and its answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Sequence number (also the JSON-RPC id).
    pub id: u64,
    pub slot: u32,
    /// The JSON-RPC method, or `admin_add_nodes` / `admin_remove_nodes` for the REST API.
    pub method: String,
    /// What the request was about (a block hash, a payload id, a node), for the log.
    pub subject: String,
    /// Simulated time the request was sent and answered.
    pub sent: Duration,
    pub done: Duration,
    pub reply: Reply,
    /// For newPayload and forkchoiceUpdated: the answers the proxy voted on.
    pub counted: Option<Counted>,
}

impl Exchange {
    pub fn took(&self) -> Duration {
        self.done.saturating_sub(self.sent)
    }

    pub fn is_voted(&self) -> bool {
        self.method.starts_with("engine_newPayload")
            || self.method.starts_with("engine_forkchoiceUpdated")
    }

    /// How many PayloadStatus answers the proxy voted on (0 when not a voted call).
    pub fn votes(&self) -> usize {
        self.counted.as_ref().map_or(0, |c| c.statuses.len())
    }

    /// The PayloadStatus the CL was given, or `""`.
    pub fn status(&self) -> &str {
        self.reply.status().unwrap_or_default()
    }

    pub fn is_read(&self) -> bool {
        self.method.starts_with("eth_")
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "slot {} #{} {} {} -> {} in {}ms",
            self.slot,
            self.id,
            self.method,
            self.subject,
            self.reply,
            self.took().as_millis()
        )?;
        if let Some(c) = &self.counted {
            write!(f, " counted {c}")?;
        }
        Ok(())
    }
}

/// The event log.
#[derive(Default, Debug)]
pub struct Trace {
    lines: Vec<String>,
    exchanges: Vec<Exchange>,
}

impl Trace {
    /// Records a fault or other world event.
    pub fn event(&mut self, at: Duration, what: impl fmt::Display) {
        self.lines.push(format!("{} {what}", stamp(at)));
    }

    /// Records an answered exchange.
    pub fn exchange(&mut self, exchange: Exchange) {
        self.lines
            .push(format!("{} {exchange}", stamp(exchange.done)));
        self.exchanges.push(exchange);
    }

    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// SHA-256 over every line, as 16 hex digits (64 bits are plenty to tell runs apart).
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for line in &self.lines {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
        hex::encode(&h.finalize()[..8])
    }
}

/// `123.456789s`: simulated time to the microsecond.
pub fn stamp(at: Duration) -> String {
    format!("{}.{:06}s", at.as_secs(), at.subsec_micros())
}
