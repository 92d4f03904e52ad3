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
