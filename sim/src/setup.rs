//! What a simulation is made of and what its hosts share: the constants (names, ports, the
//! slot), the secrets, [`Config`] and [`ElSpec`], the node-set changes ([`Admin`]) and the state
//! shared between the hosts and the code driving them ([`Shared`]). Building the hosts and
//! stepping them is [`crate::world`]'s; the consensus client ([`crate::cl`]) and the schedule use
//! this without depending on the world that runs them.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use eb_transport::JwtSecret;
use executionbackup::config::HealthModel;
use executionbackup::proxy::Proxy;
use executionbackup::vote::{self, VoteFn};
use mock_el::{Behaviour, BehaviourKind, MockEl};
use tokio::sync::mpsc;

use crate::trace::Trace;
use crate::TurmoilNet;

/// The wall-clock time at the start of every simulation (JWT `iat` values derive from it).
pub const EPOCH: u64 = 1_700_000_000;
/// One beacon-chain slot.
pub const SLOT: Duration = Duration::from_secs(12);
pub const PROXY: &str = "proxy";
pub const CL: &str = "cl";
pub const PROXY_PORT: u16 = 7000;
pub const EL_PORT: u16 = 8551;

/// The JWT secret shared by the consensus client, the proxy and every EL.
pub fn secret() -> JwtSecret {
    JwtSecret::from_bytes([0x5e; 32])
}

/// The REST API's secret (`--admin-jwt-secret`), which no EL holds.
pub fn admin_secret() -> JwtSecret {
    JwtSecret::from_bytes([0xad; 32])
}

/// Simulated time of `offset` into slot `slot` (slot 1 starts at 12 s; the first 12 s are for
/// start-up).
pub fn slot_time(slot: u32, offset: Duration) -> Duration {
    SLOT * slot + offset
}

/// One execution client.
#[derive(Clone, Debug, PartialEq)]
pub struct ElSpec {
    pub name: String,
    /// `#timeout=`; the proxy's default when `None`.
    pub timeout: Option<Duration>,
    /// `#do-not-use`.
    pub do_not_use: bool,
    /// In the proxy's `--nodes` at start; otherwise a spare that a schedule may add.
    pub configured: bool,
    /// Applied at every start of the mock (a restart keeps a buggy client buggy).
    pub behaviours: Vec<Behaviour>,
    /// Served over TLS (the node is `https://`, trusted through `#ca=`).
    pub tls: Option<ElTls>,
}

/// An EL's TLS identity: its certificate and key (PEM) and the file of the CA that signed it.
#[derive(Clone, Debug, PartialEq)]
pub struct ElTls {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca: std::path::PathBuf,
}

impl ElSpec {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            timeout: None,
            do_not_use: false,
            configured: true,
            behaviours: Vec::new(),
            tls: None,
        }
    }

    /// Serves the engine port over TLS with this identity.
    pub fn tls(mut self, tls: ElTls) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout = Some(Duration::from_millis(ms));
        self
    }

    pub fn do_not_use(mut self) -> Self {
        self.do_not_use = true;
        self
    }

    /// Not in the proxy's node list at start.
    pub fn spare(mut self) -> Self {
        self.configured = false;
        self
    }

    pub fn with(mut self, behaviour: Behaviour) -> Self {
        self.behaviours.push(behaviour);
        self
    }

    /// The URL the proxy knows the node by.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}:{EL_PORT}", self.name)
    }

    /// The `--nodes` / `/add_nodes` entry: the URL with its options.
    pub fn entry(&self) -> String {
        let mut s = self.url();
        if let Some(t) = self.timeout {
            s.push_str(&format!("#timeout={}", t.as_millis()));
        }
        if self.do_not_use {
            s.push_str("#do-not-use");
        }
        if let Some(tls) = &self.tls {
            s.push_str(&format!("#ca={}", tls.ca.display()));
        }
        s
    }
}

/// Everything that decides a simulation, apart from its fault schedule.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seeds turmoil (network latency draws), the mocks and the proxy's payload ids.
    pub seed: u64,
    pub els: Vec<ElSpec>,
    /// Slots the consensus client drives.
    pub slots: u32,
    pub majority: f64,
    pub default_timeout: Duration,
    pub payload_timeout: Duration,
    /// The vote under test.
    pub vote: VoteFn,
    /// The health model under test (`Legacy` only to show the invariants catch it).
    pub health_model: HealthModel,
    /// Simulated time per turmoil step (at least [`MIN_TICK`]). Messages reach a host at the
    /// start of a step.
    pub tick: Duration,
}

