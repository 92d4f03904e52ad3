//! Engine API request shapes shared by the test helpers. Blocks are named by numbers that each
//! helper turns into hashes its own way (`hash`), so snapshots of either stay as they are.

use serde_json::{json, Value};

/// engine_newPayloadV3 params for block `n` on parent `parent`.
pub fn new_payload_params(hash: &dyn Fn(u64) -> String, n: u64, parent: u64) -> Value {
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
pub fn fcu_params(
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
#[allow(dead_code)]
pub fn new_payload_v5_params(hash: &dyn Fn(u64) -> String, n: u64, parent: u64) -> Value {
    let mut params = new_payload_params(hash, n, parent);
    params[0]["blockAccessList"] = json!("0xc0");
    params[0]["slotNumber"] = json!(format!("0x{n:x}"));
    if let Some(list) = params.as_array_mut() {
        list.push(json!([]));
    }
    params
}

/// engine_newPayloadV6 (Bogota) params: V5's plus `inclusionListTransactions`.
#[allow(dead_code)]
pub fn new_payload_v6_params(hash: &dyn Fn(u64) -> String, n: u64, parent: u64) -> Value {
    let mut params = new_payload_v5_params(hash, n, parent);
    if let Some(list) = params.as_array_mut() {
        list.push(json!(["0x02f0"]));
    }
    params
}

/// engine_forkchoiceUpdatedV4 (Amsterdam, `v5`: Bogota) params: the state, PayloadAttributesV4
/// (V3 + `slotNumber`, `targetGasLimit`; V5 adds `inclusionListTransactions`) or null, and the
/// third parameter, `custodyColumns` (16 bytes).
#[allow(dead_code)]
pub fn fcu_v4_params(
    hash: &dyn Fn(u64) -> String,
    n: u64,
    ancestors: [u64; 2],
    attributes: bool,
    v5: bool,
) -> Value {
    let mut params = fcu_params(hash, n, ancestors, attributes);
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
