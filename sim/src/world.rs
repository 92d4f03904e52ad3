//! Building a simulation: the hosts, their configuration, and the handles shared with them.
//!
//! * `el1`…`elN`: mock execution clients (mock-el over [`TurmoilNet`]) on port 8551. A restarted
//!   host starts a fresh mock (new chain, no builds), as a restarted EL would.
//! * `proxy`: the daemon's own start-up code, [`executionbackup::app::start`], on port 7000,
//!   with the vote tap ([`crate::tap`]) in its settings.
//! * `cl`: the simulated consensus client ([`crate::cl`]), the one turmoil client: the
//!   simulation ends when it has driven every slot.
//!
//! Everything runs on one thread, so the handles are shared with `Rc<RefCell<..>>`. Faults are
//! applied between simulation steps by [`World::apply`].

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use eb_transport::JwtSecret;
use executionbackup::app;
use executionbackup::config::{self, HealthModel, NodeConfig, NodeSpec, Settings};
use executionbackup::proxy::Proxy;
use executionbackup::vote::{self, VoteFn};
use mock_el::{Behaviour, BehaviourKind, MockEl};
use tokio::sync::mpsc;

use crate::cl;
use crate::schedule::Action;
use crate::trace::Trace;
use crate::{SimClock, TurmoilNet};

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
    changes: Option<mpsc::UnboundedSender<MockChange>>,
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
enum MockChange {
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

/// A simulation ready to step.
pub struct World {
    pub sim: turmoil::Sim<'static>,
    pub shared: Rc<Shared>,
}

/// Why a world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("node {0}: {1}")]
    Node(String, config::ConfigError),
    #[error("a simulation step of {0:?} is shorter than {MIN_TICK:?}")]
    Tick(Duration),
}

impl World {
    pub fn build(config: &Config) -> Result<Self, BuildError> {
        if config.tick < MIN_TICK {
            return Err(BuildError::Tick(config.tick));
        }
        let mut sim = turmoil::Builder::new()
            .rng_seed(config.seed)
            .tick_duration(config.tick)
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(5))
            .simulation_duration(config.duration_limit())
            .build();
        let shared = Rc::new(Shared::default());
        // ELs first: hosts are stepped in registration order, so the mocks listen before the
        // proxy's start-up probes reach them.
        for (i, el) in config.els.iter().enumerate() {
            shared
                .els
                .borrow_mut()
                .insert(el.name.clone(), ElHandles::default());
            el_host(
                &mut sim,
                &shared,
                el.clone(),
                config.seed.wrapping_add(i as u64),
            );
        }
        let nodes = config
            .els
            .iter()
            .filter(|e| e.configured)
            .map(|e| {
                NodeSpec::parse(&e.entry())
                    .and_then(|s| config::resolve_node(s, Some(&secret()), config.default_timeout))
                    .map_err(|err| BuildError::Node(e.name.clone(), err))
            })
            .collect::<Result<Vec<_>, _>>()?;
        proxy_host(&mut sim, &shared, config, nodes);
        sim.client(CL, cl::drive(shared.clone(), config.slots, config.seed));
        Ok(Self { sim, shared })
    }

    /// Applies one scheduled action. `false` means "not yet": a restarted mock has not started
    /// listening, try again after the next step.
    pub fn apply(&mut self, action: &Action) -> bool {
        match action {
            Action::Crash(el) => {
                self.sim.crash(el.as_str());
                self.forget(el);
            }
            Action::Restart(el) => {
                self.forget(el);
                self.sim.bounce(el.as_str());
            }
            Action::Partition(el) => self.sim.partition(PROXY, el.as_str()),
            Action::Heal(el) => self.sim.repair(PROXY, el.as_str()),
            Action::Hold(el) => self.sim.hold(PROXY, el.as_str()),
            Action::Release(el) => self.sim.release(PROXY, el.as_str()),
            Action::Lossy(el, rate) => self.sim.set_link_fail_rate(PROXY, el.as_str(), *rate),
            Action::Set(el, b) => return self.change(el, MockChange::Set(b.clone())),
            Action::Clear(el, kind) => return self.change(el, MockChange::Clear(*kind)),
            Action::Add(spec) => self
                .shared
                .admin
                .borrow_mut()
                .push_back(Admin::Add(spec.clone())),
            Action::Remove(el) => self
                .shared
                .admin
                .borrow_mut()
                .push_back(Admin::Remove(el.clone())),
            Action::PileUp(n) => self.shared.admin.borrow_mut().push_back(Admin::PileUp(*n)),
            Action::Amsterdam => self.shared.admin.borrow_mut().push_back(Admin::Amsterdam),
        }
        true
    }

    fn forget(&self, el: &str) {
        if let Some(h) = self.shared.els.borrow_mut().get_mut(el) {
            h.current = None;
            h.changes = None;
        }
    }

    /// Sends a change to the EL's running mock. A crashed EL ignores behaviour changes.
    fn change(&mut self, el: &str, change: MockChange) -> bool {
        if !self.sim.is_host_running(el) {
            return true;
        }
        match self
            .shared
            .els
            .borrow()
            .get(el)
            .and_then(|h| h.changes.as_ref())
        {
            Some(changes) => {
                // The receiver lives as long as the host runs.
                let _ = changes.send(change);
                true
            }
            None => false,
        }
    }

    /// The running proxy, once it has started.
    pub fn proxy(&self) -> Option<Arc<Proxy<TurmoilNet>>> {
        self.shared.proxy.borrow().clone()
    }
}

