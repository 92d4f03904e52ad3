//! The JSON-RPC methods: Engine API and the `eth_` subset, answered from [`Settings`] and
//! [`Chain`].
//!
//! Every method writes its `result` JSON straight into the response buffer. Payload params are
//! decoded into small borrowed headers; transactions are skipped, never decoded.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::behaviour::{LatestValid, Settings, Status};
use crate::chain::{Block, Chain, PayloadId};
use crate::encoding::{parse_quantity, Quantity, B256};
use crate::rpc::{self, Leading, RpcError};

/// Everything a call may read or change.
pub(crate) struct Ctx<'s> {
    pub settings: &'s Settings,
    pub chain: &'s mut Chain,
    pub now: Instant,
    pub name: &'s str,
    pub code: &'s str,
    pub instance: &'s [u8; 32],
}

/// What a call did, for the call log.
#[derive(Debug, Default)]
pub(crate) struct Effect {
    pub status: Option<Status>,
    pub block_hash: Option<B256>,
    pub payload_id: Option<String>,
}

/// Most bodies or blocks one request may ask for.
const MAX_BODIES: usize = 1024;
/// Most blobs one request may ask for.
const MAX_BLOBS: usize = 128;
const BLOB_BYTES: usize = 131_072;
const CELLS_PER_EXT_BLOB: usize = 128;
/// Bytes per cell (EIP-7594): 64 field elements of 32 bytes.
const CELL_BYTES: usize = 2048;
const ZERO_BLOOM: &str = concat!(
    "0x",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000"
);
/// keccak256(rlp([])): the root of an empty trie.
const EMPTY_TRIE: &str = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
/// keccak256(rlp([])) for an empty uncle list.
const EMPTY_UNCLES: &str = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";
const ZERO_ADDRESS: &str = "0x0000000000000000000000000000000000000000";
const GAS_LIMIT: u64 = 30_000_000;
const BASE_FEE: u64 = 7;

/// Answers one call, writing its result into `out`. On error `out` may hold a partial result;
/// the caller discards it.
pub(crate) fn call(
    ctx: &mut Ctx<'_>,
    method: &str,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<Effect, RpcError> {
    if let Some(f) = ctx
        .settings
        .rpc_error
        .as_ref()
        .filter(|f| f.scope.matches(method))
    {
        return Err(RpcError {
            code: f.code,
            message: Cow::Owned(f.message.clone()),
        });
    }
    if let Some(v) = versioned(method, "engine_newPayloadV", 6) {
        return new_payload(ctx, v, params, out);
    }
    if let Some(v) = versioned(method, "engine_forkchoiceUpdatedV", 5) {
        return forkchoice_updated(ctx, v, params, out);
    }
    if let Some(v) = versioned(method, "engine_getPayloadV", 6) {
        return get_payload(ctx, v, params, out).map(|_| Effect::default());
    }
    if versioned(method, "engine_getBlobsV", 4) == Some(4) {
        return get_blob_cells(ctx, params, out).map(|_| Effect::default());
    }
    if let Some(v) = versioned(method, "engine_getBlobsV", 3) {
        return get_blobs(ctx, v, params, out).map(|_| Effect::default());
    }
    match method {
        "engine_getPayloadBodiesByHashV1" => bodies_by_hash(ctx, params, false, out),
        "engine_getPayloadBodiesByRangeV1" => bodies_by_range(ctx, params, false, out),
        "engine_getPayloadBodiesByHashV2" => bodies_by_hash(ctx, params, true, out),
        "engine_getPayloadBodiesByRangeV2" => bodies_by_range(ctx, params, true, out),
        "engine_hasBlobs" => has_blobs(ctx, params, out),
        // FOCIL: this mock's mempool is empty, so its inclusion list is too.
        "engine_getInclusionListV1" => write(out, &[(); 0]),
        "engine_exchangeCapabilities" => write(out, &ctx.settings.capabilities),
        "engine_getClientVersionV1" => client_version(ctx, out),
        "eth_syncing" => syncing(ctx, out),
        "eth_chainId" => write(out, &Quantity::from(ctx.settings.chain_id)),
        "eth_blockNumber" => write(out, &Quantity::from(ctx.chain.head().number)),
        "eth_getBlockByNumber" => block_by_number(ctx, params, out),
        "eth_getBlockByHash" => block_by_hash(ctx, params, out),
        _ => Err(RpcError::METHOD_NOT_FOUND),
    }
    .map(|_| Effect::default())
}

fn versioned(method: &str, prefix: &str, max: u8) -> Option<u8> {
    let v: u8 = method.strip_prefix(prefix)?.parse().ok()?;
    (1..=max).contains(&v).then_some(v)
}

fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), RpcError> {
    serde_json::to_writer(out, value).map_err(|_| RpcError::fixed(-32603, "Internal error"))
}

