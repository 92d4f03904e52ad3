//! The properties every run must keep, checked after every simulation step.
//!
//! 1. Never VALID (nor ACCEPTED, which also makes the CL import the block) when any
//!    vote-eligible node's counted answer was INVALID (or INVALID_BLOCK_HASH).
//! 2. Never INVALID unless INVALID was the majority of the counted PayloadStatus answers:
//!    at least `round(n × majority)` (at least 1) of the `n` answers, and strictly more than any
//!    other status.
//! 3. Every CL request is answered within the largest per-node timeout plus [`SLACK`]
//!    (`engine_getPayload*`: the get-payload deadline plus [`SLACK`]).
//! 4. `eth_*` reads succeed whenever at least one node is alive: in the node set, running,
//!    reachable from the proxy over a reliable link, without faults, answering faster than the proxy's probes wait,
//!    and that for [`SETTLE`] already (the longest a dead node waits for its next probe), unless
//!    it was alive from the start or from when it was added.
//! 5. No panic anywhere (host software or spawned tasks), no host failing, and the proxy's
//!    internal maps stay bounded: payload ids, nodes, metric series.
//!
//! 7. A block some voter called INVALID (in time or late: every status the proxy received, via
//!    its `seen` hook) is never answered VALID or ACCEPTED afterwards, while that voter has not
//!    answered VALID for it since.
//! 8. Every voted call is put to every vote-eligible node in the set (the vote has a ballot for
//!    each): a node believed down still gets it, so it never misses a block and its INVALID
//!    still counts when it arrives in time.
//! 9. With the other vote-eligible nodes prompt (no fault at all), nodes that have been silent
//!    on a kind of call for longer than a slot (crashed, cut off, stalled, hung, or slower than
//!    their timeout) cost at most the lag grace: the call is answered within [`GRACE`] plus
//!    [`SHORT_SLACK`].
//!
//! 10. A node that has had no fault at all for [`PROMPT_FOR`] is never shown lagging or dead:
//!     time queued in the proxy (pile-ups of slow calls) is never charged to a node.
//!
//! 11. Every Engine API call is answered inside the consensus client's own deadline for that
//!     method version, the spec's timeout in the method table (newPayloadV5 from the Amsterdam
//!     fork on: 6 s, whatever the node timeouts), plus [`SHORT_SLACK`] for the network.
//!
//! Invariant 6 (same seed, same trace hash) is a property of whole runs: see
//! `tests/determinism.rs` and the explorer's output.
//!
//! "Counted" answers are the ones the proxy fed its vote (the vote tap, [`crate::tap`]); the
//! checker judges what the CL was told against them, independently of the vote's own code.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Once;
use std::time::Duration;

use executionbackup::health::NodeState;
use executionbackup::proxy::Proxy;
use executionbackup::vote::Status;
use mock_el::{Behaviour, BehaviourKind};

use crate::schedule::Action;
use crate::setup::{Config, SLOT};
use crate::trace::{stamp, Exchange};
use crate::TurmoilNet;

/// What "a small bound" above the timeouts is.
pub const SLACK: Duration = Duration::from_secs(1);
/// The proxy's lag grace (`--lag-grace`, the default).
pub const GRACE: Duration = Duration::from_millis(300);
/// Network and scheduling time on top of the grace (several 5 ms steps each way).
pub const SHORT_SLACK: Duration = Duration::from_millis(200);
/// How long a node must have had no fault before it must be shown alive: the longest wait for
/// the next probe of a node that failed its probes ([`SETTLE`]), in which time it also answered
/// voted calls of each kind.
pub const PROMPT_FOR: Duration = SETTLE;
/// How long a node must have been silent before the proxy has surely seen it miss a call.
pub const SILENT_FOR: Duration = Duration::from_secs(13);
/// How long a node must have been alive before reads may count on it: the longest back-off
/// between probes of a dead node (30 s), the probe timeout (2 s) and the checker's tick.
pub const SETTLE: Duration = Duration::from_secs(35);
/// The proxy's probes wait at most this long; a slower node is (rightly) seen as dead.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Payload builds live 60 s and the CL starts one per 12 s slot.
pub const MAX_PAYLOAD_IDS: usize = 7;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: u8,
    pub at: Duration,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.invariant {
            1 => "VALID despite an INVALID answer",
            2 => "INVALID without an INVALID majority",
            3 => "answer too slow",
            4 => "read failed while a node was alive",
            5 => "panic, host failure or unbounded growth",
            7 => "VALID for a block a voter called INVALID",
            8 => "a vote-eligible node was not asked",
            9 => "waited past the grace for silent nodes",
            10 => "a prompt node shown lagging or dead",
            _ => "harness",
        };
        write!(
            f,
            "invariant {} ({name}) at {}: {}",
            self.invariant,
            stamp(self.at),
            self.what
        )
    }
}

