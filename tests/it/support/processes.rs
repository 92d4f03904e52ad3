//! Running the real binaries: executionbackup and mock-el as child processes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use super::auth::write_secret;
pub use super::free_port;

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `cmd` with stdout and stderr read line by line in the background.
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("process starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self { child, lines }
    }

    /// Reads output until a line satisfies `f`, for at most `limit`; returns every line read.
    pub fn wait_for(
        &self,
        limit: Duration,
        f: impl Fn(&str) -> bool,
    ) -> Result<String, Vec<String>> {
        let deadline = std::time::Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if f(&line) => return Ok(line),
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        Err(seen)
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

pub fn executionbackup() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_executionbackup"))
}

/// The mock-el binary next to executionbackup's, built if it is not there yet.
pub fn mock_el() -> PathBuf {
    let path = executionbackup().with_file_name("mock-el");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "mock-el", "--bin", "mock-el"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building mock-el failed");
    }
    path
}

/// Starts the mock-el binary with `count` ELs on free ports (plus `extra` arguments) and waits
/// until each listens; returns the process, the engine URLs and the control URLs.
pub fn spawn_mock_els(
    secret: &std::path::Path,
    count: usize,
    extra: &[&str],
) -> (Proc, Vec<String>, Vec<String>) {
    let mut cmd = Command::new(mock_el());
    cmd.args([
        "--count",
        &count.to_string(),
        "--base-port",
        "0",
        "--control-base-port",
        "0",
    ])
    .arg("--jwt-secret")
    .arg(secret)
    .args(extra);
    let els = Proc::spawn(cmd);
    let mut engines = Vec::new();
    let mut controls = Vec::new();
    for _ in 0..count {
        let line = els
            .wait_for(Duration::from_secs(20), |l| l.contains("engine=http://"))
            .unwrap_or_else(|seen| panic!("mock-el did not start: {seen:?}"));
        engines.push(addr_after(&line, "engine="));
        controls.push(addr_after(&line, "control="));
    }
    (els, engines, controls)
}

/// The address in a log line such as `... local_addr=127.0.0.1:PORT`.
pub fn addr_after(line: &str, key: &str) -> String {
    line.split(key)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

/// Starts executionbackup with `args` and waits until it listens; returns the process and its
/// URL. Panics with everything it printed if it does not start.
pub fn start_eb(cmd: Command) -> (Proc, String) {
    let proc = Proc::spawn(cmd);
    let line = proc
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("listening for the consensus client")
        })
        .unwrap_or_else(|seen| panic!("did not start: {seen:#?}"));
    let url = format!("http://{}", addr_after(&line, "local_addr="));
    (proc, url)
}
