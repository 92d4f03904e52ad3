//! The mock's idea of the chain: blocks it was given, the head, and payloads it is "building".
//!
//! Only headers matter: hash, parent, number, timestamp (and withdrawals, which are small).
//! Transactions are never parsed nor stored, so bodies are served with an empty transaction
//! list.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::encoding::B256;

/// How many payload builds are remembered (older ones answer "Unknown payload").
const MAX_BUILDS: usize = 256;
/// How many hashes declared INVALID are remembered for later forkchoice updates.
const MAX_INVALID: usize = 4096;

/// A block header the mock knows.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    pub hash: B256,
    pub parent: B256,
    pub number: u64,
    pub timestamp: u64,
    pub withdrawals: Option<Box<RawValue>>,
}

/// A payload "being built" after a forkchoiceUpdated with attributes.
#[derive(Clone, Debug)]
pub(crate) struct Build {
    pub parent: B256,
    pub number: u64,
    pub timestamp: u64,
    pub prev_randao: String,
    pub fee_recipient: String,
    pub withdrawals: Option<Box<RawValue>>,
    pub block_hash: B256,
    pub state_root: B256,
}

/// 8-byte payload identifier.
pub(crate) type PayloadId = [u8; 8];

#[derive(Debug)]
pub(crate) struct Chain {
    blocks: HashMap<B256, Block>,
    /// Number → hash along the head's ancestry.
    canonical: BTreeMap<u64, B256>,
    head: B256,
    pub safe: B256,
    pub finalized: B256,
    invalid: HashSet<B256>,
    invalid_order: VecDeque<B256>,
    builds: HashMap<PayloadId, Build>,
    build_order: VecDeque<PayloadId>,
    next_payload: u64,
    instance: [u8; 32],
}

/// The genesis hash every mock of a chain id agrees on (so several mocks share block 0).
pub fn genesis_hash(chain_id: u64) -> B256 {
    let mut h = Sha256::new();
    h.update(b"mock-el genesis");
    h.update(chain_id.to_be_bytes());
    B256(h.finalize().into())
}

impl Chain {
    /// A chain holding only `genesis` (number 0, timestamp 0). `instance` makes payload ids and
    /// built block hashes distinct per mock.
    pub fn new(genesis: B256, instance: [u8; 32]) -> Self {
        let mut chain = Self {
            blocks: HashMap::new(),
            canonical: BTreeMap::new(),
            head: genesis,
            safe: genesis,
            finalized: genesis,
            invalid: HashSet::new(),
            invalid_order: VecDeque::new(),
            builds: HashMap::new(),
            build_order: VecDeque::new(),
            next_payload: 0,
            instance,
        };
        chain.insert(Block {
            hash: genesis,
            parent: B256::ZERO,
            number: 0,
            timestamp: 0,
            withdrawals: None,
        });
        chain.canonical.insert(0, genesis);
        chain
    }

    pub fn get(&self, hash: &B256) -> Option<&Block> {
        self.blocks.get(hash)
    }

    pub fn head(&self) -> &Block {
        // The head is always a stored block: it only ever moves to one.
        self.blocks
            .get(&self.head)
            .or_else(|| self.blocks.values().next())
            .expect("the chain always holds genesis")
    }

    pub fn by_number(&self, number: u64) -> Option<&Block> {
        self.canonical.get(&number).and_then(|h| self.blocks.get(h))
    }

    pub fn earliest(&self) -> Option<&Block> {
        self.canonical
            .first_key_value()
            .and_then(|(_, h)| self.blocks.get(h))
    }

    pub fn insert(&mut self, block: Block) {
        self.blocks.insert(block.hash, block);
    }

    /// Makes a stored block the head and rewrites the canonical index along its ancestry.
    /// Returns false (and changes nothing) for an unknown hash.
    pub fn set_head(&mut self, hash: B256) -> bool {
        let Some(head) = self.blocks.get(&hash) else {
            return false;
        };
        self.head = hash;
        let _ = self.canonical.split_off(&(head.number + 1));
        let mut cur = head;
        loop {
            if self.canonical.get(&cur.number) == Some(&cur.hash) {
                break;
            }
            self.canonical.insert(cur.number, cur.hash);
            match self.blocks.get(&cur.parent) {
                Some(parent) if cur.number > 0 && parent.number + 1 == cur.number => cur = parent,
                _ => {
                    // A gap: whatever the index holds below it is not known to be an ancestor.
                    let gap = cur.number;
                    self.canonical.retain(|n, _| *n == 0 || *n >= gap);
                    break;
                }
            }
        }
        true
    }