/// Invariant `invariant` is broken when `x` took longer than `bound`.
fn too_slow(invariant: u8, x: &Exchange, bound: Duration) -> Result<(), Violation> {
    if x.took() <= bound {
        return Ok(());
    }
    violation(
        invariant,
        x.done,
        format!(
            "{x}: took {}ms, bound {}ms",
            x.took().as_millis(),
            bound.as_millis()
        ),
    )
}

fn violation(invariant: u8, at: Duration, what: String) -> Result<(), Violation> {
    Err(Violation {
        invariant,
        at,
        what,
    })
}

thread_local! {
    static PANICS: Cell<u64> = const { Cell::new(0) };
}

/// Counts panics on this thread (in addition to the usual report), so a panic inside a spawned
/// task, which tokio would otherwise swallow, fails the run.
pub fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            previous(info);
        }));
    });
}

fn panics() -> u64 {
    PANICS.with(Cell::get)
}

/// What the checker knows about one EL from the schedule.
#[derive(Debug)]
struct ElModel {
    in_set: bool,
    running: bool,
    partitioned: bool,
    held: bool,
    lossy: bool,
    /// Active faults that can make it miss a read or a probe.
    faults: Vec<BehaviourKind>,
    /// Behaviours every start of the mock applies.
    initial: Vec<Behaviour>,
    /// Latency at or above this makes the node too slow for the probes.
    slow_from: Duration,
    /// Alive intervals: (start, end, whether the proxy may have seen it dead just before).
    alive: Vec<(Duration, Option<Duration>, bool)>,
    do_not_use: bool,
    /// The node's own timeout.
    timeout: Duration,
    /// Active latency, hang and similar faults, with the method prefix they apply to.
    delays: Vec<(BehaviourKind, Option<String>, Duration)>,
    /// Since when the node has been silent on newPayload, on forkchoiceUpdated.
    silent_since: [Option<Duration>; 2],
    /// Since when it has had no fault at all.
    prompt_since: Option<Duration>,
}

impl ElModel {
    fn healthy(&self) -> bool {
        self.in_set
            && self.running
            && !self.partitioned
            && !self.held
            && !self.lossy
            && self.faults.is_empty()
    }

    /// No fault at all: answers every call promptly.
    fn prompt(&self) -> bool {
        self.healthy() && self.delays.is_empty()
    }

    /// Silent on calls to `method` (no answer within its timeout, or none at all).
    fn silent_on(&self, method: &str) -> bool {
        if !self.running || self.partitioned || self.held {
            return true;
        }
        let applies =
            |scope: &Option<String>| scope.as_deref().is_none_or(|p| method.starts_with(p));
        let stuck = self.delays.iter().any(|(kind, scope, _)| {
            applies(scope) && matches!(kind, BehaviourKind::Hang | BehaviourKind::Dead)
        });
        // Of the latencies, the one of the most specific matching scope applies (as in the mock).
        let latency = self
            .delays
            .iter()
            .filter(|(kind, scope, _)| *kind == BehaviourKind::Latency && applies(scope))
            .max_by_key(|(_, scope, _)| scope.as_ref().map_or(0, |p| p.len() + 1))
            .map(|(_, _, delay)| *delay);
        stuck || latency.is_some_and(|d| d >= self.timeout)
    }

    fn update_silence(&mut self, at: Duration) {
        self.prompt_since = match (self.prompt(), self.prompt_since) {
            (true, None) => Some(at),
            (true, since) => since,
            (false, _) => None,
        };
        for (i, method) in ["engine_newPayloadV3", "engine_forkchoiceUpdatedV3"]
            .iter()
            .enumerate()
        {
            let silent = self.silent_on(method);
            self.silent_since[i] = match (silent, self.silent_since[i]) {
                (true, None) => Some(at),
                (true, since) => since,
                (false, _) => None,
            };
        }
    }

