//! Fault schedules: what happens to the world, and when. Written by hand for the named
//! scenarios, or drawn from a seed by [`random`] for the explorer.

use std::fmt;
use std::time::Duration;

use mock_el::{Behaviour, BehaviourKind, Status};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::setup::{slot_time, Config, ElSpec, SLOT};

/// One change to the world.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The EL's host stops: its process is gone, connections to it are refused.
    Crash(String),
    /// The EL's host starts again (after a crash, or in place), with a fresh mock.
    Restart(String),
    /// The link between the proxy and the EL drops every message.
    Partition(String),
    Heal(String),
    /// Messages between the proxy and the EL are held (not lost) until released: a stalled
    /// link. Connections hang.
    Hold(String),
    Release(String),
    /// Each message between the proxy and the EL breaks the link with this probability (an
    /// in-flight exchange is lost); 0 makes it reliable again.
    Lossy(String, f64),
    /// A mock behaviour (status, latency, hang, dead, flaky…). Ignored while the EL is crashed.
    Set(String, Behaviour),
    /// Puts one behaviour back to normal.
    Clear(String, BehaviourKind),
    /// The consensus client adds the node through `POST /add_nodes`.
    Add(ElSpec),
    /// The consensus client removes the node through `POST /remove_nodes`.
    Remove(String),
    /// Right after its next newPayload, the consensus client sends that newPayload this many
    /// times more, all at once (a pile-up in every node's lane).
    PileUp(u32),
    /// The chain reaches Amsterdam: from its next slot the consensus client sends Amsterdam's
    /// shapes (newPayloadV5 with blockAccessList, forkchoiceUpdatedV4 with its third parameter,
    /// getPayloadV6), and newPayload's deadline is 6 s instead of 8.
    Amsterdam,
}

impl Action {
    /// The EL the action is about.
    pub fn el(&self) -> &str {
        match self {
            Action::Crash(el)
            | Action::Restart(el)
            | Action::Partition(el)
            | Action::Heal(el)
            | Action::Hold(el)
            | Action::Release(el)
            | Action::Lossy(el, _)
            | Action::Set(el, _)
            | Action::Clear(el, _)
            | Action::Remove(el) => el,
            Action::Add(spec) => &spec.name,
            Action::PileUp(_) | Action::Amsterdam => "",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Crash(el) => write!(f, "crash {el}"),
            Action::Restart(el) => write!(f, "restart {el}"),
            Action::Partition(el) => write!(f, "partition proxy|{el}"),
            Action::Heal(el) => write!(f, "heal proxy|{el}"),
            Action::Hold(el) => write!(f, "hold proxy|{el}"),
            Action::Release(el) => write!(f, "release proxy|{el}"),
            Action::Lossy(el, rate) => write!(f, "fail rate proxy|{el} {rate}"),
            Action::Set(el, b) => write!(f, "set {el} {}", behaviour_json(b)),
            Action::Clear(el, kind) => write!(f, "clear {el} {kind:?}"),
            Action::Add(spec) => write!(f, "add node {}", spec.entry()),
            Action::Remove(el) => write!(f, "remove node {el}"),
            Action::PileUp(n) => write!(f, "pile-up of {n} newPayloads"),
            Action::Amsterdam => f.write_str("fork: Amsterdam"),
        }
    }
}

fn behaviour_json(b: &Behaviour) -> String {
    serde_json::to_string(b).unwrap_or_else(|_| format!("{b:?}"))
}

/// An action at a simulated time.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub at: Duration,
    pub action: Action,
}

/// Actions in time order (equal times keep the order they were added in).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    events: Vec<Timed>,
}

impl Schedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `action` at `offset` into slot `slot`.
    pub fn at(mut self, slot: u32, offset: Duration, action: Action) -> Self {
        self.push(slot_time(slot, offset), action);
        self
    }

    pub fn push(&mut self, at: Duration, action: Action) {
        let i = self.events.partition_point(|e| e.at <= at);
        self.events.insert(i, Timed { at, action });
    }

    pub fn events(&self) -> &[Timed] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Milliseconds, for short schedules.
