//! Real-shaped `engine_newPayloadV4` requests of a chosen size.
//!
//! A [`PayloadTemplate`] holds what stays the same from block to block of one size class: the
//! transactions (random bytes, EIP-1559 typed, with a mainnet-like spread of lengths), the
//! withdrawals, the blob versioned hashes. Each request gets a fresh header from a
//! [`BlockSeq`] (a new `blockHash`, the previous block as parent), so no two requests are the
//! same block. Bodies are assembled by concatenation, so building a 4 MB request costs a copy,
//! not a serialization.

use std::fmt::Write as _;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore};

/// A payload size class: the label in the tables and the request size aimed at.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub label: &'static str,
    pub target_bytes: usize,
    /// Withdrawals in the block (a mainnet block carries 16; the smallest class carries fewer
    /// to stay near 2 KB).
    pub withdrawals: usize,
    pub blobs: usize,
}

pub const SHAPES: [Shape; 4] = [
    Shape {
        label: "2 KB",
        target_bytes: 2 * 1024,
        withdrawals: 4,
        blobs: 1,
    },
    Shape {
        label: "128 KB",
        target_bytes: 128 * 1024,
        withdrawals: 16,
        blobs: 6,
    },
    Shape {
        label: "1 MB",
        target_bytes: 1024 * 1024,
        withdrawals: 16,
        blobs: 6,
    },
    Shape {
        label: "4 MB",
        target_bytes: 4 * 1024 * 1024,
        withdrawals: 16,
        blobs: 9,
    },
];

/// Bytes of one blob's gas, for `blobGasUsed`.
const GAS_PER_BLOB: u64 = 131_072;

/// `0x` + hex of `n` random bytes.
pub fn random_hex(rng: &mut SmallRng, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rng.fill_bytes(&mut bytes);
    format!("0x{}", hex::encode(bytes))
}

/// A transaction length drawn from a spread like mainnet's: mostly transfers and token calls,
/// some contract calls with calldata, a few large ones.
fn transaction_len(rng: &mut SmallRng) -> usize {
    match rng.gen_range(0..100) {
        0..=34 => rng.gen_range(110..=120),
        35..=79 => rng.gen_range(150..=420),
        80..=97 => rng.gen_range(600..=3_000),
        _ => rng.gen_range(8_000..=24_000),
    }
}

/// One block's identity in the sequence of blocks sent.
#[derive(Clone, Debug)]
pub struct BlockRef {
    pub number: u64,
    pub hash: String,
    pub parent: String,
    pub timestamp: u64,
}

/// Hands out consecutive blocks, each with a fresh random hash.
pub struct BlockSeq {
    rng: SmallRng,
    number: u64,
    head: String,
}

impl BlockSeq {
    pub fn new(mut rng: SmallRng) -> Self {
        let head = random_hex(&mut rng, 32);
        Self {
            rng,
            number: 1_000_000,
            head,
        }
    }

    /// The next block, on top of the previous one.
    pub fn next_block(&mut self) -> BlockRef {
        let hash = random_hex(&mut self.rng, 32);
        self.adopt(hash)
    }

    /// The next block with a given hash (one an EL built).
    pub fn adopt(&mut self, hash: String) -> BlockRef {
        self.number += 1;
        let parent = std::mem::replace(&mut self.head, hash.clone());
        BlockRef {
            number: self.number,
            hash,
            parent,
            timestamp: 1_700_000_000 + self.number * 12,
        }
    }

    /// The latest block's hash.
    pub fn head(&self) -> &str {
        &self.head
    }
}

/// The unchanging parts of one size class's blocks.
pub struct PayloadTemplate {
    pub shape: Shape,
    /// `"feeRecipient":…` through `"extraData":…` plus the bloom, as JSON members.
    fixed_members: String,
    transactions: String,
    withdrawals: String,
    /// The params after the payload: versioned hashes, beacon root, execution requests.
    trailing_params: String,
    gas_used: u64,
    blob_gas_used: u64,
    /// Size of a request (give or take the digits of its id).
    request_bytes: usize,
}

