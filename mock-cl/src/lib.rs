//! A small consensus-client driver: produces blocks through any Engine API endpoint the way a CL
//! does, and reports what it saw.
//!
//! Each slot (Cancun method versions):
//!
//! 1. `engine_forkchoiceUpdatedV3(head, PayloadAttributesV3 {timestamp, prevRandao,
//!    suggestedFeeRecipient, withdrawals: [], parentBeaconBlockRoot})` → a `payloadId`;
//! 2. `engine_getPayloadV3(payloadId)` → the execution payload and its blobs bundle;
//! 3. `engine_newPayloadV3(payload, expectedBlobVersionedHashes, parentBeaconBlockRoot)`, the
//!    versioned hashes derived from the bundle's KZG commitments;
//! 4. `engine_forkchoiceUpdatedV3(new head)` with no attributes;
//! 5. optionally `eth_getBlockByNumber("latest")`, `eth_syncing` and `eth_chainId` reads.
//!
//! Timestamps are the wall clock's, and always at least one more than the parent's (ELs check
//! that) and than the previous slot's (so slots shorter than a second run ahead of the clock). The driver adopts a block as its head only when `newPayload` and the following
//! `forkchoiceUpdated` both answered `VALID`: a block answered `SYNCING`, `ACCEPTED` or `INVALID`
//! is not built on, and the next slot proposes again on the same parent. (A real CL would import
//! a SYNCING block optimistically, but would not propose on it either.)
//!
//! Every imported block is kept in [`Driver::history`] with its `newPayloadV3` params, so the
//! chain can be replayed into another EL ([`replay`]). [`Stats`] counts slots, blocks, statuses
//! per method and latencies per method.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mock_cl::ClError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use eb_transport::{JwtSecret, SystemClock, TokioNet};
//! use mock_cl::{Driver, DriverConfig, RpcClient};
//! let engine = RpcClient::new(
//!     TokioNet,
//!     "http://127.0.0.1:8551",
//!     Some(JwtSecret::from_bytes([7; 32])),
//!     Arc::new(SystemClock),
//! )?;
//! let mut driver = Driver::new(engine, Arc::new(SystemClock), DriverConfig::default()).await?;
//! driver.run(20, Duration::from_millis(500)).await;
//! println!("{}", driver.stats.summary());
//! # Ok(()) }
//! ```

mod http;
pub mod tx;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use eb_transport::{Network, SharedClock};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::time::{Instant, MissedTickBehavior};

pub use self::http::{ClError, RpcClient, CLIENT_VERSION};
pub use self::tx::{Fees, SignedTx, Wallet, DEV_KEY};

const ZERO_HASH: &str = "0x0000000000000000000000000000000000000000000000000000000000000000";

/// How the driver builds.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// `suggestedFeeRecipient` of every build.
    pub fee_recipient: String,
    /// Read `eth_getBlockByNumber("latest")`, `eth_syncing` and `eth_chainId` after each block,
    /// as CLs do between slots.
    pub reads: bool,
    /// Seeds `prevRandao` and `parentBeaconBlockRoot`, so two drivers build different blocks.
    pub seed: u64,
    /// Amsterdam's versions and shapes: forkchoiceUpdatedV4 (PayloadAttributesV4 and the third
    /// parameter), getPayloadV6, newPayloadV5 (ExecutionPayloadV4, execution requests).
    pub amsterdam: bool,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            fee_recipient: "0x000000000000000000000000000000000000fee0".into(),
            reads: true,
            seed: 0,
            amsterdam: false,
        }
    }
}

/// The block the driver builds on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub hash: String,
    pub number: u64,
    pub timestamp: u64,
}

/// A PayloadStatus as an EL (or the proxy) answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadStatus {
    pub status: String,
    pub latest_valid_hash: Option<String>,
    pub validation_error: Option<String>,
}