pub fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A random world and fault schedule for `slots` slots, the same for the same seed.
///
/// Three or four ELs with timeouts of 2, 3 or 7.5 s, sometimes a `#do-not-use` node and a
/// spare that gets added; majority 0.5, 0.6 or 1.0. In each slot but the first and the last
/// two, a fault episode starts with probability 0.4: crash and restart, partition and heal,
/// held (stalled) and lossy links, black hole, dead, latency just under or over the timeout,
/// flaky, HTTP 500, truncated answers, wrong statuses (INVALID, SYNCING, ACCEPTED,
/// INVALID_BLOCK_HASH, every Nth block INVALID), a majority INVALID, everyone SYNCING, JSON-RPC
/// errors, flapping, every EL down, the primary dying before getPayload, node-set changes. Each episode undoes itself 1 to 36 s later.
pub fn random(seed: u64, slots: u32) -> Scenario {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x0123_4567_89ab_cdef);
    let n = rng.gen_range(3..=4);
    let mut els: Vec<ElSpec> = (1..=n)
        .map(|i| ElSpec::new(format!("el{i}")).timeout_ms(*pick(&mut rng, &[2_000, 3_000, 7_500])))
        .collect();
    if rng.gen_bool(0.15) {
        els[n - 1].do_not_use = true;
    }
    if rng.gen_bool(0.3) {
        els.push(
            ElSpec::new(format!("el{}", n + 1))
                .timeout_ms(*pick(&mut rng, &[2_000, 3_000]))
                .spare(),
        );
    }
    let mut config = Config::new(seed, els).slots(slots);
    config.majority = *pick(&mut rng, &[0.5, 0.6, 0.6, 1.0]);
    let mut gen = Gen {
        rng,
        config: &config,
        schedule: Schedule::new(),
        spare_added: false,
    };
    for slot in 2..slots.saturating_sub(1) {
        if gen.rng.gen_bool(0.4) {
            gen.episode(slot);
        }
    }
    let mut schedule = gen.schedule;
    // Every explored run crosses a fork boundary, somewhere in its middle third, with the
    // episodes above going on around it. Drawn apart so the episodes stay what they were.
    if slots >= 3 {
        let mut fork_rng = SmallRng::seed_from_u64(seed ^ 0x00a3_57e4_da00);
        let at = fork_rng.gen_range(slots / 3..=2 * slots / 3).max(1);
        schedule.push(
            slot_time(at, ms(fork_rng.gen_range(0..12_000))),
            Action::Amsterdam,
        );
    }
    Scenario { config, schedule }
}

fn pick<'a, T>(rng: &mut SmallRng, from: &'a [T]) -> &'a T {
    from.choose(rng).unwrap_or(&from[0])
}

struct Gen<'c> {
    rng: SmallRng,
    config: &'c Config,
    schedule: Schedule,
    spare_added: bool,
}

