//! The mock execution clients, on a tokio runtime of their own inside the harness process.
//!
//! The mocks do not execute blocks: they scan each payload once for its header and answer from
//! memory, so an EL answers a 4 MB newPayload in a few milliseconds and a read in microseconds.
//! Their own runtime keeps the client's timers and sockets from queuing behind mock work, and
//! the direct baseline talks to the very same mocks, so whatever they cost is in both numbers.

use std::net::SocketAddr;

use anyhow::Context as _;
use eb_transport::{JwtSecret, TokioNet};
use mock_el::{Behaviour, BehaviourKind, MockEl, MockElHandle};
use tokio::runtime::Runtime;

/// Calls each mock keeps in its log (the log is not used; keep it small).
const CALL_LOG: usize = 64;

/// A set of running mock ELs.
pub struct Fleet {
    els: Vec<MockElHandle>,
    runtime: Option<Runtime>,
}

impl Fleet {
    /// Starts `count` mocks on 127.0.0.1, on `base_port`, `base_port + 1`, … or on free ports.
    pub async fn start(
        count: usize,
        secret: &JwtSecret,
        base_port: Option<u16>,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mock-el")
            .enable_all()
            .build()
            .context("starting the mock ELs' runtime")?;
        let mut els = Vec::with_capacity(count);
        for i in 0..count {
            let port = match base_port {
                Some(p) => p
                    .checked_add(u16::try_from(i)?)
                    .context("EL port overflow")?,
                None => 0,
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let builder = MockEl::builder()
                .secret(secret.clone())
                .name(format!("bench-el-{i}"))
                .seed(seed.wrapping_add(i as u64))
                .max_calls(CALL_LOG);
            // Spawned on the mocks' runtime, so their connection tasks run there too.
            let el = runtime
                .spawn(async move { builder.spawn(TokioNet, addr).await })
                .await
                .context("mock EL task")?
                .with_context(|| format!("starting mock EL {i} on {addr}"))?;
            els.push(el);
        }
        Ok(Self {
            els,
            runtime: Some(runtime),
        })
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.els[i].addr()
    }

    pub fn url(&self, i: usize) -> String {
        self.els[i].url()
    }

    pub fn el(&self, i: usize) -> &MockEl {
        self.els[i].el()
    }

    /// Every EL back to normal: alive, no fault.
    pub fn heal_all(&self) {
        for el in &self.els {
            heal(el);
        }
    }

    /// Applies a fault to EL `i`.
    pub fn inject(&self, i: usize, fault: Fault) {
        fault.apply(self.el(i));
    }
}

/// Clears every fault a [`Fault`] can set.
pub fn heal(el: &MockEl) {
    for kind in [
        BehaviourKind::Dead,
        BehaviourKind::Hang,
        BehaviourKind::Latency,
        BehaviourKind::Http500,
    ] {
        el.clear(kind);
    }
}

/// What can go wrong with an EL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Process gone: connections refused, open ones closed.
    Kill,
    /// Reads requests, never answers.
    BlackHole,
    /// Answers, after this long.
    Slow(std::time::Duration),
    /// Answers HTTP 500.
    Http500,
}

impl Fault {
    pub fn apply(self, el: &MockEl) {
        match self {
            Fault::Kill => el.set_dead(true),
            Fault::BlackHole => el.set(Behaviour::hang()),
            Fault::Slow(d) => el.set(Behaviour::latency(d)),
            Fault::Http500 => el.set(Behaviour::http_500()),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Fault::Kill => "killed",
            Fault::BlackHole => "black-holed",
            Fault::Slow(_) => "slowed past its timeout",
            Fault::Http500 => "HTTP 500",
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Handles signal their mocks to stop when dropped; then the runtime goes, without
        // blocking (this may run inside the harness's own runtime).
        self.els.clear();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