impl Config {
    pub fn new(seed: u64, els: Vec<ElSpec>) -> Self {
        Self {
            seed,
            els,
            slots: 8,
            majority: 0.6,
            default_timeout: Duration::from_millis(7_500),
            payload_timeout: Duration::from_millis(700),
            vote: vote::decide_ballots,
            health_model: HealthModel::Current,
            tick: Duration::from_millis(5),
        }
    }

    /// `n` configured ELs named `el1`…`elN` with the default timeout.
    pub fn with_els(seed: u64, n: usize) -> Self {
        Self::new(
            seed,
            (1..=n).map(|i| ElSpec::new(format!("el{i}"))).collect(),
        )
    }

    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    pub fn el(&self, name: &str) -> Option<&ElSpec> {
        self.els.iter().find(|e| e.name == name)
    }

    /// The timeout the proxy uses for this EL.
    pub fn timeout_of(&self, el: &ElSpec) -> Duration {
        el.timeout.unwrap_or(self.default_timeout)
    }

    /// The largest per-node timeout of any EL the proxy may use.
    pub fn max_timeout(&self) -> Duration {
        self.els
            .iter()
            .map(|e| self.timeout_of(e))
            .max()
            .unwrap_or(self.default_timeout)
    }

    /// How long the simulation may run before it counts as stuck.
    pub fn duration_limit(&self) -> Duration {
        slot_time(self.slots + 1, Duration::ZERO) + Duration::from_secs(300)
    }
}

/// A node-set change, carried out by the consensus client through the REST API.
#[derive(Clone, Debug, PartialEq)]
pub enum Admin {
    Add(ElSpec),
    Remove(String),
    PileUp(u32),
    Amsterdam,
}

/// The mocks one EL host ran, one per start; the last is the running one unless it crashed.
#[derive(Default)]
pub struct ElHandles {
    pub current: Option<MockEl>,
    pub all: Vec<MockEl>,
    /// Behaviour changes for the running mock, applied inside its host (see [`MockChange`]).
    pub(crate) changes: Option<mpsc::UnboundedSender<MockChange>>,
}

/// A behaviour change for a mock.
///
/// Changes are applied by a task in the EL's own host, [`CHANGE_OFFSET`] into a simulation
/// step, never from outside: network messages reach a host at the start of a step and the
/// mock's timers (latencies, retries) fall on whole steps (keep latencies in a schedule
/// multiples of the step), so a change never becomes visible in the same poll as a request's
/// progress. mock-el's connection and accept loops use unbiased
/// `tokio::select!`, whose choice between two ready branches comes from an RNG tokio seeds from
/// OS entropy: a change (say, `Dead`) and an answer ready at once would make runs differ.
#[derive(Clone, Debug)]
pub(crate) enum MockChange {
    Set(Behaviour),
    Clear(BehaviourKind),
}

/// How far into a step behaviour changes are applied. Less than [`MIN_TICK`], and not a
/// multiple of it.
pub const CHANGE_OFFSET: Duration = Duration::from_millis(1);
/// The shortest simulation step that keeps [`CHANGE_OFFSET`] between steps.
pub const MIN_TICK: Duration = Duration::from_millis(2);

/// State shared between the hosts and the code driving the simulation.
#[derive(Default)]
pub struct Shared {
    pub trace: RefCell<Trace>,
    pub els: RefCell<BTreeMap<String, ElHandles>>,
    pub proxy: RefCell<Option<Arc<Proxy<TurmoilNet>>>>,
    /// Node-set changes waiting for the consensus client.
    pub admin: RefCell<VecDeque<Admin>>,
}

impl Shared {
    /// Every mock each EL ran, oldest first.
    pub fn mocks(&self) -> BTreeMap<String, Vec<MockEl>> {
        self.els
            .borrow()
            .iter()
            .map(|(name, h)| (name.clone(), h.all.clone()))
            .collect()
    }
}