    fn apply(&mut self, b: &Behaviour) {
        let kind = b.kind();
        let scope = |s: &mock_el::Scope| match s {
            mock_el::Scope::All => None,
            mock_el::Scope::Prefix(p) => Some(p.clone()),
        };
        // A latency replaces the latency of its own scope only (the mock keeps one per scope);
        // every other kind has one slot.
        let latency_scope = match b {
            Behaviour::Latency(l) => Some(scope(&l.scope)),
            _ => None,
        };
        self.delays
            .retain(|(k, sc, _)| *k != kind || latency_scope.as_ref().is_some_and(|l| l != sc));
        match b {
            Behaviour::Latency(l) if l.max_ms > 0 => {
                self.delays
                    .push((kind, scope(&l.scope), Duration::from_millis(l.min_ms)))
            }
            Behaviour::Hang(sc) => self.delays.push((kind, scope(sc), Duration::MAX)),
            Behaviour::Dead(true) => self.delays.push((kind, None, Duration::MAX)),
            Behaviour::Flaky(f) if f.probability > 0.0 => {
                self.delays.push((kind, None, Duration::ZERO))
            }
            Behaviour::CloseMidResponse(_)
            | Behaviour::Http500(_)
            | Behaviour::RpcError(_)
            | Behaviour::Status(_)
            | Behaviour::InvalidEvery(_)
            | Behaviour::SyncingForMs(_) => self.delays.push((kind, None, Duration::ZERO)),
            _ => {}
        }
        let faulty = match b {
            Behaviour::Dead(dead) => *dead,
            // Every scope's latency still set counts (this one's is among them).
            Behaviour::Latency(_) => self
                .delays
                .iter()
                .any(|(k, _, d)| *k == BehaviourKind::Latency && *d + SLACK / 2 >= self.slow_from),
            Behaviour::Flaky(f) => f.probability > 0.0,
            Behaviour::Hang(_)
            | Behaviour::CloseMidResponse(_)
            | Behaviour::Http500(_)
            | Behaviour::RpcError(_)
            | Behaviour::ChainId(_)
            | Behaviour::SyncingForMs(_) => true,
            _ => false,
        };
        self.faults.retain(|k| *k != kind);
        if faulty {
            self.faults.push(kind);
        }
    }

    fn restart(&mut self) {
        self.running = true;
        self.faults.clear();
        self.delays.clear();
        for b in self.initial.clone() {
            self.apply(&b);
        }
    }

    /// Opens or closes the alive interval after a change at `at`.
    fn update(&mut self, at: Duration, fresh: bool) {
        let open = matches!(self.alive.last(), Some((_, None, _)));
        match (self.healthy(), open) {
            (true, false) => self.alive.push((at, None, !fresh)),
            (false, true) => {
                if let Some(last) = self.alive.last_mut() {
                    last.1 = Some(at);
                }
            }
            _ => {}
        }
    }

    /// Alive, and known to the proxy as such, for the whole of `from..=to`.
    fn alive_throughout(&self, from: Duration, to: Duration) -> bool {
        self.alive.iter().any(|(start, end, settle)| {
            let ready = if *settle { *start + SETTLE } else { *start };
            ready <= from && end.is_none_or(|e| e >= to)
        })
    }
}

