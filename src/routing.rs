//! Which path each method takes. The Engine API's methods are in [`crate::methods`]'s table.

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
    /// `engine_getPayloadBodies*`: the primary, with `null` entries (pruned history) asked of
    /// the next nodes.
    Bodies,
    /// `engine_hasBlobs` (Prysm): every live node, true for a hash when any has it.
    AnyHas,
    /// Reads and everything else in the served namespaces: the primary, failing over.
    Primary,
    /// Not served (outside `engine_`, `eth_`, `net_`, `web3_`): -32601 without asking any EL.
    Refused,
}

impl Route {
    /// The route of `method`: the method table's ([`crate::methods`]) for Engine API methods;
    /// other `engine_` methods and the `eth_`, `net_`, `web3_` namespaces go to the primary.
    pub fn of(method: &str) -> Self {
        if method.starts_with("engine_") {
            crate::methods::lookup(method).map_or(Self::Primary, |m| m.route)
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

/// A bounded label for metrics: known methods by name, anything else as `other`.
pub fn metric_label(method: &str) -> &'static str {
    if method.starts_with("engine_") {
        return crate::methods::TABLE
            .iter()
            .find(|m| m.name == method)
            .map_or("other", |m| m.name);
    }
    const KNOWN: &[&str] = &[
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
            "engine_getInclusionListV1",
            "engine_exchangeTransitionConfigurationV1",
            "engine_somethingNew",
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
        assert_eq!(Route::of("engine_getBlobsV4"), Route::BlobsPerIndex);
        assert_eq!(Route::of("engine_hasBlobs"), Route::AnyHas);
        assert_eq!(Route::of("engine_getPayloadBodiesByHashV1"), Route::Bodies);
        assert_eq!(Route::of("engine_getPayloadBodiesByRangeV2"), Route::Bodies);
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
        assert_eq!(
            metric_label("engine_getInclusionListV1"),
            "engine_getInclusionListV1"
        );
        assert_eq!(metric_label("eth_chainId"), "eth_chainId");
        assert_eq!(metric_label("engine_newPayloadV9"), "other");
        assert_eq!(metric_label("x".repeat(1000).as_str()), "other");
    }
}