fn quantity(text: &str, what: &str) -> Result<u64, RpcError> {
    parse_quantity(text).map_err(|e| RpcError::invalid_params(format_args!("{what}: {e}")))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PayloadStatusOut<'a> {
    status: &'static str,
    latest_valid_hash: Option<B256>,
    validation_error: Option<&'a str>,
    /// PayloadStatusV2 only (newPayloadV6, forkchoiceUpdatedV5): a bool when VALID, else null.
    #[serde(skip_serializing_if = "Option::is_none")]
    inclusion_list_satisfied: Option<Option<bool>>,
}

/// PayloadStatusV2's `inclusionListSatisfied` for `status`, when `v2` (Bogota) is answered.
fn inclusion(s: &Settings, v2: bool, status: Status) -> Option<Option<bool>> {
    v2.then(|| (status == Status::Valid).then_some(s.inclusion_list_satisfied))
}

/// A payload's header fields; everything else (transactions included) is skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadHeader<'a> {
    block_hash: B256,
    parent_hash: B256,
    block_number: &'a str,
    timestamp: &'a str,
    #[serde(borrow, default)]
    withdrawals: Option<&'a RawValue>,
}

/// The verdict for a block before side effects: a status and why it is INVALID.
fn rules(s: &Settings, now: Instant, hash: &B256, number: Option<u64>) -> (Status, &'static str) {
    if s.syncing_at(now) {
        (Status::Syncing, "")
    } else if s.invalid_hashes.contains(hash) {
        (Status::Invalid, "mock-el: block hash marked invalid")
    } else if let (Some(n), Some(every)) = (number, s.invalid_every) {
        if n % every == 0 {
            (Status::Invalid, "mock-el: every Nth block is invalid")
        } else {
            (s.status, "mock-el: invalid by configuration")
        }
    } else {
        (s.status, "mock-el: invalid by configuration")
    }
}

fn latest_valid(rule: LatestValid, parent: Option<B256>) -> Option<B256> {
    match rule {
        LatestValid::Parent => parent,
        LatestValid::Null => None,
        LatestValid::Zero => Some(B256::ZERO),
        LatestValid::Hash(h) => Some(h),
    }
}

