//! Keeping ELs warm: the proxy remembers the latest newPayload requests (`--keep-warm`, bounded
//! in count and bytes) and the latest forkchoiceUpdated. A node that comes back from down, or
//! is added at run time, is sent the newPayloads it has not answered since (VALID, INVALID or
//! ACCEPTED) in their order, then the latest forkchoiceUpdated without payload attributes,
//! through its own lane, so an EL restarted with its database is back at the head within
//! seconds instead of waiting for its peers. It votes as a catching-up node meanwhile (its
//! INVALID counts at once; its SYNCING is set aside) and rejoins when it calls the head VALID.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eb_transport::Network;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::deadline::Deadline;
use crate::node::{Node, VotedCall};
use crate::vote::{Kind, Status};

/// One voted call as the CL sent it.
#[derive(Clone, Debug)]
pub struct Remembered {
    pub call: Arc<VotedCall>,
    pub body: Bytes,
}

#[derive(Default)]
struct Inner {
    payloads: VecDeque<Remembered>,
    bytes: usize,
    fcu: Option<Remembered>,
}

/// The latest voted calls, for nodes that missed them.
pub struct Recent {
    inner: Mutex<Inner>,
    keep: usize,
    max_bytes: usize,
}

impl Recent {
    /// Keeps at most `keep` newPayloads and `max_bytes` of them (`keep` 0: nothing is kept).
    pub fn new(keep: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            keep,
            max_bytes,
        }
    }

    /// Remembers a voted call (the body is shared, not copied).
    pub fn remember(&self, call: &Arc<VotedCall>, body: &Bytes) {
        if self.keep == 0 {
            return;
        }
        let entry = Remembered {
            call: call.clone(),
            body: body.clone(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match call.kind {
            Kind::ForkchoiceUpdated => inner.fcu = Some(entry),
            Kind::NewPayload => {
                if body.len() > self.max_bytes {
                    return;
                }
                inner.bytes += body.len();
                inner.payloads.push_back(entry);
                while inner.payloads.len() > self.keep || inner.bytes > self.max_bytes {
                    match inner.payloads.pop_front() {
                        Some(old) => inner.bytes -= old.body.len(),
                        None => break,
                    }
                }
            }
        }
    }

    /// The newPayloads after sequence number `after` (oldest first) and the latest
    /// forkchoiceUpdated.
    pub fn since(&self, after: u64) -> (Vec<Remembered>, Option<Remembered>) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let payloads = inner
            .payloads
            .iter()
            .filter(|r| r.call.seq > after)
            .cloned()
            .collect();
        (payloads, inner.fcu.clone())
    }
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: Vec<&'a RawValue>,
}

/// The same forkchoiceUpdated without payload attributes: params[1] becomes `null` (later
/// params pass unchanged). `None` when the body is not a request with params.
pub fn without_attributes(fcu: &[u8]) -> Option<Bytes> {
    let r: Request<'_> = serde_json::from_slice(fcu).ok()?;
    let state = r.params.first()?;
    let mut params = format!("[{}", state.get());
    if r.params.len() > 1 {
        params.push_str(",null");
    }
    for p in r.params.iter().skip(2) {
        params.push(',');
        params.push_str(p.get());
    }
    params.push(']');
    let id = r.id.map_or("null", |i| i.get());
    let method = serde_json::to_string(r.method).ok()?;
    Some(Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":{method},"params":{params}}}"#
    )))
}

/// What one warm-up did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub replayed: usize,
    /// Of the replayed newPayloads, how many the node answered VALID.
    pub valid: usize,
    /// The forkchoiceUpdated's answer, if one was sent and answered.
    pub head: Option<Status>,
}

