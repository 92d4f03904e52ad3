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

use executionbackup::proxy::Proxy;
use executionbackup::vote::Status;
use mock_el::{Behaviour, BehaviourKind};

use crate::schedule::Action;
use crate::trace::{stamp, Exchange};
use crate::world::{Config, SLOT};
use crate::TurmoilNet;

/// What "a small bound" above the timeouts is.
pub const SLACK: Duration = Duration::from_secs(1);
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

    fn apply(&mut self, b: &Behaviour) {
        let kind = b.kind();
        let faulty = match b {
            Behaviour::Dead(dead) => *dead,
            Behaviour::Latency(l) => Duration::from_millis(l.max_ms) + SLACK / 2 >= self.slow_from,
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
                };
                model.restart();
                model.update(Duration::ZERO, true);
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
            Action::Clear(_, kind) if el.running => el.faults.retain(|k| k != kind),
            // Node-set changes take effect when the CL's request succeeds.
            _ => {}
        }
        el.update(at, false);
    }

    /// Checks the exchanges not checked yet.
    pub fn check_exchanges(&mut self, exchanges: &[Exchange]) -> Result<(), Violation> {
        while let Some(x) = exchanges.get(self.checked) {
            self.checked += 1;
            self.node_set_change(x);
            self.check_vote(x)?;
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

    /// Invariant 3.
    fn check_latency(&self, x: &Exchange) -> Result<(), Violation> {
        let bound = if x.method.starts_with("engine_getPayload") {
            self.payload_timeout + SLACK
        } else if x.method.starts_with("admin_") {
            PROBE_TIMEOUT + SLACK
        } else {
            self.max_timeout + SLACK
        };
        if x.took() > bound {
            return violation(
                3,
                x.done,
                format!(
                    "{x}: took {}ms, bound {}ms",
                    x.took().as_millis(),
                    bound.as_millis()
                ),
            );
        }
        Ok(())
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
/// reason (50), failovers, and about 21 per node (histogram, state, counters).
pub fn max_series(nodes: usize) -> usize {
    130 + 25 * nodes
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
        assert_eq!(broken(&mut c, voted(fcu, "INVALID", &tie)), Some(2));
        let np = "engine_newPayloadV3";
        assert_eq!(broken(&mut c, voted(np, "INVALID", &tie)), None);
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