impl PayloadStatus {
    fn parse(v: &Value) -> Result<Self, ClError> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            status: text("status")
                .ok_or_else(|| ClError::BadReply(format!("not a PayloadStatus: {v}")))?,
            latest_valid_hash: text("latestValidHash"),
            validation_error: text("validationError"),
        })
    }

    pub fn is_valid(&self) -> bool {
        self.status == "VALID"
    }
}

/// A payload got from `getPayload`, ready for `newPayload`.
#[derive(Clone, Debug)]
pub struct Built {
    pub slot: u64,
    pub block_hash: String,
    pub parent_hash: String,
    pub number: u64,
    pub timestamp: u64,
    /// How many transactions the EL put in.
    pub transactions: usize,
    pub block_value: String,
    /// `[executionPayload, expectedBlobVersionedHashes, parentBeaconBlockRoot]`.
    pub new_payload_params: Value,
}

/// A block sent through `newPayload` (and, when VALID, `forkchoiceUpdated`).
#[derive(Clone, Debug)]
pub struct Imported {
    pub built: Built,
    pub new_payload: PayloadStatus,
    /// The forkchoiceUpdated answer, when newPayload was VALID.
    pub forkchoice: Option<PayloadStatus>,
}

impl Imported {
    /// Both answers VALID: the block is the new head.
    pub fn adopted(&self) -> bool {
        self.new_payload.is_valid() && self.forkchoice.as_ref().is_some_and(|f| f.is_valid())
    }
}

/// What the driver saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Slots attempted.
    pub slots: u64,
    /// Blocks adopted as head.
    pub produced: u64,
    /// Slots that did not end with a new head.
    pub missed: u64,
    /// Per method: status (or `error CODE`, `HTTP N`, `timeout`…) → count.
    pub statuses: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per method: latencies of answered calls, in call order.
    pub latencies: BTreeMap<String, Vec<Duration>>,
    /// Why slots were missed, one line each.
    pub failures: Vec<String>,
    /// Transactions included in produced blocks.
    pub transactions: u64,
}

impl Stats {
    fn status(&mut self, method: &str, what: &str) {
        *self
            .statuses
            .entry(method.to_owned())
            .or_default()
            .entry(what.to_owned())
            .or_default() += 1;
    }

    fn latency(&mut self, method: &str, d: Duration) {
        self.latencies.entry(method.to_owned()).or_default().push(d);
    }

    /// How many times `method` answered `status`.
    pub fn count(&self, method: &str, status: &str) -> u64 {
        self.statuses
            .get(method)
            .and_then(|m| m.get(status))
            .copied()
            .unwrap_or(0)
    }

    /// The `p`-th percentile (0–100, nearest rank) of `method`'s latencies.
    pub fn percentile(&self, method: &str, p: f64) -> Option<Duration> {
        percentile(self.latencies.get(method)?, p)
    }

    /// One line per method: answers and p50/p99/max latency; then blocks and missed slots.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "slots {} produced {} missed {} transactions {}\n",
            self.slots, self.produced, self.missed, self.transactions
        );
        let methods: std::collections::BTreeSet<&String> =
            self.statuses.keys().chain(self.latencies.keys()).collect();
        for m in methods {
            let _ = write!(out, "  {m}:");
            if let Some(s) = self.statuses.get(m) {
                for (status, n) in s {
                    let _ = write!(out, " {status}={n}");
                }
            }
            if let Some(l) = self.latencies.get(m) {
                let ms = |p| percentile(l, p).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                let _ = write!(
                    out,
                    " | n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
                    l.len(),
                    ms(50.0),
                    ms(99.0),
                    ms(100.0)
                );
            }
            out.push('\n');
        }
        for f in &self.failures {
            let _ = writeln!(out, "  missed: {f}");
        }
        out
    }
}

