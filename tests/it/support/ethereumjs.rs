//! Real execution clients for the interop tests: EthereumJS processes started from
//! `interop/node_modules` (installed by `.ci/interop-install.sh` from the committed lock file),
//! each with its own ports, data directory and JWT secret, killed when dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eb_transport::{JwtSecret, SystemClock, TokioNet};
use mock_cl::{latest_block, Head, RpcClient};
use serde_json::{json, Value};
use tokio::time::Instant;

pub use super::auth::random_secret;
use super::auth::write_secret_file;
use super::free_port;

/// Where `npm ci` in `interop/` puts the client's entry point.
pub const CLIENT_ENTRY: &str = "interop/node_modules/@ethereumjs/client/dist/esm/bin/cli.js";
/// The genesis every EthereumJS instance starts from (chain 1337, Cancun from genesis, the dev
/// account funded).
pub const GENESIS: &str = "interop/genesis-cancun.json";
/// How long an EthereumJS process may take to answer its first call.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes straight to the process's stderr, past the test harness's output capture, so CI logs
/// show it whether the test passes or not.
pub fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Why an interop test is ignored by default, and how to run it.
pub const NEEDS_CLIENT: &str = "needs EthereumJS from npm (interop/node_modules): run bash .ci/interop-install.sh, then cargo test --test it -- --ignored interop_";

/// The EthereumJS entry point. Panics when it is not installed: an interop test run on purpose
/// (they are `#[ignore]`d by default) without its client fails rather than passes.
pub fn client() -> PathBuf {
    let entry = repo_path(CLIENT_ENTRY);
    assert!(
        entry.is_file(),
        "EthereumJS is not installed at {}: {NEEDS_CLIENT}",
        entry.display()
    );
    entry
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A directory under the system temp dir, removed on drop.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "executionbackup-interop-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Self { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("EB_INTEROP_KEEP").is_some() {
            say(&format!("kept {}", self.path.display()));
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A node entry for an execution client at `url` with its own secret and the default timeout.
pub fn node(url: &str, secret: &JwtSecret) -> executionbackup::config::NodeConfig {
    executionbackup::config::NodeConfig {
        spec: executionbackup::config::NodeSpec::parse(url).expect("node url"),
        secret: secret.clone(),
        timeout: Duration::from_millis(7500),
        tls: None,
    }
}

/// One EthereumJS execution client.
pub struct Ejs {
    pub name: String,
    entry: PathBuf,
    pub rpc_port: u16,
    pub engine_port: u16,
    pub p2p_port: u16,
    pub secret: JwtSecret,
    pub jwt_path: PathBuf,
    scratch: Scratch,
    child: Option<Child>,
    /// Starts so far (the data dir of start n is `data-n`).
    starts: u32,
    /// Which data directory the next start uses (a restart keeping its data keeps it).
    data_gen: u32,
    /// Started with `--isSingleNode` (synchronized from the start, as the only node).
    single_node: bool,
}

impl Ejs {
    /// Starts a fresh instance (own ports, data dir and secret) and waits until its engine
    /// port answers.
    pub async fn start(entry: &Path, name: &str) -> Self {
        let scratch = Scratch::new(name);
        let secret = random_secret();
        let jwt_path = scratch.path.join("jwt.hex");
        write_secret_file(&jwt_path, &secret);
        let mut el = Self {
            name: name.to_owned(),
            entry: entry.to_owned(),
            rpc_port: free_port(),
            engine_port: free_port(),
            p2p_port: free_port(),
            secret,
            jwt_path,
            scratch,
            child: None,
            starts: 0,
            data_gen: 0,
            single_node: true,
        };
        el.spawn();
        el.wait_ready().await;
        el
    }

    fn data_dir(&self) -> PathBuf {
        self.scratch.path.join(format!("data-{}", self.data_gen))
    }

    fn log_path(&self) -> PathBuf {
        self.scratch.path.join(format!("log-{}.txt", self.starts))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let port = |p: u16| p.to_string();
        // The client writes files of its own in its working directory: keep them in the scratch dir.
        let child = Command::new("node")
            .current_dir(&self.scratch.path)
            .arg(&self.entry)
            .arg("--gethGenesis")
            .arg(repo_path(GENESIS))
            .arg("--dataDir")
            .arg(self.data_dir())
            .args(["--rpc", "--rpcAddr", "127.0.0.1", "--rpcPort"])
            .arg(port(self.rpc_port))
            .args([
                "--rpcEngine",
                "--rpcEngineAddr",
                "127.0.0.1",
                "--rpcEnginePort",
            ])
            .arg(port(self.engine_port))
            .arg("--jwtSecret")
            .arg(&self.jwt_path)
            .args(self.single_node.then_some("--isSingleNode"))
            .args(["--maxPeers", "0", "--port"])
            .arg(port(self.p2p_port))
            .args([
                "--discDns",
                "false",
                "--discV4",
                "false",
                "--dnsAddr",
                "127.0.0.1",
                "--extIP",
                "127.0.0.1",
            ])
            .args(
                std::env::var("EB_INTEROP_RPC_DEBUG")
                    .ok()
                    .map(|filter| vec!["--rpcDebug".to_owned(), filter])
                    .unwrap_or_default(),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("node starts");
        self.child = Some(child);
    }

    /// Polls `eth_chainId` on the engine port (with the JWT) until it answers.
    pub async fn wait_ready(&mut self) {
        let engine = self.engine();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if engine.call("eth_chainId", json!([])).await.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited with {status} before answering:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not answer within {READY_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The engine (auth) port, with this EL's secret.
    pub fn engine(&self) -> RpcClient<TokioNet> {
        RpcClient::new(
            TokioNet,
            &self.engine_url(),
            Some(self.secret.clone()),
            Arc::new(SystemClock),
        )
        .expect("engine url")
    }

    pub fn engine_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.engine_port)
    }

    /// The plain JSON-RPC port (transactions, reads), no JWT.
    pub fn rpc(&self) -> RpcClient<TokioNet> {
        RpcClient::new(
            TokioNet,
            &format!("http://127.0.0.1:{}", self.rpc_port),
            None,
            Arc::new(SystemClock),
        )
        .expect("rpc url")
    }

    /// `eth_getBlockByNumber("latest")` on the RPC port.
    pub async fn head(&self) -> Head {
        latest_block(&self.rpc()).await.expect("latest block")
    }

    /// Kills the process at once (SIGKILL, as a crash; EthereumJS takes 10-20 s to honour
    /// SIGTERM) and waits until it is gone, so its ports are free.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process where it stands (SIGSTOP): its sockets stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let status = std::process::Command::new("kill")
            .args([which, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {which} {}", child.id());
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Starts again on the same ports and secret with an empty data directory. Without
    /// `single_node` it runs as a node that has to sync (no `--isSingleNode`): it does not claim
    /// to be synchronized until it has caught up with the chain its CL shows it.
    pub async fn restart_empty(&mut self, single_node: bool) {
        self.kill();
        self.data_gen += 1;
        self.single_node = single_node;
        self.spawn();
        self.wait_ready().await;
    }

    /// Starts again on the same ports, secret and data directory after a crash (or a kill):
    /// the client comes back with the chain it had stored.
    pub async fn restart_keeping_data(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready().await;
    }

    /// The last `lines` lines of the current log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Ejs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `0x`-hex QUANTITY → u64.
pub fn quantity(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("not a quantity: {v}"))
}

/// Milliseconds with two decimals, for reports.
pub fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1000.0),
    )
}
