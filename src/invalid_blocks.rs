//! Blocks some EL called INVALID, remembered by hash (bounded): while a node's INVALID for a
//! block stands, the proxy never answers VALID for it, neither for a re-sent newPayload nor for
//! a forkchoiceUpdated whose head it is. An INVALID stands until that same node answers VALID
//! for the block, or the entry is pushed out by newer ones.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Blocks remembered at once (a few hours of blocks with one INVALID each is far beyond this).
pub const CAPACITY: usize = 1024;

#[derive(Default)]
pub struct InvalidBlocks {
    /// Oldest first: (block hash, the nodes whose INVALID stands).
    entries: Mutex<VecDeque<(String, Vec<u64>)>>,
}

impl InvalidBlocks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `node`'s INVALID for `hash`; true when the block was not remembered before.
    pub fn insert(&self, hash: &str, node: u64) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, nodes)) = entries.iter_mut().find(|(h, _)| h == hash) {
            if !nodes.contains(&node) {
                nodes.push(node);
            }
            return false;
        }
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back((hash.to_owned(), vec![node]));
        true
    }

    /// `node` now says VALID for `hash`: its earlier INVALID no longer stands.
    pub fn withdraw(&self, hash: &str, node: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = entries.iter().position(|(h, _)| h == hash) {
            entries[i].1.retain(|n| *n != node);
            if entries[i].1.is_empty() {
                entries.remove(i);
            }
        }
    }

    pub fn contains(&self, hash: &str) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|(h, _)| h == hash)
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_until_the_same_node_withdraws_it() {
        let m = InvalidBlocks::new();
        assert!(m.insert("0xaa", 1));
        assert!(!m.insert("0xaa", 2));
        m.withdraw("0xaa", 1);
        assert!(m.contains("0xaa"), "node 2's INVALID still stands");
        m.withdraw("0xaa", 3);
        assert!(m.contains("0xaa"));
        m.withdraw("0xaa", 2);
        assert!(!m.contains("0xaa"));
    }

    #[test]
    fn bounded() {
        let m = InvalidBlocks::new();
        for i in 0..CAPACITY + 10 {
            m.insert(&format!("0x{i:x}"), 0);
        }
        assert_eq!(m.len(), CAPACITY);
        assert!(!m.contains("0x0"));
        assert!(m.contains(&format!("0x{:x}", CAPACITY + 9)));
    }
}
