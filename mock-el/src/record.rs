//! The log of calls a mock received.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use eb_transport::jwt::Claims;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::behaviour::{Status, ENGINE_METHODS};
use crate::encoding::B256;

/// How the mock ended the HTTP exchange that carried a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A JSON-RPC response was sent (a result or a JSON-RPC error).
    Answered,
    /// HTTP 500.
    Http500,
    /// Headers and part of the body were sent, then the connection was closed.
    ClosedMidResponse,
    /// Never answered.
    Hung,
    /// The connection was closed without an answer (the flaky behaviour fired).
    Dropped,
    /// The client went away (closed the connection) while the mock was still waiting out a
    /// latency: no answer was computed.
    Abandoned,
}

/// One JSON-RPC call (one element of a batch counts as one call).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Call {
    pub method: Cow<'static, str>,
    /// Size of the raw `params` JSON.
    pub params_bytes: usize,
    /// The HTTP request that carried the call, numbered from 0 in the order the requests
    /// arrived (the calls of one batch share it). The log itself is in the order the calls
    /// were answered, which a delay can change.
    pub arrival: u64,
    /// The raw `params` JSON, when the mock was built with
    /// [`crate::MockElBuilder::record_params`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
    /// When the request arrived, since the mock started (tokio time). JSON: `at_us`.
    #[serde(rename = "at_us", serialize_with = "micros")]
    pub at: Duration,
    /// The claims of the request's JWT.
    #[serde(serialize_with = "claims")]
    pub claims: Claims,
    /// The PayloadStatus answered (newPayload and forkchoiceUpdated only).
    pub status: Option<Status>,
    /// The JSON-RPC error code answered, if any.
    pub error_code: Option<i64>,
    /// newPayload: the payload's block hash; forkchoiceUpdated: the head block hash.
    pub block_hash: Option<B256>,
    /// The payloadId issued by a forkchoiceUpdated.
    pub payload_id: Option<String>,
    pub outcome: Outcome,
}

fn micros<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn claims<S: Serializer>(c: &Claims, s: S) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("Claims", 3)?;
    st.serialize_field("iat", &c.iat)?;
    st.serialize_field("id", &c.id)?;
    st.serialize_field("clv", &c.clv)?;
    st.end()
}

/// Maps a method name to a `'static` string when it is one the mock knows, so recording a
/// call does not allocate for the common methods.
pub(crate) fn intern(method: &str) -> Cow<'static, str> {
    const OTHERS: &[&str] = &[
        "engine_exchangeCapabilities",
        "eth_syncing",
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
    ];
    ENGINE_METHODS
        .iter()
        .chain(OTHERS)
        .find(|m| **m == method)
        .map_or_else(|| Cow::Owned(method.to_string()), |m| Cow::Borrowed(*m))
}

/// A bounded log: the newest `capacity` calls, plus a count of all of them.
#[derive(Debug)]
pub(crate) struct Recorder {
    calls: VecDeque<Call>,
    capacity: usize,
    total: u64,
}

impl Recorder {
    pub fn new(capacity: usize) -> Self {
        Self {
            calls: VecDeque::new(),
            capacity,
            total: 0,
        }
    }

    pub fn push(&mut self, call: Call) {
        self.total += 1;
        if self.capacity == 0 {
            return;
        }
        if self.calls.len() == self.capacity {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    pub fn snapshot(&self) -> Vec<Call> {
        self.calls.iter().cloned().collect()
    }

    pub fn clear(&mut self) {
        self.calls.clear();
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str) -> Call {
        Call {
            method: intern(method),
            params_bytes: 0,
            arrival: 0,
            params: None,
            at: Duration::ZERO,
            claims: Claims::default(),
            status: None,
            error_code: None,
            block_hash: None,
            payload_id: None,
            outcome: Outcome::Answered,
        }
    }

    #[test]
    fn bounded_and_interned() {
        let mut r = Recorder::new(2);
        for m in ["eth_chainId", "engine_newPayloadV3", "custom_thing"] {
            r.push(call(m));
        }
        assert_eq!(r.total(), 3);
        let calls = r.snapshot();
        assert_eq!(calls.len(), 2);
        assert!(matches!(
            calls[0].method,
            Cow::Borrowed("engine_newPayloadV3")
        ));
        assert!(matches!(&calls[1].method, Cow::Owned(s) if s == "custom_thing"));
        r.clear();
        assert!(r.snapshot().is_empty());
        assert_eq!(r.total(), 3);
    }
}
