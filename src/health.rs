//! Per-node health, kept per path, and the one function that moves it.
//!
//! A node has two independent paths:
//!
//! - the **engine path** (voted calls and the authenticated engine probe) decides how the node
//!   takes part in votes: [`Voter`] says how long it is awaited, [`Sync`] whether its SYNCING
//!   counts;
//! - the **read path** (reads and `eth_syncing`) decides whether reads are sent to it.
//!
//! A read failure never touches the engine path. Every change goes through [`engine_after`], a
//! pure function of the current state and one [`EngineEvent`], and is applied by the node's own
//! lane, its own read calls, the probe or the vote: nothing else writes it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::vote::{Kind, Status};

/// How a node is awaited on one kind of voted call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Voter {
    /// Awaited up to its own timeout.
    Healthy,
    /// Missed this kind of call's deadline (or failed the on-the-spot check): awaited only a
    /// short grace after the healthy nodes have answered, until it answers this kind of call in
    /// time again. Kept per kind, so an EL stuck on newPayload that answers forkchoiceUpdated
    /// stays lagging on newPayload.
    Lagging,
    /// Refused the connection or failed the engine probe. Still sent every voted call; its
    /// answer counts if it is in before the healthy nodes have all answered.
    Down,
}

impl Voter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Lagging => "lagging",
            Self::Down => "down",
        }
    }
}

/// Whether a node's SYNCING answers count in votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sync {
    /// Its answers all count.
    Synced,
    /// Behind the others (it said SYNCING or ACCEPTED where counted nodes said VALID, missed a
    /// call, or has just come back): its INVALID and VALID count, its SYNCING and ACCEPTED do
    /// not.
    CatchingUp,
}

/// One thing learned about a node on the engine path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// Answered a voted call within its own timeout (counted from when the request was written
    /// to it). `status` is its PayloadStatus, if it gave one; `current` is true when the call
    /// was the newest voted call the proxy had sent.
    Answered {
        kind: Kind,
        status: Option<Status>,
        current: bool,
    },
    /// Its own timeout passed after the request was written to it.
    MissedDeadline(Kind),
    /// Silent on a voted call, it also failed the short engine check made on the spot: it does
    /// not answer the engine at all, so it is lagging on every kind of call.
    FailedCheck,
    /// The connection was refused.
    Unreachable,
    /// A voted call was dropped in the proxy's own queue for this node (the CL's deadline passed
    /// first): not the node's fault, but it missed a block.
    Skipped,
    /// The authenticated engine probe answered.
    ProbeOk,
    /// The authenticated engine probe failed.
    ProbeFailed,
    /// The vote found it behind: SYNCING or ACCEPTED where counted nodes said VALID.
    FellBehind,
    /// Its `eth_syncing` reports sync progress.
    ReportsSyncing,
}

fn index(kind: Kind) -> usize {
    match kind {
        Kind::NewPayload => 0,
        Kind::ForkchoiceUpdated => 1,
    }
}

/// The engine-path state of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Engine {
    /// Refused the connection or failed the engine probe.
    pub down: bool,
    /// Lagging on newPayload, on forkchoiceUpdated.
    pub lagging: [bool; 2],
    pub sync: Sync,
}

impl Engine {
    /// A node at start-up or just added: awaited in full; its SYNCING counts until it shows it
    /// is behind.
    pub const NEW: Engine = Engine {
        down: false,
        lagging: [false; 2],
        sync: Sync::Synced,
    };

    /// How the node is awaited on `kind`.
    pub fn voter(&self, kind: Kind) -> Voter {
        if self.down {
            Voter::Down
        } else if self.lagging[index(kind)] {
            Voter::Lagging
        } else {
            Voter::Healthy
        }
    }

    /// The worst of both kinds.
    pub fn worst(&self) -> Voter {
        self.voter(Kind::NewPayload)
            .max(self.voter(Kind::ForkchoiceUpdated))
    }
}

