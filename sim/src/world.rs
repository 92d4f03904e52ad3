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

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use executionbackup::app;
use executionbackup::config::{self, NodeConfig, NodeSpec, Settings};
use executionbackup::proxy::Proxy;
use mock_el::MockEl;
use tokio::sync::mpsc;

use crate::cl;
use crate::schedule::Action;
use crate::{SimClock, TurmoilNet};

use crate::setup::MockChange;
pub use crate::setup::{
    admin_secret, secret, slot_time, Admin, Config, ElHandles, ElSpec, ElTls, Shared,
    CHANGE_OFFSET, CL, EL_PORT, EPOCH, MIN_TICK, PROXY, PROXY_PORT, SLOT,
};

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
