//! Who may steer the proxy, and how it recognises its own requests.
//!
//! * The REST API's changing calls need a token signed with `--admin-jwt-secret`, a secret no
//!   execution client holds (the engine secret is held by every EL, and the proxy sends each of
//!   them fresh tokens signed with it). Checked in [`crate::server`].
//! * Loops: every request the proxy sends to a node carries [`LOOP_HEADER`] with this process's
//!   random [`loop_marker`]. A request arriving with that value left this very process, so a
//!   node entry leads back here (a DNS name or a forwarder the start-up check cannot see
//!   through); it is refused, never forwarded.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// The header that carries the loop marker on outgoing requests.
pub const LOOP_HEADER: &str = "x-executionbackup-loop";

/// How often a detected loop is logged at most.
const LOOP_LOG_EVERY: Duration = Duration::from_secs(10);

/// This process's marker: 16 random hex digits, fixed for the life of the process.
pub fn loop_marker() -> &'static str {
    static MARKER: OnceLock<String> = OnceLock::new();
    MARKER.get_or_init(|| format!("{:016x}", rand::random::<u64>()))
}

/// Whether a request's [`LOOP_HEADER`] value says it came from this process.
pub fn is_own(value: Option<&[u8]>) -> bool {
    value.is_some_and(|v| v == loop_marker().as_bytes())
}

/// Logs a detected loop, at most once per [`LOOP_LOG_EVERY`] (with the count since the last line).
pub fn log_loop(path: &str) {
    static LAST: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match last.as_mut() {
        Some((at, suppressed)) if now.duration_since(*at) < LOOP_LOG_EVERY => *suppressed += 1,
        _ => {
            let suppressed = (*last).map_or(0, |(_, n)| n);
            tracing::error!(
                path,
                repeated = suppressed,
                "request loop: a request this proxy sent to a node came back to it; a node entry leads to executionbackup itself (a DNS name or a forwarder). Refused; remove that node"
            );
            *last = Some((now, 0));
        }
    }
}

/// Hint given when the REST API's changing calls are off.
pub const ADMIN_OFF_HINT: &str = "the admin API is off: start executionbackup with --admin-jwt-secret FILE (a secret no execution client holds) and sign a token with it (executionbackup --print-token --admin --admin-jwt-secret FILE)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_stable_and_recognised() {
        let m = loop_marker();
        assert_eq!(m.len(), 16);
        assert_eq!(m, loop_marker());
        assert!(is_own(Some(m.as_bytes())));
        assert!(!is_own(None));
        assert!(!is_own(Some(b"0000000000000000")) || m == "0000000000000000");
        assert!(!is_own(Some(b"")));
    }
}
