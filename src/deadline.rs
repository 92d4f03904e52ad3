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

/// The latest time to answer a call to `method` received at `received`, given the longest wait
/// the proxy's own settings allow (`own`).
pub fn answer_by(method: &str, received: Instant, own: Duration) -> Instant {
    let own = received + own;
    match spec_timeout(method) {
        Some(t) => own.min(received + t - margin(t)),
        None => own,
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
            answer_by("engine_newPayloadV4", t0, long) - t0,
            Duration::from_millis(7500)
        );
        assert_eq!(
            answer_by("engine_newPayloadV5", t0, long) - t0,
            Duration::from_millis(5500)
        );
        assert_eq!(
            answer_by("engine_getBlobsV1", t0, long) - t0,
            Duration::from_millis(875)
        );
        assert_eq!(
            answer_by("engine_newPayloadV4", t0, Duration::from_secs(2)) - t0,
            Duration::from_secs(2),
            "a shorter own limit wins"
        );
        assert_eq!(answer_by("eth_call", t0, long) - t0, long);
    }
}
