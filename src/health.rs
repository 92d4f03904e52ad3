//! Per-node health: state (alive, syncing, dead) and latency.
//!
//! State changes are logged once, when they happen, so a node that stays dead does not flood
//! the log. Live traffic marks a node dead at once on a refused connection or a timeout; only a
//! successful probe brings it back (see [`crate::checker`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeState {
    /// Answering, and synced.
    Alive,
    /// Answering, but catching up with the chain.
    Syncing,
    /// Not answering.
    Dead,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Syncing => "syncing",
            Self::Dead => "dead",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Alive,
            1 => Self::Syncing,
            _ => Self::Dead,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Alive => 0,
            Self::Syncing => 1,
            Self::Dead => 2,
        }
    }
}

/// Weight of a new latency sample in the moving average, in 1/16ths.
const EWMA_WEIGHT_16THS: u64 = 4;

#[derive(Debug)]
pub struct Health {
    state: AtomicU8,
    /// Moving average of successful response times, in microseconds; 0 = no sample yet.
    latency_us: AtomicU64,
    /// Consecutive failed probes while dead (drives the re-probe back-off).
    dead_probes: AtomicU64,
    /// Reads outstanding past half their timeout (see `proxy::forward`).
    stalled: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// A new node counts as alive until shown otherwise: the first probe runs at start-up.
    pub fn new() -> Self {
        Self {
            state: AtomicU8::new(NodeState::Alive.to_u8()),
            latency_us: AtomicU64::new(0),
            dead_probes: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
        }
    }

    /// True while a read to this node is outstanding past half its timeout.
    pub fn stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed) > 0
    }

    pub fn stall(&self) {
        self.stalled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unstall(&self) {
        let _ = self
            .stalled
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn state(&self) -> NodeState {
        NodeState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Sets the state; returns the previous one when it changed.
    pub fn set_state(&self, url: &str, new: NodeState, why: &str) -> Option<NodeState> {
        let old = NodeState::from_u8(self.state.swap(new.to_u8(), Ordering::AcqRel));
        if old == new {
            return None;
        }
        if new != NodeState::Dead {
            self.dead_probes.store(0, Ordering::Relaxed);
        }
        match new {
            NodeState::Dead => {
                tracing::warn!(
                    node = url,
                    from = old.as_str(),
                    reason = why,
                    "node is dead"
                )
            }
            _ => tracing::info!(
                node = url,
                from = old.as_str(),
                to = new.as_str(),
                reason = why,
                "node state changed"
            ),
        }
        Some(old)
    }

    pub fn record_latency(&self, latency: Duration) {
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self
            .latency_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old * (16 - EWMA_WEIGHT_16THS) + sample * EWMA_WEIGHT_16THS) / 16
                })
            });
    }

    /// Moving average response time in microseconds (0 before the first success).
    pub fn latency_us(&self) -> u64 {
        self.latency_us.load(Ordering::Relaxed)
    }

    /// Counts a failed probe of a dead node; returns how many in a row.
    pub fn note_dead_probe(&self) -> u64 {
        self.dead_probes.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn dead_probes(&self) -> u64 {
        self.dead_probes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_report_once() {
        let h = Health::new();
        assert_eq!(h.state(), NodeState::Alive);
        assert_eq!(
            h.set_state("n", NodeState::Dead, "refused"),
            Some(NodeState::Alive)
        );
        assert_eq!(h.set_state("n", NodeState::Dead, "refused"), None);
        assert_eq!(h.note_dead_probe(), 1);
        assert_eq!(h.note_dead_probe(), 2);
        assert_eq!(
            h.set_state("n", NodeState::Syncing, "probe"),
            Some(NodeState::Dead)
        );
        assert_eq!(h.dead_probes(), 0);
    }

    #[test]
    fn latency_average_moves_a_quarter_of_the_way() {
        let h = Health::new();
        h.record_latency(Duration::from_micros(1000));
        assert_eq!(h.latency_us(), 1000);
        h.record_latency(Duration::from_micros(2000));
        assert_eq!(h.latency_us(), 1250);
    }
}