fn el_host(sim: &mut turmoil::Sim<'static>, shared: &Rc<Shared>, spec: ElSpec, seed: u64) {
    let shared = shared.clone();
    let name = spec.name.clone();
    sim.host(name.as_str(), move || {
        let shared = shared.clone();
        let spec = spec.clone();
        async move {
            let starts = shared
                .els
                .borrow()
                .get(&spec.name)
                .map_or(0, |h| h.all.len() as u64);
            let mut builder = MockEl::builder()
                .secret(secret())
                .clock(Arc::new(SimClock::new(EPOCH)))
                .name(spec.name.clone())
                // A restarted EL issues different payload ids than before its restart.
                .seed(seed.wrapping_mul(1_000).wrapping_add(starts));
            for b in &spec.behaviours {
                builder = builder.behaviour(b.clone());
            }
            if let Some(tls) = &spec.tls {
                let config = eb_transport::tls::server_config(
                    tls.cert_pem.as_bytes(),
                    tls.key_pem.as_bytes(),
                )
                .map_err(|e| std::io::Error::other(e.to_string()))?;
                builder = builder.tls(config);
            }
            let addr = SocketAddr::from(([0, 0, 0, 0], EL_PORT));
            let handle = builder.spawn(TurmoilNet, addr).await?;
            let (changes, mut received) = mpsc::unbounded_channel();
            if let Some(h) = shared.els.borrow_mut().get_mut(&spec.name) {
                h.current = Some(handle.el().clone());
                h.all.push(handle.el().clone());
                h.changes = Some(changes);
            }
            while let Some(first) = received.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = received.try_recv() {
                    batch.push(more);
                }
                tokio::time::sleep(CHANGE_OFFSET).await;
                for change in batch {
                    match change {
                        MockChange::Set(b) => handle.set(b),
                        MockChange::Clear(kind) => handle.clear(kind),
                    }
                }
            }
            std::future::pending::<()>().await;
            drop(handle);
            Ok(())
        }
    });
}

fn proxy_host(
    sim: &mut turmoil::Sim<'static>,
    shared: &Rc<Shared>,
    config: &Config,
    nodes: Vec<NodeConfig>,
) {
    let settings = Settings {
        listen: SocketAddr::from(([0, 0, 0, 0], PROXY_PORT)),
        metrics: None,
        admin_secret: Some(admin_secret()),
        fcu_majority: config.majority,
        default_timeout: config.default_timeout,
        payload_timeout: config.payload_timeout,
        vote: crate::tap::vote,
        seen: Some(crate::tap::seen),
        health_model: config.health_model,
        ..Settings::default()
    };
    let salt = config.seed ^ 0x5a17_5a17_5a17_5a17;
    let shared = shared.clone();
    sim.host(PROXY, move || {
        let shared = shared.clone();
        let settings = settings.clone();
        let nodes = nodes.clone();
        async move {
            let clock = Arc::new(SimClock::new(EPOCH));
            let running = app::start(TurmoilNet, clock, settings, secret(), nodes, salt).await?;
            *shared.proxy.borrow_mut() = Some(running.proxy.clone());
            std::future::pending::<()>().await;
            drop(running);
            Ok(())
        }
    });
}
