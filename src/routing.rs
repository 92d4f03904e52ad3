//! Which path each method takes. One table for every Engine API method.

/// How a method is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `engine_newPayloadV*`: every live node, in order; the answers are voted on.
    NewPayload,
    /// `engine_forkchoiceUpdatedV*`: every live node, in order; voted; payload ids mapped.
    ForkchoiceUpdated,
    /// `engine_getPayloadV*`: the nodes building under the CL's payloadId.
    GetPayload,
    /// `engine_getClientVersionV1`: every live node, answers concatenated.
    ClientVersion,
    /// `engine_exchangeCapabilities`: every live node, answers intersected.
    Capabilities,
    /// `engine_getBlobsV1`/`V3`: every live node, merged per requested hash.
    BlobsPerIndex,
    /// `engine_getBlobsV2`: every live node, the first complete answer (all or nothing).
    BlobsAllOrNothing,
    /// Reads and everything else in the served namespaces: the primary, failing over.
    Primary,
    /// Not served (outside `engine_`, `eth_`, `net_`, `web3_`): -32601 without asking any EL.
    Refused,
}

impl Route {
    pub fn of(method: &str) -> Self {
        if let Some(rest) = method.strip_prefix("engine_") {
            if versioned(rest, "newPayload") {
                Self::NewPayload
            } else if versioned(rest, "forkchoiceUpdated") {
                Self::ForkchoiceUpdated
            } else if versioned(rest, "getPayload") {
                Self::GetPayload
            } else if rest == "getClientVersionV1" {
                Self::ClientVersion
            } else if rest == "exchangeCapabilities" {
                Self::Capabilities
            } else if rest == "getBlobsV1" || rest == "getBlobsV3" {
                Self::BlobsPerIndex
            } else if rest == "getBlobsV2" {
                Self::BlobsAllOrNothing
            } else {
                Self::Primary
            }
        } else if ["eth_", "net_", "web3_"]
            .iter()
            .any(|p| method.starts_with(p))
        {
            Self::Primary
        } else {
            Self::Refused
        }
    }

    /// Calls that change an EL's state, so are sent to every node through its ordered lane.
    pub fn is_voted(self) -> bool {
        matches!(self, Self::NewPayload | Self::ForkchoiceUpdated)
    }
}

/// `name` followed by `V` and a version number (`newPayloadV3`, not `newPayloadBodies`).
fn versioned(rest: &str, name: &str) -> bool {
    rest.strip_prefix(name)
        .and_then(|v| v.strip_prefix('V'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A bounded label for metrics: known methods by name, anything else as `other`.
pub fn metric_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "engine_newPayloadV1",
        "engine_newPayloadV2",
        "engine_newPayloadV3",
        "engine_newPayloadV4",
        "engine_newPayloadV5",
        "engine_newPayloadV6",
        "engine_forkchoiceUpdatedV1",
        "engine_forkchoiceUpdatedV2",
        "engine_forkchoiceUpdatedV3",
        "engine_forkchoiceUpdatedV4",
        "engine_forkchoiceUpdatedV5",
        "engine_getPayloadV1",
        "engine_getPayloadV2",
        "engine_getPayloadV3",
        "engine_getPayloadV4",
        "engine_getPayloadV5",
        "engine_getPayloadV6",
        "engine_getPayloadBodiesByHashV1",
        "engine_getPayloadBodiesByRangeV1",
        "engine_getPayloadBodiesByHashV2",
        "engine_getPayloadBodiesByRangeV2",
        "engine_getBlobsV1",
        "engine_getBlobsV2",
        "engine_getBlobsV3",
        "engine_getBlobsV4",
        "engine_exchangeCapabilities",
        "engine_getClientVersionV1",
        "engine_exchangeTransitionConfigurationV1",
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_getCode",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getLogs",
        "eth_sendRawTransaction",
        "eth_syncing",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_method_has_a_route() {
        for v in 1..=6 {
            assert_eq!(
                Route::of(&format!("engine_newPayloadV{v}")),
                Route::NewPayload
            );
            assert_eq!(
                Route::of(&format!("engine_getPayloadV{v}")),
                Route::GetPayload
            );
        }
        for v in 1..=5 {
            assert_eq!(
                Route::of(&format!("engine_forkchoiceUpdatedV{v}")),
                Route::ForkchoiceUpdated
            );
        }
        for m in [
            "engine_getPayloadBodiesByHashV1",
            "engine_getPayloadBodiesByRangeV2",
            "engine_getBlobsV4",
            "engine_getInclusionListV1",
            "engine_exchangeTransitionConfigurationV1",
            "engine_hasBlobs",
            "eth_syncing",
            "eth_getBlockByNumber",
            "eth_sendRawTransaction",
            "net_version",
            "web3_clientVersion",
        ] {
            assert_eq!(Route::of(m), Route::Primary, "{m}");
        }
        assert_eq!(
            Route::of("engine_exchangeCapabilities"),
            Route::Capabilities
        );
        assert_eq!(Route::of("engine_getClientVersionV1"), Route::ClientVersion);
        assert_eq!(Route::of("engine_getBlobsV1"), Route::BlobsPerIndex);
        assert_eq!(Route::of("engine_getBlobsV3"), Route::BlobsPerIndex);
        assert_eq!(Route::of("engine_getBlobsV2"), Route::BlobsAllOrNothing);
        for m in [
            "admin_addPeer",
            "debug_setHead",
            "miner_start",
            "personal_sign",
            "",
            "engine",
            "ethx",
        ] {
            assert_eq!(Route::of(m), Route::Refused, "{m}");
        }
        assert_eq!(Route::of("engine_newPayloadV"), Route::Primary);
        assert_eq!(Route::of("engine_newPayloadVx"), Route::Primary);
        assert!(Route::NewPayload.is_voted() && Route::ForkchoiceUpdated.is_voted());
        assert!(!Route::GetPayload.is_voted());
        assert_eq!(metric_label("engine_newPayloadV3"), "engine_newPayloadV3");
        assert_eq!(metric_label("x".repeat(1000).as_str()), "other");
    }
}
