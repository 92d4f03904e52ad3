//! Engine API values shared by the harnesses: block hashes, request shapes, statuses. Blocks are
//! named by numbers; the mock-el harness turns them into hashes with [`hash`], the scripted one
//! with [`byte_hash`] (its snapshots show those).

use serde_json::{json, Value};

/// `0x` + the number as 32 bytes, big-endian.
pub fn hash(n: u64) -> String {
    format!("0x{n:064x}")
}

/// `0x` + 32 bytes of `n` (easy to tell apart in a scripted EL's answers).
pub fn byte_hash(n: u8) -> String {
    format!("0x{}", format!("{n:02x}").repeat(32))
}

/// A JSON-RPC request object.
pub fn request(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A PayloadStatusV1.
pub fn payload_status(status: &str, lvh: Option<&str>, error: Option<&str>) -> Value {
    json!({"status": status, "latestValidHash": lvh, "validationError": error})
}

/// A forkchoiceUpdated result.
pub fn fcu_result(status: Value, payload_id: Option<&str>) -> Value {
    json!({"payloadStatus": status, "payloadId": payload_id})
}

/// The status of a newPayload or forkchoiceUpdated answer (`<none>` when it has none).
pub fn status_of(response: &Value) -> &str {
    response["result"]["status"]
        .as_str()
        .or_else(|| response["result"]["payloadStatus"]["status"].as_str())
        .unwrap_or("<none>")
}

/// The payloadId of a forkchoiceUpdated answer.
pub fn payload_id(fcu: &Value) -> String {
    fcu["result"]["payloadId"]
        .as_str()
        .unwrap_or_else(|| panic!("no payloadId in {fcu}"))
        .to_owned()
}

/// engine_newPayloadV3 params for block `n` on parent `parent`.
pub fn new_payload_params_with(hash: &dyn Fn(u64) -> String, n: u64, parent: u64) -> Value {
    json!([
        {
            "parentHash": hash(parent),
            "feeRecipient": format!("0x{}", "00".repeat(20)),
            "stateRoot": hash(0xaa),
            "receiptsRoot": hash(0xbb),
            "logsBloom": format!("0x{}", "00".repeat(256)),
            "prevRandao": hash(0xcc),
            "blockNumber": format!("0x{n:x}"),
            "gasLimit": "0x1c9c380",
            "gasUsed": "0x0",
            "timestamp": format!("0x{:x}", 1_700_000_000u64 + n * 12),
            "extraData": "0x",
            "baseFeePerGas": "0x7",
            "blockHash": hash(n),
            "transactions": [],
            "withdrawals": [],
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0"
        },
        [],
        hash(0xdd)
    ])
}

/// engine_forkchoiceUpdatedV3 params: head `n`, safe and finalized blocks `ancestors`, with or
/// without payload attributes.
pub fn fcu_params_with(
    hash: &dyn Fn(u64) -> String,
    n: u64,
    ancestors: [u64; 2],
    attributes: bool,
) -> Value {
    let state = json!({
        "headBlockHash": hash(n),
        "safeBlockHash": hash(ancestors[0]),
        "finalizedBlockHash": hash(ancestors[1]),
    });
    let attrs = if attributes {
        json!({
            "timestamp": format!("0x{:x}", 1_700_000_000u64 + n * 12 + 12),
            "prevRandao": hash(0xcc),
            "suggestedFeeRecipient": format!("0x{}", "11".repeat(20)),
            "withdrawals": [],
            "parentBeaconBlockRoot": hash(0xdd)
        })
    } else {
        Value::Null
    };
    json!([state, attrs])
}

/// engine_newPayloadV5 (Amsterdam) params: an ExecutionPayloadV4 (V3 + `blockAccessList`,
/// `slotNumber`), versioned hashes, the beacon root and the execution requests.
pub fn new_payload_v5_params_with(hash: &dyn Fn(u64) -> String, n: u64, parent: u64) -> Value {
    let mut params = new_payload_params_with(hash, n, parent);
    params[0]["blockAccessList"] = json!("0xc0");
    params[0]["slotNumber"] = json!(format!("0x{n:x}"));
    if let Some(list) = params.as_array_mut() {
        list.push(json!([]));
    }
    params
}

/// engine_newPayloadV6 (Bogota) params: V5's plus `inclusionListTransactions`.
pub fn new_payload_v6_params_with(hash: &dyn Fn(u64) -> String, n: u64, parent: u64) -> Value {
    let mut params = new_payload_v5_params_with(hash, n, parent);
    if let Some(list) = params.as_array_mut() {
        list.push(json!(["0x02f0"]));
    }
    params
}

/// engine_forkchoiceUpdatedV4 (Amsterdam, `v5`: Bogota) params: the state, PayloadAttributesV4
/// (V3 + `slotNumber`, `targetGasLimit`; V5 adds `inclusionListTransactions`) or null, and the
/// third parameter, `custodyColumns` (16 bytes).
pub fn fcu_v4_params_with(
    hash: &dyn Fn(u64) -> String,
    n: u64,
    ancestors: [u64; 2],
    attributes: bool,
    v5: bool,
) -> Value {
    let mut params = fcu_params_with(hash, n, ancestors, attributes);
    if attributes {
        params[1]["slotNumber"] = json!(format!("0x{:x}", n + 1));
        params[1]["targetGasLimit"] = json!("0x2255100");
        if v5 {
            params[1]["inclusionListTransactions"] = json!([]);
        }
    }
    if let Some(list) = params.as_array_mut() {
        list.push(json!(format!("0x{}", "ff".repeat(16))));
    }
    params
}

/// engine_newPayloadV3 params for block `n` on block `n - 1`, hashes by [`hash`].
pub fn new_payload_params(n: u64) -> Value {
    new_payload_params_with(&hash, n, n.saturating_sub(1))
}

/// engine_forkchoiceUpdatedV3 params with head `n` (safe `n - 1`, finalized `n - 2`).
pub fn fcu_params(n: u64, attributes: bool) -> Value {
    let ancestors = [n.saturating_sub(1), n.saturating_sub(2)];
    fcu_params_with(&hash, n, ancestors, attributes)
}

pub fn new_payload_v5_params(n: u64) -> Value {
    new_payload_v5_params_with(&hash, n, n.saturating_sub(1))
}

pub fn new_payload_v6_params(n: u64) -> Value {
    new_payload_v6_params_with(&hash, n, n.saturating_sub(1))
}

pub fn fcu_v4_params(n: u64, attributes: bool, v5: bool) -> Value {
    let ancestors = [n.saturating_sub(1), n.saturating_sub(2)];
    fcu_v4_params_with(&hash, n, ancestors, attributes, v5)
}