/// Nearest-rank percentile.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Drives block production through one Engine API endpoint.
pub struct Driver<N: Network> {
    pub engine: RpcClient<N>,
    clock: SharedClock,
    config: DriverConfig,
    head: Head,
    /// Hashes of the adopted chain by number, from the head the driver started on.
    canonical: Vec<(u64, String)>,
    slot: u64,
    /// Timestamp of the last build attempt.
    last_timestamp: u64,
    pub stats: Stats,
    /// Every block adopted as head, oldest first.
    pub history: Vec<Imported>,
}

impl<N: Network> Driver<N> {
    /// Starts on the endpoint's latest block (`eth_getBlockByNumber("latest")` on the engine
    /// port, which every EL serves there).
    pub async fn new(
        engine: RpcClient<N>,
        clock: SharedClock,
        config: DriverConfig,
    ) -> Result<Self, ClError> {
        let head = latest_block(&engine).await?;
        Ok(Self::starting_at(engine, clock, config, head))
    }

    /// Starts on a given head without asking the endpoint.
    pub fn starting_at(
        engine: RpcClient<N>,
        clock: SharedClock,
        config: DriverConfig,
        head: Head,
    ) -> Self {
        Self {
            engine,
            clock,
            config,
            canonical: vec![(head.number, head.hash.clone())],
            head,
            slot: 0,
            last_timestamp: 0,
            stats: Stats::default(),
            history: Vec::new(),
        }
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The finalized (and safe) block the driver reports: two blocks behind the head, as an
    /// epoch-less stand-in for a CL's checkpoints; the zero hash before that exists.
    fn finalized(&self) -> String {
        let target = self.head.number.saturating_sub(2);
        self.canonical
            .iter()
            .find(|(n, _)| *n == target)
            .map_or_else(|| ZERO_HASH.to_owned(), |(_, h)| h.clone())
    }

    fn forkchoice_state(&self, head: &str) -> Value {
        let finalized = self.finalized();
        json!({
            "headBlockHash": head,
            "safeBlockHash": finalized,
            "finalizedBlockHash": finalized,
        })
    }

    /// Calls `method`, recording its latency and, via `classify`, what it answered.
    async fn timed(&mut self, method: &str, params: Value) -> Result<Value, ClError> {
        let started = Instant::now();
        let result = self.engine.call(method, params).await;
        match &result {
            Ok(_) => self.stats.latency(method, started.elapsed()),
            Err(e) => {
                let what = match e {
                    ClError::Rpc { code, .. } => format!("error {code}"),
                    ClError::Http { status, .. } => format!("HTTP {status}"),
                    ClError::Timeout(_) => "timeout".into(),
                    ClError::Connect { .. } => "refused".into(),
                    _ => "unusable".into(),
                };
                self.stats.status(method, &what);
            }
        }
        result
    }

    fn derived(&self, what: &str, slot: u64) -> String {
        let mut h = Sha256::new();
        h.update(what.as_bytes());
        h.update(self.config.seed.to_be_bytes());
        h.update(slot.to_be_bytes());
        format!("0x{}", hex::encode(h.finalize()))
    }

    /// forkchoiceUpdated's params: the state on `head` and `attributes`; from Amsterdam on also
    /// the third parameter, `custodyColumns` (all 128 columns).
    fn fcu_params(&self, head: &str, attributes: Value) -> Value {
        if self.config.amsterdam {
            json!([
                self.forkchoice_state(head),
                attributes,
                format!("0x{}", "ff".repeat(16))
            ])
        } else {
            json!([self.forkchoice_state(head), attributes])
        }
    }

    /// Steps 1 and 2: forkchoiceUpdated with attributes on the head, then getPayload.
    pub async fn build(&mut self) -> Result<Built, ClError> {
        self.slot += 1;
        let slot = self.slot;
        // Every slot has its own timestamp, as a CL's slots do: later than the parent's and than
        // any earlier attempt (a re-proposal after a rejected block is a new block).
        let timestamp = self
            .clock
            .unix_seconds()
            .max(self.head.timestamp.saturating_add(1))
            .max(self.last_timestamp.saturating_add(1));
        self.last_timestamp = timestamp;
        let beacon_root = self.derived("parentBeaconBlockRoot", slot);
        let mut attributes = json!({
            "timestamp": format!("0x{timestamp:x}"),
            "prevRandao": self.derived("prevRandao", slot),
            "suggestedFeeRecipient": self.config.fee_recipient,
            "withdrawals": [],
            "parentBeaconBlockRoot": beacon_root,
        });
        let (fcu_method, get_method) = if self.config.amsterdam {
            // PayloadAttributesV4.
            attributes["slotNumber"] = json!(format!("0x{slot:x}"));
            attributes["targetGasLimit"] = json!("0x2255100");
            ("engine_forkchoiceUpdatedV4", "engine_getPayloadV6")
        } else {
            ("engine_forkchoiceUpdatedV3", "engine_getPayloadV3")
        };
        let head = self.head.hash.clone();
        let fcu = self
            .timed(fcu_method, self.fcu_params(&head, attributes))
            .await?;
        let status = PayloadStatus::parse(fcu.get("payloadStatus").unwrap_or(&Value::Null))?;
        self.stats
            .status(fcu_method, &format!("{}+attrs", status.status));
        let payload_id = match fcu.get("payloadId").and_then(Value::as_str) {
            Some(id) if status.is_valid() => id.to_owned(),
            _ => {
                return Err(ClError::Protocol(format!(
                    "forkchoiceUpdatedV3 with attributes on {} answered {} without a build",
                    short(&head),
                    status.status
                )))
            }
        };
        let got = self.timed(get_method, json!([payload_id])).await?;
        self.stats.status(get_method, "ok");
        let mut payload = got
            .get("executionPayload")
            .cloned()
            .ok_or_else(|| ClError::BadReply("getPayloadV3 without executionPayload".into()))?;
        let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or_default();
        let block_hash = text("blockHash").to_owned();
        let parent_hash = text("parentHash").to_owned();
        let number = parse_quantity(text("blockNumber"))?;
        let built_timestamp = parse_quantity(text("timestamp"))?;
        if parent_hash != head {
            return Err(ClError::Protocol(format!(
                "getPayloadV3 returned a block on {} instead of the head {}",
                short(&parent_hash),
                short(&head)
            )));
        }
        let hashes = versioned_hashes(got.get("blobsBundle"))?;
        Ok(Built {
            slot,
            transactions: payload
                .get("transactions")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            block_value: got
                .get("blockValue")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            block_hash,
            parent_hash,
            number,
            timestamp: built_timestamp,
            new_payload_params: if self.config.amsterdam {
                // ExecutionPayloadV4 (this mock builds no access list: the empty RLP list),
                // then the execution requests.
                if payload.get("blockAccessList").is_none() {
                    payload["blockAccessList"] = json!("0xc0");
                }
                payload["slotNumber"] = json!(format!("0x{slot:x}"));
                json!([payload, hashes, beacon_root, []])
            } else {
                json!([payload, hashes, beacon_root])
            },
        })
    }

    /// Steps 3 and 4: newPayload, then (when VALID) forkchoiceUpdated to the new block, which
    /// becomes the head if that is VALID too.
    pub async fn import(&mut self, built: Built) -> Result<Imported, ClError> {
        let (np_method, fcu_method) = if self.config.amsterdam {
            ("engine_newPayloadV5", "engine_forkchoiceUpdatedV4")
        } else {
            ("engine_newPayloadV3", "engine_forkchoiceUpdatedV3")
        };
        let answer = self
            .timed(np_method, built.new_payload_params.clone())
            .await?;
        let new_payload = PayloadStatus::parse(&answer)?;
        self.stats.status(np_method, &new_payload.status);
        let mut forkchoice = None;
        if new_payload.is_valid() {
            let params = self.fcu_params(&built.block_hash, Value::Null);
            let answer = self.timed(fcu_method, params).await?;
            let status = PayloadStatus::parse(answer.get("payloadStatus").unwrap_or(&Value::Null))?;
            self.stats.status(fcu_method, &status.status);
            forkchoice = Some(status);
        }
        let imported = Imported {
            built,
            new_payload,
            forkchoice,
        };
        if imported.adopted() {
            let b = &imported.built;
            self.head = Head {
                hash: b.block_hash.clone(),
                number: b.number,
                timestamp: b.timestamp,
            };
            self.canonical.push((b.number, b.block_hash.clone()));
            if self.canonical.len() > 64 {
                self.canonical.remove(0);
            }
            self.stats.transactions += b.transactions as u64;
            self.history.push(imported.clone());
        }
        Ok(imported)
    }

    /// Step 5: the reads a CL makes between slots.
    pub async fn reads(&mut self) -> Result<(), ClError> {
        let latest = self
            .timed("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        if latest.get("hash").and_then(Value::as_str).is_none() {
            return Err(ClError::BadReply(format!("latest block: {latest}")));
        }
        self.timed("eth_syncing", json!([])).await?;
        self.timed("eth_chainId", json!([])).await?;
        Ok(())
    }

    /// One whole slot. `Ok` with the imported block when it became the head; a missed slot is
    /// counted and its reason kept otherwise.
    pub async fn slot(&mut self) -> Result<Imported, ClError> {
        self.slot_with(|_| ()).await
    }

    /// [`Driver::slot`], calling `between` after getPayload and before newPayload (to kill an
    /// EL mid-slot, or to make one answer INVALID for the block just built).
    pub async fn slot_with(&mut self, between: impl FnOnce(&Built)) -> Result<Imported, ClError> {
        self.stats.slots += 1;
        let result = match self.build().await {
            Ok(built) => {
                between(&built);
                self.import(built).await
            }
            Err(e) => Err(e),
        }
        .and_then(|imported| {
            if imported.adopted() {
                Ok(imported)
            } else {
                Err(ClError::Protocol(format!(
                    "block {} ({}) answered newPayload {} / forkchoiceUpdated {}",
                    imported.built.number,
                    short(&imported.built.block_hash),
                    imported.new_payload.status,
                    imported
                        .forkchoice
                        .as_ref()
                        .map_or("(not sent)", |f| f.status.as_str())
                )))
            }
        });
        match &result {
            Ok(_) => self.stats.produced += 1,
            Err(e) => {
                self.stats.missed += 1;
                self.stats
                    .failures
                    .push(format!("slot {}: {e}", self.stats.slots));
            }
        }
        if self.config.reads {
            if let Err(e) = self.reads().await {
                self.stats
                    .failures
                    .push(format!("slot {} reads: {e}", self.stats.slots));
            }
        }
        result
    }

    /// Runs `slots` slots, one every `slot_time` (a slot that takes longer delays the next).
    pub async fn run(&mut self, slots: u64, slot_time: Duration) {
        let mut ticks = tokio::time::interval(slot_time);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for _ in 0..slots {
            ticks.tick().await;
            let _ = self.slot().await;
        }
    }
}

/// What [`replay`] did.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The last answer: the final forkchoiceUpdated's status, or the first newPayload answer
    /// that was not VALID.
    pub status: PayloadStatus,
    /// Blocks sent.
    pub blocks: usize,
    /// Latency of each newPayload.
    pub new_payload_latencies: Vec<Duration>,
}

