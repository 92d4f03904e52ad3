//! The default execution clients of a test: mock-el instances in-process, behind the proxy
//! started in-process, all holding [`SECRET`].

use std::time::Duration;

use eb_transport::TokioNet;
use executionbackup::app::Running;
use executionbackup::config::{NodeConfig, Settings};
use mock_el::{MockEl, MockElHandle, Status};
use serde_json::{json, Value};

pub use super::auth::{admin_token, shared_secret, token, token_for, ADMIN_SECRET, SECRET};
pub use super::eventually;
pub use super::proxy::Cl;
pub use super::shapes::{
    fcu_v4_params, hash, new_payload_params, new_payload_v5_params, new_payload_v6_params,
    payload_id, status_of,
};

/// The proxy's settings for these tests: [`super::proxy::settings`], probing every second.
pub fn settings() -> Settings {
    Settings {
        health_interval: Duration::from_secs(1),
        ..super::proxy::settings()
    }
}

/// [`settings`] with the Prometheus endpoint on a free loopback port
/// (`Running::metrics_addr` says which).
pub fn settings_with_metrics() -> Settings {
    Settings {
        metrics: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        ..settings()
    }
}

/// `n` mock ELs named el1..elN, all VALID.
pub async fn mocks(n: usize) -> Vec<MockElHandle> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.push(mock(&format!("el{i}"), i as u64, |b| b).await);
    }
    out
}

pub async fn mock(
    name: &str,
    seed: u64,
    tune: impl FnOnce(mock_el::MockElBuilder) -> mock_el::MockElBuilder,
) -> MockElHandle {
    tune(
        MockEl::builder()
            .secret(shared_secret())
            .name(name)
            .seed(seed)
            .status(Status::Valid),
    )
    .spawn(TokioNet, "127.0.0.1:0".parse().expect("addr"))
    .await
    .expect("mock EL starts")
}

/// A VALID mock that reports `code` as its client in engine_getClientVersionV1.
pub async fn mock_with_code(name: &str, seed: u64, code: &str) -> MockElHandle {
    let code = code.to_owned();
    mock(name, seed, move |b| b.client_code(code)).await
}

/// Waits until the probe has learnt every node's client (engine_getClientVersionV1).
pub async fn every_client_identified(running: &Running<TokioNet>) -> bool {
    eventually(Duration::from_secs(10), async || {
        running
            .proxy
            .nodes
            .snapshot()
            .iter()
            .all(|n| n.client().is_some())
    })
    .await
}

/// Node configs for the mocks, each URL followed by `options` (e.g. `#timeout=300`).
pub fn nodes(urls: &[(String, &str)], settings: &Settings) -> Vec<NodeConfig> {
    let specs: Vec<String> = urls
        .iter()
        .map(|(url, options)| format!("{url}{options}"))
        .collect();
    super::proxy::nodes(&specs, &shared_secret(), settings)
}

/// The proxy in front of the mocks at `urls` (each with its options).
pub async fn proxy(urls: &[(String, &str)], settings: Settings) -> Running<TokioNet> {
    let nodes = nodes(urls, &settings);
    super::proxy::start(settings, &shared_secret(), nodes, 7).await
}

/// The mocks' URLs, no options.
pub fn plain(els: &[MockElHandle]) -> Vec<(String, &'static str)> {
    els.iter().map(|e| (e.url(), "")).collect()
}

/// Waits until `el` refuses new connections (a mock told to die stops listening a moment
/// later, not at once).
pub async fn wait_refusing(el: &MockElHandle) {
    let addr = el.addr();
    let refused = eventually(Duration::from_secs(5), async || {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(refused, "{addr} still accepts connections");
}

/// Sends one call straight to a mock EL (not through the proxy); returns the `result`.
pub async fn direct(el: &MockElHandle, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params});
    let bytes = super::proxy::http_client()
        .post(el.url())
        .header("authorization", format!("Bearer {}", token()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("mock answers")
        .bytes()
        .await
        .expect("body");
    let reply: Value = serde_json::from_slice(&bytes).expect("json");
    reply["result"].clone()
}
