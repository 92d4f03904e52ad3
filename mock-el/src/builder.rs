//! Configuring and starting a mock: [`MockElBuilder`] → [`MockElHandle`].

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use eb_transport::net::{Listener, Network};
use eb_transport::{JwtSecret, SharedClock, SystemClock};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::behaviour::{Behaviour, Settings, Status};
use crate::chain::{genesis_hash, Chain};
use crate::control::{spawn_control, ControlHandle};
use crate::encoding::{Quantity, B256};
use crate::error::MockElError;
use crate::mock::{Life, MockEl, Shared, State};
use crate::record::Recorder;
use crate::server;

impl MockEl {
    /// Starts configuring a mock; finish with [`MockElBuilder::spawn`].
    pub fn builder() -> MockElBuilder {
        MockElBuilder::default()
    }
}

/// Configures a mock. Every setting has a default except the JWT secret.
pub struct MockElBuilder {
    secret: Option<JwtSecret>,
    clock: Option<SharedClock>,
    name: String,
    code: String,
    seed: u64,
    genesis: Option<B256>,
    settings: Settings,
    behaviours: Vec<Behaviour>,
    max_calls: usize,
    record_params: bool,
    tls: Option<Arc<eb_transport::tls::rustls::ServerConfig>>,
}

impl Default for MockElBuilder {
    fn default() -> Self {
        Self {
            secret: None,
            clock: None,
            name: "mock-el".to_string(),
            code: "MK".to_string(),
            seed: 0,
            genesis: None,
            settings: Settings::default(),
            behaviours: Vec::new(),
            max_calls: 100_000,
            record_params: false,
            tls: None,
        }
    }
}

impl MockElBuilder {
    /// The JWT secret requests must be signed with (required).
    pub fn secret(mut self, secret: JwtSecret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// The wall clock `iat` claims are checked against (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The name in `engine_getClientVersionV1` and logs; also makes payload ids and built block
    /// hashes differ between mocks (default `mock-el`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The client code in `engine_getClientVersionV1` (default `MK`): mocks that share a code
    /// pose as one client implementation.
    pub fn client_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }

    /// Seeds latency draws, the default flaky seed and the instance id (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The status answered to voted calls (default VALID).
    pub fn status(mut self, status: Status) -> Self {
        self.settings.status = status;
        self
    }

    /// `eth_chainId` (default 1337); also picks the default genesis hash.
    pub fn chain_id(mut self, chain_id: u64) -> Self {
        self.settings.chain_id = chain_id;
        self
    }

    /// Answer SYNCING to a newPayload whose parent is unknown (default: off).
    pub fn require_parent(mut self, on: bool) -> Self {
        self.settings.require_parent = on;
        self
    }

    /// `blockValue` of built payloads, in wei (default 1 gwei).
    pub fn block_value(mut self, wei: u128) -> Self {
        self.settings.block_value = Quantity(wei);
        self
    }

    /// The `engine_exchangeCapabilities` answer (default: every method served).
    pub fn capabilities<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.settings.capabilities = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Versioned hashes whose blobs `engine_getBlobsV*` has.
    pub fn blobs(mut self, hashes: impl IntoIterator<Item = B256>) -> Self {
        self.settings.blobs.extend(hashes);
        self
    }

    /// The hash of block 0 (default: derived from the chain id, so mocks of one chain agree).
    pub fn genesis_hash(mut self, hash: B256) -> Self {
        self.genesis = Some(hash);
        self
    }