/// Replays blocks into `engine` (newPayloadV3 for each, oldest first, then one
/// forkchoiceUpdatedV3 to the last), as an EL that lost its chain would get them from its peers.
pub async fn replay<'a, N: Network>(
    engine: &RpcClient<N>,
    history: impl IntoIterator<Item = &'a Imported>,
) -> Result<Replayed, ClError> {
    let mut out = Replayed {
        status: PayloadStatus {
            status: "VALID".into(),
            latest_valid_hash: None,
            validation_error: None,
        },
        blocks: 0,
        new_payload_latencies: Vec::new(),
    };
    let mut hashes: Vec<String> = Vec::new();
    for imported in history {
        let started = Instant::now();
        let answer = engine
            .call(
                "engine_newPayloadV3",
                imported.built.new_payload_params.clone(),
            )
            .await?;
        out.new_payload_latencies.push(started.elapsed());
        out.blocks += 1;
        let status = PayloadStatus::parse(&answer)?;
        if !status.is_valid() {
            out.status = status;
            return Ok(out);
        }
        hashes.push(imported.built.block_hash.clone());
    }
    let Some(head) = hashes.last() else {
        return Err(ClError::Protocol("nothing to replay".into()));
    };
    // Safe and finalized two blocks behind, as the driver reports them.
    let finalized = hashes
        .len()
        .checked_sub(3)
        .map_or(ZERO_HASH, |i| hashes[i].as_str());
    let answer = engine
        .call(
            "engine_forkchoiceUpdatedV3",
            json!([{"headBlockHash": head, "safeBlockHash": finalized, "finalizedBlockHash": finalized}, null]),
        )
        .await?;
    out.status = PayloadStatus::parse(answer.get("payloadStatus").unwrap_or(&Value::Null))?;
    Ok(out)
}

