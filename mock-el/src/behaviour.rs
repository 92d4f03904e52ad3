//! What the mock does: the statuses it answers and the faults it injects.
//!
//! A [`Behaviour`] is one change ("answer INVALID", "add 50 ms latency to `engine_getPayload*`",
//! "drop dead"). Behaviours are applied to [`Settings`], the mock's complete current
//! configuration; each kind has one slot, so setting a kind again replaces the previous value
//! (except [`Behaviour::InvalidHash`] and [`Behaviour::Blobs`], which add to sets, and
//! [`Behaviour::Latency`], which has one slot per scope: the most specific scope that matches a
//! method decides its delay). The same
//! values travel as JSON through the control API, e.g. `{"status":"INVALID"}`,
//! `{"latency":{"min_ms":5,"max_ms":20,"scope":"engine_newPayload"}}`, `{"hang":"*"}` (a scope of
//! `"*"` or `null` means every method).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize, Serializer};
use tokio::time::Instant;

use crate::encoding::{Quantity, B256};

/// A `PayloadStatusV1.status` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    #[default]
    Valid,
    Invalid,
    Syncing,
    Accepted,
    /// Only `engine_newPayloadV1` reports this; V2+ turn it into INVALID with a null
    /// `latestValidHash`, and forkchoice updates answer SYNCING (the block was never stored).
    InvalidBlockHash,
}

impl Status {
    /// The wire name (`"VALID"`, `"INVALID_BLOCK_HASH"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "VALID",
            Status::Invalid => "INVALID",
            Status::Syncing => "SYNCING",
            Status::Accepted => "ACCEPTED",
            Status::InvalidBlockHash => "INVALID_BLOCK_HASH",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected valid, invalid, syncing, accepted or invalid_block_hash")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    /// Case-insensitive; `-` and `_` are interchangeable.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "valid" => Ok(Status::Valid),
            "invalid" => Ok(Status::Invalid),
            "syncing" => Ok(Status::Syncing),
            "accepted" => Ok(Status::Accepted),
            "invalid_block_hash" => Ok(Status::InvalidBlockHash),
            _ => Err(UnknownStatus(s.to_string())),
        }
    }
}

/// Which JSON-RPC methods a fault applies to. JSON: `"*"` (or `null`) for all, or a method-name
/// prefix such as `"engine_getPayload"` (which also matches `"engine_getPayloadV3"`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Option<String>", into = "String")]
pub enum Scope {
    #[default]
    All,
    Prefix(String),
}

impl Scope {
    /// A scope for methods starting with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Scope::Prefix(prefix.into())
    }

    pub fn matches(&self, method: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Prefix(p) => method.starts_with(p.as_str()),
        }
    }
}

impl From<Option<String>> for Scope {
    fn from(v: Option<String>) -> Self {
        match v {
            None => Scope::All,
            Some(p) if p == "*" => Scope::All,
            Some(p) => Scope::Prefix(p),
        }
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> Self {
        match s {
            Scope::All => "*".to_string(),
            Scope::Prefix(p) => p,
        }
    }
}

/// What `latestValidHash` an INVALID answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatestValid {
    /// newPayload: the payload's `parentHash`; forkchoiceUpdated: the head's parent if the mock
    /// knows the head block, else null.
    #[default]
    Parent,
    /// `null` ("cannot be determined").
    Null,
    /// `0x00..00` (the valid ancestor is a PoW block).
    Zero,
    /// This exact hash.
    Hash(B256),
}

/// A delay before answering, uniform in `min_ms..=max_ms` (drawn from the seeded RNG).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub min_ms: u64,
    pub max_ms: u64,
    #[serde(default)]
    pub scope: Scope,
}

/// One entry of an `engine_getClientVersionV1` answer (`ClientVersionV1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientVersion {
    pub code: String,
    pub name: String,
    pub version: String,
    pub commit: String,
}

/// A JSON-RPC error answered instead of the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcFailure {
    pub code: i64,
    pub message: String,
    #[serde(default)]
    pub scope: Scope,
}

/// With probability `probability`, close the connection without answering. Draws come from an
/// RNG seeded with `seed` (or the instance seed), so a sequence of requests fails the same way
/// on every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flaky {
    pub probability: f64,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub scope: Scope,
}