    pub fn mark_invalid(&mut self, hash: B256) {
        if self.invalid.insert(hash) {
            self.invalid_order.push_back(hash);
            if self.invalid_order.len() > MAX_INVALID {
                if let Some(old) = self.invalid_order.pop_front() {
                    self.invalid.remove(&old);
                }
            }
        }
    }

    pub fn is_invalid(&self, hash: &B256) -> bool {
        self.invalid.contains(hash)
    }

    /// Registers a new build on `parent` and returns its fresh payload id.
    pub fn start_build(
        &mut self,
        parent: B256,
        timestamp: u64,
        prev_randao: &str,
        fee_recipient: &str,
        withdrawals: Option<&RawValue>,
    ) -> PayloadId {
        let number = self.blocks.get(&parent).map_or(1, |b| b.number + 1);
        let mut id_hash = Sha256::new();
        id_hash.update(self.instance);
        id_hash.update(b"payload-id");
        id_hash.update(self.next_payload.to_be_bytes());
        self.next_payload += 1;
        let digest = id_hash.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);

        let mut block = Sha256::new();
        block.update(self.instance);
        block.update(parent.0);
        block.update(timestamp.to_be_bytes());
        let block_hash = B256(block.finalize().into());
        let mut state = Sha256::new();
        state.update(block_hash.0);
        state.update(b"state");
        let build = Build {
            parent,
            number,
            timestamp,
            prev_randao: prev_randao.to_string(),
            fee_recipient: fee_recipient.to_string(),
            withdrawals: withdrawals.map(|w| w.to_owned()),
            block_hash,
            state_root: B256(state.finalize().into()),
        };
        self.builds.insert(id, build);
        self.build_order.push_back(id);
        if self.build_order.len() > MAX_BUILDS {
            if let Some(old) = self.build_order.pop_front() {
                self.builds.remove(&old);
            }
        }
        id
    }

    pub fn build(&self, id: &PayloadId) -> Option<&Build> {
        self.builds.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> B256 {
        B256([n; 32])
    }

    fn block(hash: u8, parent: u8, number: u64) -> Block {
        Block {
            hash: h(hash),
            parent: h(parent),
            number,
            timestamp: number * 12,
            withdrawals: None,
        }
    }

    #[test]
    fn canonical_index_follows_the_head() {
        let g = h(0);
        let mut c = Chain::new(g, [9; 32]);
        assert_eq!(c.head().number, 0);
        c.insert(block(1, 0, 1));
        c.insert(block(2, 1, 2));
        c.insert(block(12, 1, 2)); // a sibling of 2
        assert!(c.set_head(h(2)));
        assert_eq!(c.by_number(1).map(|b| b.hash), Some(h(1)));
        assert_eq!(c.by_number(2).map(|b| b.hash), Some(h(2)));
        assert!(c.set_head(h(12)));
        assert_eq!(c.by_number(2).map(|b| b.hash), Some(h(12)));
        assert!(c.set_head(h(1)));
        assert!(c.by_number(2).is_none());
        assert!(!c.set_head(h(77)));
        assert_eq!(c.head().hash, h(1));
        assert_eq!(c.earliest().map(|b| b.hash), Some(g));
    }

    #[test]
    fn payload_ids_and_hashes_differ_per_instance_and_call() {
        let mut a = Chain::new(h(0), [1; 32]);
        let mut b = Chain::new(h(0), [2; 32]);
        let a1 = a.start_build(h(0), 12, "0x", "0x", None);
        let a2 = a.start_build(h(0), 12, "0x", "0x", None);
        let b1 = b.start_build(h(0), 12, "0x", "0x", None);
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
        let ba = a.build(&a1).expect("build").block_hash;
        let bb = b.build(&b1).expect("build").block_hash;
        assert_ne!(ba, bb);
        assert_eq!(a.build(&a1).expect("build").number, 1);
    }
}
