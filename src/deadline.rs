//! The CL's own deadline for each Engine API method (the spec's timeouts), and the time by
//! which the proxy answers so the CL never gives up first, whatever the node timeouts are.

use std::time::Duration;

use tokio::time::Instant;

/// The spec's timeout for `method`, when it has one (`eth_*` and unknown methods have none):
/// the method table's ([`crate::methods`]).
pub fn spec_timeout(method: &str) -> Option<Duration> {
    if !method.starts_with("engine_") {
        return None;
    }
    crate::methods::lookup(method).map(crate::methods::Method::timeout)
}

/// How long before the CL's deadline the proxy answers: an eighth of it, at most 500 ms, for
/// the way back and the CL's own work.
pub fn margin(timeout: Duration) -> Duration {
    (timeout / 8).min(Duration::from_millis(500))
}

/// When a call must be answered: the one deadline type every route, lane and wait plan uses.
///
/// Built once per CL call from the method's spec timeout and the proxy's own limit, then handed
/// down unchanged; a node's own timeout only ever shortens its share of it ([`Self::cap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// The latest time to answer a call to `method` received at `received`, given the longest
    /// wait the proxy's own settings allow (`own`).
    pub fn for_call(method: &str, received: Instant, own: Duration) -> Self {
        let own = received + own;
        Self(match spec_timeout(method) {
            Some(t) => own.min(received + t - margin(t)),
            None => own,
        })
    }

    /// A deadline at `at` (lanes and tests that already know the instant).
    pub fn at(at: Instant) -> Self {
        Self(at)
    }

    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left from `now` (zero once passed).
    pub fn left(self, now: Instant) -> Duration {
        self.0.saturating_duration_since(now)
    }

    pub fn passed(self, now: Instant) -> bool {
        now >= self.0
    }

    /// How long one node may take from `now`: its own timeout, never past the deadline.
    pub fn cap(self, node_timeout: Duration, now: Instant) -> Duration {
        node_timeout.min(self.left(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        let s = |m: &str| spec_timeout(m).map(|d| d.as_millis() as u64);
        assert_eq!(s("engine_newPayloadV1"), Some(8000));
        assert_eq!(s("engine_newPayloadV4"), Some(8000));
        assert_eq!(s("engine_newPayloadV5"), Some(6000));
        assert_eq!(s("engine_newPayloadV6"), Some(6000));
        assert_eq!(s("engine_forkchoiceUpdatedV3"), Some(8000));
        assert_eq!(s("engine_getPayloadV4"), Some(1000));
        assert_eq!(s("engine_getPayloadBodiesByHashV1"), Some(10_000));
        assert_eq!(s("engine_getPayloadBodiesByRangeV2"), Some(10_000));
        assert_eq!(s("engine_getBlobsV1"), Some(1000));
        assert_eq!(s("engine_getBlobsV4"), Some(1000));
        assert_eq!(s("engine_exchangeCapabilities"), Some(1000));
        assert_eq!(s("engine_getClientVersionV1"), Some(1000));
        assert_eq!(s("engine_getInclusionListV1"), Some(1000));
        assert_eq!(s("engine_hasBlobs"), Some(1000));
        assert_eq!(s("engine_forkchoiceUpdatedV5"), Some(8000));
        assert_eq!(s("eth_blockNumber"), None);
        assert_eq!(s("engine_newPayloadVx"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cl_is_answered_inside_its_own_deadline() {
        let t0 = Instant::now();
        let long = Duration::from_secs(30);
        assert_eq!(
            Deadline::for_call("engine_newPayloadV4", t0, long).instant() - t0,
            Duration::from_millis(7500)
        );
        assert_eq!(
            Deadline::for_call("engine_newPayloadV5", t0, long).instant() - t0,
            Duration::from_millis(5500)
        );
        assert_eq!(
            Deadline::for_call("engine_getBlobsV1", t0, long).instant() - t0,
            Duration::from_millis(875)
        );
        assert_eq!(
            Deadline::for_call("engine_newPayloadV4", t0, Duration::from_secs(2)).instant() - t0,
            Duration::from_secs(2),
            "a shorter own limit wins"
        );
        assert_eq!(
            Deadline::for_call("eth_call", t0, long).instant() - t0,
            long
        );
    }
}