/// One change to a mock's behaviour. See the module docs for the JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// The status answered to `engine_newPayload*` and `engine_forkchoiceUpdated*` (fcU never
    /// says ACCEPTED: it answers SYNCING instead).
    Status(Status),
    /// Answer INVALID for the payload with this block hash, and for forkchoice updates whose
    /// head it is. Adds to a set.
    InvalidHash(B256),
    /// Answer INVALID for every block whose number is a multiple of N (0 turns the rule off).
    /// Being keyed on the block number, the answer is the same on every retry.
    InvalidEvery(u64),
    /// The `latestValidHash` of INVALID answers.
    LatestValidHash(LatestValid),
    /// The `validationError` of INVALID answers (a default text names the rule that fired).
    ValidationError(String),
    /// Wait before answering. One slot per scope: setting a latency replaces the one of the
    /// same scope only, and a method waits for the latency of the most specific scope that
    /// matches it (a longer prefix before a shorter one, any prefix before `*`).
    Latency(Latency),
    /// Read the request, never answer. When the hang is cleared, the waiting connections are
    /// closed.
    Hang(Scope),
    /// `true`: stop listening and close every open connection (clients see "connection
    /// refused"); `false`: listen again on the same address.
    Dead(bool),
    /// Write the response headers and half of the body, then close the connection.
    CloseMidResponse(Scope),
    /// Answer HTTP 500 with a plain-text body.
    #[serde(rename = "http_500")]
    Http500(Scope),
    /// Answer a JSON-RPC error instead of the result.
    RpcError(RpcFailure),
    /// Report SYNCING (newPayload, fcU) and a syncing object (`eth_syncing`) for this many
    /// milliseconds from now, then go back to normal.
    SyncingForMs(u64),
    /// Randomly close connections without an answer.
    Flaky(Flaky),
    /// The `blockValue` (wei) of built payloads.
    BlockValue(Quantity),
    /// The list answered to `engine_exchangeCapabilities`.
    Capabilities(Vec<String>),
    /// The entries answered to `engine_getClientVersionV1`, instead of the mock's own single
    /// entry (an EL may report several, e.g. when it wraps another client).
    ClientVersions(Vec<ClientVersion>),
    /// Versioned hashes whose blobs `engine_getBlobsV*` "has". Adds to a set.
    Blobs(Vec<B256>),
    /// The chain id answered to `eth_chainId`.
    ChainId(u64),
    /// Bogota (FOCIL): the `inclusionListSatisfied` of VALID answers to newPayloadV6 and
    /// forkchoiceUpdatedV5 (true by default).
    InclusionListSatisfied(bool),
}

impl Behaviour {
    /// A fixed latency for every method.
    pub fn latency(delay: Duration) -> Self {
        Self::latency_range(delay, delay)
    }

    /// A latency drawn uniformly from `min..=max` for every method.
    pub fn latency_range(min: Duration, max: Duration) -> Self {
        let (a, b) = (millis(min), millis(max));
        Behaviour::Latency(Latency {
            min_ms: a.min(b),
            max_ms: a.max(b),
            scope: Scope::All,
        })
    }

    pub fn hang() -> Self {
        Behaviour::Hang(Scope::All)
    }

    pub fn close_mid_response() -> Self {
        Behaviour::CloseMidResponse(Scope::All)
    }

    pub fn http_500() -> Self {
        Behaviour::Http500(Scope::All)
    }

    pub fn rpc_error(code: i64, message: impl Into<String>) -> Self {
        Behaviour::RpcError(RpcFailure {
            code,
            message: message.into(),
            scope: Scope::All,
        })
    }

    pub fn syncing_for(duration: Duration) -> Self {
        Behaviour::SyncingForMs(millis(duration))
    }

    /// Flaky with the given failure probability (clamped to 0..=1) and RNG seed.
    pub fn flaky(probability: f64, seed: u64) -> Self {
        Behaviour::Flaky(Flaky {
            probability,
            seed: Some(seed),
            scope: Scope::All,
        })
    }