/// The engine-path transition: pure, exhaustively tested below.
pub fn engine_after(state: Engine, event: EngineEvent) -> Engine {
    let mut next = state;
    match event {
        EngineEvent::Answered {
            kind,
            status,
            current,
        } => {
            next.down = false;
            next.lagging[index(kind)] = false;
            if status == Some(Status::Valid) && current {
                next.sync = Sync::Synced;
            }
        }
        EngineEvent::MissedDeadline(kind) => {
            next.lagging[index(kind)] = true;
            next.sync = Sync::CatchingUp;
        }
        EngineEvent::FailedCheck => {
            next.lagging = [true; 2];
            next.sync = Sync::CatchingUp;
        }
        EngineEvent::Unreachable | EngineEvent::ProbeFailed => {
            // When it comes back it must show on each kind of call that it answers in time.
            next.down = true;
            next.lagging = [true; 2];
            next.sync = Sync::CatchingUp;
        }
        EngineEvent::Skipped | EngineEvent::FellBehind | EngineEvent::ReportsSyncing => {
            next.sync = Sync::CatchingUp;
        }
        // Reachable again, but only a voted call answered in time makes it healthy: an EL
        // stuck on newPayload still answers probes.
        EngineEvent::ProbeOk => {
            if next.down {
                next.down = false;
                next.lagging = [true; 2];
            }
        }
    }
    next
}

/// The summary shown on `/metrics` and used by the JSON report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeState {
    /// Healthy on the engine path, synced, reads answered.
    Alive,
    /// Answering, but catching up with the chain.
    Syncing,
    /// Answering, but missed a voted call's deadline: awaited only a short grace.
    Lagging,
    /// Not answering.
    Dead,
}

impl NodeState {
    pub const ALL: [NodeState; 4] = [Self::Alive, Self::Syncing, Self::Lagging, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Syncing => "syncing",
            Self::Lagging => "lagging",
            Self::Dead => "dead",
        }
    }
}

/// Weight of a new latency sample in the moving average, in 1/16ths.
const EWMA_WEIGHT_16THS: u64 = 4;

#[derive(Debug)]
pub struct Health {
    engine: Mutex<Engine>,
    /// Read path: false after a read or `eth_syncing` failed, until one succeeds.
    reads_up: AtomicBool,
    /// On another chain than the proxy: nothing is sent to it until a probe shows otherwise.
    wrong_chain: AtomicBool,
    /// Moving average of successful response times, in microseconds; 0 = no sample yet.
    latency_us: AtomicU64,
    /// Consecutive failed probes while down (drives the re-probe back-off).
    failed_probes: AtomicU64,
    /// Reads outstanding past half their timeout (see [`crate::handlers::read::forward`]).
    stalled: AtomicU64,
    /// The block this node last answered VALID for (newPayload's block or forkchoiceUpdated's
    /// head): it can build on it.
    valid_block: Mutex<Option<String>>,
    /// The newest newPayload (by sequence number) this node answered VALID, INVALID or
    /// ACCEPTED: it has that block, or knows it is bad. What it missed after it is replayed
    /// to it when it comes back ([`crate::warm`]).
    known_new_payload: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Records that the node answered VALID for `block`.
    pub fn answered_valid(&self, block: &str) {
        let mut slot = self.valid_block.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_deref() != Some(block) {
            *slot = Some(block.to_owned());
        }
    }

    /// Records that the node answered newPayload number `seq` with a definite status.
    pub fn knows_new_payload(&self, seq: u64) {
        self.known_new_payload.fetch_max(seq, Ordering::AcqRel);
    }

    /// See [`Health::knows_new_payload`] (0: none yet).
    pub fn known_new_payload(&self) -> u64 {
        self.known_new_payload.load(Ordering::Acquire)
    }

    /// Whether the last block the node answered VALID for is `block`.
    pub fn knows_valid(&self, block: &str) -> bool {
        self.valid_block
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            == Some(block)
    }

    /// A new node counts as healthy until shown otherwise: the first probe runs at start-up.
    pub fn new() -> Self {
        Self {
            engine: Mutex::new(Engine::NEW),
            reads_up: AtomicBool::new(true),
            wrong_chain: AtomicBool::new(false),
            latency_us: AtomicU64::new(0),
            failed_probes: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            valid_block: Mutex::new(None),
            known_new_payload: AtomicU64::new(0),
        }
    }