impl PayloadTemplate {
    pub fn new(shape: Shape, rng: &mut SmallRng) -> Self {
        let fixed_members = format!(
            "\"feeRecipient\":\"{}\",\"stateRoot\":\"{}\",\"receiptsRoot\":\"{}\",\"logsBloom\":\"{}\",\"prevRandao\":\"{}\",\"gasLimit\":\"0x2255100\",\"extraData\":\"0x6265617665726275696c642e6f7267\",\"baseFeePerGas\":\"0x3b9aca07\"",
            random_hex(rng, 20),
            random_hex(rng, 32),
            random_hex(rng, 32),
            random_hex(rng, 256),
            random_hex(rng, 32),
        );
        let mut withdrawals = String::from("[");
        for i in 0..shape.withdrawals {
            if i > 0 {
                withdrawals.push(',');
            }
            let _ = write!(
                withdrawals,
                "{{\"index\":\"{:#x}\",\"validatorIndex\":\"{:#x}\",\"address\":\"{}\",\"amount\":\"{:#x}\"}}",
                80_000_000 + i,
                rng.gen_range(1_000..1_900_000u64),
                random_hex(rng, 20),
                rng.gen_range(10_000..20_000_000u64),
            );
        }
        withdrawals.push(']');
        let hashes: Vec<String> = (0..shape.blobs)
            .map(|_| {
                let h = random_hex(rng, 32);
                format!("\"0x01{}\"", &h[4..])
            })
            .collect();
        let trailing_params = format!("[{}],\"{}\",[]", hashes.join(","), random_hex(rng, 32));
        let mut template = Self {
            shape,
            fixed_members,
            transactions: String::new(),
            withdrawals,
            trailing_params,
            gas_used: 0,
            blob_gas_used: shape.blobs as u64 * GAS_PER_BLOB,
            request_bytes: 0,
        };
        template.fill_transactions(rng);
        template.request_bytes = template.request(&probe_block(), 1).len();
        template
    }

    /// Adds transactions until a request reaches the target size (at least one transaction).
    fn fill_transactions(&mut self, rng: &mut SmallRng) {
        let overhead = self.request_len_without_transactions();
        let budget = self.shape.target_bytes.saturating_sub(overhead);
        let mut txs = String::with_capacity(budget + 64);
        txs.push('[');
        let mut count = 0u64;
        loop {
            // `"0x…"` plus a comma: 2 hex digits per byte and 5 characters of framing.
            let room = budget.saturating_sub(txs.len() + 1);
            let mut len = transaction_len(rng);
            if room < 2 * len + 5 {
                if count > 0 {
                    break;
                }
                len = 20;
            }
            if count > 0 {
                txs.push(',');
            }
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            bytes[0] = 0x02;
            txs.push_str("\"0x");
            txs.push_str(&hex::encode(&bytes));
            txs.push('"');
            count += 1;
            self.gas_used += 21_000 + 16 * len as u64;
        }
        txs.push(']');
        self.transactions = txs;
    }

    /// Called before the transactions are filled in.
    fn request_len_without_transactions(&self) -> usize {
        self.request(&probe_block(), 1).len()
    }

    /// The `engine_newPayloadV4` request for `block`.
    pub fn request(&self, block: &BlockRef, id: u64) -> Bytes {
        let mut out = String::with_capacity(self.shape.target_bytes + 2048);
        let _ = write!(
            out,
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"engine_newPayloadV4\",\"params\":[{{\"parentHash\":\"{}\",{},\"blockNumber\":\"{:#x}\",\"gasUsed\":\"{:#x}\",\"timestamp\":\"{:#x}\",\"blockHash\":\"{}\",\"transactions\":",
            block.parent, self.fixed_members, block.number, self.gas_used, block.timestamp, block.hash,
        );
        out.push_str(if self.transactions.is_empty() {
            "[]"
        } else {
            &self.transactions
        });
        out.push_str(",\"withdrawals\":");
        out.push_str(&self.withdrawals);
        let _ = write!(
            out,
            ",\"blobGasUsed\":\"{:#x}\",\"excessBlobGas\":\"0x0\"}},{}]}}",
            self.blob_gas_used, self.trailing_params
        );
        Bytes::from(out)
    }

    /// The request size this template produces (the `id` makes it vary by a few bytes).
    pub fn request_bytes(&self) -> usize {
        self.request_bytes
    }
}

/// A block with the same field widths as every block of a [`BlockSeq`].
fn probe_block() -> BlockRef {
    BlockRef {
        number: 1_000_000,
        hash: format!("0x{}", "00".repeat(32)),
        parent: format!("0x{}", "00".repeat(32)),
        timestamp: 1_700_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn requests_are_valid_json_of_about_the_target_size() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seq = BlockSeq::new(SmallRng::seed_from_u64(2));
        for shape in SHAPES {
            let t = PayloadTemplate::new(shape, &mut rng);
            let block = seq.next_block();
            let body = t.request(&block, 42);
            let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
            let payload = &v["params"][0];
            assert_eq!(payload["blockHash"], block.hash.as_str());
            assert_eq!(payload["parentHash"], block.parent.as_str());
            assert_eq!(
                payload["withdrawals"].as_array().map(Vec::len),
                Some(shape.withdrawals)
            );
            assert_eq!(v["params"][1].as_array().map(Vec::len), Some(shape.blobs));
            assert!(!payload["transactions"].as_array().expect("txs").is_empty());
            let (len, target) = (body.len() as f64, shape.target_bytes as f64);
            assert!(
                (len - target).abs() / target < 0.25,
                "{}: {len} bytes",
                shape.label
            );
            assert!((t.request_bytes() as f64 - len).abs() < 8.0);
        }
        let a = seq.next_block();
        let b = seq.next_block();
        assert_eq!(b.parent, a.hash);
        assert_ne!(a.hash, b.hash);
    }
}