    /// Restricts a fault (latency, hang, close, 500, RPC error, flaky) to methods starting with
    /// `prefix`. Other behaviours are returned unchanged.
    pub fn scoped(mut self, prefix: impl Into<String>) -> Self {
        let scope = Scope::Prefix(prefix.into());
        match &mut self {
            Behaviour::Latency(l) => l.scope = scope,
            Behaviour::Hang(s) | Behaviour::CloseMidResponse(s) | Behaviour::Http500(s) => {
                *s = scope
            }
            Behaviour::RpcError(e) => e.scope = scope,
            Behaviour::Flaky(f) => f.scope = scope,
            _ => {}
        }
        self
    }

    /// The slot this behaviour occupies.
    pub fn kind(&self) -> BehaviourKind {
        match self {
            Behaviour::Status(_) => BehaviourKind::Status,
            Behaviour::InvalidHash(_) => BehaviourKind::InvalidHash,
            Behaviour::InvalidEvery(_) => BehaviourKind::InvalidEvery,
            Behaviour::LatestValidHash(_) => BehaviourKind::LatestValidHash,
            Behaviour::ValidationError(_) => BehaviourKind::ValidationError,
            Behaviour::Latency(_) => BehaviourKind::Latency,
            Behaviour::Hang(_) => BehaviourKind::Hang,
            Behaviour::Dead(_) => BehaviourKind::Dead,
            Behaviour::CloseMidResponse(_) => BehaviourKind::CloseMidResponse,
            Behaviour::Http500(_) => BehaviourKind::Http500,
            Behaviour::RpcError(_) => BehaviourKind::RpcError,
            Behaviour::SyncingForMs(_) => BehaviourKind::Syncing,
            Behaviour::Flaky(_) => BehaviourKind::Flaky,
            Behaviour::BlockValue(_) => BehaviourKind::BlockValue,
            Behaviour::Capabilities(_) => BehaviourKind::Capabilities,
            Behaviour::ClientVersions(_) => BehaviourKind::ClientVersions,
            Behaviour::Blobs(_) => BehaviourKind::Blobs,
            Behaviour::ChainId(_) => BehaviourKind::ChainId,
            Behaviour::InclusionListSatisfied(_) => BehaviourKind::InclusionListSatisfied,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The slots of [`Settings`]; used to clear one (`DELETE /behaviour/<kind>` in the control API,
/// with the snake_case names below).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourKind {
    Status,
    InvalidHash,
    InvalidEvery,
    LatestValidHash,
    ValidationError,
    Latency,
    Hang,
    Dead,
    CloseMidResponse,
    #[serde(rename = "http_500")]
    Http500,
    RpcError,
    Syncing,
    Flaky,
    BlockValue,
    Capabilities,
    ClientVersions,
    Blobs,
    ChainId,
    InclusionListSatisfied,
}

impl FromStr for BehaviourKind {
    type Err = serde_json::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
    }
}

/// Every Engine API method the mock serves, in the order `engine_exchangeCapabilities`
/// lists them by default.
pub const ENGINE_METHODS: &[&str] = &[
    "engine_newPayloadV1",
    "engine_newPayloadV2",
    "engine_newPayloadV3",
    "engine_newPayloadV4",
    "engine_newPayloadV5",
    "engine_forkchoiceUpdatedV1",
    "engine_forkchoiceUpdatedV2",
    "engine_forkchoiceUpdatedV3",
    "engine_forkchoiceUpdatedV4",
    "engine_getPayloadV1",
    "engine_getPayloadV2",
    "engine_getPayloadV3",
    "engine_getPayloadV4",
    "engine_getPayloadV5",
    "engine_getPayloadBodiesByHashV1",
    "engine_getPayloadBodiesByRangeV1",
    "engine_getBlobsV1",
    "engine_getBlobsV2",
    "engine_getClientVersionV1",
];

/// A mock's complete configuration. Read it with `MockEl::settings()` or `GET /behaviour`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub status: Status,
    pub invalid_hashes: BTreeSet<B256>,
    pub invalid_every: Option<u64>,
    pub latest_valid_hash: LatestValid,
    pub validation_error: Option<String>,
    /// At most one latency per scope (see [`Behaviour::Latency`]).
    pub latency: Vec<Latency>,
    pub hang: Option<Scope>,
    pub dead: bool,
    pub close_mid_response: Option<Scope>,
    pub http_500: Option<Scope>,
    pub rpc_error: Option<RpcFailure>,
    /// When the SYNCING window ends (serialized as the milliseconds still to go).
    #[serde(rename = "syncing_remaining_ms", serialize_with = "remaining_ms")]
    pub syncing_until: Option<Instant>,
    pub flaky: Option<Flaky>,
    pub block_value: Quantity,
    pub capabilities: Vec<String>,
    /// `None`: the mock's own entry.
    pub client_versions: Option<Vec<ClientVersion>>,
    pub blobs: BTreeSet<B256>,
    pub chain_id: u64,
    /// Answer SYNCING to a newPayload whose parent this EL does not have, as a real EL does
    /// (default off: every block is taken as it comes).
    pub require_parent: bool,
    pub inclusion_list_satisfied: bool,
}

/// 1 gwei; small enough to read, non-zero so comparisons of block values mean something.
pub const DEFAULT_BLOCK_VALUE: u128 = 1_000_000_000;
/// 1337 (`0x539`), the usual dev-chain id.
pub const DEFAULT_CHAIN_ID: u64 = 1337;

impl Default for Settings {
    fn default() -> Self {
        Self {
            status: Status::Valid,
            invalid_hashes: BTreeSet::new(),
            invalid_every: None,
            latest_valid_hash: LatestValid::Parent,
            validation_error: None,
            latency: Vec::new(),
            hang: None,
            dead: false,
            close_mid_response: None,
            http_500: None,
            rpc_error: None,
            syncing_until: None,
            flaky: None,
            block_value: Quantity(DEFAULT_BLOCK_VALUE),
            capabilities: ENGINE_METHODS.iter().map(|m| m.to_string()).collect(),
            client_versions: None,
            blobs: BTreeSet::new(),
            chain_id: DEFAULT_CHAIN_ID,
            require_parent: false,
            inclusion_list_satisfied: true,
        }
    }
}

fn remaining_ms<S: Serializer>(until: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
    let left = until.and_then(|u| u.checked_duration_since(Instant::now()));
    match left {
        Some(d) if !d.is_zero() => s.serialize_some(&millis(d)),
        _ => s.serialize_none(),
    }
}

/// A fault that ends the HTTP exchange abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpFault {
    Flaky,
    Hang,
    CloseMidResponse,
    Http500,
}