/// The latest block of `rpc` (`eth_getBlockByNumber("latest", false)`).
pub async fn latest_block<N: Network>(rpc: &RpcClient<N>) -> Result<Head, ClError> {
    let block = rpc
        .call("eth_getBlockByNumber", json!(["latest", false]))
        .await?;
    let text = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or_default();
    Ok(Head {
        hash: text("hash").to_owned(),
        number: parse_quantity(text("number"))?,
        timestamp: parse_quantity(text("timestamp"))?,
    })
}

/// `0x01 ‖ sha256(commitment)[1..]` for every KZG commitment of a blobs bundle.
pub fn versioned_hashes(bundle: Option<&Value>) -> Result<Vec<String>, ClError> {
    let Some(commitments) = bundle
        .and_then(|b| b.get("commitments"))
        .and_then(Value::as_array)
    else {
        return Ok(Vec::new());
    };
    commitments
        .iter()
        .map(|c| {
            let bytes = c
                .as_str()
                .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
                .filter(|b| b.len() == 48)
                .ok_or_else(|| ClError::BadReply(format!("bad KZG commitment {c}")))?;
            let mut h: [u8; 32] = Sha256::digest(&bytes).into();
            h[0] = 0x01;
            Ok(format!("0x{}", hex::encode(h)))
        })
        .collect()
}

