//! What the process says when it starts, and the exit statuses it ends with.
//!
//! | status | meaning | restarted by the systemd unit |
//! |---|---|---|
//! | 0 | stopped by SIGTERM/SIGINT after draining | no |
//! | 1 | a run-time failure | yes |
//! | 2 | a configuration error: a bad flag or value, an unreadable secret, a node on another chain | no |
//! | 3 | an address could not be bound (in use, not this machine's, no permission) | no |

use std::net::SocketAddr;

use eb_transport::Network;

use crate::proxy::Proxy;

/// A configuration error (clap's own status for a bad flag, too).
pub const EXIT_CONFIG: u8 = 2;
/// `--listen-addr`/`--port` or `--metrics-addr` could not be bound.
pub const EXIT_BIND: u8 = 3;

/// Every node as `name=url` (or just its URL), in configured order. URLs never carry
/// credentials ([`crate::config::redact`]).
pub fn nodes_line<N: Network>(proxy: &Proxy<N>) -> String {
    let nodes = proxy.nodes.snapshot();
    let shown: Vec<String> = nodes
        .iter()
        .map(|n| {
            let mut s = match &n.spec.name {
                Some(name) => format!("{name}={}", n.url()),
                None => n.url().to_owned(),
            };
            if n.do_not_use() {
                s.push_str("#do-not-use");
            }
            s
        })
        .collect();
    shown.join(" ")
}

/// The one INFO line at start: version, commit, where it listens, its nodes and its chain.
pub fn log_started<N: Network>(
    proxy: &Proxy<N>,
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
) {
    let prometheus = metrics_addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
    let chain = match (proxy.settings.chain_id, proxy.chain_id()) {
        (Some(pinned), _) => format!("{} (pinned)", crate::chain::describe(pinned)),
        (None, Some(seen)) => crate::chain::answer_value(&seen).map_or(seen, |id| {
            format!("{} (from the first answer)", crate::chain::describe(id))
        }),
        (None, None) => "not known yet".to_owned(),
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        commit = crate::COMMIT,
        %local_addr,
        prometheus = %prometheus,
        nodes = %nodes_line(proxy),
        chain = %chain,
        "executionbackup started: listening for the consensus client"
    );
}
