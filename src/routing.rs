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

/// The methods outside the Engine API counted under their own name.
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

/// A method's bounded metric label, as its place in one list: the method table's names, then
/// [`KNOWN`], then `other`, then `invalid` (a request that is not a call). Metrics index fixed
/// tables of counters with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodLabel(usize);

impl MethodLabel {
    /// Any method outside the known list.
    pub const OTHER: Self = Self(crate::methods::TABLE.len() + KNOWN.len());
    /// Not a call at all (unparseable, not JSON-RPC 2.0).
    pub const INVALID: Self = Self(crate::methods::TABLE.len() + KNOWN.len() + 1);
    /// How many labels there are.
    pub const COUNT: usize = crate::methods::TABLE.len() + KNOWN.len() + 2;

    /// The label of `method`.
    pub fn of(method: &str) -> Self {
        if method.starts_with("engine_") {
            return crate::methods::TABLE
                .iter()
                .position(|m| m.name == method)
                .map_or(Self::OTHER, Self);
        }
        KNOWN
            .iter()
            .position(|m| *m == method)
            .map_or(Self::OTHER, |i| Self(crate::methods::TABLE.len() + i))
    }

    /// The label whose text is `label`.
    pub fn from_label(label: &str) -> Option<Self> {
        (0..Self::COUNT).map(Self).find(|l| l.as_str() == label)
    }

    /// Its place in the list, below [`MethodLabel::COUNT`].
    pub fn index(self) -> usize {
        self.0
    }

    pub fn as_str(self) -> &'static str {
        let table = crate::methods::TABLE;
        if let Some(m) = table.get(self.0) {
            return m.name;
        }
        match KNOWN.get(self.0 - table.len()) {
            Some(name) => name,
            None if self == Self::INVALID => "invalid",
            None => "other",
        }
    }
}

/// A bounded label for metrics: known methods by name, anything else as `other`.
pub fn metric_label(method: &str) -> &'static str {
    MethodLabel::of(method).as_str()
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
        assert_eq!(MethodLabel::INVALID.as_str(), "invalid");
        for i in 0..MethodLabel::COUNT {
            let label = MethodLabel(i);
            assert_eq!(MethodLabel::from_label(label.as_str()), Some(label));
            if label != MethodLabel::INVALID {
                assert_eq!(MethodLabel::of(label.as_str()), label, "{}", label.as_str());
            }
        }
    }
}