/// What to do with one HTTP request, decided before it is processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub delay: Option<Duration>,
    pub fault: Option<HttpFault>,
}

impl Settings {
    /// Applies one change. `now` starts a SYNCING window.
    pub fn apply(&mut self, behaviour: Behaviour, now: Instant) {
        match behaviour {
            Behaviour::Status(s) => self.status = s,
            Behaviour::InvalidHash(h) => {
                self.invalid_hashes.insert(h);
            }
            Behaviour::InvalidEvery(n) => self.invalid_every = (n > 0).then_some(n),
            Behaviour::LatestValidHash(l) => self.latest_valid_hash = l,
            Behaviour::ValidationError(e) => self.validation_error = Some(e),
            Behaviour::Latency(l) => {
                self.latency.retain(|old| old.scope != l.scope);
                self.latency.push(l);
            }
            Behaviour::Hang(s) => self.hang = Some(s),
            Behaviour::Dead(d) => self.dead = d,
            Behaviour::CloseMidResponse(s) => self.close_mid_response = Some(s),
            Behaviour::Http500(s) => self.http_500 = Some(s),
            Behaviour::RpcError(e) => self.rpc_error = Some(e),
            Behaviour::SyncingForMs(ms) => {
                self.syncing_until = (ms > 0).then(|| now + Duration::from_millis(ms));
            }
            Behaviour::Flaky(f) => self.flaky = Some(f),
            Behaviour::BlockValue(v) => self.block_value = v,
            Behaviour::Capabilities(c) => self.capabilities = c,
            Behaviour::ClientVersions(v) => self.client_versions = Some(v),
            Behaviour::Blobs(b) => self.blobs.extend(b),
            Behaviour::ChainId(id) => self.chain_id = id,
            Behaviour::InclusionListSatisfied(v) => self.inclusion_list_satisfied = v,
        }
    }

