//! What is measured, and the state every measurement shares.
//!
//! * [`latency`]: newPayload of each size class through the proxy against one EL directly.
//! * [`engine`]: forkchoiceUpdated (with and without attributes) and getPayload.
//! * [`throughput`]: eth_ reads at several concurrencies.
//! * [`failover`]: what one faulty EL costs while traffic flows.
//! * [`fault_slots`]: proposal slots with one EL faulty, at the default node timeout.
//! * [`slots`]: thousands of slots back to back, watching memory and file descriptors.
//! * [`soak`]: slot-paced traffic with random EL faults for a long while.

pub mod engine;
pub mod failover;
pub mod fault_slots;
pub mod latency;
pub mod slots;
pub mod soak;
pub mod throughput;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eb_transport::JwtSecret;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::client::Endpoint;
use crate::els::Fleet;
use crate::payloads::BlockSeq;
use crate::proxy_process::{RunningProxy, Target};

/// How much of everything to do: the full run or the smoke run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub fanouts: Vec<usize>,
    /// newPayload iterations per size class (same order as [`crate::payloads::SHAPES`]).
    pub iterations: [usize; 4],
    /// Unrecorded requests per mode before each measurement (connections, caches, allocator).
    pub warmup: usize,
    /// forkchoiceUpdated / getPayload iterations.
    pub engine_iterations: usize,
    pub concurrencies: Vec<usize>,
    /// Throughput: direct and proxy alternate in chunks of this length, `rounds` times each.
    pub throughput_chunk: Duration,
    pub throughput_rounds: usize,
    pub failover: failover::Timing,
    /// Slots run back to back for the memory-growth check.
    pub slots: usize,
    /// Slots run under each fault at the default node timeout, and the faults.
    pub fault_slots: usize,
    pub fault_slot_faults: Vec<crate::els::Fault>,
}

impl Plan {
    pub fn full() -> Self {
        Self {
            fanouts: vec![1, 3, 5],
            iterations: [3000, 1500, 300, 100],
            warmup: 20,
            engine_iterations: 1500,
            concurrencies: vec![1, 16, 128],
            throughput_chunk: Duration::from_millis(750),
            throughput_rounds: 6,
            failover: failover::Timing {
                warm: Duration::from_millis(1500),
                hold: Duration::from_secs(3),
                recover: Duration::from_secs(2),
                vote_period: Duration::from_millis(50),
                read_period: Duration::from_millis(10),
            },
            slots: 10_000,
            fault_slots: 12,
            fault_slot_faults: vec![
                crate::els::Fault::Stopped,
                crate::els::Fault::BlackHole,
                crate::els::Fault::StuckOnNewPayload,
                crate::els::Fault::SlowReads(Duration::from_secs(9)),
            ],
        }
    }

    pub fn smoke() -> Self {
        Self {
            fanouts: vec![1, 3],
            iterations: [40, 30, 10, 4],
            warmup: 3,
            engine_iterations: 30,
            concurrencies: vec![1, 16, 128],
            throughput_chunk: Duration::from_millis(250),
            throughput_rounds: 1,
            failover: failover::Timing {
                warm: Duration::from_millis(600),
                hold: Duration::from_millis(1200),
                recover: Duration::from_millis(600),
                vote_period: Duration::from_millis(50),
                read_period: Duration::from_millis(10),
            },
            slots: 200,
            fault_slots: 2,
            fault_slot_faults: vec![crate::els::Fault::StuckOnNewPayload],
        }
    }
}

/// Everything the measurements share.
pub struct Ctx {
    pub fleet: Fleet,
    pub secret: JwtSecret,
    pub secret_path: PathBuf,
    pub workdir: PathBuf,
    pub target: Target,
    pub blocks: BlockSeq,
    pub rng: SmallRng,
    /// A node's timeout in the failover and soak runs (slow ELs are made slower than this).
    pub fault_timeout: Duration,
    proxies_started: usize,
}

impl Ctx {
    pub fn new(
        fleet: Fleet,
        secret: JwtSecret,
        secret_path: PathBuf,
        workdir: PathBuf,
        target: Target,
        seed: u64,
        fault_timeout: Duration,
    ) -> Self {
        Self {
            fleet,
            secret,
            secret_path,
            workdir,
            target,
            blocks: BlockSeq::new(SmallRng::seed_from_u64(seed ^ 0xb10c)),
            rng: SmallRng::seed_from_u64(seed),
            fault_timeout,
            proxies_started: 0,
        }
    }

    /// Starts the proxy on the first `n` ELs, each URL followed by `suffix`.
    pub async fn start_proxy(
        &mut self,
        n: usize,
        suffix: &str,
        label: &str,
    ) -> anyhow::Result<RunningProxy> {
        let nodes = self.node_urls(n, suffix);
        self.proxies_started += 1;
        let log = self
            .workdir
            .join(format!("proxy-{:02}-{label}.log", self.proxies_started));
        tracing::info!(els = n, label, "starting the proxy");
        RunningProxy::start(&self.target, &nodes, &self.secret, &self.secret_path, &log).await
    }

    /// The URLs of the first `n` ELs, each followed by `suffix`. EL 0 is the mock-el process
    /// while one runs (the SIGSTOP fault).
    fn node_urls(&self, n: usize, suffix: &str) -> Vec<String> {
        (0..n)
            .map(|i| match (i, self.fleet.process_url()) {
                (0, Some(url)) => format!("{url}{suffix}"),
                _ => format!("{}{suffix}", self.fleet.url(i)),
            })
            .collect()
    }

    /// Starts the byte-moving relay (`relay_floor --mode store`) on the first `n` ELs, if its
    /// binary is built; `None` (and a note in the log) when it is not.
    pub async fn start_floor(&mut self, n: usize) -> anyhow::Result<Option<RunningProxy>> {
        let Some(program) = crate::proxy_process::relay_floor_binary() else {
            tracing::warn!(
                "relay_floor is not built: no floor column (cargo build --release -p bench)"
            );
            return Ok(None);
        };
        let nodes = self.node_urls(n, "");
        let target = Target::Command {
            program,
            args: vec!["--mode".into(), "store".into()],
            ours: false,
        };
        let log = self.workdir.join(format!("relay-floor-{n}els.log"));
        tracing::info!(els = n, "starting the relay floor");
        RunningProxy::start(&target, &nodes, &self.secret, &self.secret_path, &log)
            .await
            .map(Some)
    }

    /// A direct connection's endpoint: EL `i`.
    pub fn direct(&self, i: usize) -> Endpoint {
        Endpoint::new(self.fleet.addr(i), &self.secret)
    }

    pub fn proxy_endpoint(&self, proxy: &RunningProxy) -> Endpoint {
        Endpoint::new(proxy.addr, &self.secret)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh JSON-RPC id.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}