/// Checks a run as it goes.
pub struct Checker {
    majority: f64,
    max_timeout: Duration,
    payload_timeout: Duration,
    max_nodes: usize,
    els: BTreeMap<String, ElModel>,
    checked: usize,
    panics_at_start: u64,
    /// Statuses the proxy received, consumed in time order (invariant 7).
    seen: usize,
    /// Block → voters whose INVALID for it stands.
    invalid: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Checker {
    pub fn new(config: &Config) -> Self {
        let els = config
            .els
            .iter()
            .map(|spec| {
                let slow_from = config.timeout_of(spec).min(PROBE_TIMEOUT);
                let mut model = ElModel {
                    in_set: spec.configured,
                    running: true,
                    partitioned: false,
                    held: false,
                    lossy: false,
                    faults: Vec::new(),
                    initial: spec.behaviours.clone(),
                    slow_from,
                    alive: Vec::new(),
                    do_not_use: spec.do_not_use,
                    timeout: config.timeout_of(spec),
                    delays: Vec::new(),
                    silent_since: [None; 2],
                    prompt_since: None,
                };
                model.restart();
                model.update(Duration::ZERO, true);
                model.update_silence(Duration::ZERO);
                (spec.name.clone(), model)
            })
            .collect();
        count_panics();
        Self {
            majority: config.majority,
            max_timeout: config.max_timeout(),
            payload_timeout: config.payload_timeout,
            max_nodes: config.els.len(),
            els,
            checked: 0,
            panics_at_start: panics(),
            seen: 0,
            invalid: BTreeMap::new(),
        }
    }

    /// Takes note of a scheduled action applied at `at`.
    pub fn on_action(&mut self, at: Duration, action: &Action) {
        let Some(el) = self.els.get_mut(action.el()) else {
            return;
        };
        match action {
            Action::Crash(_) => el.running = false,
            Action::Restart(_) => el.restart(),
            Action::Partition(_) => el.partitioned = true,
            Action::Heal(_) => el.partitioned = false,
            Action::Hold(_) => el.held = true,
            Action::Release(_) => el.held = false,
            Action::Lossy(_, rate) => el.lossy = *rate > 0.0,
            Action::Set(_, b) if el.running => el.apply(b),
            Action::Clear(_, kind) if el.running => {
                el.faults.retain(|k| k != kind);
                el.delays.retain(|(k, _, _)| k != kind);
            }
            // Node-set changes take effect when the CL's request succeeds.
            _ => {}
        }
        el.update(at, false);
        el.update_silence(at);
    }

    /// Checks the exchanges not checked yet.
    pub fn check_exchanges(&mut self, exchanges: &[Exchange]) -> Result<(), Violation> {
        while let Some(x) = exchanges.get(self.checked) {
            self.checked += 1;
            self.node_set_change(x);
            if let Some(counted) = x.counted.as_ref().filter(|_| x.is_voted()) {
                self.take_seen(counted.seen_before);
            }
            self.check_vote(x)?;
            self.check_remembered_invalid(x)?;
            self.check_ballots(x)?;
            self.check_grace(x)?;
            self.check_latency(x)?;
            self.check_read(x)?;
        }
        Ok(())
    }

    fn node_set_change(&mut self, x: &Exchange) {
        let in_set = match x.method.as_str() {
            "admin_add_nodes" => true,
            "admin_remove_nodes" => false,
            _ => return,
        };
        if !x.reply.is_success() {
            return;
        }
        if let Some(el) = self.els.get_mut(&x.subject) {
            el.in_set = in_set;
            // An added node is probed before it is added: alive at once, no settling.
            el.update(x.done, in_set);
            // The proxy sees a node's silence only from when it is in the set.
            el.silent_since = [None; 2];
            el.update_silence(x.done);
        }
    }

    /// Invariants 1 and 2.
    fn check_vote(&self, x: &Exchange) -> Result<(), Violation> {
        if !x.is_voted() {
            return Ok(());
        }
        let Some(status) = x.reply.status() else {
            return Ok(());
        };
        let Some(counted) = &x.counted else {
            return violation(0, x.done, format!("no vote recorded for {x}"));
        };
        let invalid = |s: Status| matches!(s, Status::Invalid | Status::InvalidBlockHash);
        let invalids = counted.count(invalid);
        if matches!(status, "VALID" | "ACCEPTED") && invalids > 0 {
            return violation(
                1,
                x.done,
                format!("{x}: {invalids} counted INVALID answer(s)"),
            );
        }
        if matches!(status, "INVALID" | "INVALID_BLOCK_HASH") {
            let n = counted.statuses.len();
            let needed = ((n as f64 * self.majority).round() as usize).max(1);
            let fcu = x.method.starts_with("engine_forkchoiceUpdated");
            let category = |s: Status| match s {
                Status::InvalidBlockHash => Status::Invalid,
                Status::Accepted if fcu => Status::Syncing,
                s => s,
            };
            let most_other = [Status::Valid, Status::Syncing, Status::Accepted]
                .iter()
                .map(|c| counted.count(|s| category(s) == *c))
                .max()
                .unwrap_or(0);
            if invalids < needed || invalids <= most_other {
                return violation(
                    2,
                    x.done,
                    format!(
                        "{x}: {invalids} of {n} counted answers INVALID (majority {} needs {needed} and more than {most_other})",
                        self.majority
                    ),
                );
            }
        }
        Ok(())
    }

    /// Applies the statuses the proxy had received when it took the vote (the first `until`; a
    /// voter's VALID in the call itself withdraws its earlier INVALID).
    fn take_seen(&mut self, until: usize) {
        let events = crate::tap::seen_since(self.seen);
        for e in events.iter().take(until.saturating_sub(self.seen)) {
            self.seen += 1;
            let voters = self.invalid.entry(e.block.clone()).or_default();
            match e.status {
                Status::Invalid | Status::InvalidBlockHash => {
                    voters.insert(e.el.clone());
                }
                Status::Valid => {
                    voters.remove(&e.el);
                }
                _ => {}
            }
        }
    }

    /// Invariant 7.
    fn check_remembered_invalid(&self, x: &Exchange) -> Result<(), Violation> {
        if !x.is_voted() || !matches!(x.reply.status(), Some("VALID" | "ACCEPTED")) {
            return Ok(());
        }
        match self.invalid.get(&x.subject) {
            Some(voters) if !voters.is_empty() => violation(
                7,
                x.done,
                format!(
                    "{x}: called INVALID earlier by {}",
                    voters.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ),
            _ => Ok(()),
        }
    }

    /// Invariant 8.
    fn check_ballots(&self, x: &Exchange) -> Result<(), Violation> {
        let Some(counted) = x.counted.as_ref().filter(|_| x.is_voted()) else {
            return Ok(());
        };
        let eligible = self
            .els
            .values()
            .filter(|el| el.in_set && !el.do_not_use)
            .count();
        let ballots =
            counted.statuses.len() + counted.errors + counted.no_answer + counted.set_aside;
        if ballots != eligible {
            return violation(
                8,
                x.done,
                format!("{x}: {ballots} ballots for {eligible} vote-eligible nodes"),
            );
        }
        Ok(())
    }

    /// Invariant 9.
    fn check_grace(&self, x: &Exchange) -> Result<(), Violation> {
        if !x.is_voted() || x.counted.is_none() {
            return Ok(());
        }
        let kind = usize::from(x.method.starts_with("engine_forkchoiceUpdated"));
        let eligible: Vec<&ElModel> = self
            .els
            .values()
            .filter(|el| el.in_set && !el.do_not_use)
            .collect();
        let prompt_throughout = |el: &ElModel| el.prompt_since.is_some_and(|since| since <= x.sent);
        let prompt = eligible.iter().filter(|el| prompt_throughout(el)).count();
        let long_silent =
            |el: &ElModel| el.silent_since[kind].is_some_and(|since| since + SILENT_FOR <= x.sent);
        let applies = prompt > 0
            && prompt < eligible.len()
            && eligible
                .iter()
                .all(|el| prompt_throughout(el) || long_silent(el));
        if applies {
            return too_slow(9, x, GRACE + SHORT_SLACK);
        }
        Ok(())
    }

    /// Invariant 3.
    fn check_latency(&self, x: &Exchange) -> Result<(), Violation> {
        let bound = if x.method.starts_with("engine_getPayload") {
            self.payload_timeout + SLACK
        } else if x.method.starts_with("admin_") {
            PROBE_TIMEOUT + SLACK
        } else {
            self.max_timeout + SLACK
        };
        too_slow(3, x, bound)?;
        match executionbackup::deadline::spec_timeout(&x.method) {
            // getPayload has its own, shorter bound above.
            Some(spec) if !x.method.starts_with("engine_getPayload") => {
                too_slow(11, x, spec + SHORT_SLACK)
            }
            _ => Ok(()),
        }
    }

    /// Invariant 4.
    fn check_read(&self, x: &Exchange) -> Result<(), Violation> {
        if !x.is_read() || x.reply.is_success() {
            return Ok(());
        }
        let alive: Vec<&str> = self
            .els
            .iter()
            .filter(|(_, el)| el.alive_throughout(x.sent, x.done))
            .map(|(name, _)| name.as_str())
            .collect();
        if !alive.is_empty() {
            return violation(4, x.done, format!("{x} while {} alive", alive.join(", ")));
        }
        Ok(())
    }

    /// Invariant 5: panics anywhere on this thread since the run began.
    pub fn check_panics(&self, at: Duration) -> Result<(), Violation> {
        let n = panics() - self.panics_at_start;
        if n > 0 {
            return violation(5, at, format!("{n} panic(s), see stderr"));
        }
        Ok(())
    }

    /// Invariant 5: the proxy's maps stay bounded however long the run.
    pub fn check_proxy(&self, at: Duration, proxy: &Proxy<TurmoilNet>) -> Result<(), Violation> {
        let payloads = proxy.payloads.len();
        if payloads > MAX_PAYLOAD_IDS {
            return violation(
                5,
                at,
                format!("{payloads} payload ids remembered (at most {MAX_PAYLOAD_IDS} live)"),
            );
        }
        for node in proxy.nodes.snapshot().iter() {
            let name = node
                .url()
                .trim_start_matches("http://")
                .split(':')
                .next()
                .unwrap_or_default();
            let Some(el) = self.els.get(name) else {
                continue;
            };
            let settled = el
                .prompt_since
                .is_some_and(|since| since + PROMPT_FOR <= at);
            let state = node.health.state();
            if el.in_set && settled && matches!(state, NodeState::Lagging | NodeState::Dead) {
                return violation(
                    10,
                    at,
                    format!(
                        "{name} has had no fault for {}s but is {}",
                        PROMPT_FOR.as_secs(),
                        state.as_str()
                    ),
                );
            }
        }
        let nodes = proxy.nodes.snapshot().len();
        if nodes > self.max_nodes {
            return violation(
                5,
                at,
                format!("{nodes} nodes, only {} exist", self.max_nodes),
            );
        }
        let series = executionbackup::admin::prometheus(proxy)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count();
        let bound = max_series(self.max_nodes);
        if series > bound {
            return violation(5, at, format!("{series} metric series (bound {bound})"));
        }
        Ok(())
    }
}

/// Metric series the proxy can have: per method and outcome (≤ 70), per vote kind, status and
/// reason (50), failovers, and about 21 per node (histogram, state, counters); refusals by
/// reason (11), two timestamps, build info and the process metrics (6); errors per method and
/// code (16 codes, for the dozen methods the simulated consensus client calls).
pub fn max_series(nodes: usize) -> usize {
    130 + 20 + 16 * 12 + 25 * nodes
}

/// Slots' worth of simulated time between two checks of the proxy's maps.
pub const PROXY_CHECK_EVERY: Duration = Duration::from_secs(SLOT.as_secs() / 4);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Counted, Reply};

