//! The open-file budget the listeners and node pools can use, checked at start-up.

use crate::config::Settings;

/// Descriptors the process may need at once: both listeners' connection caps, every node's
/// pool (its in-flight bound, plus its lane and its probe), and a reserve for the listeners,
/// the runtime and standard streams.
pub fn fd_budget(settings: &Settings, nodes: usize) -> u64 {
    const RESERVE: u64 = 32;
    let metrics = if settings.metrics.is_some() {
        settings.metrics_max_connections
    } else {
        0
    };
    let per_node = settings.max_in_flight_per_node as u64 + 2;
    settings.max_connections as u64 + metrics as u64 + nodes as u64 * per_node + RESERVE
}

/// At start-up: raises the soft descriptor limit to the hard one, and says so (one WARN line)
/// when even that is below [`fd_budget`]: then a flood of connections could leave the process
/// unable to accept the consensus client or reach a node.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
pub fn check_fd_limit(settings: &Settings, nodes: usize) {
    let need = fd_budget(settings, nodes);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct passed, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur as u64,
                to = limit.rlim_max as u64,
                "raised the open-file limit to the hard limit"
            );
            limit = raised;
        }
    }
    let have = limit.rlim_cur as u64;
    if have < need {
        tracing::warn!(
            limit = have,
            needed = need,
            "the open-file limit (RLIMIT_NOFILE) is below what the connection caps and node pools can use: lower --max-connections or --max-in-flight-per-node, or raise the limit (LimitNOFILE= in systemd, ulimit -n)"
        );
    }
}

#[cfg(not(unix))]
pub fn check_fd_limit(_settings: &Settings, _nodes: usize) {}
