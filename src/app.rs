//! Wiring: build the proxy, add the nodes, probe them, start health checks and the server.
//!
//! Used by `main`, by the integration tests (on port 0) and by the simulation.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use eb_transport::{JwtSecret, Listener, Network, SharedClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{NodeConfig, Settings};
use crate::probe;
use crate::proxy::Proxy;
use crate::server;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Nodes(String),
    #[error("refusing to start: {0}")]
    WrongChain(String),
    /// An address could not be bound (in use, not this machine's, no permission).
    #[error("cannot listen on {addr} (set by {flag}): {error}")]
    Bind {
        addr: SocketAddr,
        flag: &'static str,
        error: io::Error,
    },
}

impl StartError {
    /// Configuration problems (exit code 2) as opposed to run-time failures.
    pub fn is_config(&self) -> bool {
        !matches!(self, Self::Bind { .. })
    }

    /// The process's exit status for this error ([`crate::startup`]).
    pub fn exit_code(&self) -> u8 {
        if self.is_config() {
            crate::startup::EXIT_CONFIG
        } else {
            crate::startup::EXIT_BIND
        }
    }
}

/// Binds `addr` over `net`, naming the address and the flag that set it on failure.
async fn bind<N: Network>(
    net: &N,
    addr: SocketAddr,
    flag: &'static str,
) -> Result<(N::Listener, SocketAddr), StartError> {
    let failed = |error| StartError::Bind { addr, flag, error };
    let listener = net.bind(addr).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

/// A running proxy.
pub struct Running<N: Network> {
    pub proxy: Arc<Proxy<N>>,
    pub local_addr: SocketAddr,
    /// Where the Prometheus exposition listens, when on.
    pub metrics_addr: Option<SocketAddr>,
    server: JoinHandle<()>,
    prometheus: Option<JoinHandle<()>>,
    checker: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl<N: Network> Running<N> {
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting, drains in-flight requests, stops health checks.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
        self.checker.abort();
        if let Some(p) = &self.prometheus {
            p.abort();
        }
    }
}

impl<N: Network> Drop for Running<N> {
    fn drop(&mut self) {
        self.server.abort();
        self.checker.abort();
        if let Some(p) = &self.prometheus {
            p.abort();
        }
    }
}

/// Starts the proxy on `settings.listen` with `nodes`. `salt` seeds payload ids.
pub async fn start<N: Network>(
    net: N,
    clock: SharedClock,
    settings: Settings,
    secret: JwtSecret,
    nodes: Vec<NodeConfig>,
    salt: u64,
) -> Result<Running<N>, StartError> {
    let listen = settings.listen;
    let metrics = settings.metrics;
    // Bound first, so the nodes can be checked against the addresses actually taken (port 0).
    let (listener, local_addr) = bind(&net, listen, "--listen-addr/--port").await?;
    let metrics_listener = match metrics {
        Some(addr) => Some(bind(&net, addr, "--metrics-addr").await?),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(|(_, bound)| *bound);
    let own: Vec<SocketAddr> = [Some(local_addr), metrics_addr]
        .into_iter()
        .flatten()
        .collect();
    crate::config::check_distinct(nodes.iter().map(|n| &n.spec), &own)
        .map_err(|e| StartError::Nodes(e.to_string()))?;
    let front = server::Front::new(&settings, secret.clone()).with_own(metrics_addr);
    let limits = server::Limits::of(&settings);
    let proxy = Proxy::new(settings, secret, net.clone(), clock, salt);
    proxy
        .add_nodes(nodes)
        .map_err(|e| StartError::Nodes(e.to_string()))?;
    let (_, wrong_chain) = probe::probe_all(&proxy).await;
    if !wrong_chain.is_empty() {
        return Err(StartError::WrongChain(wrong_chain.join("; ")));
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(proxy.clone(), front, listener, async move {
        let _ = stopped.await;
    }));
    let checker = tokio::spawn(probe::run(proxy.clone()));
    let prometheus = metrics_listener.map(|(listener, bound)| {
        tracing::info!(%bound, "Prometheus metrics at /metrics");
        tokio::spawn(server::serve_prometheus(
            proxy.clone(),
            limits,
            listener,
            std::future::pending::<()>(),
        ))
    });
    crate::startup::log_started(&proxy, local_addr, metrics_addr);
    Ok(Running {
        proxy,
        local_addr,
        metrics_addr,
        prometheus,
        server,
        checker,
        stop: Some(stop),
    })
}