    /// Puts one slot back to its value in `baseline`.
    pub fn clear(&mut self, kind: BehaviourKind, baseline: &Settings) {
        let b = baseline.clone();
        match kind {
            BehaviourKind::Status => self.status = b.status,
            BehaviourKind::InvalidHash => self.invalid_hashes = b.invalid_hashes,
            BehaviourKind::InvalidEvery => self.invalid_every = b.invalid_every,
            BehaviourKind::LatestValidHash => self.latest_valid_hash = b.latest_valid_hash,
            BehaviourKind::ValidationError => self.validation_error = b.validation_error,
            BehaviourKind::Latency => self.latency = b.latency,
            BehaviourKind::Hang => self.hang = b.hang,
            BehaviourKind::Dead => self.dead = b.dead,
            BehaviourKind::CloseMidResponse => self.close_mid_response = b.close_mid_response,
            BehaviourKind::Http500 => self.http_500 = b.http_500,
            BehaviourKind::RpcError => self.rpc_error = b.rpc_error,
            BehaviourKind::Syncing => self.syncing_until = b.syncing_until,
            BehaviourKind::Flaky => self.flaky = b.flaky,
            BehaviourKind::BlockValue => self.block_value = b.block_value,
            BehaviourKind::Capabilities => self.capabilities = b.capabilities,
            BehaviourKind::ClientVersions => self.client_versions = b.client_versions,
            BehaviourKind::Blobs => self.blobs = b.blobs,
            BehaviourKind::ChainId => self.chain_id = b.chain_id,
            BehaviourKind::InclusionListSatisfied => {
                self.inclusion_list_satisfied = b.inclusion_list_satisfied
            }
        }
    }

    /// Whether the SYNCING window is open at `now`.
    pub fn syncing_at(&self, now: Instant) -> bool {
        self.syncing_until.is_some_and(|u| now < u)
    }

