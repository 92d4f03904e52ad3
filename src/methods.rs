//! Every Engine API method the proxy knows, in one table: the version, the fork that brought it,
//! how it is served ([`Route`]) and the spec's timeout (the CL's deadline, see
//! [`crate::deadline`]). A new fork is one edit here plus its shapes; the README's method list
//! is checked against [`markdown`] by a test.
//!
//! A version of a known family that is not listed yet (a future `engine_newPayloadV7`) is served
//! like the family's newest listed version: a state-changing call never silently becomes a read.

use std::time::Duration;

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
    /// Calls that change an EL's state, so are sent to every node through its ordered lane.
    pub fn is_voted(self) -> bool {
        matches!(self, Self::NewPayload | Self::ForkchoiceUpdated)
    }
}

/// The upgrade that brought a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fork {
    /// Not tied to a fork (capabilities, client version, Prysm's non-standard `hasBlobs`).
    Common,
    Paris,
    Shanghai,
    Cancun,
    Prague,
    Osaka,
    Amsterdam,
    /// FOCIL (EIP-7805); the spec is a draft.
    Bogota,
}

impl Fork {
    pub fn as_str(self) -> &'static str {
        match self {
            Fork::Common => "—",
            Fork::Paris => "Paris",
            Fork::Shanghai => "Shanghai",
            Fork::Cancun => "Cancun",
            Fork::Prague => "Prague",
            Fork::Osaka => "Osaka",
            Fork::Amsterdam => "Amsterdam",
            Fork::Bogota => "Bogota",
        }
    }
}

/// One method version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method {
    /// The full JSON-RPC name, `engine_newPayloadV5`.
    pub name: &'static str,
    pub fork: Fork,
    pub route: Route,
    /// The spec's timeout in milliseconds.
    pub timeout_ms: u32,
    /// Answers carry PayloadStatusV2 (with `inclusionListSatisfied`).
    pub status_v2: bool,
}

const fn m(name: &'static str, fork: Fork, route: Route, timeout_ms: u32) -> Method {
    Method {
        name,
        fork,
        route,
        timeout_ms,
        status_v2: false,
    }
}

const fn v2(method: Method) -> Method {
    Method {
        status_v2: true,
        ..method
    }
}

use Fork::*;
use Route::*;

/// The table. Order: family, then version.
pub const TABLE: &[Method] = &[
    m("engine_newPayloadV1", Paris, NewPayload, 8000),
    m("engine_newPayloadV2", Shanghai, NewPayload, 8000),
    m("engine_newPayloadV3", Cancun, NewPayload, 8000),
    m("engine_newPayloadV4", Prague, NewPayload, 8000),
    m("engine_newPayloadV5", Amsterdam, NewPayload, 6000),
    v2(m("engine_newPayloadV6", Bogota, NewPayload, 6000)),
    m("engine_forkchoiceUpdatedV1", Paris, ForkchoiceUpdated, 8000),
    m(
        "engine_forkchoiceUpdatedV2",
        Shanghai,
        ForkchoiceUpdated,
        8000,
    ),
    m(
        "engine_forkchoiceUpdatedV3",
        Cancun,
        ForkchoiceUpdated,
        8000,
    ),
    m(
        "engine_forkchoiceUpdatedV4",
        Amsterdam,
        ForkchoiceUpdated,
        8000,
    ),
    v2(m(
        "engine_forkchoiceUpdatedV5",
        Bogota,
        ForkchoiceUpdated,
        8000,
    )),
    m("engine_getPayloadV1", Paris, GetPayload, 1000),
    m("engine_getPayloadV2", Shanghai, GetPayload, 1000),
    m("engine_getPayloadV3", Cancun, GetPayload, 1000),
    m("engine_getPayloadV4", Prague, GetPayload, 1000),
    m("engine_getPayloadV5", Osaka, GetPayload, 1000),
    m("engine_getPayloadV6", Amsterdam, GetPayload, 1000),
    m("engine_getPayloadBodiesByHashV1", Shanghai, Bodies, 10_000),
    m("engine_getPayloadBodiesByRangeV1", Shanghai, Bodies, 10_000),
    m("engine_getPayloadBodiesByHashV2", Amsterdam, Bodies, 10_000),
    m(
        "engine_getPayloadBodiesByRangeV2",
        Amsterdam,
        Bodies,
        10_000,
    ),
    m("engine_getBlobsV1", Cancun, BlobsPerIndex, 1000),
    m("engine_getBlobsV2", Osaka, BlobsAllOrNothing, 1000),
    m("engine_getBlobsV3", Osaka, BlobsPerIndex, 1000),
    m("engine_getBlobsV4", Amsterdam, BlobsPerIndex, 1000),
    m("engine_hasBlobs", Common, AnyHas, 1000),
    m("engine_getInclusionListV1", Bogota, Primary, 1000),
    m("engine_exchangeCapabilities", Common, Capabilities, 1000),
    m("engine_getClientVersionV1", Common, ClientVersion, 1000),
    m(
        "engine_exchangeTransitionConfigurationV1",
        Paris,
        Primary,
        1000,
    ),
];

