//! Which path each method takes, and its metric label. The Engine API's methods, with their
//! [`Route`]s, are in [`crate::methods`]'s table.

pub use crate::methods::Route;

/// The route of `method`: the method table's ([`crate::methods`]) for Engine API methods;
/// other `engine_` methods and the `eth_`, `net_`, `web3_` namespaces go to the primary.
pub fn route(method: &str) -> Route {
    if method.starts_with("engine_") {
        crate::methods::lookup(method).map_or(Route::Primary, |m| m.route)
    } else if ["eth_", "net_", "web3_"]
        .iter()
        .any(|p| method.starts_with(p))
    {
        Route::Primary
    } else {
        Route::Refused
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
    fn every_listed_method_takes_its_tables_route() {
        for e in crate::methods::TABLE {
            assert_eq!(route(e.name), e.route, "{}", e.name);
        }
        assert_eq!(route("engine_newPayloadV7"), Route::NewPayload);
    }

    #[test]
    fn every_spec_method_has_a_route() {
        for v in 1..=6 {
            assert_eq!(route(&format!("engine_newPayloadV{v}")), Route::NewPayload);
            assert_eq!(route(&format!("engine_getPayloadV{v}")), Route::GetPayload);
        }
        for v in 1..=5 {
            assert_eq!(
                route(&format!("engine_forkchoiceUpdatedV{v}")),
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
            assert_eq!(route(m), Route::Primary, "{m}");
        }
        assert_eq!(route("engine_exchangeCapabilities"), Route::Capabilities);
        assert_eq!(route("engine_getClientVersionV1"), Route::ClientVersion);
        assert_eq!(route("engine_getBlobsV1"), Route::BlobsPerIndex);
        assert_eq!(route("engine_getBlobsV3"), Route::BlobsPerIndex);
        assert_eq!(route("engine_getBlobsV4"), Route::BlobsPerIndex);
        assert_eq!(route("engine_hasBlobs"), Route::AnyHas);
        assert_eq!(route("engine_getPayloadBodiesByHashV1"), Route::Bodies);
        assert_eq!(route("engine_getPayloadBodiesByRangeV2"), Route::Bodies);
        assert_eq!(route("engine_getBlobsV2"), Route::BlobsAllOrNothing);
        for m in [
            "admin_addPeer",
            "debug_setHead",
            "miner_start",
            "personal_sign",
            "",
            "engine",
            "ethx",
        ] {
            assert_eq!(route(m), Route::Refused, "{m}");
        }
        assert_eq!(route("engine_newPayloadV"), Route::Primary);
        assert_eq!(route("engine_newPayloadVx"), Route::Primary);
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