fn parse_quantity(s: &str) -> Result<u64, ClError> {
    s.strip_prefix("0x")
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or_else(|| ClError::BadReply(format!("bad quantity {s:?}")))
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(10)]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use eb_transport::{JwtSecret, SystemClock, TokioNet};

    use super::*;
    use mock_el::{Behaviour, MockEl, Status};

    async fn driver_on_a_mock() -> (mock_el::MockElHandle, Driver<TokioNet>) {
        let secret = JwtSecret::from_bytes([3; 32]);
        let el = MockEl::builder()
            .secret(secret.clone())
            .spawn(TokioNet, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("mock");
        let engine =
            RpcClient::new(TokioNet, &el.url(), Some(secret), Arc::new(SystemClock)).expect("url");
        let driver = Driver::new(engine, Arc::new(SystemClock), DriverConfig::default())
            .await
            .expect("head");
        (el, driver)
    }

    #[tokio::test]
    async fn produces_blocks_on_a_mock_with_amsterdam_methods() {
        let (el, mut driver) = driver_on_a_mock().await;
        driver.config.amsterdam = true;
        driver.run(3, Duration::from_millis(1)).await;
        assert_eq!((driver.stats.produced, driver.stats.missed), (3, 0));
        assert_eq!(driver.stats.count("engine_newPayloadV5", "VALID"), 3);
        assert_eq!(
            driver
                .stats
                .count("engine_forkchoiceUpdatedV4", "VALID+attrs"),
            3
        );
        assert_eq!(el.calls_to("engine_getPayloadV6").len(), 3);
        assert!(el.calls_to("engine_newPayloadV3").is_empty());
        assert_eq!(driver.head().hash, el.head().hash.to_string());
    }

    #[tokio::test]
    async fn produces_blocks_on_a_mock_with_cancun_methods() {
        let (el, mut driver) = driver_on_a_mock().await;
        assert_eq!(driver.head().number, 0);
        driver.run(5, Duration::from_millis(1)).await;
        assert_eq!((driver.stats.produced, driver.stats.missed), (5, 0));
        assert_eq!(driver.head().number, 5);
        assert_eq!(driver.head().hash, el.head().hash.to_string());
        assert_eq!(driver.history.len(), 5);
        for method in [
            "engine_forkchoiceUpdatedV3",
            "engine_getPayloadV3",
            "engine_newPayloadV3",
        ] {
            assert!(!el.calls_to(method).is_empty(), "{method}");
        }
        assert_eq!(driver.stats.count("engine_newPayloadV3", "VALID"), 5);
        assert_eq!(
            driver
                .stats
                .count("engine_forkchoiceUpdatedV3", "VALID+attrs"),
            5
        );
        let np = &el.calls_to("engine_newPayloadV3")[0];
        assert_eq!(np.claims.clv.as_deref(), Some(CLIENT_VERSION));
        assert!(driver
            .stats
            .percentile("engine_newPayloadV3", 99.0)
            .is_some());
        assert!(driver.stats.summary().contains("produced 5 missed 0"));
    }

    #[tokio::test]
    async fn a_block_that_is_not_valid_is_not_built_on() {
        let (el, mut driver) = driver_on_a_mock().await;
        driver.slot().await.expect("first block");
        let parent = driver.head().clone();
        let result = driver
            .slot_with(|built| {
                el.set(Behaviour::InvalidHash(
                    built.block_hash.parse().expect("hash"),
                ))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(driver.head(), &parent);
        assert_eq!(driver.stats.count("engine_newPayloadV3", "INVALID"), 1);
        let next = driver.slot().await.expect("proposes again on the parent");
        assert_eq!(next.built.parent_hash, parent.hash);
        el.set_status(Status::Syncing);
        assert!(matches!(driver.slot().await, Err(ClError::Protocol(_))));
        assert_eq!((driver.stats.produced, driver.stats.missed), (2, 2));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        let s = ms(&[5, 1, 4, 2, 3]);
        assert_eq!(percentile(&s, 50.0), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&s, 99.0), Some(Duration::from_millis(5)));
        assert_eq!(percentile(&s, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(
            percentile(&ms(&hundred), 99.0),
            Some(Duration::from_millis(99))
        );
    }

    #[test]
    fn versioned_hash_of_a_commitment() {
        let bundle = json!({"commitments": [format!("0x{}", "00".repeat(48))]});
        let hashes = versioned_hashes(Some(&bundle)).expect("hashes");
        // sha256 of 48 zero bytes, first byte replaced by the version.
        let mut want: [u8; 32] = Sha256::digest([0u8; 48]).into();
        want[0] = 1;
        assert_eq!(hashes, [format!("0x{}", hex::encode(want))]);
        assert!(versioned_hashes(Some(&json!({"commitments": []})))
            .expect("empty")
            .is_empty());
        assert!(versioned_hashes(None).expect("none").is_empty());
        assert!(versioned_hashes(Some(&json!({"commitments": ["0x12"]}))).is_err());
    }
}