    fn exchange(method: &str, sent_ms: u64, took_ms: u64, reply: Reply) -> Exchange {
        Exchange {
            id: 1,
            slot: 1,
            method: method.into(),
            subject: String::new(),
            sent: Duration::from_millis(sent_ms),
            done: Duration::from_millis(sent_ms + took_ms),
            reply,
            counted: None,
        }
    }

    fn voted(method: &str, told: &str, counted: &[Status]) -> Exchange {
        let reply = Reply::Status {
            status: told.into(),
            payload_id: None,
        };
        let mut x = exchange(method, 1_000, 10, reply);
        x.counted = Some(Counted {
            statuses: counted.to_vec(),
            // One ballot per node of a three-node world.
            no_answer: 3usize.saturating_sub(counted.len()),
            ..Counted::default()
        });
        x
    }

    fn broken(checker: &mut Checker, x: Exchange) -> Option<u8> {
        checker.checked = 0;
        checker.check_exchanges(&[x]).err().map(|v| v.invariant)
    }

    use Status::{Accepted, Invalid, InvalidBlockHash, Syncing, Valid};

    #[test]
    fn valid_over_an_invalid_answer_breaks_1() {
        let mut c = Checker::new(&Config::with_els(0, 3));
        let np = "engine_newPayloadV3";
        assert_eq!(
            broken(&mut c, voted(np, "VALID", &[Valid, Valid, Invalid])),
            Some(1)
        );
        assert_eq!(
            broken(&mut c, voted(np, "ACCEPTED", &[Accepted, InvalidBlockHash])),
            Some(1)
        );
        assert_eq!(
            broken(&mut c, voted(np, "SYNCING", &[Valid, Valid, Invalid])),
            None
        );
        assert_eq!(
            broken(&mut c, voted(np, "VALID", &[Valid, Valid, Syncing])),
            None
        );
        let mut lost = voted(np, "VALID", &[Valid]);
        lost.counted = None;
        assert_eq!(broken(&mut c, lost), Some(0), "a vote the tap missed");
    }

