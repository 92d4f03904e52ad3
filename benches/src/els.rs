//! The mock execution clients, on a tokio runtime of their own inside the harness process.
//!
//! The mocks do not execute blocks: they scan each payload once for its header and answer from
//! memory, so an EL answers a 4 MB newPayload in a few milliseconds and a read in microseconds.
//! Their own runtime keeps the client's timers and sockets from queuing behind mock work, and
//! the direct baseline talks to the very same mocks, so whatever they cost is in both numbers.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    /// A mock EL in a process of its own (the `mock-el` binary), which can be SIGSTOPped.
    process: Option<ProcessEl>,
}

/// A `mock-el` process standing in for EL 0 during the SIGSTOP fault.
pub struct ProcessEl {
    child: Child,
    pub url: String,
}

impl ProcessEl {
    fn signal(&self, signal: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

impl Drop for ProcessEl {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
            process: None,
        })
    }

    /// Starts the `mock-el` binary at `binary` on a free port; its URL while it runs.
    pub fn start_process_el(
        &mut self,
        binary: &Path,
        secret_path: &Path,
        seed: u64,
    ) -> anyhow::Result<String> {
        self.process = None;
        let port = {
            let probe = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            probe.local_addr()?.port()
        };
        let child = Command::new(binary)
            .args(["--count", "1", "--listen", "127.0.0.1", "--base-port"])
            .arg(port.to_string())
            .arg("--jwt-secret")
            .arg(secret_path)
            .arg("--seed")
            .arg(seed.to_string())
            .args(["--control-base-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let el = ProcessEl {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "mock-el process did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let url = el.url.clone();
        self.process = Some(el);
        Ok(url)
    }

    /// Stops the `mock-el` process, if one runs.
    pub fn stop_process_el(&mut self) {
        self.process = None;
    }

    /// The `mock-el` process's URL, while one runs.
    pub fn process_url(&self) -> Option<&str> {
        self.process.as_ref().map(|p| p.url.as_str())
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
        if let Some(p) = &self.process {
            p.signal(libc::SIGCONT);
        }
    }

    /// Applies a fault to EL `i` (SIGSTOP goes to the `mock-el` process, which is EL 0).
    pub fn inject(&self, i: usize, fault: Fault) {
        match (fault, &self.process) {
            (Fault::Stopped, Some(p)) => p.signal(libc::SIGSTOP),
            (Fault::Stopped, None) => tracing::warn!("no mock-el process to stop"),
            _ => fault.apply(self.el(i)),
        }
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
    /// The EL's process is stopped (SIGSTOP): its sockets stay open and the kernel still
    /// accepts connections and takes requests, but nothing answers. Only for the `mock-el`
    /// process ([`Fleet::start_process_el`]).
    Stopped,
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
            // A signal, not a behaviour: see [`Fleet::inject`].
            Fault::Stopped => {}
            Fault::Kill => el.set_dead(true),
            Fault::BlackHole => el.set(Behaviour::hang()),
            Fault::Slow(d) => el.set(Behaviour::latency(d)),
            Fault::Http500 => el.set(Behaviour::http_500()),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Fault::Stopped => "stopped (SIGSTOP)",
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
        self.process = None;
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