fn new_payload(
    ctx: &mut Ctx<'_>,
    version: u8,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<Effect, RpcError> {
    let header: PayloadHeader<'_> = rpc::first(params)?;
    let number = quantity(header.block_number, "blockNumber")?;
    let timestamp = quantity(header.timestamp, "timestamp")?;
    let hash = header.block_hash;
    let s = ctx.settings;
    let (mut status, reason) = rules(s, ctx.now, &hash, Some(number));
    if status == Status::Valid && s.require_parent && ctx.chain.get(&header.parent_hash).is_none() {
        status = Status::Syncing;
    }
    let mut lvh_rule = s.latest_valid_hash;
    if status == Status::InvalidBlockHash && version > 1 {
        // From V2 on, a failed block-hash check is INVALID with a null latestValidHash.
        status = Status::Invalid;
        lvh_rule = LatestValid::Null;
    }
    let (lvh, error) = match status {
        Status::Valid | Status::Accepted => {
            let head = ctx.chain.head();
            let extends = number > head.number || header.parent_hash == head.hash;
            ctx.chain.insert(Block {
                hash,
                parent: header.parent_hash,
                number,
                timestamp,
                withdrawals: header.withdrawals.map(|w| w.to_owned()),
            });
            if status == Status::Valid {
                if extends {
                    ctx.chain.set_head(hash);
                }
                (Some(hash), None)
            } else {
                (None, None)
            }
        }
        Status::Syncing => (None, None),
        Status::Invalid => {
            ctx.chain.mark_invalid(hash);
            let error = s.validation_error.as_deref().unwrap_or(reason);
            (
                latest_valid(lvh_rule, Some(header.parent_hash)),
                Some(error),
            )
        }
        Status::InvalidBlockHash => {
            let error = s
                .validation_error
                .as_deref()
                .unwrap_or("mock-el: block hash mismatch");
            (None, Some(error))
        }
    };
    write(
        out,
        &PayloadStatusOut {
            status: status.as_str(),
            latest_valid_hash: lvh,
            validation_error: error,
            inclusion_list_satisfied: inclusion(s, version >= 6, status),
        },
    )?;
    Ok(Effect {
        status: Some(status),
        block_hash: Some(hash),
        payload_id: None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForkchoiceState {
    head_block_hash: B256,
    safe_block_hash: B256,
    finalized_block_hash: B256,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attributes<'a> {
    timestamp: &'a str,
    prev_randao: &'a str,
    suggested_fee_recipient: &'a str,
    #[serde(borrow, default)]
    withdrawals: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ForkchoiceOut<'a> {
    payload_status: PayloadStatusOut<'a>,
    payload_id: Option<&'a str>,
}

fn forkchoice_updated(
    ctx: &mut Ctx<'_>,
    version: u8,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<Effect, RpcError> {
    let Leading(state, attrs): Leading<ForkchoiceState, Option<Attributes<'_>>> =
        rpc::leading(params)?;
    let attrs = attrs.flatten();
    let head = state.head_block_hash;
    let s = ctx.settings;
    let known = ctx.chain.get(&head).map(|b| (b.number, b.parent));
    let (status, reason) = if ctx.chain.is_invalid(&head) && !s.syncing_at(ctx.now) {
        (Status::Invalid, "mock-el: head was answered INVALID")
    } else {
        rules(s, ctx.now, &head, known.map(|k| k.0))
    };
    // A forkchoice update never answers ACCEPTED, and a block that failed its hash check was
    // never stored, so its head is unknown: SYNCING.
    let status = match status {
        Status::Accepted | Status::InvalidBlockHash => Status::Syncing,
        other => other,
    };
    let mut payload_id = None;
    let (lvh, error) = match status {
        Status::Valid => {
            ctx.chain.set_head(head);
            if ctx.chain.get(&state.safe_block_hash).is_some() {
                ctx.chain.safe = state.safe_block_hash;
            }
            if ctx.chain.get(&state.finalized_block_hash).is_some() {
                ctx.chain.finalized = state.finalized_block_hash;
            }
            if let Some(a) = &attrs {
                let timestamp = parse_quantity(a.timestamp)
                    .map_err(|_| RpcError::fixed(-38003, "Invalid payload attributes"))?;
                let id = ctx.chain.start_build(
                    head,
                    timestamp,
                    a.prev_randao,
                    a.suggested_fee_recipient,
                    a.withdrawals,
                );
                payload_id = Some(format!("0x{}", hex::encode(id)));
            }
            (Some(head), None)
        }
        Status::Invalid => {
            let error = s.validation_error.as_deref().unwrap_or(reason);
            (
                latest_valid(s.latest_valid_hash, known.map(|k| k.1)),
                Some(error),
            )
        }
        _ => (None, None),
    };
    write(
        out,
        &ForkchoiceOut {
            payload_status: PayloadStatusOut {
                status: status.as_str(),
                latest_valid_hash: lvh,
                validation_error: error,
                inclusion_list_satisfied: inclusion(s, version >= 5, status),
            },
            payload_id: payload_id.as_deref(),
        },
    )?;
    Ok(Effect {
        status: Some(status),
        block_hash: Some(head),
        payload_id,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PayloadOut<'a> {
    parent_hash: B256,
    fee_recipient: &'a str,
    state_root: B256,
    receipts_root: &'static str,
    logs_bloom: &'static str,
    prev_randao: &'a str,
    block_number: Quantity,
    gas_limit: Quantity,
    gas_used: Quantity,
    timestamp: Quantity,
    extra_data: &'a str,
    base_fee_per_gas: Quantity,
    block_hash: B256,
    transactions: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    withdrawals: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob_gas_used: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    excess_blob_gas: Option<Quantity>,
}

#[derive(Serialize)]
struct EmptyBlobsBundle {
    commitments: [(); 0],
    proofs: [(); 0],
    blobs: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PayloadEnvelopeOut<'a> {
    execution_payload: PayloadOut<'a>,
    block_value: Quantity,
    #[serde(skip_serializing_if = "Option::is_none")]
    blobs_bundle: Option<EmptyBlobsBundle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    should_override_builder: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_requests: Option<[(); 0]>,
}

fn payload_id(text: &str) -> Result<PayloadId, RpcError> {
    let mut id = [0u8; 8];
    text.strip_prefix("0x")
        .and_then(|d| hex::decode_to_slice(d, &mut id).ok())
        .ok_or_else(|| RpcError::invalid_params("payloadId must be 0x + 16 hex digits"))?;
    Ok(id)
}

fn get_payload(
    ctx: &mut Ctx<'_>,
    version: u8,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let id = payload_id(rpc::first::<&str>(params)?)?;
    let build = ctx.chain.build(&id).ok_or(RpcError::UNKNOWN_PAYLOAD)?;
    let name = ctx.name.as_bytes();
    let extra_data = format!("0x{}", hex::encode(&name[..name.len().min(32)]));
    let empty: Box<RawValue> = RawValue::from_string("[]".to_string())
        .map_err(|_| RpcError::fixed(-32603, "Internal error"))?;
    let withdrawals = match (version, build.withdrawals.as_deref()) {
        (1, _) => None,
        (2, w) => w,
        (_, w) => Some(w.unwrap_or(&empty)),
    };
    let blobs = version >= 3;
    let payload = PayloadOut {
        parent_hash: build.parent,
        fee_recipient: &build.fee_recipient,
        state_root: build.state_root,
        receipts_root: EMPTY_TRIE,
        logs_bloom: ZERO_BLOOM,
        prev_randao: &build.prev_randao,
        block_number: build.number.into(),
        gas_limit: GAS_LIMIT.into(),
        gas_used: 0.into(),
        timestamp: build.timestamp.into(),
        extra_data: &extra_data,
        base_fee_per_gas: BASE_FEE.into(),
        block_hash: build.block_hash,
        transactions: [],
        withdrawals,
        blob_gas_used: blobs.then_some(Quantity(0)),
        excess_blob_gas: blobs.then_some(Quantity(0)),
    };
    if version == 1 {
        return write(out, &payload);
    }
    write(
        out,
        &PayloadEnvelopeOut {
            execution_payload: payload,
            block_value: ctx.settings.block_value,
            blobs_bundle: blobs.then_some(EmptyBlobsBundle {
                commitments: [],
                proofs: [],
                blobs: [],
            }),
            should_override_builder: blobs.then_some(false),
            execution_requests: (version >= 4).then_some([]),
        },
    )
}

/// Writes `"0x" + hex(prefix) + "00".repeat(len - prefix.len())`.
fn write_hex_padded(out: &mut Vec<u8>, prefix: &[u8], len: usize) {
    out.extend_from_slice(b"\"0x");
    let start = out.len();
    out.resize(start + prefix.len() * 2, 0);
    // Cannot fail: the slice is exactly twice the input length.
    let _ = hex::encode_to_slice(prefix, &mut out[start..]);
    out.resize(out.len() + (len.saturating_sub(prefix.len())) * 2, b'0');
    out.push(b'"');
}

fn get_blobs(
    ctx: &mut Ctx<'_>,
    version: u8,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let hashes: Vec<B256> = rpc::first(params)?;
    if hashes.len() > MAX_BLOBS {
        return Err(RpcError::TOO_LARGE);
    }
    let have = |h: &B256| ctx.settings.blobs.contains(h);
    if version >= 2 && !hashes.iter().all(have) {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    out.reserve(hashes.len() * (BLOB_BYTES * 2 + 64));
    out.push(b'[');
    for (i, h) in hashes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !have(h) {
            out.extend_from_slice(b"null");
            continue;
        }
        // The blob starts with its versioned hash, so every blob differs.
        out.extend_from_slice(b"{\"blob\":");
        write_hex_padded(out, &h.0, BLOB_BYTES);
        if version == 1 {
            out.extend_from_slice(b",\"proof\":");
            write_hex_padded(out, &h.0, 48);
        } else {
            out.extend_from_slice(b",\"proofs\":[");
            for cell in 0..CELLS_PER_EXT_BLOB {
                if cell > 0 {
                    out.push(b',');
                }
                write_hex_padded(out, &h.0, 48);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyOut<'a> {
    transactions: [(); 0],
    withdrawals: Option<&'a RawValue>,
    /// V2 (Amsterdam) only; this mock keeps no access lists: null.
    #[serde(skip_serializing_if = "Option::is_none")]
    block_access_list: Option<()>,
}

fn body(block: Option<&Block>, v2: bool) -> Option<BodyOut<'_>> {
    block.map(|b| BodyOut {
        transactions: [],
        withdrawals: b.withdrawals.as_deref(),
        block_access_list: v2.then_some(()),
    })
}

/// engine_getBlobsV4 (Amsterdam): per blob the cells the 128-bit bitarray asks for, with their
/// proofs; `null` for a blob this mock does not have (partial answers are allowed).
fn get_blob_cells(
    ctx: &mut Ctx<'_>,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let Leading(hashes, bits): Leading<Vec<B256>, &str> = rpc::leading(params)?;
    if hashes.len() > MAX_BLOBS {
        return Err(RpcError::TOO_LARGE);
    }
    let bits = bits.ok_or_else(|| RpcError::invalid_params("missing indices bitarray"))?;
    let bits = hex::decode(bits.strip_prefix("0x").unwrap_or(bits))
        .ok()
        .filter(|b| b.len() == CELLS_PER_EXT_BLOB / 8)
        .ok_or_else(|| RpcError::invalid_params("indices bitarray must be 16 bytes"))?;
    let cells: Vec<usize> = (0..CELLS_PER_EXT_BLOB)
        .filter(|i| bits[i / 8] & (1 << (i % 8)) != 0)
        .collect();
    out.push(b'[');
    for (i, h) in hashes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !ctx.settings.blobs.contains(h) {
            out.extend_from_slice(b"null");
            continue;
        }
        out.extend_from_slice(b"{\"blobCells\":[");
        for (n, cell) in cells.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            // A cell starts with its blob's versioned hash and its index: every cell differs.
            let mut head = h.0.to_vec();
            head.push(*cell as u8);
            write_hex_padded(out, &head, CELL_BYTES);
        }
        out.extend_from_slice(b"],\"proofs\":[");
        for n in 0..cells.len() {
            if n > 0 {
                out.push(b',');
            }
            write_hex_padded(out, &h.0, 48);
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
    Ok(())
}

/// Prysm's engine_hasBlobs: for each versioned hash, whether this mock has its blob.
fn has_blobs(
    ctx: &mut Ctx<'_>,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let hashes: Vec<B256> = rpc::first(params)?;
    if hashes.len() > MAX_BLOBS {
        return Err(RpcError::TOO_LARGE);
    }
    let have: Vec<bool> = hashes
        .iter()
        .map(|h| ctx.settings.blobs.contains(h))
        .collect();
    write(out, &have)
}

fn bodies_by_hash(
    ctx: &mut Ctx<'_>,
    params: Option<&RawValue>,
    v2: bool,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let hashes: Vec<B256> = rpc::first(params)?;
    if hashes.len() > MAX_BODIES {
        return Err(RpcError::TOO_LARGE);
    }
    let bodies: Vec<_> = hashes.iter().map(|h| body(ctx.chain.get(h), v2)).collect();
    write(out, &bodies)
}

fn bodies_by_range(
    ctx: &mut Ctx<'_>,
    params: Option<&RawValue>,
    v2: bool,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let Leading(start, count): Leading<&str, &str> = rpc::leading(params)?;
    let start = quantity(start, "start")?;
    let count = quantity(
        count.ok_or_else(|| RpcError::invalid_params("missing count"))?,
        "count",
    )?;
    if start < 1 || count < 1 {
        return Err(RpcError::invalid_params(
            "start and count must be at least 1",
        ));
    }
    if count > MAX_BODIES as u64 {
        return Err(RpcError::TOO_LARGE);
    }
    let mut bodies: Vec<_> = (start..start.saturating_add(count))
        .map(|n| body(ctx.chain.by_number(n), v2))
        .collect();
    while bodies.last().is_some_and(Option::is_none) {
        bodies.pop();
    }
    write(out, &bodies)
}

#[derive(Serialize)]
struct ClientVersionOut<'a> {
    code: &'a str,
    name: &'a str,
    version: &'static str,
    commit: &'a str,
}

fn client_version(ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Result<(), RpcError> {
    if let Some(entries) = &ctx.settings.client_versions {
        return write(out, entries);
    }
    let commit = format!("0x{}", hex::encode(&ctx.instance[..4]));
    write(
        out,
        &[ClientVersionOut {
            code: ctx.code,
            name: ctx.name,
            version: env!("CARGO_PKG_VERSION"),
            commit: &commit,
        }],
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncingOut {
    starting_block: Quantity,
    current_block: Quantity,
    highest_block: Quantity,
}

fn syncing(ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Result<(), RpcError> {
    let s = ctx.settings;
    if s.syncing_at(ctx.now) || s.status == Status::Syncing {
        let current = ctx.chain.head().number;
        write(
            out,
            &SyncingOut {
                starting_block: Quantity(0),
                current_block: current.into(),
                highest_block: current.saturating_add(1).into(),
            },
        )
    } else {
        write(out, &false)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockOut<'a> {
    number: Quantity,
    hash: B256,
    parent_hash: B256,
    nonce: &'static str,
    sha3_uncles: &'static str,
    logs_bloom: &'static str,
    transactions_root: &'static str,
    state_root: &'static str,
    receipts_root: &'static str,
    miner: &'static str,
    difficulty: Quantity,
    total_difficulty: Quantity,
    extra_data: &'static str,
    size: Quantity,
    gas_limit: Quantity,
    gas_used: Quantity,
    timestamp: Quantity,
    base_fee_per_gas: Quantity,
    mix_hash: B256,
    transactions: [(); 0],
    uncles: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    withdrawals: Option<&'a RawValue>,
}

fn write_block(out: &mut Vec<u8>, block: Option<&Block>) -> Result<(), RpcError> {
    let Some(b) = block else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    write(
        out,
        &BlockOut {
            number: b.number.into(),
            hash: b.hash,
            parent_hash: b.parent,
            nonce: "0x0000000000000000",
            sha3_uncles: EMPTY_UNCLES,
            logs_bloom: ZERO_BLOOM,
            transactions_root: EMPTY_TRIE,
            state_root: EMPTY_TRIE,
            receipts_root: EMPTY_TRIE,
            miner: ZERO_ADDRESS,
            difficulty: Quantity(0),
            total_difficulty: Quantity(0),
            extra_data: "0x",
            size: Quantity(0x220),
            gas_limit: GAS_LIMIT.into(),
            gas_used: Quantity(0),
            timestamp: b.timestamp.into(),
            base_fee_per_gas: BASE_FEE.into(),
            mix_hash: B256::ZERO,
            transactions: [],
            uncles: [],
            withdrawals: b.withdrawals.as_deref(),
        },
    )
}

fn block_by_number(
    ctx: &mut Ctx<'_>,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let Leading(tag, _full): Leading<&str, IgnoredAny> = rpc::leading(params)?;
    let chain = &*ctx.chain;
    let block = match tag {
        "latest" | "pending" => Some(chain.head()),
        "earliest" => chain.earliest(),
        "safe" => chain.get(&chain.safe),
        "finalized" => chain.get(&chain.finalized),
        n => chain.by_number(quantity(n, "block number")?),
    };
    write_block(out, block)
}

fn block_by_hash(
    ctx: &mut Ctx<'_>,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let hash: B256 = rpc::first(params)?;
    write_block(out, ctx.chain.get(&hash))
}