    #[test]
    fn invalid_needs_an_invalid_majority_or_breaks_2() {
        let mut c = Checker::new(&Config::with_els(0, 3));
        let fcu = "engine_forkchoiceUpdatedV3";
        assert_eq!(
            broken(&mut c, voted(fcu, "INVALID", &[Invalid, Invalid, Valid])),
            None
        );
        assert_eq!(
            broken(&mut c, voted(fcu, "INVALID", &[Invalid, Valid, Valid])),
            Some(2)
        );
        assert_eq!(broken(&mut c, voted(fcu, "INVALID", &[])), Some(2));
        // 2 of 4 reaches round(4 × 0.6) = 2 only without a tie: ACCEPTED is SYNCING for fcU.
        let tie = [Invalid, Invalid, Syncing, Accepted];
        let mut c4 = Checker::new(&Config::with_els(0, 4));
        assert_eq!(broken(&mut c4, voted(fcu, "INVALID", &tie)), Some(2));
        let np = "engine_newPayloadV3";
        assert_eq!(broken(&mut c4, voted(np, "INVALID", &tie)), None);
        let mut all = Config::with_els(0, 3);
        all.majority = 1.0;
        let mut c = Checker::new(&all);
        assert_eq!(
            broken(&mut c, voted(np, "INVALID", &[Invalid, Invalid, Valid])),
            Some(2)
        );
    }

