//! The embedded mock ELs of `--dev` and the proxy in front of them (the `dev` cargo feature).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eb_transport::{JwtSecret, SystemClock, TokioNet};
use mock_el::{ControlHandle, MockEl, MockElHandle, Status};

use crate::config::{self, NodeSpec, Settings};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot write the dev JWT secret to {path}: {source}")]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a mock execution client: {0}")]
    Mock(#[from] mock_el::MockElError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

/// The embedded mock ELs; dropping it stops them.
pub struct DevNodes {
    pub secret: JwtSecret,
    pub secret_path: PathBuf,
    /// Signs REST API tokens; no mock EL holds it.
    pub admin_secret: JwtSecret,
    pub admin_secret_path: PathBuf,
    pub els: Vec<MockElHandle>,
    pub control: ControlHandle,
    pub nodes: Vec<config::NodeConfig>,
}

/// Writes a secret and starts the mock ELs on ephemeral loopback ports.
pub async fn start_nodes(default_timeout: Duration) -> Result<DevNodes, DevError> {
    let secret = JwtSecret::from_bytes(rand::random());
    let admin_secret = JwtSecret::from_bytes(rand::random());
    let dir = std::env::temp_dir().join(format!("executionbackup-dev-{}", std::process::id()));
    let secret_path = dir.join("jwt.hex");
    let admin_secret_path = dir.join("admin-jwt.hex");
    std::fs::create_dir_all(&dir).map_err(|source| DevError::Secret {
        path: dir.clone(),
        source,
    })?;
    for (path, s) in [(&secret_path, &secret), (&admin_secret_path, &admin_secret)] {
        write_private(path, &format!("0x{}\n", s.to_hex())).map_err(|source| DevError::Secret {
            path: path.clone(),
            source,
        })?;
    }
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut els = Vec::new();
    for (i, name) in ["el-1", "el-2", "el-3-switchable"].into_iter().enumerate() {
        let el = MockEl::builder()
            .secret(secret.clone())
            .name(name)
            .seed(i as u64 + 1)
            .status(Status::Valid)
            .spawn(TokioNet, loopback)
            .await?;
        els.push(el);
    }
    let control = els[2].spawn_control(TokioNet, loopback).await?;
    let nodes = els
        .iter()
        .map(|el| {
            let spec = NodeSpec::parse(&el.url())?;
            config::resolve_node(spec, Some(&secret), default_timeout)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DevNodes {
        secret,
        secret_path,
        admin_secret,
        admin_secret_path,
        els,
        control,
        nodes,
    })
}

/// Writes a secret readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())
}

/// The text printed once the proxy listens.
pub fn banner(dev: &DevNodes, settings: &Settings, proxy_url: &str) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "executionbackup".into());
    let secret = dev.secret_path.display();
    let admin_secret = dev.admin_secret_path.display();
    let els: Vec<String> = dev
        .els
        .iter()
        .map(|e| format!("{} ({})", e.url(), e.name()))
        .collect();
    let payload = r#"{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":[{"parentHash":"0x1111111111111111111111111111111111111111111111111111111111111111","feeRecipient":"0x0000000000000000000000000000000000000000","stateRoot":"0x0000000000000000000000000000000000000000000000000000000000000000","receiptsRoot":"0x0000000000000000000000000000000000000000000000000000000000000000","logsBloom":"0x00","prevRandao":"0x0000000000000000000000000000000000000000000000000000000000000000","blockNumber":"0x1","gasLimit":"0x1c9c380","gasUsed":"0x0","timestamp":"0x6553f100","extraData":"0x","baseFeePerGas":"0x7","blockHash":"0x2222222222222222222222222222222222222222222222222222222222222222","transactions":[],"withdrawals":[],"blobGasUsed":"0x0","excessBlobGas":"0x0"},[],"0x0000000000000000000000000000000000000000000000000000000000000000"]}"#;
    format!(
        "\n\
executionbackup --dev\n\
  proxy (CL side):   {proxy_url}   (JSON node report: GET {proxy_url}/metrics; readiness: GET {proxy_url}/readyz)\n\
  mock ELs:          {els}\n\
  JWT secret:        {secret}\n\
  admin JWT secret:  {admin_secret}   (REST API: /recheck, /add_nodes, /remove_nodes)\n\
  el-3 control API:  {control}\n\
\n\
Send a newPayload through the vote (the line mints a fresh token, valid 60 s, each time it runs):\n\
\n\
curl -s {proxy_url} -H 'Content-Type: application/json' -H \"Authorization: Bearer $('{exe}' --print-token --jwt-secret '{secret}')\" -d '{payload}'\n\
\n\
Make el-3 answer INVALID, then send the same request again: the answer turns to SYNCING.\n\
\n\
curl -s -X POST {control}/behaviour -d '{{\"status\":\"INVALID\"}}'\n\
\n\
Probe every node now through the REST API (with a fresh admin token):\n\
\n\
curl -s {proxy_url}/recheck -H \"Authorization: Bearer $('{exe}' --print-token --admin --admin-jwt-secret '{admin_secret}')\"\n\
\n\
Majority {majority}, per-node timeout {timeout} ms. Ctrl-C stops everything.\n",
        els = els.join(", "),
        control = dev.control.url(),
        majority = settings.fcu_majority,
        timeout = settings.default_timeout.as_millis(),
    )
}

/// Runs the proxy in front of the embedded mocks until `shutdown` resolves.
pub async fn run(
    mut settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dev = start_nodes(settings.default_timeout).await?;
    settings.admin_secret = Some(dev.admin_secret.clone());
    if settings.metrics.is_some_and(|m| m.port() == 7070) {
        // Keep the default metrics port free for a real instance on the same machine.
        settings.metrics = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    let running = crate::app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings.clone(),
        dev.secret.clone(),
        dev.nodes.clone(),
        rand::random(),
    )
    .await?;
    println!("{}", banner(&dev, &settings, &running.url()));
    shutdown.await;
    running.shutdown().await;
    let _ = std::fs::remove_file(&dev.secret_path);
    let _ = std::fs::remove_file(&dev.admin_secret_path);
    Ok(())
}