    /// Any other behaviour, applied at start after the settings above.
    pub fn behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviours.push(behaviour);
        self
    }

    /// Keeps each call's raw `params` in the log ([`crate::Call::params`]; default off, as it
    /// copies every request's parameters).
    pub fn record_params(mut self, on: bool) -> Self {
        self.record_params = on;
        self
    }

    /// Serves the engine port over TLS with this certificate (see
    /// [`eb_transport::tls::server_config`]); [`MockElHandle::url`] is then `https://`.
    pub fn tls(mut self, config: Arc<eb_transport::tls::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// How many calls the log keeps (oldest dropped first; default 100 000; 0 keeps none but
    /// still counts).
    pub fn max_calls(mut self, max_calls: usize) -> Self {
        self.max_calls = max_calls;
        self
    }

    /// Binds `addr` on `net` and serves the engine port in a background task.
    pub async fn spawn<N: Network>(
        self,
        net: N,
        addr: SocketAddr,
    ) -> Result<MockElHandle, MockElError> {
        let secret = self.secret.ok_or(MockElError::NoSecret)?;
        let listener = net
            .bind(addr)
            .await
            .map_err(|source| MockElError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MockElError::Bind { addr, source })?;

        let mut id = Sha256::new();
        id.update(b"mock-el instance");
        id.update(self.name.as_bytes());
        id.update(self.seed.to_be_bytes());
        id.update(addr.to_string().as_bytes());
        let instance: [u8; 32] = id.finalize().into();

        let baseline = Settings {
            chain_id: self.settings.chain_id,
            capabilities: self.settings.capabilities.clone(),
            block_value: self.settings.block_value,
            blobs: self.settings.blobs.clone(),
            ..Settings::default()
        };
        let genesis = self
            .genesis
            .unwrap_or_else(|| genesis_hash(self.settings.chain_id));
        let mut settings = self.settings;
        let now = Instant::now();
        let mut flaky_seed = self.seed;
        for b in self.behaviours {
            if let Behaviour::Flaky(f) = &b {
                flaky_seed = f.seed.unwrap_or(self.seed);
            }
            settings.apply(b, now);
        }
        let dead = settings.dead;
        let tls = self.tls.map(eb_transport::tls::TlsAcceptor::from);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            name: self.name,
            code: self.code,
            seed: self.seed,
            instance,
            secret,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            start: now,
            state: Mutex::new(State {
                settings,
                baseline,
                chain: Chain::new(genesis, instance),
                rng: SmallRng::seed_from_u64(self.seed),
                flaky_rng: SmallRng::seed_from_u64(flaky_seed),
            }),
            calls: Mutex::new(Recorder::new(self.max_calls)),
            record_params: self.record_params,
            arrivals: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
            life: watch::Sender::new(Life {
                dead,
                shutdown: false,
            }),
            changes: watch::Sender::new(0),
        });
        tracing::info!(el = %shared.name, %addr, "mock EL listening");
        let task = tokio::spawn(server::serve(net, listener, addr, shared.clone(), tls));
        Ok(MockElHandle {
            el: MockEl { shared },
            addr,
            scheme,
            task: Some(task),
        })
    }
}

/// A running mock. Derefs to [`MockEl`] for behaviours and the call log. Dropping it stops the
/// mock; [`MockElHandle::shutdown`] also waits for the port to close.
pub struct MockElHandle {
    el: MockEl,
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockElHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockElHandle")
            .field("name", &self.el.name())
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockElHandle {
    /// The engine port's address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// A clonable handle on the mock's state, independent of this handle's lifetime.
    pub fn el(&self) -> &MockEl {
        &self.el
    }

    /// Serves the control API for this mock on `addr` (see [`crate::control`]).
    pub async fn spawn_control<N: Network>(
        &self,
        net: N,
        addr: SocketAddr,
    ) -> Result<ControlHandle, MockElError> {
        spawn_control(net, addr, self.el.clone(), Some(self.url())).await
    }

    /// Stops listening, closes every connection and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.signal_shutdown();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "mock EL task failed");
            }
        }
    }

    fn signal_shutdown(&self) {
        self.el.shared.life.send_modify(|l| l.shutdown = true);
    }
}

impl Deref for MockElHandle {
    type Target = MockEl;
    fn deref(&self) -> &MockEl {
        &self.el
    }
}

impl Drop for MockElHandle {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}
