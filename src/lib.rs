//! executionbackup: an Engine API multiplexer.
//!
//! A consensus client connects to it as if it were one execution client. State-changing calls
//! (`engine_newPayload*`, `engine_forkchoiceUpdated*`) go to every execution client and their
//! answers are voted on ([`vote`]); everything else goes to a healthy primary with failover.
//!
//! Layout: [`server`] (HTTP front, JWT) → [`proxy`] (routing, fan-out, failover) →
//! [`node`]/[`upstream`] (one EL: ordered lane, pooled HTTP client) over the
//! [`eb_transport::Network`] seam. [`vote`] and [`wait`] are pure. [`health`] holds each node's
//! state per path (engine, reads), [`nodes`] picks the primary, [`probe`] checks nodes; [`payload`] maps payload ids; [`admin`] and [`metrics`]
//! report.

pub mod admin;
pub mod app;
pub mod block_hash;
pub mod build_check;
pub mod build_ready;
pub mod chain;
pub mod client_id;
pub mod client_vote;
pub mod config;
pub mod deadline;
pub mod dev;
pub mod handlers;
pub mod health;
pub mod hedge;
pub mod http;
pub mod inclusion;
pub mod invalid_blocks;
pub mod journal;
pub mod log_level;
pub mod malloc_tuning;
pub mod merge;
pub mod methods;
pub mod metrics;
pub mod node;
pub mod nodes;
pub mod payload;
pub mod probe;
pub mod process_metrics;
pub mod proxy;
pub mod readiness;
pub mod refusals;
pub mod reply;
pub mod routing;
pub mod rpc;
pub mod selection;
pub mod server;
pub mod startup;
pub mod tls;
pub mod trust;
pub mod upstream;
pub mod vote;
pub mod wait;
pub mod warm;

/// Version with the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("EB_GIT_COMMIT"), ")");

/// The git commit this binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("EB_GIT_COMMIT");

/// Cases per property test: `PROPTEST_CASES` when set (for a long run), else `default`.
#[cfg(test)]
pub(crate) fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