/// Sends `node` what it missed (see the module docs); one warm-up per node at a time.
pub async fn catch_up<N: Network>(node: Arc<Node<N>>, recent: Arc<Recent>, why: &'static str) {
    one_at_a_time(&node.warming, async {
        let (payloads, fcu) = recent.since(node.health.known_new_payload());
        if payloads.is_empty() && fcu.is_none() {
            return;
        }
        let mut out = Outcome::default();
        for r in &payloads {
            let deadline = Deadline::at(Instant::now() + node.timeout);
            let reply = node.enqueue(r.body.clone(), deadline, r.call.clone()).await;
            out.replayed += 1;
            if let Ok(reply) = reply {
                out.valid += usize::from(reply.parsed.status() == Some(Status::Valid));
            }
        }
        if let Some(f) = fcu {
            if let Some(body) = without_attributes(&f.body) {
                let deadline = Deadline::at(Instant::now() + node.timeout);
                if let Ok(reply) = node.enqueue(body, deadline, f.call.clone()).await {
                    out.head = reply.parsed.status();
                }
            }
        }
        if out.head == Some(Status::Valid) {
            tracing::info!(
                node = node.label(),
                why,
                replayed = out.replayed,
                valid = out.valid,
                "node is warm again: it got the newPayloads it missed and calls the head VALID"
            );
        } else {
            tracing::warn!(
                node = node.label(),
                why,
                replayed = out.replayed,
                valid = out.valid,
                head = out.head.map_or("no answer", Status::as_str),
                "node got the newPayloads it missed but is not at the head yet (it catches up from its peers)"
            );
        }
    })
    .await;
}

/// Runs `f` unless a warm-up of this node is already running (the flag is cleared however `f`
/// ends).
async fn one_at_a_time(flag: &AtomicBool, f: impl std::future::Future<Output = ()>) {
    struct Clear<'a>(&'a AtomicBool);
    impl Drop for Clear<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    if flag.swap(true, Ordering::AcqRel) {
        return;
    }
    let _clear = Clear(flag);
    f.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn call(kind: Kind, seq: u64) -> Arc<VotedCall> {
        Arc::new(VotedCall {
            kind,
            id: Bytes::from_static(b"1"),
            block_hash: None,
            seq,
            newest: Arc::new(AtomicU64::new(seq)),
        })
    }

    #[test]
    fn keeps_the_newest_within_count_and_bytes() {
        let r = Recent::new(3, 250);
        for seq in 1..=5 {
            r.remember(&call(Kind::NewPayload, seq), &Bytes::from(vec![b'x'; 100]));
        }
        // Three fit the count, but only two fit 250 bytes.
        let (p, fcu) = r.since(0);
        assert_eq!(p.iter().map(|x| x.call.seq).collect::<Vec<_>>(), [4, 5]);
        assert!(fcu.is_none());
        assert_eq!(r.since(4).0.len(), 1);
        r.remember(
            &call(Kind::ForkchoiceUpdated, 6),
            &Bytes::from_static(b"{}"),
        );
        assert_eq!(r.since(9).1.map(|f| f.call.seq), Some(6));
        // Too large to keep at all.
        r.remember(&call(Kind::NewPayload, 7), &Bytes::from(vec![b'x'; 300]));
        assert_eq!(r.since(0).0.len(), 2);
        // Off.
        let off = Recent::new(0, 1 << 20);
        off.remember(&call(Kind::NewPayload, 1), &Bytes::from_static(b"{}"));
        assert!(off.since(0).0.is_empty());
    }

    #[test]
    fn attributes_are_dropped_and_the_rest_kept() {
        let with = br#"{"jsonrpc":"2.0","id":7,"method":"engine_forkchoiceUpdatedV3","params":[{"headBlockHash":"0x01"},{"timestamp":"0x5"}]}"#;
        let out = without_attributes(with).expect("a request");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["id"], 7);
        assert_eq!(v["method"], "engine_forkchoiceUpdatedV3");
        assert_eq!(
            v["params"],
            serde_json::json!([{"headBlockHash":"0x01"}, null])
        );
        let three = br#"{"jsonrpc":"2.0","id":"a","method":"engine_forkchoiceUpdatedV4","params":[{"h":1},{"t":2},["x"]]}"#;
        let v: serde_json::Value =
            serde_json::from_slice(&without_attributes(three).expect("request")).expect("json");
        assert_eq!(v["params"], serde_json::json!([{"h":1}, null, ["x"]]));
        let one =
            br#"{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV1","params":[{"h":1}]}"#;
        let v: serde_json::Value =
            serde_json::from_slice(&without_attributes(one).expect("request")).expect("json");
        assert_eq!(v["params"], serde_json::json!([{"h":1}]));
        assert!(without_attributes(b"{}").is_none());
    }
}