/// The table's entry for `method`, or for the newest listed version of its family when the
/// version is not listed. `None`: not an Engine API method the proxy knows.
pub fn lookup(method: &str) -> Option<&'static Method> {
    if let Some(exact) = TABLE.iter().find(|e| e.name == method) {
        return Some(exact);
    }
    let (family, version) = split_version(method)?;
    TABLE
        .iter()
        .filter(|e| split_version(e.name).is_some_and(|(f, v)| f == family && v < version))
        .max_by_key(|e| split_version(e.name).map_or(0, |(_, v)| v))
}

/// `engine_newPayloadV12` → (`engine_newPayload`, 12).
fn split_version(method: &str) -> Option<(&str, u32)> {
    let at = method.rfind('V')?;
    let digits = &method[at + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&method[..at], digits.parse().ok()?))
}

impl Method {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }
}

/// How the README describes a route.
pub fn describe(route: Route) -> &'static str {
    match route {
        NewPayload => "every node, voted",
        ForkchoiceUpdated => "every node, voted; payload ids mapped",
        GetPayload => "the nodes that built it",
        ClientVersion => "every node, concatenated",
        Capabilities => "every node, intersected",
        BlobsPerIndex => "every node, merged per blob",
        BlobsAllOrNothing => "every node, first complete answer",
        Bodies => "primary; null entries filled from the next nodes",
        AnyHas => "every node, true where any has it",
        Primary => "primary, failover",
        Refused => "refused",
    }
}

/// The method list as a Markdown table (the README carries it; a test keeps them equal).
pub fn markdown() -> String {
    let mut out = String::from("| Method | Fork | Served by | CL deadline |\n|---|---|---|---|\n");
    for e in TABLE {
        let answer = if e.status_v2 {
            " (PayloadStatusV2)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{}` | {} | {}{} | {} s |\n",
            e.name,
            e.fork.as_str(),
            describe(e.route),
            answer,
            f64::from(e.timeout_ms) / 1000.0
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_snapshot() {
        insta::assert_snapshot!(markdown());
    }

    #[test]
    fn names_are_unique_and_families_ordered() {
        for (i, e) in TABLE.iter().enumerate() {
            assert!(
                TABLE[..i].iter().all(|o| o.name != e.name),
                "{} listed twice",
                e.name
            );
            assert_eq!(lookup(e.name), Some(e));
        }
    }

    #[test]
    fn an_unlisted_version_is_served_like_the_newest_listed_one() {
        let np7 = lookup("engine_newPayloadV7").expect("family");
        assert_eq!(np7.name, "engine_newPayloadV6");
        assert_eq!(np7.route, Route::NewPayload);
        assert_eq!(
            lookup("engine_forkchoiceUpdatedV9").map(|e| e.name),
            Some("engine_forkchoiceUpdatedV5")
        );
        assert_eq!(
            lookup("engine_getBlobsV5").map(|e| e.route),
            Some(Route::BlobsPerIndex)
        );
        assert_eq!(lookup("engine_newPayloadV0"), None, "older than any listed");
        assert_eq!(lookup("engine_somethingV1"), None);
        assert_eq!(lookup("engine_newPayloadVx"), None);
        assert_eq!(lookup("eth_call"), None);
    }

    #[test]
    fn the_readme_lists_exactly_the_table() {
        let readme = include_str!("../README.md");
        let start = "<!-- method-table:start -->\n";
        let end = "<!-- method-table:end -->";
        let from = readme
            .find(start)
            .expect("README has the method table markers")
            + start.len();
        let to = readme[from..].find(end).expect("end marker") + from;
        assert_eq!(
            &readme[from..to],
            markdown(),
            "README's method table differs from src/methods.rs: paste markdown()'s output"
        );
    }
}
