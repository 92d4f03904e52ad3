//! What the scenarios share, each piece named for what it does:
//!
//! - [`auth`]: every secret and token (values and `jwt.hex` files);
//! - [`shapes`]: block hashes, Engine API request shapes and statuses;
//! - [`proxy`]: the proxy started in-process, and the consensus client's HTTP client;
//! - [`mock_els`]: the default execution clients, mock-el instances in-process;
//! - [`scripted_el`]: wiremock execution clients answering exactly what a test scripts, kept
//!   for the answers mock-el does not give (each scenario using them says which);
//! - [`processes`]: the shipped binaries as child processes;
//! - [`ethereumjs`]: real EthereumJS execution clients, for the interop scenarios;
//! - [`relay`]: a TCP relay that records what passes;
//! - [`tls`]: certificates made at test time and a TLS client.

pub mod auth;
pub mod ethereumjs;
pub mod mock_els;
pub mod processes;
pub mod proxy;
pub mod relay;
pub mod scripted_el;
pub mod shapes;
pub mod tls;

use std::time::Duration;

/// A 127.0.0.1 port nothing listens on right now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Polls `f` every `every` until it holds (true) or `limit` passes (false).
pub async fn poll_until(
    limit: Duration,
    every: Duration,
    mut f: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Polls `f` every 50 ms until it holds (true) or `limit` passes (false).
pub async fn eventually(limit: Duration, f: impl AsyncFnMut() -> bool) -> bool {
    poll_until(limit, Duration::from_millis(50), f).await
}