impl Gen<'_> {
    fn episode(&mut self, slot: u32) {
        let start = slot_time(slot, ms(self.rng.gen_range(0..12_000)));
        let end = start + ms(self.rng.gen_range(1_000..36_000));
        let el = self.pick_el();
        let other = self.pick_other(&el);
        let timeout = self
            .config
            .el(&el)
            .map_or(self.config.default_timeout, |e| self.config.timeout_of(e));
        let s = &mut self.schedule;
        let set = |el: &str, b: Behaviour| Action::Set(el.to_owned(), b);
        let clear = |el: &str, k: BehaviourKind| Action::Clear(el.to_owned(), k);
        match self.rng.gen_range(0..24) {
            0 => {
                s.push(start, Action::Crash(el.clone()));
                s.push(end, Action::Restart(el));
            }
            1 => {
                s.push(start, Action::Partition(el.clone()));
                s.push(end, Action::Heal(el));
            }
            2 => {
                s.push(start, set(&el, Behaviour::hang()));
                s.push(end, clear(&el, BehaviourKind::Hang));
            }
            3 => {
                s.push(start, set(&el, Behaviour::Dead(true)));
                s.push(end, set(&el, Behaviour::Dead(false)));
            }
            4 => {
                let t = timeout.as_millis() as u64;
                let delay = *pick(&mut self.rng, &[t - 300, t + 300, 300, 1_800]);
                s.push(start, set(&el, Behaviour::latency(ms(delay))));
                s.push(end, clear(&el, BehaviourKind::Latency));
            }
            5 => {
                let p = *pick(&mut self.rng, &[0.2, 0.5]);
                let flaky_seed = self.rng.gen();
                s.push(start, set(&el, Behaviour::flaky(p, flaky_seed)));
                s.push(end, clear(&el, BehaviourKind::Flaky));
            }
            6 => {
                s.push(start, set(&el, Behaviour::http_500()));
                s.push(end, clear(&el, BehaviourKind::Http500));
            }
            7 => {
                s.push(start, set(&el, Behaviour::close_mid_response()));
                s.push(end, clear(&el, BehaviourKind::CloseMidResponse));
            }
            8 | 9 => {
                let status = *pick(
                    &mut self.rng,
                    &[
                        Status::Invalid,
                        Status::Invalid,
                        Status::Syncing,
                        Status::Accepted,
                        Status::InvalidBlockHash,
                    ],
                );
                s.push(start, set(&el, Behaviour::Status(status)));
                s.push(end, clear(&el, BehaviourKind::Status));
            }
            10 => {
                let every = self.rng.gen_range(2..=4);
                s.push(start, set(&el, Behaviour::InvalidEvery(every)));
                s.push(end, clear(&el, BehaviourKind::InvalidEvery));
            }
            11 => {
                let failure = Behaviour::rpc_error(-32000, "simulated failure").scoped("engine_");
                s.push(start, set(&el, failure));
                s.push(end, clear(&el, BehaviourKind::RpcError));
            }
            12 => {
                // Flapping: down 1.5 s out of every 3 s, six times.
                for i in 0..6u32 {
                    s.push(start + ms(3_000) * i, set(&el, Behaviour::Dead(true)));
                    s.push(
                        start + ms(3_000) * i + ms(1_500),
                        set(&el, Behaviour::Dead(false)),
                    );
                }
            }
            13 => {
                for e in [&el, &other] {
                    s.push(start, set(e, Behaviour::Status(Status::Invalid)));
                    s.push(end, clear(e, BehaviourKind::Status));
                }
            }
            14 => {
                for e in self.config.els.iter().filter(|e| e.configured) {
                    s.push(start, Action::Crash(e.name.clone()));
                    s.push(end, Action::Restart(e.name.clone()));
                }
            }
            15 => {
                // The primary (first configured node) dies between forkchoiceUpdated and
                // getPayload.
                if let Some(first) = self.config.els.first() {
                    let at = slot_time(slot, ms(2_000));
                    s.push(at, Action::Crash(first.name.clone()));
                    s.push(at + SLOT, Action::Restart(first.name.clone()));
                }
            }
            16 => {
                for e in self.config.els.iter() {
                    s.push(start, set(&e.name, Behaviour::Status(Status::Syncing)));
                    s.push(end, clear(&e.name, BehaviourKind::Status));
                }
            }
            17 => {
                s.push(start, Action::Hold(el.clone()));
                s.push(end, Action::Release(el));
            }
            18 => {
                let rate = *pick(&mut self.rng, &[0.02, 0.1]);
                s.push(start, Action::Lossy(el.clone(), rate));
                s.push(end, Action::Lossy(el, 0.0));
            }
            20 => {
                // Slow reads on one EL (past its timeout): reads move elsewhere, its votes stay.
                let t = timeout.as_millis() as u64;
                let slow = Behaviour::latency(ms(t + 300)).scoped("eth_");
                s.push(start, set(&el, slow));
                s.push(end, clear(&el, BehaviourKind::Latency));
            }
            21 => {
                // Stuck on newPayload, answering forkchoiceUpdated and the probes.
                s.push(
                    start,
                    set(&el, Behaviour::hang().scoped("engine_newPayload")),
                );
                s.push(end + SLOT, clear(&el, BehaviourKind::Hang));
            }
            22 => {
                // Late INVALIDs: the EL misses a newPayload deadline (so it is lagging), then
                // calls every block INVALID a little after the others answered.
                let t = timeout.as_millis() as u64;
                let late = ms(t.saturating_sub(500).clamp(600, 1_000));
                s.push(
                    start,
                    set(
                        &el,
                        Behaviour::latency(ms(t + 300)).scoped("engine_newPayload"),
                    ),
                );
                let later = start + SLOT + SLOT;
                s.push(
                    later,
                    set(&el, Behaviour::latency(late).scoped("engine_newPayload")),
                );
                s.push(later, set(&el, Behaviour::Status(Status::Invalid)));
                s.push(later + SLOT * 2, clear(&el, BehaviourKind::Latency));
                s.push(later + SLOT * 2, clear(&el, BehaviourKind::Status));
            }
            23 => {
                // A pile-up of slow voted calls: every EL takes 1.5 s over newPayload while the
                // CL sends five more at once.
                let at = slot_time(slot, ms(0));
                for e in self.config.els.iter() {
                    let slow = Behaviour::latency(ms(1_500)).scoped("engine_newPayload");
                    s.push(at, set(&e.name, slow));
                    s.push(at + SLOT, clear(&e.name, BehaviourKind::Latency));
                }
                s.push(at, Action::PileUp(5));
            }
            _ => self.node_set_change(start, end),
        }
    }

    /// Adds the spare (once), or removes a configured node and adds it back.
    fn node_set_change(&mut self, start: Duration, end: Duration) {
        let spare = self.config.els.iter().find(|e| !e.configured).cloned();
        match spare {
            Some(spare) if !self.spare_added => {
                self.spare_added = true;
                self.schedule.push(start, Action::Add(spare));
            }
            _ => {
                let configured: Vec<&ElSpec> =
                    self.config.els.iter().filter(|e| e.configured).collect();
                if let Some(victim) = configured.choose(&mut self.rng) {
                    let victim = (*victim).clone();
                    self.schedule
                        .push(start, Action::Remove(victim.name.clone()));
                    self.schedule.push(end, Action::Add(victim));
                }
            }
        }
    }

    fn pick_other(&mut self, not: &str) -> String {
        let names: Vec<&str> = self
            .config
            .els
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| *n != not)
            .collect();
        pick(&mut self.rng, &names).to_string()
    }

    fn pick_el(&mut self) -> String {
        let names: Vec<&str> = self.config.els.iter().map(|e| e.name.as_str()).collect();
        pick(&mut self.rng, &names).to_string()
    }
}

/// A world and what happens to it.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub config: Config,
    pub schedule: Schedule,
}

impl Scenario {
    pub fn new(config: Config, schedule: Schedule) -> Self {
        Self { config, schedule }
    }

    /// The explorer's scenario for `seed`.
    pub fn random(seed: u64, slots: u32) -> Self {
        random(seed, slots)
    }
}