    pub fn engine(&self) -> Engine {
        *self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one engine-path event; logs a change once, when it happens (`why` is only
    /// formatted then). Returns the state before, when it changed.
    pub fn engine_event(
        &self,
        url: &str,
        event: EngineEvent,
        why: impl std::fmt::Display,
    ) -> Option<Engine> {
        let (old, new) = {
            let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            let old = *engine;
            *engine = engine_after(old, event);
            (old, *engine)
        };
        if old == new {
            return None;
        }
        if !new.down {
            self.failed_probes.store(0, Ordering::Relaxed);
        }
        let describe = |e: Engine| {
            format!(
                "newPayload {}, forkchoiceUpdated {}, {}",
                e.voter(Kind::NewPayload).as_str(),
                e.voter(Kind::ForkchoiceUpdated).as_str(),
                match e.sync {
                    Sync::Synced => "synced",
                    Sync::CatchingUp => "catching up",
                }
            )
        };
        if new.worst() > old.worst() {
            tracing::warn!(node = url, from = %describe(old), to = %describe(new), reason = %why, "node demoted on the engine path");
        } else {
            tracing::info!(node = url, from = %describe(old), to = %describe(new), reason = %why, "node engine state changed");
        }
        Some(old)
    }

    pub fn reads_up(&self) -> bool {
        self.reads_up.load(Ordering::Acquire)
    }

    /// Sets the read-path state; logs a change.
    pub fn set_reads(&self, url: &str, up: bool, why: &str) {
        if self.reads_up.swap(up, Ordering::AcqRel) != up {
            if up {
                tracing::info!(node = url, reason = why, "node answers reads again");
            } else {
                tracing::warn!(node = url, reason = why, "node stopped answering reads");
            }
        }
    }

    pub fn wrong_chain(&self) -> bool {
        self.wrong_chain.load(Ordering::Acquire)
    }

    pub fn set_wrong_chain(&self, wrong: bool) {
        self.wrong_chain.store(wrong, Ordering::Release);
    }

    /// The summary state.
    pub fn state(&self) -> NodeState {
        summary(self.engine(), self.reads_up(), self.wrong_chain())
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

    /// Counts a failed probe; returns how many in a row.
    pub fn note_failed_probe(&self) -> u64 {
        self.failed_probes.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn clear_failed_probes(&self) {
        self.failed_probes.store(0, Ordering::Relaxed);
    }

    pub fn failed_probes(&self) -> u64 {
        self.failed_probes.load(Ordering::Relaxed)
    }
}

/// The summary of both paths (pure).
pub fn summary(engine: Engine, reads_up: bool, wrong_chain: bool) -> NodeState {
    if wrong_chain || engine.down || !reads_up {
        NodeState::Dead
    } else if engine.worst() == Voter::Lagging {
        NodeState::Lagging
    } else if engine.sync == Sync::CatchingUp {
        NodeState::Syncing
    } else {
        NodeState::Alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 2] = [Kind::NewPayload, Kind::ForkchoiceUpdated];

    fn states() -> Vec<Engine> {
        let mut out = Vec::new();
        for down in [false, true] {
            for np in [false, true] {
                for fcu in [false, true] {
                    for sync in [Sync::Synced, Sync::CatchingUp] {
                        out.push(Engine {
                            down,
                            lagging: [np, fcu],
                            sync,
                        });
                    }
                }
            }
        }
        out
    }

    fn events() -> Vec<EngineEvent> {
        let mut out = vec![
            EngineEvent::Unreachable,
            EngineEvent::FailedCheck,
            EngineEvent::Skipped,
            EngineEvent::ProbeOk,
            EngineEvent::ProbeFailed,
            EngineEvent::FellBehind,
            EngineEvent::ReportsSyncing,
        ];
        for kind in KINDS {
            out.push(EngineEvent::MissedDeadline(kind));
            for status in [
                None,
                Some(Status::Valid),
                Some(Status::Invalid),
                Some(Status::Syncing),
                Some(Status::Accepted),
            ] {
                for current in [false, true] {
                    out.push(EngineEvent::Answered {
                        kind,
                        status,
                        current,
                    });
                }
            }
        }
        out
    }

    /// Every state and every event, each result checked against the rules it must keep.
    #[test]
    fn every_transition_keeps_the_rules() {
        for state in states() {
            for event in events() {
                let next = engine_after(state, event);
                let at = format!("{state:?} + {event:?} -> {next:?}");
                for kind in KINDS {
                    let (before, after) = (state.voter(kind), next.voter(kind));
                    match event {
                        // An answer in time makes the node healthy on that kind, and changes
                        // nothing on the other kind but "down".
                        EngineEvent::Answered { kind: k, .. } if k == kind => {
                            assert_eq!(after, Voter::Healthy, "{at}")
                        }
                        EngineEvent::Answered { .. } => {
                            assert_eq!(
                                next.lagging,
                                {
                                    let mut l = state.lagging;
                                    l[index(match event {
                                        EngineEvent::Answered { kind, .. } => kind,
                                        _ => unreachable!(),
                                    })] = false;
                                    l
                                },
                                "{at}"
                            );
                        }
                        // A probe never makes a node awaited in full.
                        EngineEvent::ProbeOk => {
                            assert!(after != Voter::Healthy || before == Voter::Healthy, "{at}")
                        }
                        // Nothing else promotes.
                        _ => assert!(after >= before, "{at}"),
                    }
                }
                // Only a VALID for the newest call ends catching up.
                if state.sync == Sync::CatchingUp && next.sync == Sync::Synced {
                    assert!(
                        matches!(
                            event,
                            EngineEvent::Answered {
                                status: Some(Status::Valid),
                                current: true,
                                ..
                            }
                        ),
                        "{at}"
                    );
                }
                // Whatever missed a call is catching up afterwards.
                if matches!(
                    event,
                    EngineEvent::MissedDeadline(_)
                        | EngineEvent::FailedCheck
                        | EngineEvent::Unreachable
                        | EngineEvent::ProbeFailed
                        | EngineEvent::Skipped
                ) {
                    assert_eq!(next.sync, Sync::CatchingUp, "{at}");
                }
            }
        }
    }

    #[test]
    fn stuck_on_new_payload_but_answering_fcu_and_probes_stays_lagging() {
        let mut s = Engine::NEW;
        s = engine_after(s, EngineEvent::MissedDeadline(Kind::NewPayload));
        assert_eq!(s.voter(Kind::NewPayload), Voter::Lagging);
        for _ in 0..10 {
            s = engine_after(s, EngineEvent::ProbeOk);
            s = engine_after(
                s,
                EngineEvent::Answered {
                    kind: Kind::ForkchoiceUpdated,
                    status: Some(Status::Valid),
                    current: false,
                },
            );
        }
        assert_eq!(s.voter(Kind::NewPayload), Voter::Lagging);
        assert_eq!(s.voter(Kind::ForkchoiceUpdated), Voter::Healthy);
        assert_eq!(s.sync, Sync::CatchingUp, "a late VALID for an old block");
        s = engine_after(
            s,
            EngineEvent::Answered {
                kind: Kind::NewPayload,
                status: Some(Status::Valid),
                current: true,
            },
        );
        assert_eq!(s, Engine::NEW);
    }

    #[test]
    fn down_comes_back_lagging_and_catching_up() {
        let s = engine_after(Engine::NEW, EngineEvent::Unreachable);
        assert_eq!(s.worst(), Voter::Down);
        let s = engine_after(s, EngineEvent::ProbeOk);
        assert_eq!(s.voter(Kind::NewPayload), Voter::Lagging);
        assert_eq!(s.voter(Kind::ForkchoiceUpdated), Voter::Lagging);
        assert_eq!(s.sync, Sync::CatchingUp);
    }

    #[test]
    fn summary_of_both_paths() {
        assert_eq!(summary(Engine::NEW, true, false), NodeState::Alive);
        assert_eq!(summary(Engine::NEW, true, true), NodeState::Dead);
        assert_eq!(summary(Engine::NEW, false, false), NodeState::Dead);
        let down = engine_after(Engine::NEW, EngineEvent::Unreachable);
        assert_eq!(summary(down, true, false), NodeState::Dead);
        let lagging = engine_after(Engine::NEW, EngineEvent::MissedDeadline(Kind::NewPayload));
        assert_eq!(summary(lagging, true, false), NodeState::Lagging);
        let behind = engine_after(Engine::NEW, EngineEvent::FellBehind);
        assert_eq!(summary(behind, true, false), NodeState::Syncing);
    }

    #[test]
    fn latency_average_moves_a_quarter_of_the_way() {
        let h = Health::new();
        h.record_latency(Duration::from_micros(1000));
        assert_eq!(h.latency_us(), 1000);
        h.record_latency(Duration::from_micros(2000));
        assert_eq!(h.latency_us(), 1250);
    }

    #[test]
    fn changes_report_once() {
        let h = Health::new();
        assert!(h
            .engine_event("n", EngineEvent::Unreachable, "refused")
            .is_some());
        assert!(h
            .engine_event("n", EngineEvent::Unreachable, "refused")
            .is_none());
        assert_eq!(h.note_failed_probe(), 1);
        assert_eq!(h.note_failed_probe(), 2);
    }
}
