//! A tap on the proxy's vote: which answers it counted for each voted call.
//!
//! The proxy takes its vote as a plain function pointer ([`executionbackup::config::Settings`]'s
//! `vote`). The simulation installs [`vote`], which records the answers it is given and then
//! calls the vote under test (the real [`executionbackup::vote::decide_ballots`], or a deliberately
//! wrong one). A simulation runs on one thread, so the state is thread-local: simulations on
//! other threads (parallel tests) do not see each other's votes.

use std::cell::{Cell, RefCell};

use executionbackup::vote::{self, Answer, Ballot, Decision, Kind, Rules, Status, VoteFn};

use crate::trace::Counted;

thread_local! {
    static INNER: Cell<VoteFn> = const { Cell::new(vote::decide_ballots) };
    static TAPPED: RefCell<Vec<Counted>> = const { RefCell::new(Vec::new()) };
    static SEEN: RefCell<Vec<SeenEvent>> = const { RefCell::new(Vec::new()) };
}

/// A PayloadStatus the proxy received from a voter, in time or late.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenEvent {
    /// Simulated time.
    pub at: std::time::Duration,
    /// The EL's name (`el2`).
    pub el: String,
    /// The block, as the CL's trace names it (`0x` + 8 hex digits).
    pub block: String,
    pub status: Status,
    pub late: bool,
}

/// The proxy's `seen` hook: records every status a voter's answer carried.
pub fn seen(s: &executionbackup::vote::Seen<'_>) {
    let el = s
        .node
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let block: String = s.block.unwrap_or_default().chars().take(10).collect();
    let event = SeenEvent {
        at: turmoil::sim_elapsed().unwrap_or_default(),
        el,
        block,
        status: s.status,
        late: s.late,
    };
    SEEN.with(|t| t.borrow_mut().push(event));
}

/// The statuses seen since the first `from`.
pub fn seen_since(from: usize) -> Vec<SeenEvent> {
    SEEN.with(|t| {
        t.borrow()
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    })
}

/// Makes [`vote`] call `inner` and forgets earlier votes. Called when a simulation is built.
pub fn install(inner: VoteFn) {
    INNER.with(|i| i.set(inner));
    TAPPED.with(|t| t.borrow_mut().clear());
    SEEN.with(|t| t.borrow_mut().clear());
}

/// The vote the simulated proxy runs: records, then delegates.
pub fn vote(kind: Kind, ballots: &[Ballot<'_>], rules: &Rules) -> Decision {
    let mut counted = Counted::default();
    for b in ballots {
        match b.answer {
            Answer::Status { status, .. }
                if b.catching_up
                    && matches!(kind.category(status), Status::Syncing | Status::Accepted) =>
            {
                counted.set_aside += 1
            }
            Answer::Status { status, .. } => counted.statuses.push(status),
            Answer::Error { .. } => counted.errors += 1,
            Answer::NoAnswer => counted.no_answer += 1,
        }
    }
    counted.known_invalid = rules.known_invalid;
    counted.seen_before = SEEN.with(|t| t.borrow().len());
    TAPPED.with(|t| t.borrow_mut().push(counted));
    INNER.with(|i| i.get())(kind, ballots, rules)
}

/// How many votes were taken so far.
pub fn len() -> usize {
    TAPPED.with(|t| t.borrow().len())
}

/// The votes taken since the first `from`.
pub fn since(from: usize) -> Vec<Counted> {
    TAPPED.with(|t| {
        t.borrow()
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    })
}
