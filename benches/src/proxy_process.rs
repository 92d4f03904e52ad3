//! The proxy under test: a command the harness starts (one process per node set) or a URL of
//! one already running.
//!
//! A started proxy gets `--nodes URL,URL,… --jwt-secret FILE --port P` plus any extra
//! arguments, runs as its own process (so its memory and CPU time can be read from `/proc`),
//! logs to a file in the work directory and is killed when its [`RunningProxy`] is dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use eb_transport::JwtSecret;

use crate::client::Endpoint;
use crate::requests;

/// How long a started proxy has to answer its first request.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a proxy has to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Which proxy to measure.
#[derive(Clone, Debug)]
pub enum Target {
    /// Start this program with these leading arguments for each node set.
    Command {
        program: PathBuf,
        args: Vec<String>,
        /// It is executionbackup (so its own flags may be added).
        ours: bool,
    },
    /// Measure a proxy that is already running against the harness's ELs.
    Url {
        addr: SocketAddr,
        /// Its process, when given, for memory and CPU readings.
        pid: Option<u32>,
    },
}

impl Target {
    /// A command line as typed: the program and its leading arguments, split on whitespace.
    pub fn command(line: &str, extra: &[String]) -> anyhow::Result<Self> {
        let mut words = line.split_whitespace();
        let program = PathBuf::from(words.next().ok_or_else(|| anyhow!("empty --proxy-cmd"))?);
        let mut args: Vec<String> = words.map(str::to_owned).collect();
        args.extend(extra.iter().cloned());
        let ours = program
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == "executionbackup");
        Ok(Target::Command {
            program,
            args,
            ours,
        })
    }

    pub fn url(url: &str, pid: Option<u32>) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--proxy-url must be http://IP:PORT"))?;
        let addr: SocketAddr = rest
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("--proxy-url {url:?}: expected http://IP:PORT"))?;
        if !addr.ip().is_loopback() {
            bail!("--proxy-url must be on the loopback interface");
        }
        Ok(Target::Url { addr, pid })
    }

    pub fn is_ours(&self) -> bool {
        matches!(self, Target::Command { ours: true, .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Command { program, args, .. } => {
                let mut s = program.display().to_string();
                for a in args {
                    s.push(' ');
                    s.push_str(a);
                }
                s
            }
            Target::Url { addr, .. } => format!("http://{addr} (already running)"),
        }
    }
}

/// The release build of executionbackup in this workspace, built first unless `no_build`.
pub fn our_binary(no_build: bool) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow!("no workspace root"))?
        .to_path_buf();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target_dir.join("release").join("executionbackup");
    if !no_build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        tracing::info!(
            "building the proxy: cargo build --release -p executionbackup -p mock-el -p bench"
        );
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "executionbackup",
                "-p",
                "mock-el",
                "-p",
                "bench",
            ])
            .current_dir(&root)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p executionbackup failed");
        }
    }
    if !binary.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p executionbackup`",
            binary.display()
        );
    }
    Ok(binary)
}

/// The workspace's release `mock-el` binary (built with the proxy), if it is there.
pub fn mock_el_binary() -> Option<PathBuf> {
    release_binary("mock-el")
}

/// The workspace's release `relay_floor` binary (built with the proxy), if it is there.
pub fn relay_floor_binary() -> Option<PathBuf> {
    release_binary("relay_floor")
}

fn release_binary(name: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Some(target_dir.join("release").join(name)).filter(|p| p.is_file())
}

/// A proxy ready for traffic.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    child: Option<Child>,
}

impl RunningProxy {
    /// Starts (or, for a URL target, checks) the proxy for these node URLs and waits until it
    /// answers `eth_chainId`.
    pub async fn start(
        target: &Target,
        nodes: &[String],
        secret: &JwtSecret,
        secret_path: &Path,
        log_path: &Path,
    ) -> anyhow::Result<Self> {
        let mut proxy = match target {
            Target::Url { addr, pid } => Self {
                addr: *addr,
                pid: *pid,
                child: None,
            },
            Target::Command {
                program,
                args,
                ours,
            } => {
                let port = free_port()?;
                let mut cmd = Command::new(program);
                cmd.args(args)
                    .arg("--nodes")
                    .arg(nodes.join(","))
                    .arg("--jwt-secret")
                    .arg(secret_path)
                    .arg("--port")
                    .arg(port.to_string());
                if *ours && !args.iter().any(|a| a.starts_with("--metrics-addr")) {
                    cmd.args(["--metrics-addr", "off"]);
                }
                let log = File::create(log_path)
                    .with_context(|| format!("creating {}", log_path.display()))?;
                cmd.stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log);
                let child = cmd
                    .spawn()
                    .with_context(|| format!("starting {}", program.display()))?;
                tracing::debug!(pid = child.id(), port, "proxy started");
                Self {
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    pid: Some(child.id()),
                    child: Some(child),
                }
            }
        };
        proxy.wait_ready(secret, log_path).await?;
        Ok(proxy)
    }

    async fn wait_ready(&mut self, secret: &JwtSecret, log_path: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut conn = Endpoint::new(self.addr, secret).connection();
        let mut last_error = String::new();
        while started.elapsed() < START_DEADLINE {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "the proxy exited ({status}) before answering; its log:\n{}",
                        log_tail(log_path)
                    );
                }
            }
            match conn.call(requests::chain_id(1)).await {
                Ok(body) if requests::result(&body).is_ok() => return Ok(()),
                Ok(body) => last_error = String::from_utf8_lossy(&body).into_owned(),
                Err(e) => last_error = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the proxy did not answer eth_chainId within {START_DEADLINE:?} (last: {last_error}); its log:\n{}",
            log_tail(log_path)
        )
    }
}

impl Drop for RunningProxy {
    /// SIGTERM, so the proxy shuts down as in production (and a profiler wrapping it writes
    /// its data); SIGKILL if it is still there after [`STOP_GRACE`].
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) with a pid of our own child and a valid signal number has no
            // memory-safety requirements.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            tracing::warn!(
                pid,
                "the proxy did not stop within {STOP_GRACE:?}: killing it"
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