    #[test]
    fn slow_answers_break_3() {
        let mut c = Checker::new(&Config::with_els(0, 3));
        let ok = || Reply::Result("ok".into());
        assert_eq!(
            broken(&mut c, exchange("eth_chainId", 0, 8_500, ok())),
            None
        );
        assert_eq!(
            broken(&mut c, exchange("eth_chainId", 0, 8_501, ok())),
            Some(3)
        );
        assert_eq!(
            broken(&mut c, exchange("engine_getPayloadV3", 0, 1_701, ok())),
            Some(3)
        );
        assert_eq!(
            broken(&mut c, exchange("engine_getPayloadV3", 0, 1_700, ok())),
            None
        );
    }

    #[test]
    fn failed_reads_while_a_node_is_settled_and_alive_break_4() {
        let s = Duration::from_secs;
        let failed = |sent_s: u64| {
            exchange(
                "eth_blockNumber",
                sent_s * 1_000,
                25,
                Reply::Failed("x".into()),
            )
        };
        let mut c = Checker::new(&Config::with_els(0, 3));
        assert_eq!(broken(&mut c, failed(10)), Some(4), "alive from the start");
        for el in ["el1", "el2", "el3"] {
            c.on_action(s(20), &Action::Crash(el.into()));
        }
        assert_eq!(broken(&mut c, failed(30)), None, "all down");
        c.on_action(s(40), &Action::Restart("el1".into()));
        assert_eq!(broken(&mut c, failed(60)), None, "el1 settling");
        assert_eq!(broken(&mut c, failed(76)), Some(4), "el1 settled");
        c.on_action(s(80), &Action::Set("el1".into(), Behaviour::hang()));
        assert_eq!(broken(&mut c, failed(120)), None, "el1 black-holed");
        c.on_action(s(130), &Action::Clear("el1".into(), BehaviourKind::Hang));
        c.on_action(s(131), &Action::Partition("el1".into()));
        assert_eq!(broken(&mut c, failed(170)), None, "el1 unreachable");
        c.on_action(s(180), &Action::Heal("el1".into()));
        let slow = Behaviour::latency(Duration::from_millis(1_800));
        c.on_action(s(180), &Action::Set("el1".into(), slow));
        assert_eq!(broken(&mut c, failed(250)), None, "too slow for the probes");
    }

    #[test]
    fn panics_break_5() {
        let c = Checker::new(&Config::with_els(0, 3));
        assert_eq!(c.check_panics(Duration::ZERO), Ok(()));
        let _ = std::panic::catch_unwind(|| panic!("deliberate, for the test"));
        assert_eq!(
            c.check_panics(Duration::ZERO).map_err(|v| v.invariant),
            Err(5)
        );
    }
}