    /// The latency of the most specific scope matching any of `methods` (a batch waits for the
    /// longest such delay's slot: the most specific match over all its methods).
    fn latency_for<'m>(&self, methods: impl Iterator<Item = &'m str> + Clone) -> Option<&Latency> {
        let specificity = |scope: &Scope| match scope {
            Scope::All => 0,
            Scope::Prefix(p) => p.len() + 1,
        };
        self.latency
            .iter()
            .filter(|l| methods.clone().any(|m| l.scope.matches(m)))
            .max_by_key(|l| specificity(&l.scope))
    }

    /// Decides latency and HTTP-level faults for a request carrying `methods`. A scoped fault
    /// applies when any method of a batch is in scope. RNG draws happen only for faults in scope.
    pub(crate) fn plan<'m>(
        &self,
        methods: impl Iterator<Item = &'m str> + Clone,
        rng: &mut impl Rng,
        flaky_rng: &mut impl Rng,
    ) -> Plan {
        let any = |scope: &Scope| methods.clone().any(|m| scope.matches(m));
        let delay = self.latency_for(methods.clone()).map(|l| {
            let ms = if l.max_ms > l.min_ms {
                rng.gen_range(l.min_ms..=l.max_ms)
            } else {
                l.min_ms
            };
            Duration::from_millis(ms)
        });
        let fault = if self
            .flaky
            .as_ref()
            .is_some_and(|f| any(&f.scope) && flaky_rng.gen_bool(f.probability.clamp(0.0, 1.0)))
        {
            Some(HttpFault::Flaky)
        } else if self.hang.as_ref().is_some_and(any) {
            Some(HttpFault::Hang)
        } else if self.close_mid_response.as_ref().is_some_and(any) {
            Some(HttpFault::CloseMidResponse)
        } else if self.http_500.as_ref().is_some_and(any) {
            Some(HttpFault::Http500)
        } else {
            None
        };
        Plan { delay, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn behaviour_json_forms() {
        let cases = [
            (
                r#"{"status":"INVALID"}"#,
                Behaviour::Status(Status::Invalid),
            ),
            (r#"{"hang":null}"#, Behaviour::hang()),
            (r#"{"hang":"*"}"#, Behaviour::hang()),
            (
                r#"{"hang":"engine_getPayload"}"#,
                Behaviour::hang().scoped("engine_getPayload"),
            ),
            (
                r#"{"latency":{"min_ms":5,"max_ms":5}}"#,
                Behaviour::latency(Duration::from_millis(5)),
            ),
            (
                r#"{"rpc_error":{"code":-32000,"message":"boom","scope":"eth_"}}"#,
                Behaviour::rpc_error(-32000, "boom").scoped("eth_"),
            ),
            (r#"{"dead":true}"#, Behaviour::Dead(true)),
            (
                r#"{"http_500":"eth_"}"#,
                Behaviour::http_500().scoped("eth_"),
            ),
            (r#"{"syncing_for_ms":1500}"#, Behaviour::SyncingForMs(1500)),
            (
                r#"{"flaky":{"probability":0.5,"seed":3}}"#,
                Behaviour::flaky(0.5, 3),
            ),
        ];
        for (json, expected) in cases {
            let parsed: Behaviour = serde_json::from_str(json).expect(json);
            assert_eq!(parsed, expected, "{json}");
        }
        assert!(serde_json::from_str::<Behaviour>(r#"{"explode":1}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Behaviour::hang()).expect("json"),
            r#"{"hang":"*"}"#
        );
        let mut s = Settings::default();
        assert_eq!(
            serde_json::to_value(&s).expect("json")["hang"],
            serde_json::Value::Null
        );
        s.apply(Behaviour::hang(), Instant::now());
        assert_eq!(serde_json::to_value(&s).expect("json")["hang"], "*");
    }

    #[test]
    fn status_names() {
        for s in [
            Status::Valid,
            Status::Invalid,
            Status::Syncing,
            Status::Accepted,
            Status::InvalidBlockHash,
        ] {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
        assert_eq!("invalid-block-hash".parse(), Ok(Status::InvalidBlockHash));
        assert!("bogus".parse::<Status>().is_err());
        assert_eq!(
            "http_500".parse::<BehaviourKind>().ok(),
            Some(BehaviourKind::Http500)
        );
    }

    #[test]
    fn latency_has_one_slot_per_scope_and_the_most_specific_wins() {
        let mut s = Settings::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut frng = SmallRng::seed_from_u64(2);
        let ms = Duration::from_millis;
        let mut delay = |s: &Settings, m: &str| s.plan([m].into_iter(), &mut rng, &mut frng).delay;
        s.apply(Behaviour::latency(ms(7)), Instant::now());
        s.apply(
            Behaviour::latency(ms(120)).scoped("engine_newPayload"),
            Instant::now(),
        );
        s.apply(
            Behaviour::latency(ms(60)).scoped("engine_forkchoiceUpdated"),
            Instant::now(),
        );
        s.apply(
            Behaviour::latency(ms(90)).scoped("engine_newPayloadV4"),
            Instant::now(),
        );
        assert_eq!(delay(&s, "engine_newPayloadV3"), Some(ms(120)));
        assert_eq!(delay(&s, "engine_newPayloadV4"), Some(ms(90)));
        assert_eq!(delay(&s, "engine_forkchoiceUpdatedV3"), Some(ms(60)));
        assert_eq!(delay(&s, "eth_chainId"), Some(ms(7)));
        // Setting a scope again replaces that scope's latency only.
        s.apply(
            Behaviour::latency(ms(5)).scoped("engine_newPayload"),
            Instant::now(),
        );
        assert_eq!(s.latency.len(), 4);
        assert_eq!(delay(&s, "engine_newPayloadV3"), Some(ms(5)));
        assert_eq!(delay(&s, "engine_forkchoiceUpdatedV3"), Some(ms(60)));
        s.clear(BehaviourKind::Latency, &Settings::default());
        assert_eq!(delay(&s, "engine_newPayloadV3"), None);
    }

    #[test]
    fn plan_respects_scopes_and_order() {
        let mut s = Settings::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut frng = SmallRng::seed_from_u64(2);
        let m = ["engine_newPayloadV3"];
        assert_eq!(
            s.plan(m.iter().copied(), &mut rng, &mut frng),
            Plan::default()
        );
        s.apply(
            Behaviour::http_500().scoped("engine_getPayload"),
            Instant::now(),
        );
        assert_eq!(s.plan(m.iter().copied(), &mut rng, &mut frng).fault, None);
        s.apply(Behaviour::hang(), Instant::now());
        assert_eq!(
            s.plan(m.iter().copied(), &mut rng, &mut frng).fault,
            Some(HttpFault::Hang)
        );
        s.apply(
            Behaviour::latency_range(Duration::from_millis(10), Duration::from_millis(20)),
            Instant::now(),
        );
        let d = s
            .plan(m.iter().copied(), &mut rng, &mut frng)
            .delay
            .expect("delay");
        assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
    }
}
