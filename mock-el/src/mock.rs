//! [`MockEl`]: the in-process handle on a running mock's state (behaviours, chain, call log).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use eb_transport::{JwtSecret, SharedClock};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::behaviour::{Behaviour, BehaviourKind, Settings, Status};
use crate::chain::{Block, Chain};
use crate::encoding::B256;
use crate::record::{Call, Recorder};

/// Lifecycle signals for the engine port's accept loop and its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Life {
    pub dead: bool,
    pub shutdown: bool,
}

/// Mutable state, behind one lock held only for short, synchronous sections.
pub(crate) struct State {
    pub settings: Settings,
    /// What [`MockEl::clear`] and [`MockEl::reset`] return to.
    pub baseline: Settings,
    pub chain: Chain,
    /// Latency draws.
    pub rng: SmallRng,
    /// Flaky draws, reseeded whenever a flaky behaviour is set.
    pub flaky_rng: SmallRng,
}

pub(crate) struct Shared {
    pub name: String,
    /// The client code in `engine_getClientVersionV1`.
    pub code: String,
    pub seed: u64,
    pub instance: [u8; 32],
    pub secret: JwtSecret,
    pub clock: SharedClock,
    pub start: Instant,
    pub state: Mutex<State>,
    pub calls: Mutex<Recorder>,
    /// Whether calls keep their raw params.
    pub record_params: bool,
    /// HTTP requests received so far (numbers [`Call::arrival`]).
    pub arrivals: AtomicU64,
    pub auth_failures: AtomicU64,
    /// TLS handshakes that failed (the client refused the certificate, most often).
    pub tls_failures: AtomicU64,
    pub life: watch::Sender<Life>,
    /// Bumped on every behaviour change (wakes hung requests).
    pub changes: watch::Sender<u64>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// A block header as the mock knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlockInfo {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
    pub timestamp: u64,
}

impl From<&Block> for BlockInfo {
    fn from(b: &Block) -> Self {
        Self {
            number: b.number,
            hash: b.hash,
            parent_hash: b.parent,
            timestamp: b.timestamp,
        }
    }
}

/// A running mock's state: change its behaviour, read its call log and chain. Cheap to clone;
/// all clones act on the same mock. Obtained from [`crate::MockElHandle`] (which derefs to it)
/// or [`crate::MockElHandle::el`].
#[derive(Clone)]
pub struct MockEl {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for MockEl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockEl")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl MockEl {
    /// The name reported by `engine_getClientVersionV1`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Applies a behaviour change; it takes effect for the next request.
    pub fn set(&self, behaviour: Behaviour) {
        tracing::info!(el = %self.shared.name, ?behaviour, "behaviour set");
        let dead = {
            let mut st = self.shared.state();
            if let Behaviour::Flaky(f) = &behaviour {
                st.flaky_rng = SmallRng::seed_from_u64(f.seed.unwrap_or(self.shared.seed));
            }
            st.settings.apply(behaviour, Instant::now());
            st.settings.dead
        };
        self.changed(dead);
    }

    /// Applies several behaviour changes in order.
    pub fn set_all(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        for b in behaviours {
            self.set(b);
        }
    }

    /// Shorthand for `set(Behaviour::Status(status))`.
    pub fn set_status(&self, status: Status) {
        self.set(Behaviour::Status(status));
    }

    /// Shorthand for `set(Behaviour::Dead(dead))`.
    pub fn set_dead(&self, dead: bool) {
        self.set(Behaviour::Dead(dead));
    }

    /// Returns one slot to its baseline: the neutral default for statuses, rules and faults
    /// (VALID, no fault, alive), the start value for chain id, capabilities, block value and
    /// blobs.
    pub fn clear(&self, kind: BehaviourKind) {
        tracing::info!(el = %self.shared.name, ?kind, "behaviour cleared");
        let dead = {
            let mut st = self.shared.state();
            let State {
                settings, baseline, ..
            } = &mut *st;
            settings.clear(kind, baseline);
            settings.dead
        };
        self.changed(dead);
    }

    /// Returns every slot to its baseline (see [`MockEl::clear`]). The chain and the call log
    /// are kept.
    pub fn reset(&self) {
        tracing::info!(el = %self.shared.name, "behaviour reset");
        let dead = {
            let mut st = self.shared.state();
            st.settings = st.baseline.clone();
            st.settings.dead
        };
        self.changed(dead);
    }

    fn changed(&self, dead: bool) {
        self.shared.life.send_if_modified(|l| {
            let changed = l.dead != dead;
            l.dead = dead;
            changed
        });
        self.shared.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The current configuration.
    pub fn settings(&self) -> Settings {
        self.shared.state().settings.clone()
    }

    /// The recorded calls, oldest first (at most the builder's `max_calls` newest).
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared.calls).snapshot()
    }

    /// The recorded calls whose method starts with `prefix`, in the order their requests
    /// arrived (not the order they were answered in).
    pub fn arrivals_to(&self, prefix: &str) -> Vec<Call> {
        let mut calls = self.calls_to(prefix);
        calls.sort_by_key(|c| c.arrival);
        calls
    }

    /// The recorded calls whose method starts with `prefix`.
    pub fn calls_to(&self, prefix: &str) -> Vec<Call> {
        let mut calls = self.calls();
        calls.retain(|c| c.method.starts_with(prefix));
        calls
    }

    /// Forgets the recorded calls (the total count keeps counting).
    pub fn clear_calls(&self) {
        lock(&self.shared.calls).clear();
    }

    /// How many calls were received since start, including ones no longer kept.
    pub fn call_count(&self) -> u64 {
        lock(&self.shared.calls).total()
    }

    /// How many HTTP requests arrived on the engine port (refused ones included); the next
    /// one's [`Call::arrival`] number.
    pub fn requests_received(&self) -> u64 {
        self.shared.arrivals.load(Ordering::Relaxed)
    }

    /// How many requests were refused with HTTP 401.
    /// TLS handshakes that failed on the engine port.
    pub fn tls_failures(&self) -> u64 {
        self.shared.tls_failures.load(Ordering::Relaxed)
    }

    pub fn auth_failures(&self) -> u64 {
        self.shared.auth_failures.load(Ordering::Relaxed)
    }

    /// The current head block.
    pub fn head(&self) -> BlockInfo {
        self.shared.state().chain.head().into()
    }

    /// A known block by hash.
    pub fn block(&self, hash: &B256) -> Option<BlockInfo> {
        self.shared.state().chain.get(hash).map(Into::into)
    }

    /// The block at `number` on the head's chain.
    pub fn block_at(&self, number: u64) -> Option<BlockInfo> {
        self.shared.state().chain.by_number(number).map(Into::into)
    }

    /// A per-instance value mixed into payload ids and built block hashes.
    pub fn instance_id(&self) -> B256 {
        B256(self.shared.instance)
    }
}
