//! The plan of one failover read: one deadline for the whole read, and when to ask the next node.
//!
//! The primary is asked first. A node that fails outright has the next one asked at once; a node
//! that is silent for half its timeout is *hedged*: the next node is asked too, and the first
//! usable answer wins (reads are safe to ask twice). Several silent nodes therefore cost one
//! deadline, not one timeout each. Pure over instants: the route ([`crate::handlers::read`])
//! does the asking.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::deadline::Deadline;

#[derive(Debug)]
pub struct Hedge {
    deadline: Deadline,
    /// How many nodes may be asked in all.
    nodes: usize,
    /// The next node to ask (by position in failover order).
    next: usize,
    /// When the node asked last counts as slow and the next one is asked too.
    hedge_at: Instant,
}

impl Hedge {
    pub fn new(deadline: Deadline, nodes: usize) -> Self {
        Self {
            deadline,
            nodes,
            next: 0,
            hedge_at: deadline.instant(),
        }
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// The node to ask now, if any: the first when nobody is being asked, else the next once the
    /// last one asked is past its hedge time.
    pub fn due(&self, now: Instant, none_outstanding: bool) -> Option<usize> {
        (self.next < self.nodes && (none_outstanding || now >= self.hedge_at)).then_some(self.next)
    }

    /// Records that the due node is asked at `now`; returns how long it may take (its own
    /// timeout, never past the deadline).
    pub fn asked(&mut self, now: Instant, node_timeout: Duration) -> Duration {
        let timeout = self.deadline.cap(node_timeout, now);
        self.hedge_at = now + timeout / 2;
        self.next += 1;
        timeout
    }

    /// The node asked last failed outright: the next one is due now.
    pub fn failed(&mut self, now: Instant) {
        self.hedge_at = now;
    }

    /// When to look again if no answer comes: the hedge time while nodes are left, else the
    /// deadline.
    pub fn wake(&self) -> Instant {
        if self.next < self.nodes {
            self.hedge_at
        } else {
            self.deadline.instant()
        }
    }
}

const RUNNING: u8 = 0;
const HEDGED_PAST: u8 = 1;
const FINISHED: u8 = 2;

/// One attempt's standing, shared by the read and the attempt's own task (which runs to its end
/// even after another node won). A node counts as stalled while the read has hedged past it and
/// it is still running.
#[derive(Clone, Debug, Default)]
pub struct Attempt(Arc<AtomicU8>);

impl Attempt {
    /// The read asked another node past this one. True when this attempt was still running (its
    /// node is now stalled).
    pub fn hedged_past(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, HEDGED_PAST, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The attempt ended. True when it had been hedged past (its node is no longer stalled).
    pub fn finished(&self) -> bool {
        self.0.swap(FINISHED, Ordering::AcqRel) == HEDGED_PAST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_silent_node_is_hedged_at_half_its_timeout_and_the_last_waits_for_the_deadline() {
        let t0 = Instant::now();
        let mut h = Hedge::new(Deadline::at(t0 + ms(1000)), 2);
        assert_eq!(h.due(t0, true), Some(0));
        assert_eq!(h.asked(t0, ms(400)), ms(400));
        assert_eq!(h.due(t0 + ms(199), false), None);
        assert_eq!(h.wake(), t0 + ms(200));
        assert_eq!(h.due(t0 + ms(200), false), Some(1));
        // The second node's timeout is cut to what is left of the deadline.
        assert_eq!(h.asked(t0 + ms(200), ms(5000)), ms(800));
        assert_eq!(h.due(t0 + ms(999), false), None, "no node left to ask");
        assert_eq!(h.wake(), t0 + ms(1000));
    }

    #[test]
    fn a_failure_makes_the_next_node_due_at_once() {
        let t0 = Instant::now();
        let mut h = Hedge::new(Deadline::at(t0 + ms(1000)), 3);
        h.asked(t0, ms(400));
        h.failed(t0 + ms(10));
        assert_eq!(h.due(t0 + ms(10), false), Some(1));
    }

    #[test]
    fn an_attempt_is_stalled_only_between_being_hedged_past_and_ending() {
        let a = Attempt::default();
        assert!(a.hedged_past());
        assert!(!a.hedged_past(), "once");
        assert!(a.finished(), "ends stalled: unstall");
        let b = Attempt::default();
        assert!(!b.finished());
        assert!(!b.hedged_past(), "finished before the hedge: never stalled");
    }
}
